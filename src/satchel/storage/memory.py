"""An in-process storage (``memory://name``) for tests and scratch work. Same name, same store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from satchel.errors import StorageNotFoundError
from satchel.storage.base import Capabilities, ObjectInfo, Storage, check_key

_STORES: dict[str, dict[str, bytes]] = {}
_TIMES: dict[str, dict[str, float]] = {}
_LOCK = threading.Lock()


class MemoryStorage(Storage):
    """Objects in a dict shared by every MemoryStorage of the same name in this process."""

    capabilities = Capabilities(range_reads=True, conditional_put=True, local_path=False)

    def __init__(self, name: str) -> None:
        self.url = f"memory://{name}"
        with _LOCK:
            self._objects = _STORES.setdefault(name, {})
            self._times = _TIMES.setdefault(name, {})

    def put(self, key: str, data: bytes) -> None:
        with _LOCK:
            self._objects[check_key(key)] = bytes(data)
            self._times[key] = time.time()

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with _LOCK:
            if check_key(key) in self._objects:
                return False
            self._objects[key] = bytes(data)
            self._times[key] = time.time()
            return True

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        self.put(key, path.read_bytes())
        if consume:
            path.unlink()

    def get(self, key: str) -> bytes:
        with _LOCK:
            try:
                return self._objects[check_key(key)]
            except KeyError:
                raise StorageNotFoundError(f"no object at {self.url}/{key}", url=self.url, key=key) from None

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.get(key)[start : start + length]

    def head(self, key: str) -> int | None:
        with _LOCK:
            data = self._objects.get(check_key(key))
        return None if data is None else len(data)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with _LOCK:
            items = [(k, len(v), self._times.get(k)) for k, v in self._objects.items() if k.startswith(prefix)]
        for key, size, modified in items:
            yield ObjectInfo(key, size, modified)

    def delete(self, key: str) -> None:
        with _LOCK:
            self._objects.pop(check_key(key), None)
            self._times.pop(key, None)


def forget_memory_store(name: str) -> None:
    """Drop the in-process store ``name`` (tests)."""
    with _LOCK:
        _STORES.pop(name, None)
        _TIMES.pop(name, None)
