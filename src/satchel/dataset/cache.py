"""The local cache: content by hash, and materialized versions built from it.

Layout under the cache folder::

    content/<hh>/<hash>      raw file content, read-only, written through a temp file + rename
    versions/<key>/          a materialized version: read-only hard links (or symlinks) into content/
    locks/<name>.lock        inter-process locks (blocking)
    tmp/                     builds in progress

A version folder appears by an atomic rename of a finished build, so its existence means it is complete:
a cache hit is one ``stat``, whatever the version's size. Two processes asking for the same version take
the same lock; the second finds the folder the first built.

Eviction (when content exceeds the byte limit) removes the least recently used version folders, then
content files no version folder links to (hard-link count 1). Symlinked versions are removed before any
content, since they would dangle.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

SOFT_SUFFIX = ".soft"
_READ_ONLY_FILE = 0o444
_READ_ONLY_DIR = 0o555


class LocalCache:
    """Content and materialized versions under ``root``, bounded by ``limit`` bytes of content."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit

    # -- paths and locks -------------------------------------------------------------------------
    def content_path(self, content_hash: str) -> Path:
        """Where the raw content of ``content_hash`` lives in the cache."""
        return self.root / "content" / content_hash[:2] / content_hash

    def version_dir(self, key: str) -> Path:
        """Folder of the materialized version ``key``."""
        return self.root / "versions" / key

    def lock(self, name: str) -> FileLock:
        """A blocking inter-process lock."""
        folder = self.root / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f"{name}.lock"))

    def temp_path(self, prefix: str) -> Path:
        """A fresh path in the cache's temp folder (same filesystem as content/)."""
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{prefix}-{uuid.uuid4().hex}"

    # -- content ---------------------------------------------------------------------------------
    def has_content(self, content_hash: str) -> bool:
        """True when the content is cached."""
        return self.content_path(content_hash).is_file()

    def add_content(self, content_hash: str, data: bytes) -> None:
        """Cache verified bytes (atomically; an existing copy is kept)."""
        temp = self.temp_path("content")
        with open(temp, "wb") as handle:
            handle.write(data)
        self.adopt_content(content_hash, temp)

    def adopt_content(self, content_hash: str, temp: Path) -> None:
        """Move an already verified file into the cache as ``content_hash``."""
        final = self.content_path(content_hash)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(temp, _READ_ONLY_FILE)
        os.replace(temp, final)

    # -- versions --------------------------------------------------------------------------------
    def hit(self, key: str) -> Path | None:
        """The folder of ``key`` if it is materialized (one stat), marking it recently used."""
        folder = self.version_dir(key)
        try:
            os.utime(folder)
        except FileNotFoundError:
            return None
        return folder

    def materialize(self, key: str, files: Iterable[tuple[str, str]], *, soft: bool) -> Path:
        """Build version ``key`` from (dataset path, hash) pairs whose content is cached; return it."""
        build = self.temp_path("version")
        build.mkdir()
        made: set[Path] = {build}
        try:
            for dataset_path, content_hash in files:
                target = build / dataset_path
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                _link(self.content_path(content_hash), target, soft=soft)
            for folder in sorted(made, key=lambda p: len(p.parts), reverse=True):
                os.chmod(folder, _READ_ONLY_DIR)
            final = self.version_dir(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(build, final)
            return final
        except BaseException:
            remove_tree(build)
            raise

    def drop_version(self, key: str) -> None:
        """Remove a materialized version (its content stays cached)."""
        folder = self.version_dir(key)
        if folder.exists():
            trash = self.temp_path("trash")
            os.rename(folder, trash)
            remove_tree(trash)

    # -- eviction --------------------------------------------------------------------------------
    def usage(self) -> int:
        """Bytes of cached content."""
        return sum(size for _, size, _, _ in self._content_files())

    def _content_files(self) -> list[tuple[Path, int, int, float]]:
        found: list[tuple[Path, int, int, float]] = []
        base = self.root / "content"
        if not base.is_dir():
            return found
        for folder in os.scandir(base):
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder.path):
                info = entry.stat(follow_symlinks=False)
                found.append((Path(entry.path), info.st_size, info.st_nlink, info.st_mtime))
        return found

    def evict(self, keep: set[str]) -> int:
        """Bring content under the limit, never touching versions in ``keep``; return bytes freed."""
        with self.lock("cache"):
            files = self._content_files()
            excess = sum(size for _, size, _, _ in files) - self.limit
            if excess <= 0:
                return 0
            versions = self._versions_oldest_first(keep)
            soft = [v for v in versions if v.name.endswith(SOFT_SUFFIX)]
            for folder in soft:
                self.drop_version(folder.name)
            kept_soft = {k for k in keep if k.endswith(SOFT_SUFFIX)}
            protected = self._linked_hashes(kept_soft)
            hard = [v for v in versions if not v.name.endswith(SOFT_SUFFIX)]
            freed = self._free_unlinked(excess, protected)
            while freed < excess and hard:
                self.drop_version(hard.pop(0).name)
                freed += self._free_unlinked(excess - freed, protected)
            log.info("cache eviction freed %d bytes", freed)
            return freed

    def _versions_oldest_first(self, keep: set[str]) -> list[Path]:
        base = self.root / "versions"
        if not base.is_dir():
            return []
        folders = [Path(e.path) for e in os.scandir(base) if e.is_dir() and e.name not in keep]
        return sorted(folders, key=lambda p: p.stat().st_mtime)

    def _linked_hashes(self, keys: set[str]) -> set[str]:
        hashes = set()
        for key in keys:
            for dirpath, _, names in os.walk(self.version_dir(key)):
                for name in names:
                    with contextlib.suppress(OSError):
                        hashes.add(Path(os.readlink(os.path.join(dirpath, name))).name)
        return hashes

    def _free_unlinked(self, wanted: int, protected: set[str]) -> int:
        candidates = [f for f in self._content_files() if f[2] == 1 and f[0].name not in protected]
        candidates.sort(key=lambda f: f[3])
        freed = 0
        for path, size, _, _ in candidates:
            if freed >= wanted:
                break
            path.unlink(missing_ok=True)
            freed += size
        return freed

    def clear(self) -> None:
        """Remove everything cached."""
        with self.lock("cache"):
            for name in ("versions", "content", "tmp"):
                folder = self.root / name
                if folder.exists():
                    trash = self.root / f".trash-{uuid.uuid4().hex}"
                    os.rename(folder, trash)
                    remove_tree(trash)


def _link(source: Path, target: Path, *, soft: bool) -> None:
    if soft:
        os.symlink(source, target)
        return
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EMLINK, errno.EPERM):
            raise
        shutil.copyfile(source, target)
        os.chmod(target, _READ_ONLY_FILE)


def remove_tree(path: Path) -> None:
    """Delete a folder tree, read-only folders included."""
    if not path.exists():
        return
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path)
