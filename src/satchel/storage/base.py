"""The storage contract: bytes by key on one URL.

Invariants every adapter keeps:

* ``put``/``put_file`` are atomic: a reader sees the whole object or no object, never a part.
* ``put_if_absent`` writes only when the key does not exist and says whether it wrote; two concurrent
  callers never both win. Adapters without a native conditional write emulate it (see ``capabilities``).
* ``head`` returns ``None`` only for a key that is really absent; a permission or network failure raises.
* Failures are :class:`~satchel.errors.StorageError` subclasses that keep not-found, permission and
  transient apart; foreign exceptions are translated where they enter.
* Keys are ``/``-separated relative strings without ``..`` segments.

Retries, concurrency limits and logging are wrappers with this same interface, not adapter code.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from satchel.errors import (
    InvalidArgumentError,
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
    StorageTransientError,
)

PART_SIZE = 16 << 20
"""Part size of multipart (S3, Azure) and resumable (GCS) uploads; files above one part use them."""


@dataclass(frozen=True)
class Capabilities:
    """What an adapter offers natively."""

    range_reads: bool = True
    conditional_put: bool = True
    local_path: bool = False


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object. ``tag`` is the store's change tag (ETag, generation, mtime) when it offers one."""

    key: str
    size: int
    modified: float | None = None
    tag: str | None = None


class Storage(ABC):
    """Bytes by key under one URL. See the module docstring for the contract."""

    url: str
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, replacing any previous object."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Store ``data`` only if ``key`` is absent; return True when this call wrote it."""

    @abstractmethod
    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        """Store the local file ``path`` under ``key`` atomically.

        With ``consume`` the adapter may move the file instead of copying it.
        """

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the whole object; raise StorageNotFoundError when absent."""

    @abstractmethod
    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Return ``length`` bytes from ``start``; raise StorageNotFoundError when absent."""

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = 8 << 20) -> Iterator[bytes]:
        """Yield a byte range in chunks, for objects too large to hold in memory."""
        end = start + length
        while start < end:
            chunk = self.get_range(key, start, min(chunk_size, end - start))
            if not chunk:
                return
            yield chunk
            start += len(chunk)

    @abstractmethod
    def head(self, key: str) -> int | None:
        """Return the object's size, or None when it is absent."""

    def stat(self, key: str) -> ObjectInfo | None:
        """Size and change tag of ``key``, or None when it is absent. Adapters with tags override this."""
        size = self.head(key)
        return None if size is None else ObjectInfo(key, size)

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Yield the objects whose key starts with ``prefix``, in no particular order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; deleting an absent key is not an error."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


_QUERY = re.compile(r"\?[^\s\"'<>]*")


def redact(message: str) -> str:
    """A backend's error text without URL query strings (SAS tokens and presigned signatures live there)."""
    return _QUERY.sub("?<redacted>", message)


def error_for_status(code: int, *, url: str, key: str | None, detail: str,
                     credentials_hint: str = "") -> StorageError:
    """The StorageError for an HTTP status, the same for every backend: 404/410 not found, 401/403 refused,
    5xx/408/429 transient, anything else a plain StorageError. Query strings are redacted."""
    where = redact(f"{url}/{key}" if key else url)
    if code in (404, 410):
        return StorageNotFoundError(f"no object at {where} ({detail})", url=url, key=key)
    if code in (401, 403):
        hint = f" ({credentials_hint})" if credentials_hint else ""
        return StoragePermissionError(f"access to {where} was refused: check the credentials{hint} and their "
                                      f"permissions ({detail})", url=url, key=key)
    if code >= 500 or code in (408, 429):
        return StorageTransientError(f"temporary failure on {where}; retrying may help ({detail})", url=url, key=key)
    return StorageError(f"storage failure on {where}: {detail}", url=url, key=key)


def normalize_tag(tag: str | None) -> str | None:
    """A change tag without ETag quoting (``W/"abc"`` and ``"abc"`` -> ``abc``), so HEAD and LIST agree."""
    if not tag:
        return None
    text = tag.strip()
    if text.startswith("W/"):
        text = text[2:]
    return text.strip('"') or None


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise InvalidArgumentError."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\0" in key:
        raise InvalidArgumentError(f"invalid storage key {key!r}: keys are relative, '/'-separated, no '..' or NUL")
    return key
