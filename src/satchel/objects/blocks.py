"""Block tables: how a range of a large file is verified without reading the whole file.

A file's content hash covers all of its bytes, so checking it needs all of them. For a large entry stored raw
(no compression: its bytes lie in its pack as they are), the uploader also writes a block table: the BLAKE3
digest of each ``BLOCK_SIZE`` bytes of the file. The table is a content-addressed object of its own
(``blocks/<hh>/<hash>``, the hash of the table's bytes), and the manifest entry names it (manifest format 4),
so the chain of trust is the catalog's manifest hash -> manifest -> table hash -> table -> each block. A reader
of bytes ``[a, b)`` fetches only the blocks covering them, checks each against the table, and hands out only
checked bytes. See docs/format.md.

Table layout: ``MAGIC``, block size (u32 LE), file size (u64 LE), the file's content hash (32 bytes), then one
32-byte BLAKE3 digest per block (the last block may be short).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blake3 import blake3

from satchel.errors import IntegrityError, ObjectMissingError, StorageNotFoundError
from satchel.objects.codec import Codec
from satchel.objects.hashing import hash_bytes, is_content_hash, new_hasher
from satchel.objects.packs import pack_key

if TYPE_CHECKING:  # the store imports this module
    from satchel.objects.manifest import ManifestEntry
    from satchel.objects.store import ObjectStore

log = logging.getLogger("satchel")
BLOCK_SIZE = 1 << 20
TABLE_MIN_SIZE = 4 << 20
"""Files stored raw from this size up get a block table (smaller ones are read whole: one request anyway)."""
MAGIC = b"SATCHBK1"
_HEAD = struct.Struct("<IQ")
_DIGEST = 32


def blocks_key(table_hash: str) -> str:
    """Storage key of a block table."""
    return f"blocks/{table_hash[:2]}/{table_hash}"


class BlockHasher:
    """Digests of consecutive ``BLOCK_SIZE`` blocks of a stream fed in chunks of any size."""

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        self.block_size = block_size
        self.digests: list[bytes] = []
        self._hasher = new_hasher()
        self._filled = 0

    def update(self, chunk: bytes | memoryview) -> None:
        view = memoryview(chunk)
        while view:
            take = min(self.block_size - self._filled, len(view))
            self._hasher.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.block_size:
                self._close_block()

    def _close_block(self) -> None:
        self.digests.append(self._hasher.digest())
        self._hasher = new_hasher()
        self._filled = 0

    def table(self, content_hash: str, size: int) -> bytes:
        """The encoded table of the stream fed so far (its total ``size`` and ``content_hash``)."""
        if self._filled:
            self._close_block()
        return MAGIC + _HEAD.pack(self.block_size, size) + bytes.fromhex(content_hash) + b"".join(self.digests)


@dataclass(frozen=True)
class BlockTable:
    """A decoded, checked block table."""

    block_size: int
    size: int
    content_hash: str
    digests: tuple[bytes, ...]

    def read(self, store: ObjectStore, entry: ManifestEntry, first: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """Blocks ``first`` to ``stop - 1`` of ``entry``'s bytes, read in one range request from its pack, each
        checked against the table (IntegrityError, naming the pack, on the first that does not match)."""
        start = first * self.block_size
        end = min(stop * self.block_size, self.size)
        key = pack_key(entry.pack)
        try:
            data = store.storage.get_range(key, entry.offset + start, end - start)
        except StorageNotFoundError as exc:
            raise ObjectMissingError(f"pack {store.url}/{key} is missing", object_key=key,
                                     content_hash=entry.hash) from exc
        if len(data) != end - start:
            raise IntegrityError(f"pack {store.url}/{key} is truncated", object_key=key, content_hash=entry.hash)
        for index in range(first, stop):
            begin = (index - first) * self.block_size
            block = data[begin : begin + self.block_size]
            if blake3(block).digest() != self.digests[index]:
                raise IntegrityError(f"block {index} of object {entry.hash} in {store.url}/{key} does not match its "
                                     "block table", object_key=key, content_hash=entry.hash)
            yield index, bytes(block)


def decode_table(data: bytes, table_hash: str, content_hash: str, size: int) -> BlockTable:
    """Check and decode a table read from storage for the entry ``content_hash`` of ``size`` bytes; ValueError
    when it is not that entry's table."""
    if hash_bytes(data) != table_hash:
        raise ValueError("the block table does not match its hash")
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEAD.size + _DIGEST:
        raise ValueError("not a block table")
    block_size, table_size = _HEAD.unpack_from(data, len(MAGIC))
    at = len(MAGIC) + _HEAD.size
    named = data[at : at + _DIGEST].hex()
    digests = data[at + _DIGEST :]
    count = -(-size // block_size) if block_size else -1
    if block_size < 4096 or table_size != size or named != content_hash or len(digests) != count * _DIGEST:
        raise ValueError("the block table describes another file")
    return BlockTable(block_size, size, content_hash,
                      tuple(digests[i : i + _DIGEST] for i in range(0, len(digests), _DIGEST)))


def read_blocks(store: ObjectStore, entry: ManifestEntry) -> BlockTable | None:
    """The checked block table an entry names, or None when it names none, is not stored raw, or its table is
    missing or damaged (the reader then reads the file whole, verified by its hash)."""
    if not entry.blocks or entry.codec != Codec.RAW or not is_content_hash(entry.blocks):
        return None
    key = blocks_key(entry.blocks)
    limit = len(MAGIC) + _HEAD.size + _DIGEST * (2 + entry.size // 4096)
    try:
        size = store.storage.head(key)
        if size is None or size > limit:
            return None
        return decode_table(store.storage.get(key), entry.blocks, entry.hash, entry.size)
    except (StorageNotFoundError, ValueError) as exc:
        log.warning("block table %s of %s cannot be used (%s); the file is read whole",
                                             key, entry.hash, exc)
        return None
