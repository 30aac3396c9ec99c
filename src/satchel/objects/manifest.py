"""Manifests: a version's file table as one content-addressed object (see docs/format.md).

A ``full`` manifest lists every path of a version's view. A ``delta`` manifest lists the paths put and
removed relative to the merge of its ``parents`` (in order, later parents win); readers apply it on
top of the parents' views. Each entry carries its stored location, so reading one file needs no index.

Encoding: zstd over ``MAGIC``, a JSON header, then one column per field (paths NUL-separated, hashes as
32 raw bytes, integers little-endian), which loads a million entries in well under a second.
"""

from __future__ import annotations

import gc
import json
import struct
import sys
from array import array
from dataclasses import dataclass, field
from itertools import repeat
from typing import NamedTuple

import zstandard

from satchel.objects.hashing import hash_bytes
from satchel.objects.packs import Location

MANIFEST_MAGIC = b"SATCHMF1"
MANIFEST_FORMAT = 1
MANIFEST_FORMAT_LINKS = 2  # format 1 plus a column of external links; written only when there are links
_NO_PACK = 0xFFFFFFFF
_LEN = struct.Struct("<Q")


class ManifestEntry(NamedTuple):
    """One file of a version: content hash, raw size, the version that introduced it, and location.

    ``pack`` is empty while the content is not stored yet (draft versions only), and for external links.
    ``link`` is set for an external link: the source URL and its change tag (see :func:`make_link`); its
    ``hash`` is then :func:`link_id`, not a content hash, since the bytes stay at the source.
    """

    hash: str
    size: int
    origin: str
    pack: str = ""
    offset: int = 0
    length: int = 0
    codec: int = 0
    link: str = ""

    @property
    def location(self) -> Location:
        """Where the content is stored (meaningful when ``pack`` is set)."""
        return Location(self.pack, self.offset, self.length, self.size, self.codec)


def make_link(url: str, tag: str | None) -> str:
    """The ``link`` field of an external link: URL and change tag (empty when the source offers none)."""
    return f"{url}\n{tag or ''}"


def split_link(link: str) -> tuple[str, str]:
    """(url, change tag) of a ``link`` field."""
    url, _, tag = link.partition("\n")
    return url, tag


def source_matches(entry: ManifestEntry, size: int, tag: str | None) -> bool:
    """Does a link's source (its current size and change tag) still match what ``entry`` recorded? Without a
    recorded tag (the source offered none) only the size is compared."""
    recorded = split_link(entry.link)[1]
    return size == entry.size and (not recorded or tag == recorded)


def link_id(url: str, tag: str | None, size: int) -> str:
    """Identity of an external link's content: changes whenever its URL, change tag or size does."""
    return hash_bytes(f"satchel-link\0{url}\0{tag or ''}\0{size}".encode())


@dataclass
class Manifest:
    """Decoded manifest. ``entries`` are puts (all files for ``full``), ``removed`` are delta removals."""

    kind: str
    parents: list[str] = field(default_factory=list)
    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def manifest_key(manifest_hash: str) -> str:
    """Storage key of a manifest object."""
    return f"manifests/{manifest_hash[:2]}/{manifest_hash}"


def _column(typecode: str, values: list[int]) -> bytes:
    arr = array(typecode, values)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tobytes()


def _read_column(typecode: str, data: bytes) -> list[int]:
    arr = array(typecode)
    arr.frombytes(data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tolist()


def _blocks(*parts: bytes) -> bytes:
    out = bytearray()
    for part in parts:
        out += _LEN.pack(len(part))
        out += part
    return bytes(out)


def _split_blocks(data: memoryview) -> list[bytes]:
    blocks, pos = [], 0
    while pos < len(data):
        (length,) = _LEN.unpack_from(data, pos)
        pos += _LEN.size
        blocks.append(bytes(data[pos : pos + length]))
        pos += length
    return blocks


def encode_manifest(manifest: Manifest) -> bytes:
    """Serialize deterministically (paths sorted)."""
    paths = sorted(manifest.entries)
    rows = list(map(manifest.entries.__getitem__, paths))
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ManifestEntry._fields)
    hashes, sizes, row_origins, row_packs, offsets, lengths, codecs, links = columns
    has_links = any(links)
    packs = sorted(set(row_packs) - {""})
    origins = sorted(set(row_origins))
    pack_no = {p: i for i, p in enumerate(packs)}
    pack_no[""] = _NO_PACK
    origin_no = {o: i for i, o in enumerate(origins)}
    header = {
        "format": MANIFEST_FORMAT_LINKS if has_links else MANIFEST_FORMAT,
        "kind": manifest.kind,
        "parents": manifest.parents,
        "packs": packs,
        "origins": origins,
        "count": len(rows),
    }
    blocks = [
        json.dumps(header, separators=(",", ":")).encode(),
        "\0".join(paths).encode(),
        bytes.fromhex("".join(hashes)),
        _column("Q", list(sizes)),
        _column("I", list(map(origin_no.__getitem__, row_origins))),
        _column("I", list(map(pack_no.__getitem__, row_packs))),
        _column("Q", list(offsets)),
        _column("Q", list(lengths)),
        bytes(codecs),
        "\0".join(sorted(manifest.removed)).encode(),
    ]
    if has_links:
        blocks.append("\0".join(links).encode())
    body = _blocks(*blocks)
    return bytes(zstandard.ZstdCompressor(level=3).compress(MANIFEST_MAGIC + body))


def decode_manifest(data: bytes) -> Manifest:
    """Parse a manifest object. Raises ValueError when it is not a readable manifest."""
    paused = gc.isenabled()
    gc.disable()  # millions of new tuples would trigger needless full collections
    try:
        return _decode(data)
    except ValueError:
        raise
    except (zstandard.ZstdError, struct.error, LookupError, AttributeError, TypeError) as exc:
        raise ValueError(f"corrupt manifest: {exc!r}") from exc
    finally:
        if paused:
            gc.enable()


def _decode(data: bytes) -> Manifest:
    raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 34)
    if not raw.startswith(MANIFEST_MAGIC):
        raise ValueError("not a satchel manifest")
    blocks = _split_blocks(memoryview(raw)[len(MANIFEST_MAGIC) :])
    header = json.loads(blocks[0]) if blocks else {}
    version = header.get("format")
    if version not in (MANIFEST_FORMAT, MANIFEST_FORMAT_LINKS):
        raise ValueError(f"manifest format {version} is not supported (expected {MANIFEST_FORMAT} or "
                         f"{MANIFEST_FORMAT_LINKS}); upgrade satchel to read it")
    if len(blocks) != (11 if version == MANIFEST_FORMAT_LINKS else 10):
        raise ValueError("truncated manifest")
    count = header["count"]
    paths = blocks[1].decode().split("\0") if count else []
    hex_hashes = blocks[2].hex()
    hashes = [hex_hashes[i : i + 64] for i in range(0, len(hex_hashes), 64)]
    origins = list(map(header["origins"].__getitem__, _read_column("I", blocks[4])))
    pack_names = dict(enumerate(header["packs"]))
    pack_names[_NO_PACK] = ""
    packs = list(map(pack_names.__getitem__, _read_column("I", blocks[5])))
    columns = (
        hashes,
        _read_column("Q", blocks[3]),
        origins,
        packs,
        _read_column("Q", blocks[6]),
        _read_column("Q", blocks[7]),
        list(blocks[8]),
        blocks[10].decode().split("\0") if version == MANIFEST_FORMAT_LINKS else [""] * count,
    )
    if any(len(col) != count for col in columns) or len(paths) != count:
        raise ValueError("manifest columns disagree on the number of entries")
    make = tuple.__new__
    entries = dict(zip(paths, map(make, repeat(ManifestEntry), zip(*columns, strict=True)), strict=True))
    removed = blocks[9].decode().split("\0") if blocks[9] else []
    return Manifest(kind=header["kind"], parents=list(header["parents"]), entries=entries, removed=removed)
