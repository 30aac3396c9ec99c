"""A folder on a local or mounted filesystem as storage (``/path`` or ``file:///path``)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from satchel.errors import (
    InvalidArgumentError,
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
    StorageTransientError,
)
from satchel.storage.base import Capabilities, ObjectInfo, Storage, check_key

_TMP = ".tmp"
_TRANSIENT = {errno.EAGAIN, errno.EINTR, errno.ETIMEDOUT, errno.EBUSY}


class LocalStorage(Storage):
    """Objects are files under ``root``; writes go through a temp file and a rename (or a hard link)."""

    capabilities = Capabilities(range_reads=True, conditional_put=True, local_path=True)

    def __init__(self, root: Path) -> None:
        self.root = root.absolute()
        self.url = self.root.as_uri()

    def path_of(self, key: str) -> Path:
        """Local path of ``key`` (the object may not exist). Keys under ``.tmp/`` are reserved."""
        check_key(key)
        if key.split("/", 1)[0] == _TMP:
            raise InvalidArgumentError(f"storage key {key!r} is reserved ('{_TMP}/' holds temp files)")
        return self.root / key

    def _error(self, exc: OSError, key: str | None) -> StorageError:
        where = f"{self.url}/{key}" if key else self.url
        if isinstance(exc, FileNotFoundError):
            return StorageNotFoundError(f"no object at {where}", url=self.url, key=key)
        if isinstance(exc, PermissionError):
            return StoragePermissionError(
                f"permission denied on {where}: check the folder's owner and mode", url=self.url, key=key
            )
        if exc.errno in _TRANSIENT:
            return StorageTransientError(f"temporary failure on {where}: {exc}", url=self.url, key=key)
        return StorageError(f"storage failure on {where}: {exc}", url=self.url, key=key)

    def _temp_path(self) -> Path:
        tmp_dir = self.root / _TMP
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tmp_dir / uuid.uuid4().hex

    def _write_temp(self, data: bytes) -> Path:
        tmp = self._temp_path()
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk, an interrupt: leave nothing behind
            raise
        return tmp

    def _publish(self, tmp: Path, key: str, *, exclusive: bool) -> bool:
        final = self.path_of(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            if not exclusive:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    return False
            _fsync(final.parent)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def put(self, key: str, data: bytes) -> None:
        self.path_of(key)
        try:
            self._publish(self._write_temp(data), key, exclusive=False)
        except OSError as exc:
            raise self._error(exc, key) from exc

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self.path_of(key)
        try:
            if self.path_of(key).exists():
                return False
            return self._publish(self._write_temp(data), key, exclusive=True)
        except OSError as exc:
            raise self._error(exc, key) from exc

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        self.path_of(key)
        tmp = self._temp_path()
        try:
            if consume:
                try:
                    os.replace(path, tmp)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
                    shutil.copyfile(path, tmp)
            else:
                shutil.copyfile(path, tmp)
            _fsync(tmp)
            self._publish(tmp, key, exclusive=False)
        except OSError as exc:
            raise self._error(exc, key) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        try:
            return self.path_of(key).read_bytes()
        except OSError as exc:
            raise self._error(exc, key) from exc

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with open(self.path_of(key), "rb") as handle:
                available = os.fstat(handle.fileno()).st_size - start  # never allocate past the end
                if available <= 0 or length <= 0:
                    return b""
                handle.seek(start)
                return handle.read(min(length, available))
        except OSError as exc:
            raise self._error(exc, key) from exc

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = 8 << 20) -> Iterator[bytes]:
        try:
            with open(self.path_of(key), "rb") as handle:
                handle.seek(start)
                remaining = length
                while remaining > 0:
                    chunk = handle.read(min(chunk_size, remaining))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    yield chunk
        except OSError as exc:
            raise self._error(exc, key) from exc

    def head(self, key: str) -> int | None:
        info = self.stat(key)
        return None if info is None else info.size

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            info = self.path_of(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._error(exc, key) from exc
        return ObjectInfo(key, info.st_size, info.st_mtime, _tag(info)) if stat.S_ISREG(info.st_mode) else None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder, _, _ = prefix.rpartition("/")
        if folder:
            self.path_of(folder)
        if prefix.startswith("/") or ".." in prefix.split("/"):
            raise InvalidArgumentError(f"invalid list prefix {prefix!r}: prefixes are relative, without '..'")
        base = self.root / folder if folder else self.root
        if not base.is_dir():
            return
        try:
            for dirpath, dirnames, filenames in os.walk(base):
                rel_dir = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
                if rel_dir == ".":
                    rel_dir = ""
                    dirnames[:] = [d for d in dirnames if d != _TMP]
                for name in filenames:
                    key = f"{rel_dir}/{name}" if rel_dir else name
                    if key.startswith(prefix):
                        info = os.stat(os.path.join(dirpath, name))
                        yield ObjectInfo(key, info.st_size, info.st_mtime, _tag(info))
        except OSError as exc:
            raise self._error(exc, None) from exc

    def delete(self, key: str) -> None:
        try:
            self.path_of(key).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._error(exc, key) from exc


def _tag(info: os.stat_result) -> str:
    """A local file's change tag: modification time in nanoseconds and size."""
    return f"{info.st_mtime_ns}-{info.st_size}"


def _fsync(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
