"""Content hashes: BLAKE3 of the raw bytes, as 64 hex characters."""

from __future__ import annotations

import os

from blake3 import blake3

HASH_HEX_LENGTH = 64
_MMAP_THRESHOLD = 4 << 20


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """BLAKE3 hex digest of ``data``."""
    return str(blake3(data).hexdigest())


def new_hasher() -> blake3:
    """An incremental BLAKE3 hasher (``update`` then ``hexdigest``)."""
    return blake3(max_threads=blake3.AUTO)


def hash_file(path: str) -> tuple[str, int]:
    """Return (hash, number of bytes hashed) of the file at ``path``.

    Large files are hashed through mmap with BLAKE3's multithreading; small ones in one read.
    """
    size = os.stat(path).st_size
    if size < _MMAP_THRESHOLD:
        with open(path, "rb") as handle:
            data = handle.read()
        return hash_bytes(data), len(data)
    hasher = new_hasher()
    hasher.update_mmap(path)
    return str(hasher.hexdigest()), size


def is_content_hash(value: str) -> bool:
    """True when ``value`` looks like a content hash (64 lowercase hex characters)."""
    return len(value) == HASH_HEX_LENGTH and all(c in "0123456789abcdef" for c in value)
