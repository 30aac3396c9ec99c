"""How an entry's bytes are stored: raw, zstd, or as chunks. The codec id is written in the pack index."""

from __future__ import annotations

import re
import threading
import zipfile
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import IO, cast

import zstandard

from satchel.errors import InvalidArgumentError


class Codec(IntEnum):
    """Stored encoding of one entry."""

    RAW = 0
    ZSTD = 1
    CHUNKS = 2
    """The payload is a recipe naming the file's chunks (objects/chunks.py); in indexes and manifests only."""


ZSTD_LEVEL = 3
_WORTH_IT = 0.97
WORTH_IT_LARGE = 0.90
"""A large file (its own pack) is stored compressed only when zstd saves 10% or more on its start: files that
are compressed already (JPEG, MP4, snappy Parquet) gain a few percent at most, and stored raw they can be read
by range (block tables) and without decompression."""
_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    cache: dict[int, zstandard.ZstdCompressor] = _local.__dict__.setdefault("compressors", {})
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if found is None:
        found = _local.decompressor = zstandard.ZstdDecompressor()
    return found


def resolve_compression(compression: object) -> int | None:
    """Map the ``upload(compression=...)`` argument to a zstd level, or None for no compression.

    ``None``, ``"zstd"``, ``zipfile.ZIP_DEFLATED``/``ZIP_BZIP2``/``ZIP_LZMA``: zstd level 3 (ClearML's
    zip codecs map to zstd, which is faster and compresses better). ``"zstd:N"``: zstd level N.
    ``"none"`` or ``zipfile.ZIP_STORED``: stored raw.
    """
    if compression is None or compression == "zstd":
        return ZSTD_LEVEL
    if compression in ("none", zipfile.ZIP_STORED):
        return None
    if compression in (zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        return ZSTD_LEVEL
    if isinstance(compression, str) and compression.startswith("zstd:"):
        level = compression.partition(":")[2]
        if re.fullmatch(r"-?[0-9]{1,2}", level) and -7 <= int(level) <= 22:
            return int(level)
    raise InvalidArgumentError(
        f"compression={compression!r} is not supported; use None or 'zstd' (default), 'zstd:<level>' "
        "(-7..22), 'none', zipfile.ZIP_STORED or zipfile.ZIP_DEFLATED"
    )


def encode(data: bytes | memoryview, level: int | None) -> tuple[Codec, bytes | memoryview]:
    """Compress ``data`` with zstd at ``level`` unless that does not pay; return (codec, payload)."""
    if level is None or len(data) < 64:
        return Codec.RAW, data
    packed = _compressor(level).compress(data)
    if len(packed) >= len(data) * _WORTH_IT:
        return Codec.RAW, data
    return Codec.ZSTD, packed


def decode(codec: int, payload: bytes | memoryview, size: int) -> bytes | memoryview:
    """Return the raw bytes of a stored entry. Raises ValueError on a corrupt payload."""
    if codec == Codec.RAW:
        return payload
    if codec == Codec.ZSTD:
        try:
            declared = zstandard.frame_content_size(payload)
        except zstandard.ZstdError as exc:
            raise ValueError(f"corrupt zstd payload: {exc}") from exc
        if declared not in (-1, size):
            raise ValueError(f"zstd frame declares {declared} bytes, expected {size}")
        try:
            return bytes(_decompressor().decompress(payload, max_output_size=size))
        except zstandard.ZstdError as exc:
            raise ValueError(f"corrupt zstd payload: {exc}") from exc
    raise ValueError(f"unknown codec {codec}")


def stream_compressor(level: int) -> zstandard.ZstdCompressionObj:
    """An incremental zstd compressor (``compress`` / ``flush``), using every core for large inputs."""
    return zstandard.ZstdCompressor(level=level, threads=-1).compressobj()


def worth_compressing(sample: bytes, level: int | None, ratio: float = WORTH_IT_LARGE) -> bool:
    """Does zstd at ``level`` pay on this sample (the start of a large file): does it shrink below ``ratio``?"""
    if level is None or not sample:
        return False
    return len(_compressor(level).compress(sample[: 1 << 20])) < len(sample[: 1 << 20]) * ratio


MAX_ENTRY_SIZE = 1 << 50  # 1 PiB: a larger raw size in an index or manifest is damage, not data


def max_stored_size(size: int) -> int:
    """The most bytes a zstd frame of ``size`` raw bytes can take (zstd's compress bound, rounded up)."""
    return size + (size >> 8) + (128 << 10)


class ChunkReader:
    """A ``read(n)`` view of an iterator of byte chunks (what zstd's streaming reader consumes)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        if size < 0 or size >= len(self._pending):
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out


def stream_decode(codec: int, chunks: Iterable[bytes], out_chunk: int) -> Iterator[bytes]:
    """The raw bytes of a stored entry streamed from ``chunks``, in pieces of at most ``out_chunk`` bytes for
    zstd (so a frame that expands without bound is noticed piece by piece). Raises zstandard.ZstdError."""
    if codec == Codec.RAW:
        yield from chunks
    elif codec == Codec.ZSTD:
        reader = cast("IO[bytes]", ChunkReader(chunks))  # read_to_iter only calls read()
        yield from zstandard.ZstdDecompressor().read_to_iter(reader, read_size=out_chunk, write_size=out_chunk)
    else:
        raise zstandard.ZstdError(f"unknown codec {codec}")
