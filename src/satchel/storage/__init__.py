"""Storage: bytes by key on a URL. ``open_storage`` picks the adapter from the URL's scheme."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from satchel.errors import InvalidArgumentError
from satchel.storage.base import Capabilities, ObjectInfo, Storage
from satchel.storage.local import LocalStorage
from satchel.storage.memory import MemoryStorage
from satchel.storage.retry import RetryingStorage

__all__ = [
    "Capabilities",
    "LocalStorage",
    "MemoryStorage",
    "ObjectInfo",
    "RetryingStorage",
    "Storage",
    "normalize_url",
    "open_storage",
]

_LATER = ("s3", "gs", "az", "azure", "http", "https")


def normalize_url(url: str | Path) -> str:
    """Canonical form of a storage location: ``file:///abs/path`` for folders, the URL otherwise."""
    text = str(url)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgumentError(
                f"{text!r} names host {parsed.netloc!r}; a file URL needs an absolute path: file:///{parsed.netloc}"
                f"{parsed.path}, or pass the folder path itself"
            )
        return Path(unquote(parsed.path)).absolute().as_uri()
    if not parsed.scheme or (len(parsed.scheme) == 1 and text[1:3] in (":\\", ":/")):
        return Path(text).expanduser().absolute().as_uri()
    if parsed.scheme == "memory":
        return f"memory://{parsed.netloc}{parsed.path}"
    if parsed.scheme in _LATER:
        return text.rstrip("/")
    raise InvalidArgumentError(
        f"unsupported storage URL {text!r}: use a folder path, file://, or memory://"
    )


def open_storage(url: str | Path, *, retries: int = 3) -> Storage:
    """Open the storage at ``url`` (a folder path, ``file://``, ``memory://``), wrapped with retries."""
    canonical = normalize_url(url)
    parsed = urlparse(canonical)
    if parsed.scheme == "file":
        return RetryingStorage(LocalStorage(Path(unquote(parsed.path))), retries=retries)
    if parsed.scheme == "memory":
        return RetryingStorage(MemoryStorage(parsed.netloc + parsed.path), retries=retries)
    raise InvalidArgumentError(
        f"storage {canonical!r} needs a backend that is not available in this version "
        "(object stores come with the satchel[s3]/[gcs]/[azure] extras); use a folder path or file:// for now"
    )
