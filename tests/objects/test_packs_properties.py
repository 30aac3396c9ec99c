"""Property tests for codecs, packs and pack indexes, through ObjectStore.write_pack / read / read_batch."""

from __future__ import annotations

import struct
import tempfile
import uuid
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from satchel.errors import InvalidArgumentError
from satchel.objects import codec
from satchel.objects.codec import Codec, resolve_compression
from satchel.objects.hashing import hash_bytes
from satchel.objects.packs import (
    INDEX_MAGIC,
    PACK_MAGIC,
    Location,
    PackBuilder,
    decode_index,
    encode_index,
    index_key,
    pack_id_of_index_key,
    pack_key,
)
from satchel.objects.store import ObjectStore
from satchel.storage import LocalStorage, MemoryStorage, Storage
from satchel.storage.memory import forget_memory_store

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Incompressible bytes, and repetitive bytes that zstd shrinks (so both codecs appear in a pack).
blobs = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda unit, n: unit * n, st.binary(min_size=1, max_size=8), st.integers(8, 300)),
)
blob_lists = st.lists(blobs, max_size=20).flatmap(
    # Sometimes repeat some of the entries, so duplicates are common.
    lambda items: st.lists(st.sampled_from(items), max_size=5).map(lambda extra: items + extra)
    if items
    else st.just(items)
)
hex_hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
u64 = st.integers(0, 2**64 - 1)


def build(datas: list[bytes], level: int | None) -> PackBuilder:
    builder = PackBuilder()
    for data in datas:
        builder.add(hash_bytes(data), *codec.encode(data, level), len(data))
    return builder


def check_pack_round_trip(storage: Storage, cache: Path, datas: list[bytes], level: int | None) -> None:
    builder = build(datas, level)
    unique = {hash_bytes(d): d for d in datas}
    assert len(builder) == len(unique)
    assert builder.raw_bytes == sum(len(d) for d in unique.values())

    store = ObjectStore(storage, cache)
    locations = store.write_pack(builder)
    assert set(locations) == set(unique)

    # The pack is the builder's bytes under their hash, each distinct payload stored once.
    pack_ids = {loc.pack for loc in locations.values()}
    assert len(pack_ids) <= 1
    pack_bytes = storage.get(pack_key(hash_bytes(bytes(builder.buffer))))
    assert pack_bytes == bytes(builder.buffer)
    assert pack_bytes.startswith(PACK_MAGIC)
    assert len(pack_bytes) == len(PACK_MAGIC) + sum(loc.length for loc in locations.values())

    for content_hash, loc in locations.items():
        assert loc.size == len(unique[content_hash])
        if level is None:
            assert loc.codec == Codec.RAW
        assert store.read(content_hash, loc) == unique[content_hash]

    # read_batch over every entry in input order (duplicates included).
    items = [(hash_bytes(d), locations[hash_bytes(d)]) for d in datas]
    got = list(store.read_batch(items))
    assert Counter(h for h, _ in got) == Counter(h for h, _ in items)
    assert all(data == unique[h] for h, data in got)

    # Idempotent: the same pack written again lands on the same key, nothing new appears.
    listed_before = sorted(i.key for i in storage.list("packs/"))
    assert store.write_pack(build(datas, level)) == locations
    assert sorted(i.key for i in storage.list("packs/")) == listed_before

    # A fresh store finds the same locations from the stored index.
    fresh = ObjectStore(storage, cache / "fresh")
    index = fresh.index()
    assert {h: index[h] for h in unique} == locations


@SETTINGS
@given(datas=blob_lists, level=st.sampled_from([None, 3]))
def test_pack_round_trip_memory(datas: list[bytes], level: int | None) -> None:
    name = f"packs-{uuid.uuid4().hex}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            check_pack_round_trip(MemoryStorage(name), Path(tmp), datas, level)
    finally:
        forget_memory_store(name)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datas=blob_lists, level=st.sampled_from([None, 3]))
def test_pack_round_trip_local(datas: list[bytes], level: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        check_pack_round_trip(LocalStorage(root / "storage"), root / "cache", datas, level)


def test_pack_with_empty_and_duplicate_entries(tmp_path: Path) -> None:
    datas = [b"", b"", b"x" * 1000, b"x" * 1000, b"abc", b""]
    check_pack_round_trip(LocalStorage(tmp_path / "s"), tmp_path / "c", datas, 3)
    builder = build(datas, 3)
    assert len(builder) == 3
    # The 1000 repeated bytes are stored compressed.
    assert any(record[4] == Codec.ZSTD for record in builder.records)


def test_empty_pack(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "s")
    store = ObjectStore(storage, tmp_path / "c")
    assert store.write_pack(PackBuilder()) == {}
    assert store.index() == {}
    assert storage.get(pack_key(hash_bytes(PACK_MAGIC))) == PACK_MAGIC


def test_several_packs_and_read_batch_across_packs(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "s")
    store = ObjectStore(storage, tmp_path / "c")
    first = [bytes([i]) * (i * 13) for i in range(1, 40)]
    second = [b"second-" + bytes([i]) * 500 for i in range(40)]
    locs = {**store.write_pack(build(first, 3)), **store.write_pack(build(second, None))}
    assert len({loc.pack for loc in locs.values()}) == 2
    items = [(hash_bytes(d), locs[hash_bytes(d)]) for d in second + first]
    expected = {hash_bytes(d): d for d in first + second}
    got = list(store.read_batch(items))
    assert len(got) == len(items)
    assert all(expected[h] == data for h, data in got)


# -- index encoding --------------------------------------------------------------------------------
records_strategy = st.lists(
    st.tuples(hex_hashes, u64, u64, u64, st.integers(0, 255)), max_size=30, unique_by=lambda r: r[0]
)


@SETTINGS
@given(records=records_strategy, pack_id=hex_hashes)
def test_index_round_trip(records: list[tuple[str, int, int, int, int]], pack_id: str) -> None:
    data = encode_index(records)
    assert data.startswith(INDEX_MAGIC)
    decoded = decode_index(pack_id, data)
    assert decoded == {h: Location(pack_id, off, ln, size, c) for h, off, ln, size, c in records}
    assert encode_index(records) == data  # deterministic


@SETTINGS
@given(records=records_strategy, data=st.data())
def test_index_truncated_or_extended_is_rejected(
    records: list[tuple[str, int, int, int, int]], data: st.DataObject
) -> None:
    encoded = encode_index(records)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(ValueError):
        decode_index("p", encoded[:cut])
    with pytest.raises(ValueError):
        decode_index("p", encoded + data.draw(st.binary(min_size=1, max_size=60)))


def test_index_bad_magic_and_count() -> None:
    good = encode_index([("ab" * 32, 8, 1, 1, 0)])
    with pytest.raises(ValueError):
        decode_index("p", b"NOTINDEX" + good[8:])
    with pytest.raises(ValueError):
        decode_index("p", INDEX_MAGIC + struct.pack("<I", 2) + good[12:])
    with pytest.raises(ValueError):
        decode_index("p", b"")


def test_pack_keys() -> None:
    pack_id = "ab" + "c" * 62
    assert pack_key(pack_id) == f"packs/ab/{pack_id}.pack"
    assert index_key(pack_id) == f"packs/ab/{pack_id}.idx"
    assert pack_id_of_index_key(index_key(pack_id)) == pack_id
    assert pack_id_of_index_key(pack_key(pack_id)) is None
    assert pack_id_of_index_key("manifests/ab/x.idx") is None


# -- codec -----------------------------------------------------------------------------------------
@SETTINGS
@given(data=blobs, level=st.sampled_from([None, -1, 1, 3, 9]))
def test_codec_round_trip(data: bytes, level: int | None) -> None:
    used, payload = codec.encode(data, level)
    assert codec.decode(used, payload, len(data)) == data
    if used == Codec.ZSTD:
        assert level is not None
        assert len(payload) < len(data) * 0.97
    else:
        assert payload == data
    if level is None or len(data) < 64:
        assert used == Codec.RAW


def test_codec_compresses_repetitive_data() -> None:
    data = b"satchel " * 1000
    used, payload = codec.encode(data, 3)
    assert used == Codec.ZSTD
    assert len(payload) < len(data) // 10


def test_codec_decode_errors() -> None:
    data = b"compress me " * 100
    _, payload = codec.encode(data, 3)
    with pytest.raises(ValueError):
        codec.decode(Codec.ZSTD, b"\x00" * 20, 100)
    with pytest.raises(ValueError):
        codec.decode(Codec.ZSTD, payload[: len(payload) // 2], len(data))
    with pytest.raises(ValueError):
        codec.decode(7, payload, len(data))


def test_stream_codec_round_trip() -> None:
    compressor = codec.stream_compressor(3)
    parts = [b"part-%d " % i * 50 for i in range(20)]
    frame = b"".join(compressor.compress(p) for p in parts) + compressor.flush()
    chunks = [frame[i : i + 7] for i in range(0, len(frame), 7)]
    assert b"".join(codec.stream_decode(Codec.ZSTD, chunks, 64)) == b"".join(parts)
    assert max(map(len, codec.stream_decode(Codec.ZSTD, chunks, 64))) <= 64
    assert b"".join(codec.stream_decode(Codec.RAW, [b"ab", b"c"], 64)) == b"abc"
    assert codec.decode(Codec.ZSTD, frame, sum(map(len, parts))) == b"".join(parts)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 3),
        ("zstd", 3),
        (zipfile.ZIP_DEFLATED, 3),
        (zipfile.ZIP_BZIP2, 3),
        (zipfile.ZIP_LZMA, 3),
        ("none", None),
        (zipfile.ZIP_STORED, None),
        ("zstd:19", 19),
        ("zstd:1", 1),
        ("zstd:22", 22),
        ("zstd:-7", -7),
    ],
)
def test_resolve_compression(value: object, expected: int | None) -> None:
    assert resolve_compression(value) == expected


@pytest.mark.parametrize(
    "value",
    ["zstd:23", "zstd:-8", "zstd:", "zstd:abc", "zstd:1.5", "gzip", "ZSTD", "", "zstd 3", 5, 1.5, True, [], object()],
)
def test_resolve_compression_rejects(value: object) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        resolve_compression(value)
    assert "compression=" in str(info.value)


@SETTINGS
@given(level=st.integers(-50, 50))
def test_resolve_compression_levels(level: int) -> None:
    if -7 <= level <= 22:
        assert resolve_compression(f"zstd:{level}") == level
    else:
        with pytest.raises(InvalidArgumentError):
            resolve_compression(f"zstd:{level}")


@pytest.mark.parametrize("value", ["zstd:--3", "zstd:\u00b2"])
def test_resolve_compression_rejects_malformed_level(value: str) -> None:
    with pytest.raises(InvalidArgumentError):
        resolve_compression(value)
