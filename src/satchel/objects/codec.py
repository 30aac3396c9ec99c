"""How an entry's bytes are stored: raw or zstd. The codec id is written in the pack index."""

from __future__ import annotations

import re
import threading
import zipfile
from enum import IntEnum

import zstandard

from satchel.errors import InvalidArgumentError


class Codec(IntEnum):
    """Stored encoding of one entry."""

    RAW = 0
    ZSTD = 1


ZSTD_LEVEL = 3
_WORTH_IT = 0.97
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


def encode(data: bytes, level: int | None) -> tuple[Codec, bytes]:
    """Compress ``data`` with zstd at ``level`` unless that does not pay; return (codec, payload)."""
    if level is None or len(data) < 64:
        return Codec.RAW, data
    packed = _compressor(level).compress(data)
    if len(packed) >= len(data) * _WORTH_IT:
        return Codec.RAW, data
    return Codec.ZSTD, packed


def decode(codec: int, payload: bytes, size: int) -> bytes:
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


def worth_compressing(sample: bytes, level: int | None) -> bool:
    """Does zstd at ``level`` pay on this sample (the start of a large file)?"""
    if level is None or not sample:
        return False
    return len(_compressor(level).compress(sample[: 1 << 20])) < len(sample[: 1 << 20]) * _WORTH_IT


def stream_decompressor() -> zstandard.ZstdDecompressionObj:
    """An incremental zstd decompressor."""
    return zstandard.ZstdDecompressor().decompressobj()
