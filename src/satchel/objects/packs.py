"""Packs and pack indexes (see docs/format.md).

A pack is ``PACK_MAGIC`` followed by the stored payloads of its entries. Its index lists, per entry,
the content hash, offset, stored length, raw size and codec. A pack's id is the BLAKE3 of the pack's
bytes, so writing the same pack twice is harmless.
"""

from __future__ import annotations

import struct
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from satchel.objects.codec import Codec
from satchel.objects.collector import gc_paused
from satchel.storage.base import ObjectInfo, Storage

PACK_MAGIC = b"SATCHPK1"
INDEX_MAGIC = b"SATCHIX1"
_RECORD = struct.Struct("<32sQQQB")
_HEADER = struct.Struct("<8sI")


class Location(NamedTuple):
    """Where a content hash is stored: a byte range of a pack."""

    pack: str
    offset: int
    length: int
    size: int
    codec: int


def fits(location: Location, pack_size: int) -> bool:
    """Does ``location`` lie inside a pack of ``pack_size`` bytes (after its magic)?"""
    return location.offset >= len(PACK_MAGIC) and location.offset + location.length <= pack_size


def pack_key(pack_id: str) -> str:
    """Storage key of a pack."""
    return f"packs/{pack_id[:2]}/{pack_id}.pack"


def index_key(pack_id: str) -> str:
    """Storage key of a pack's index."""
    return f"packs/{pack_id[:2]}/{pack_id}.idx"


def list_packs(storage: Storage) -> tuple[dict[str, ObjectInfo], dict[str, ObjectInfo]]:
    """(pack id -> the pack's listing, pack id -> its index's listing) of a store."""
    packs: dict[str, ObjectInfo] = {}
    indexes: dict[str, ObjectInfo] = {}
    for info in storage.list("packs/"):
        pack_id = pack_id_of_index_key(info.key)
        if pack_id is not None:
            indexes[pack_id] = info
        elif info.key.endswith(".pack"):
            packs[info.key.rsplit("/", 1)[-1][: -len(".pack")]] = info
    return packs, indexes


def pack_id_of_index_key(key: str) -> str | None:
    """The pack id if ``key`` names an index, else None."""
    if key.startswith("packs/") and key.endswith(".idx"):
        return key.rsplit("/", 1)[-1][: -len(".idx")]
    return None


@dataclass
class PackBuilder:
    """Accumulates entries of one pack in memory: their payloads are joined once, when the pack is shipped
    (``buffer``), not copied into a growing buffer entry by entry."""

    parts: list[bytes | memoryview] = field(default_factory=lambda: [PACK_MAGIC])
    records: list[tuple[str, int, int, int, int]] = field(default_factory=list)
    hashes: set[str] = field(default_factory=set)
    raw_bytes: int = 0
    stored_bytes: int = len(PACK_MAGIC)
    """Bytes the pack will take in storage."""

    def add(self, content_hash: str, codec: Codec, payload: bytes | memoryview, size: int) -> None:
        """Append an entry; an entry whose hash is already in this pack is ignored. ``payload`` must not change
        until the pack is shipped (a view is kept, not copied)."""
        if content_hash in self.hashes:
            return
        self.hashes.add(content_hash)
        self.records.append((content_hash, self.stored_bytes, len(payload), size, int(codec)))
        self.parts.append(payload)
        self.stored_bytes += len(payload)
        self.raw_bytes += size

    @property
    def buffer(self) -> bytes:
        """The pack's bytes (joined on first use; the builder is not appended to once shipped)."""
        joined = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        if not isinstance(joined, bytes):
            joined = bytes(joined)
        self.parts = [joined]
        return joined

    def __len__(self) -> int:
        return len(self.records)


def encode_index(records: Iterable[tuple[str, int, int, int, int]]) -> bytes:
    """Serialize (hash, offset, length, size, codec) records."""
    rows = list(records)
    out = bytearray(_HEADER.pack(INDEX_MAGIC, len(rows)))
    for content_hash, offset, length, size, codec in rows:
        out += _RECORD.pack(bytes.fromhex(content_hash), offset, length, size, codec)
    return bytes(out)


def decode_index(pack_id: str, data: bytes) -> dict[str, Location]:
    """Parse an index into hash -> Location. Raises ValueError on a malformed index."""
    result: dict[str, Location] = {}
    with gc_paused():  # bytes in memory: a Location per record, no cycle
        for raw_hash, offset, length, size, codec in _records(data):
            result[raw_hash.hex()] = Location(pack_id, offset, length, size, codec)
    return result


def find_in_index(pack_id: str, data: bytes, wanted: Container[bytes]) -> dict[str, Location]:
    """``decode_index`` of the records whose raw hash is ``wanted``, without building a Location (or a hex
    string) for any other (W7's store: 0.05 s for 140,000 records, where decoding takes 0.3 s). Raises
    ValueError on a malformed index."""
    with gc_paused():  # bytes in memory: a Location per record found, no cycle
        return {raw_hash.hex(): Location(pack_id, offset, length, size, codec)
                for raw_hash, offset, length, size, codec in _records(data) if raw_hash in wanted}


def _records(data: bytes) -> Iterator[tuple[bytes, int, int, int, int]]:
    """The index's records, its header checked first. ValueError on a malformed index."""
    if len(data) < _HEADER.size:
        raise ValueError("index too short")
    magic, count = _HEADER.unpack_from(data)
    if magic != INDEX_MAGIC or len(data) != _HEADER.size + count * _RECORD.size:
        raise ValueError("not a satchel pack index")
    return _RECORD.iter_unpack(memoryview(data)[_HEADER.size :])
