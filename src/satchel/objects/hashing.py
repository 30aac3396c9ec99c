"""Content hashes: BLAKE3 of the raw bytes, as 64 hex characters."""

from __future__ import annotations

import os
import re

from blake3 import blake3

HASH_HEX_LENGTH = 64
_CONTENT_HASH = re.compile(f"[0-9a-f]{{{HASH_HEX_LENGTH}}}")
_READ_BLOCK = 4 << 20
"""Files up to this size are hashed in one read; larger ones a block of this size at a time, through one reused
buffer. (Hashing through mmap is no faster here and maps the whole file into the process: 512 MiB resident for a
512 MiB file, per file hashed at once.)"""


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """BLAKE3 hex digest of ``data``."""
    return str(blake3(data).hexdigest())


def new_hasher() -> blake3:
    """An incremental BLAKE3 hasher (``update`` then ``hexdigest``)."""
    return blake3(max_threads=blake3.AUTO)


def hash_file(path: str) -> tuple[str, int]:
    """Return (hash, number of bytes hashed) of the file at ``path``.

    Small files are hashed in one read; larger ones block by block with BLAKE3's multithreading, in bounded
    memory (one block), whatever the file's size.
    """
    with open(path, "rb", buffering=0) as handle:
        if os.fstat(handle.fileno()).st_size <= _READ_BLOCK:
            data = handle.read()
            return hash_bytes(data), len(data)
        hasher = new_hasher()
        block = bytearray(_READ_BLOCK)
        view = memoryview(block)
        total = 0
        while count := handle.readinto(block):
            hasher.update(view[:count])
            total += count
        return str(hasher.hexdigest()), total


def is_content_hash(value: str) -> bool:
    """True when ``value`` looks like a content hash (64 lowercase hex characters)."""
    return _CONTENT_HASH.fullmatch(value) is not None
