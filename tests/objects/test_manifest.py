"""Manifest encoding: round trip, determinism, rejection of damaged data, scale."""

from __future__ import annotations

import json
import struct

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import satchel.objects.manifest as manifest_module
from satchel.objects.manifest import (
    MANIFEST_MAGIC,
    Manifest,
    ManifestEntry,
    decode_manifest,
    draft_entry,
    encode_manifest,
    link_id,
    make_link,
    manifest_key,
    split_link,
)
from satchel.objects.pathnames import PathError, find_clash

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any unicode except NUL (the path separator of the encoding) and lone surrogates (not encodable).
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=24)
# A path component: any character but '/' and NUL, including the escaped ones ('%', backslash) and the
# surrogateescape form of non-UTF-8 bytes; never '.' or '..'.
component = st.text(
    st.one_of(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/"),
              st.sampled_from(["%", "\\", "\udc80", "\udcff"])),
    min_size=1, max_size=12,
).filter(lambda c: c not in (".", ".."))
paths = st.lists(component, min_size=1, max_size=4).map("/".join)
ids = st.text("0123456789abcdefABCDEF_-", min_size=1, max_size=32)
hex_hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
entries = st.builds(
    ManifestEntry,
    hash=hex_hashes,
    size=st.integers(0, 2**40),
    origin=st.one_of(st.sampled_from(["v1", "v2", "v3"]), ids),
    pack=st.one_of(st.just(""), st.sampled_from(["a" * 64, "b" * 64]), hex_hashes),
    offset=st.integers(0, 2**64 - 1),
    length=st.integers(0, 2**64 - 1),
    codec=st.integers(0, 1),
    # most entries are stored files; some are external links (URL and change tag, no NUL)
    link=st.one_of(st.just(""), st.just(""), st.builds(make_link, text.filter(bool), st.one_of(st.none(), text))),
    # some large raw files have a block table (manifest format 4)
    blocks=st.one_of(st.just(""), st.just(""), st.just(""), hex_hashes),
)
full_manifests = st.builds(
    Manifest,
    kind=st.just("full"),
    parents=st.lists(hex_hashes, max_size=2),
    entries=st.dictionaries(paths, entries, max_size=25).filter(lambda e: find_clash(e) is None),
    removed=st.just([]),
)
delta_manifests = st.builds(
    Manifest,
    kind=st.just("delta"),
    parents=st.lists(hex_hashes, min_size=1, max_size=4),
    entries=st.dictionaries(paths, entries, max_size=25).filter(lambda e: find_clash(e) is None),
    removed=st.lists(paths, max_size=10, unique=True),
)
manifests = st.one_of(full_manifests, delta_manifests)


def entry(i: int, pack: str = "e" * 64) -> ManifestEntry:
    return ManifestEntry(f"{i:064x}", i * 3, f"origin-{i % 3}", pack if i % 2 else "", i * 10, i, i % 2)


@SETTINGS
@given(manifest=manifests)
def test_round_trip(manifest: Manifest) -> None:
    decoded = decode_manifest(encode_manifest(manifest))
    assert decoded.kind == manifest.kind
    assert decoded.parents == manifest.parents  # order matters: later parents win
    assert decoded.entries == manifest.entries
    assert all(type(e) is ManifestEntry for e in decoded.entries.values())
    assert decoded.removed == sorted(manifest.removed)


@SETTINGS
@given(manifest=manifests)
def test_encoding_is_deterministic(manifest: Manifest) -> None:
    data = encode_manifest(manifest)
    assert encode_manifest(manifest) == data
    shuffled = Manifest(
        kind=manifest.kind,
        parents=list(manifest.parents),
        entries=dict(reversed(list(manifest.entries.items()))),
        removed=list(reversed(manifest.removed)),
    )
    assert encode_manifest(shuffled) == data
    assert encode_manifest(decode_manifest(data)) == data


@SETTINGS
@given(manifest=manifests, other=manifests)
def test_different_manifests_encode_differently(manifest: Manifest, other: Manifest) -> None:
    same = (
        manifest.kind == other.kind
        and manifest.parents == other.parents
        and manifest.entries == other.entries
        and sorted(manifest.removed) == sorted(other.removed)
    )
    assert (encode_manifest(manifest) == encode_manifest(other)) == same


def test_empty_manifests() -> None:
    for manifest in (Manifest("full"), Manifest("delta", parents=["a" * 64], removed=["gone", "also/gone"])):
        decoded = decode_manifest(encode_manifest(manifest))
        assert decoded.kind == manifest.kind
        assert decoded.parents == manifest.parents
        assert decoded.entries == {}
        assert decoded.removed == sorted(manifest.removed)


def test_entry_defaults_and_edge_values() -> None:
    manifest = Manifest(
        "full",
        entries={
            "draft.bin": ManifestEntry("0" * 64, 0, "v"),  # not stored yet: no pack
            "big.bin": ManifestEntry("f" * 64, 2**40, "v", "e" * 64, 2**64 - 1, 2**64 - 1, 1),
            "dir/ünïcödé 文件.txt": ManifestEntry("1" * 64, 5, "v-2", "e" * 64, 8, 5, 0),
        },
    )
    decoded = decode_manifest(encode_manifest(manifest))
    assert decoded.entries == manifest.entries
    assert decoded.entries["draft.bin"].pack == ""


def test_links_round_trip_and_link_free_manifests_keep_format_1() -> None:
    stored = {"a.bin": ManifestEntry("1" * 64, 5, "v", "e" * 64, 8, 5, 0)}
    plain = encode_manifest(Manifest("full", entries=stored))
    url = "s3://bucket/data/x y.bin"
    link = ManifestEntry(link_id(url, "etag-1", 7), 7, "v", link=make_link(url, "etag-1"))
    with_link = encode_manifest(Manifest("full", entries={**stored, "x.bin": link}))
    assert b'"format":1' in zstandard.ZstdDecompressor().decompress(plain)
    assert b'"format":2' in zstandard.ZstdDecompressor().decompress(with_link)
    decoded = decode_manifest(with_link).entries
    assert decoded["x.bin"] == link and split_link(decoded["x.bin"].link) == (url, "etag-1")
    assert decoded["a.bin"].link == ""
    assert link_id(url, "etag-2", 7) != link.hash and link_id(url, "etag-1", 8) != link.hash
    assert split_link(make_link(url, None)) == (url, "")


def test_manifest_key() -> None:
    assert manifest_key("ab" + "0" * 62) == f"manifests/ab/ab{'0' * 62}"


# -- damaged data ----------------------------------------------------------------------------------
def _compressed(raw: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(raw)


@pytest.mark.parametrize("garbage", [b"", b"junk", b"\x00" * 100, MANIFEST_MAGIC, b"\x28\xb5\x2f\xfd" + b"\x00" * 8])
def test_garbage_is_rejected(garbage: bytes) -> None:
    with pytest.raises(ValueError):
        decode_manifest(garbage)


@SETTINGS
@given(garbage=st.binary(max_size=200))
def test_random_bytes_are_rejected(garbage: bytes) -> None:
    with pytest.raises(ValueError):
        decode_manifest(garbage)


def test_every_truncation_is_rejected() -> None:
    manifest = Manifest("delta", ["a" * 64], {f"f{i}": entry(i) for i in range(20)}, ["x", "y"])
    data = encode_manifest(manifest)
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            decode_manifest(data[:cut])


def test_wrong_magic_is_rejected() -> None:
    raw = zstandard.ZstdDecompressor().decompress(encode_manifest(Manifest("full", entries={"a": entry(1)})))
    with pytest.raises(ValueError, match="not a satchel manifest"):
        decode_manifest(_compressed(b"XXXXXXXX" + raw[len(MANIFEST_MAGIC) :]))


def _raw_blocks(manifest: Manifest) -> list[bytes]:
    raw = zstandard.ZstdDecompressor().decompress(encode_manifest(manifest))
    body, blocks, pos = raw[len(MANIFEST_MAGIC) :], [], 0
    while pos < len(body):
        (length,) = struct.unpack_from("<Q", body, pos)
        blocks.append(body[pos + 8 : pos + 8 + length])
        pos += 8 + length
    assert len(blocks) in (10, 11)
    return blocks


def _reassemble(blocks: list[bytes]) -> bytes:
    return _compressed(MANIFEST_MAGIC + b"".join(struct.pack("<Q", len(b)) + b for b in blocks))


def test_reassembly_helper_is_faithful() -> None:
    manifest = Manifest("full", entries={f"f{i}": entry(i) for i in range(5)})
    assert decode_manifest(_reassemble(_raw_blocks(manifest))).entries == manifest.entries


def test_future_format_is_rejected() -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    header = json.loads(blocks[0])
    header["format"] = 6
    blocks[0] = json.dumps(header).encode()
    with pytest.raises(ValueError, match="format 6"):
        decode_manifest(_reassemble(blocks))


def test_missing_block_is_rejected() -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    with pytest.raises(ValueError, match="truncated"):
        decode_manifest(_reassemble(blocks[:9]))


@pytest.mark.parametrize("column", [1, 2, 3, 4, 5, 6, 7, 8])
def test_column_with_wrong_length_is_rejected(column: int) -> None:
    blocks = _raw_blocks(Manifest("full", entries={f"f{i}": entry(i) for i in range(4)}))
    if column == 1:
        blocks[1] = blocks[1] + b"\0extra"  # one path too many
    elif column == 2:
        blocks[2] = blocks[2][:-32]  # one hash too few
    elif column in (3, 6, 7):
        blocks[column] = blocks[column][:-8]
    elif column in (4, 5):
        blocks[column] = blocks[column][:-4]
    else:
        blocks[8] = blocks[8] + b"\x00"
    with pytest.raises(ValueError):
        decode_manifest(_reassemble(blocks))


@pytest.mark.parametrize("case", ["short-length-field", "header-not-object", "origin-out-of-range"])
def test_malformed_body_raises_value_error(case: str) -> None:
    if case == "short-length-field":
        data = _compressed(MANIFEST_MAGIC + b"abc")
    elif case == "header-not-object":
        blocks = _raw_blocks(Manifest("full"))
        blocks[0] = b"[1, 2]"
        data = _reassemble(blocks)
    else:
        blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
        blocks[4] = struct.pack("<I", 99)
        data = _reassemble(blocks)
    with pytest.raises(ValueError):
        decode_manifest(data)


# -- scale -----------------------------------------------------------------------------------------
def test_200k_entries() -> None:
    count = 200_000
    packs = [f"{p:064x}" for p in range(1, 40)]
    manifest = Manifest(
        "full",
        parents=["c" * 64],
        entries={
            f"shard-{i % 97:02d}/sample_{i:07d}.jpg": ManifestEntry(
                (i * 2654435761 % 2**256).to_bytes(32, "big").hex(),
                i * 37,
                f"version-{i % 5}",
                packs[i % len(packs)] if i % 11 else "",
                8 + i * 64,
                i % 5000,
                i % 2,
            )
            for i in range(count)
        },
    )
    data = encode_manifest(manifest)
    # Columns plus zstd: well under the ~100 bytes/entry a naive JSON encoding would take.
    assert len(data) < 60 * count
    decoded = decode_manifest(data)
    assert len(decoded.entries) == count
    assert decoded.entries == manifest.entries
    assert decoded.parents == ["c" * 64]


# -- hostile paths ---------------------------------------------------------------------------------
HOSTILE = ["../x", "/abs", "a/../../b", "..", ".", "a//b", "a/", "", "a/./b", "..\\x", "a\\b", "c:\\evil"]


@pytest.mark.parametrize(("column", "path"), [("entries", p) for p in HOSTILE]
                         + [("removed", p) for p in HOSTILE if p])  # an empty removed column means none
def test_hostile_paths_are_refused_by_the_decoder(path: str, column: str) -> None:
    blocks = _raw_blocks(Manifest("delta", ["a" * 64], {"ok": entry(1)}, ["gone"]))
    blocks[1 if column == "entries" else 9] = path.encode()
    with pytest.raises(PathError) as caught:
        decode_manifest(_reassemble(blocks))
    assert caught.value.path == path


@pytest.mark.parametrize("pair", [("same", "same"), ("x", "x/y"), ("x/y", "x/y/z")])
def test_duplicate_and_file_folder_paths_are_refused(pair: tuple[str, str]) -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1), "b": entry(2)}))
    blocks[1] = "\0".join(pair).encode()
    with pytest.raises(PathError, match=r"twice|file and also a folder"):
        decode_manifest(_reassemble(blocks))


def test_a_file_and_folder_clash_is_refused_past_paths_that_sort_between() -> None:
    names = ["x", "x-1", "x.txt", "x/y"]  # '-' and '.' sort before '/'
    blocks = _raw_blocks(Manifest("full", entries={f"p{i}": entry(i) for i in range(len(names))}))
    blocks[1] = "\0".join(names).encode()
    with pytest.raises(PathError, match="'x' is a file and also a folder") as caught:
        decode_manifest(_reassemble(blocks))
    assert caught.value.path == "x/y"


def test_a_nul_inside_a_path_is_refused() -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    blocks[1] = b"a\0b"  # one entry, two paths
    with pytest.raises(ValueError, match="disagree"):
        decode_manifest(_reassemble(blocks))


@pytest.mark.parametrize("wire", ["%2F", "..%2Fx", "%00", "%2E%2E", "%5c", "a%", "%G1", "%41"])
def test_invalid_escapes_are_refused(wire: str) -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a%b": entry(1)}))  # '%' makes it format 3
    assert json.loads(blocks[0])["format"] == 3
    blocks[1] = wire.encode()
    with pytest.raises(PathError):
        decode_manifest(_reassemble(blocks))


def test_non_utf8_path_bytes_are_refused() -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    blocks[1] = b"\xff\xfe"
    with pytest.raises(PathError):
        decode_manifest(_reassemble(blocks))


@pytest.mark.parametrize("path", ["back\\slash.txt", "100%.txt", "caf\udce9.txt", "%41", "a\\..\\b"])
def test_escaped_paths_round_trip_in_format_3(path: str) -> None:
    data = encode_manifest(Manifest("full", entries={path: entry(1), "plain": entry(2)}))
    raw = zstandard.ZstdDecompressor().decompress(data)
    assert b'"format":3' in raw and b"\\" not in raw  # the small test values hold no 0x5C byte either
    assert set(decode_manifest(data).entries) == {path, "plain"}


@pytest.mark.parametrize("bad", [{"../x": 1}, {"x": 1, "x/y": 2}, {"a/./b": 1}])
def test_the_encoder_refuses_what_the_decoder_would(bad: dict[str, int]) -> None:
    with pytest.raises(PathError):
        encode_manifest(Manifest("full", entries={p: entry(i) for p, i in bad.items()}))


@pytest.mark.parametrize("field,value", [("parents", ["../x"]), ("origins", ["a/b"]), ("packs", ["../../etc"]),
                                         ("kind", "other"), ("count", -1), ("count", 10**12)])
def test_hostile_header_fields_are_refused(field: str, value: object) -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    header = json.loads(blocks[0])
    header[field] = value
    blocks[0] = json.dumps(header).encode()
    with pytest.raises(ValueError):
        decode_manifest(_reassemble(blocks))


def test_an_unknown_codec_is_refused() -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    blocks[8] = b"\x07"
    with pytest.raises(ValueError, match="codec"):
        decode_manifest(_reassemble(blocks))


def test_a_small_object_declaring_a_huge_manifest_is_refused_before_allocating() -> None:
    bomb = zstandard.ZstdCompressor().compress(MANIFEST_MAGIC + bytes(300 << 20))  # 300 MiB of zeros, ~10 KB
    assert len(bomb) < 64 << 10 and zstandard.frame_content_size(bomb) > 300 << 20
    with pytest.raises(ValueError, match="damaged or hostile"):
        decode_manifest(bomb)
    streamed = zstandard.ZstdCompressor(write_content_size=False).compress(MANIFEST_MAGIC + bytes(300 << 20))
    with pytest.raises(ValueError, match="damaged or hostile"):
        decode_manifest(streamed)


# -- decoding a piece at a time -----------------------------------------------------------------
PIECE_PATHS = ["a", "b/c\u00e9", "b/d%25x", "b/e\\f", "c" * 40, "d/\u65e5\u672c", "e/" + "x" * 9]  # format 3


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 1 << 20])
def test_paths_split_a_piece_at_a_time_decode_as_a_whole(piece: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces cut paths, escapes and multi-byte characters anywhere: the paths decoded are the same."""
    monkeypatch.setattr(manifest_module, "_PIECE", piece)
    entries = {p: entry(i) for i, p in enumerate(PIECE_PATHS)}
    manifest = Manifest("delta", ["a" * 64], entries, ["gone/x%y", "z"])
    data = encode_manifest(manifest)
    for checked in (False, True):
        decoded = decode_manifest(data, paths_checked=checked)
        assert list(decoded.entries) == sorted(PIECE_PATHS) and decoded.entries == entries
        assert decoded.removed == ["gone/x%y", "z"]


@pytest.mark.parametrize("piece", [1, 2, 5, 1 << 20])
@pytest.mark.parametrize(("joined", "error"), [
    (b"a\0\0b\0c", PathError), (b"\0a\0b", PathError), (b"a\0b\0", PathError), (b"a\0b\xff\xfe\0c", PathError),
    (b"a\0b\0c\0d", ValueError), (b"a\0b", ValueError), (b"a/../b\0c\0d", PathError)])
def test_bad_paths_are_refused_wherever_the_pieces_fall(piece: int, joined: bytes, error: type[Exception],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty path, bytes that are not UTF-8, a '..' component or one path too many or too few (three are
    declared): refused whether or not a piece boundary falls on them."""
    monkeypatch.setattr(manifest_module, "_PIECE", piece)
    blocks = _raw_blocks(Manifest("full", entries={f"f{i}": entry(i) for i in range(3)}))
    blocks[1] = joined
    with pytest.raises(error):
        decode_manifest(_reassemble(blocks))


def test_a_block_after_the_last_is_refused() -> None:
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1)}))
    with pytest.raises(ValueError, match="bytes after its last block"):
        decode_manifest(_reassemble([*blocks, b"extra"]))


@pytest.mark.parametrize("checked", [False, True])
def test_an_empty_paths_block_for_entries_is_refused_even_when_paths_were_checked(checked: bool) -> None:
    """Known-valid paths skip the path checks, never the count: three rows need three paths."""
    blocks = _raw_blocks(Manifest("full", entries={f"f{i}": entry(i) for i in range(3)}))
    blocks[1] = b""
    with pytest.raises(ValueError, match="disagree" if checked else "empty|disagree"):
        decode_manifest(_reassemble(blocks), paths_checked=checked)


@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
def test_a_path_longer_than_many_pieces_decodes(piece: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "_PIECE", piece)
    long = "/".join(f"folder{i:04d}" for i in range(500)) + "/\u00e9.bin"  # 5,000 characters
    entries = {"a": entry(1), long: entry(2), "z": entry(3)}
    assert decode_manifest(encode_manifest(Manifest("full", entries=entries))).entries == entries


def test_links_for_no_entries_are_refused() -> None:
    """A manifest of no entries has an empty links column (what the encoder writes); anything else is damage."""
    url = "s3://bucket/x"
    link = ManifestEntry(link_id(url, "t", 7), 7, "v", link=make_link(url, "t"))
    blocks = _raw_blocks(Manifest("delta", ["a" * 64], {"b": link}, []))
    header = json.loads(blocks[0])
    header["count"] = 0
    blocks[0] = json.dumps(header).encode()
    blocks[1:9] = [b""] * 8
    with pytest.raises(ValueError, match="disagree"):
        decode_manifest(_reassemble(blocks))
    blocks[10] = b""
    assert len(decode_manifest(_reassemble(blocks)).entries) == 0


def test_a_frame_that_declares_no_size_decodes_the_same() -> None:
    manifest = Manifest("full", entries={f"f{i}": entry(i) for i in range(50)})
    raw = zstandard.ZstdDecompressor().decompress(encode_manifest(manifest))
    undeclared = zstandard.ZstdCompressor(write_content_size=False).compress(raw)
    assert zstandard.frame_content_size(undeclared) == -1
    assert decode_manifest(undeclared).entries == manifest.entries


def test_big_id_columns_are_checked_by_numpy_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_module, "_NUMPY_MAX_FROM", 0)
    manifest = Manifest("full", entries={f"f{i}": entry(i) for i in range(20)})
    assert decode_manifest(encode_manifest(manifest)).entries == manifest.entries
    blocks = _raw_blocks(manifest)
    blocks[4] = blocks[4][:-4] + struct.pack("<I", 3)  # origins 0-2 exist
    with pytest.raises(ValueError, match="origin 3, and lists only 3"):
        decode_manifest(_reassemble(blocks))


def test_links_of_a_link_free_entry_set_are_none_and_a_short_links_column_is_refused() -> None:
    url = "s3://bucket/x"
    link = ManifestEntry(link_id(url, "t", 7), 7, "v", link=make_link(url, "t"))
    blocks = _raw_blocks(Manifest("full", entries={"a": entry(1), "b": link, "c": entry(3)}))
    assert blocks[10] == b"\0" + make_link(url, "t").encode() + b"\0"
    blocks[10] = b"\0\0"  # three empty links: no entry is a link
    decoded = decode_manifest(_reassemble(blocks)).entries
    assert decoded["b"].link == "" and decoded.columns().links is None  # type: ignore[attr-defined]
    blocks[10] = b"\0x"  # two links for three entries
    with pytest.raises(ValueError, match="disagree"):
        decode_manifest(_reassemble(blocks))


@given(st.text(max_size=8), st.integers(0, 2**63), st.text(max_size=8), st.one_of(st.none(), st.text(max_size=8)))
def test_a_draft_entry_is_the_entry_keywords_make(content_hash: str, size: int, origin: str, link: str | None) -> None:
    made = draft_entry(content_hash, size, origin, link)
    assert made == ManifestEntry(content_hash, size, origin, link=link or "")
    assert type(made) is ManifestEntry and made.pack == "" and made.location.codec == 0
