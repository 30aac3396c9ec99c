"""Retries with exponential backoff as a wrapper, for transient errors only."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from satchel.errors import StorageTransientError
from satchel.storage.base import ObjectInfo, Storage, redact

log = logging.getLogger(__name__)
T = TypeVar("T")


class RetryingStorage(Storage):
    """Wraps ``inner``; retries a call up to ``retries`` times when it raises StorageTransientError."""

    def __init__(self, inner: Storage, retries: int = 3, base_delay: float = 0.2) -> None:
        self.inner = inner
        self.url = inner.url
        self.capabilities = inner.capabilities
        self.retries = max(0, retries)
        self.base_delay = base_delay

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: base * 2**attempt * [0.5, 1.5)."""
        return self.base_delay * (2.0**attempt) * (0.5 + random.random())

    def _call(self, what: str, func: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return func()
            except StorageTransientError as exc:
                if attempt >= self.retries:
                    raise
                delay = self._delay(attempt)
                attempt += 1
                log.warning("%s on %s failed (%s); retry %d/%d in %.1fs", what, self.url, exc, attempt,
                            self.retries, delay)
                time.sleep(delay)

    def put(self, key: str, data: bytes) -> None:
        self._call("put", lambda: self.inner.put(key, data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._call("put_if_absent", lambda: self.inner.put_if_absent(key, data))

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        self._call("put_file", lambda: self.inner.put_file(key, path, consume=consume))

    def get(self, key: str) -> bytes:
        return self._call("get", lambda: self.inner.get(key))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._call("get_range", lambda: self.inner.get_range(key, start, length))

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = 8 << 20) -> Iterator[bytes]:
        """Stream a range; a transient failure mid-stream resumes from the last byte received."""
        position, end, attempt = start, start + length, 0
        while True:
            try:
                for chunk in self.inner.iter_range(key, position, end - position, chunk_size):
                    position += len(chunk)
                    attempt = 0
                    yield chunk
                return
            except StorageTransientError as exc:
                if attempt >= self.retries:
                    raise
                delay = self._delay(attempt)
                attempt += 1
                log.warning("reading %s on %s failed at byte %d (%s); resuming, retry %d/%d in %.1fs", redact(key),
                            self.url, position, exc, attempt, self.retries, delay)
                time.sleep(delay)

    def head(self, key: str) -> int | None:
        return self._call("head", lambda: self.inner.head(key))

    def stat(self, key: str) -> ObjectInfo | None:
        return self._call("stat", lambda: self.inner.stat(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return iter(self._call("list", lambda: list(self.inner.list(prefix))))

    def delete(self, key: str) -> None:
        self._call("delete", lambda: self.inner.delete(key))
