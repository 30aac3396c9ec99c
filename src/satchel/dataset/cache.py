"""The local cache: content by hash, and materialized versions built from it.

Layout under the cache folder::

    content/<hh>/<hash>      raw file content, read-only, written through a temp file + rename
    versions/<key>/          a materialized version: read-only hard links (or symlinks) into content/
    locks/<name>.lock        inter-process locks (blocking)
    tmp/                     builds in progress

A version folder appears by an atomic rename of a finished build, so its existence means it is complete:
a cache hit is one ``stat``, whatever the version's size. Two processes asking for the same version take
the same lock; the second finds the folder the first built.

Write protection: every content file carries a modification time derived from its hash (``stamp_ns``: an even
second between 2000 and 2003), set when satchel writes it. Cached copies are read-only hard links to content,
but root writes through that; a write sets the shared inode's mtime to now, and a copy that keeps times
(``cp -p``) brings another file's stamp. So content is re-checked (size and mtime, one ``stat``) whenever it is
linked or copied, and content that was changed is re-hashed: kept if still right, else dropped from
``content/`` and fetched again. Processes that can write read-only files (root) also check a materialized
version on a cache hit (``untouched``: the (path, mtime, size) of its files against the fingerprint recorded
when it was built) and rebuild it when a file was written to, replaced, added or removed; everyone else cannot
change them without a chmod, so their hit stays one ``stat``. See docs/architecture.md.

Builds and copies hold a shared lock on ``locks/content.lock``; eviction takes it exclusively, so content
is never removed while a process is linking or copying it. Eviction (when content exceeds the limit)
removes the least recently used version folders, then
content files no version folder links to (hard-link count 1). Symlinked versions are removed before any
content, since they would dangle.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import logging
import os
import shutil
import stat
import time
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from satchel.objects.hashing import hash_file, new_hasher

if TYPE_CHECKING:
    from filelock import FileLock

log = logging.getLogger(__name__)

SOFT_SUFFIX = ".soft"
STAMP_BASE_SECONDS = 946_684_800  # 2000-01-01T00:00:00Z
_STAMP_SLOTS = 50_000_000  # even seconds over ~3.2 years: exact on every filesystem, FAT's 2 s included
_READ_ONLY_FILE = 0o444
_READ_ONLY_DIR = 0o555
_CAP_DAC_OVERRIDE = 1
_LISTING_PAYS = 4096  # contents asked at once from which listing the content folders beats a stat each
_NAME_BYTES = 64  # at least what a directory's size grows by per 64-character name, on common filesystems
_LISTED_PER_ASKED = 8  # names listed per content asked, beyond which a stat each is cheaper


def stamp_ns(content_hash: str) -> int:
    """The modification time (ns) satchel gives the cached content of ``content_hash``."""
    return (STAMP_BASE_SECONDS + 2 * (int(content_hash[:12], 16) % _STAMP_SLOTS)) * 10**9


def stamp(target: int | str, content_hash: str) -> None:
    """Give a content file (an open descriptor or a path) its modification time."""
    os.utime(target, ns=(time.time_ns(), stamp_ns(content_hash)))


FolderState = dict[str, tuple[int, int]]
"""relative path -> (mtime_ns, size) of every file of a folder ((-1, -1) for one that cannot be stat-ed)."""


def fingerprint(state: FolderState) -> str:
    """Digest of a folder's state, in path order."""
    hasher = new_hasher()
    for path in sorted(state):
        mtime_ns, size = state[path]
        hasher.update(f"{path}\0{mtime_ns}\0{size}\n".encode("utf-8", "surrogateescape"))
    return str(hasher.hexdigest())


def folder_state(folder: Path) -> FolderState:
    """The state of a folder as it is on disk (through the symlinks of a soft-linked version)."""
    found: FolderState = {}
    base = len(str(folder)) + 1
    pending = [str(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                    continue
                try:
                    info = entry.stat()
                    found[entry.path[base:]] = (info.st_mtime_ns, info.st_size)
                except OSError:
                    found[entry.path[base:]] = (-1, -1)
    return found


@functools.cache
def can_write_read_only_files() -> bool:
    """True when this process can write through read-only files: CAP_DAC_OVERRIDE in its effective set (root
    has it, unless a container or ``setpriv`` dropped it); euid 0 where /proc does not say."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_DAC_OVERRIDE & 1)
    except (OSError, ValueError):
        pass
    return os.geteuid() == 0


class LocalCache:
    """Content and materialized versions under ``root``, bounded by ``limit`` bytes of content."""

    def __init__(self, root: Path, limit: int) -> None:
        self.root = root
        self.limit = limit
        self._content_root = str(root / "content")
        self._usage_file = root / "usage"

    # -- paths and locks -------------------------------------------------------------------------
    def version_dir(self, key: str) -> Path:
        """Folder of the materialized version ``key``."""
        return self.root / "versions" / key

    def lock(self, name: str) -> FileLock:
        """A blocking inter-process lock."""
        from filelock import FileLock  # on first use: a cache hit takes no lock

        folder = self.root / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f"{name}.lock"))

    @contextlib.contextmanager
    def using_content(self) -> Iterator[None]:
        """Shared lock held while building or copying from content: eviction (exclusive) waits for it."""
        with _flock(self.root / "locks" / "content.lock", fcntl.LOCK_SH):
            yield

    def temp_path(self, prefix: str) -> Path:
        """A fresh path in the cache's temp folder (same filesystem as content/)."""
        folder = self.root / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{prefix}-{uuid.uuid4().hex}"

    # -- content ---------------------------------------------------------------------------------
    def content_file(self, content_hash: str) -> str:
        """Where the raw content of ``content_hash`` lives in the cache (a string: it is used in hot loops)."""
        return f"{self._content_root}/{content_hash[:2]}/{content_hash}"

    def has_content(self, content_hash: str) -> bool:
        """True when the content is cached (whether it is intact is ``content_looks_intact``'s question)."""
        return os.path.exists(self.content_file(content_hash))

    def cached_among(self, hashes: Collection[str]) -> Collection[str]:
        """A superset of the ``hashes`` that are cached. A big batch lists the content folders it falls in
        (one listing per folder instead of a failing stat per missing content), except a folder whose size says
        it holds many more names than are asked of it: those hashes are all kept, for a stat each.
        A small batch is ``hashes`` itself."""
        if len(hashes) < _LISTING_PAYS:
            return hashes
        by_folder: dict[str, list[str]] = {}
        for content_hash in hashes:
            by_folder.setdefault(content_hash[:2], []).append(content_hash)
        found: set[str] = set()
        for shard, asked in by_folder.items():
            folder = f"{self._content_root}/{shard}"
            try:
                if os.stat(folder).st_size > _NAME_BYTES * _LISTED_PER_ASKED * len(asked):
                    found.update(asked)  # listing would read far more names than it saves stats
                else:
                    found.update(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                continue  # nothing cached under that prefix
        return found

    def content_looks_intact(self, content_hash: str, size: int) -> bool | None:
        """None when the content is not cached; True when it is as satchel wrote it (size and stamped mtime:
        one stat); False when it was written to since (``recheck`` it)."""
        try:
            info = os.stat(self.content_file(content_hash))
        except FileNotFoundError:
            return None
        return info.st_size == size and info.st_mtime_ns == stamp_ns(content_hash)

    def recheck(self, content_hash: str, size: int, *, verifiable: bool = True) -> bool:
        """Content that was written to after satchel cached it: re-hash it; if it still matches (and
        ``verifiable``: external links' ids are not content hashes), stamp it again and keep it, else remove
        it from ``content/`` so that it is fetched again. True when it was kept."""
        path = self.content_file(content_hash)
        try:
            if verifiable and os.stat(path).st_size == size and hash_file(path)[0] == content_hash:
                stamp(path, content_hash)
                return True
        except FileNotFoundError:
            return False
        log.warning("cached content %s was changed after satchel wrote it (a write through a read-only cached "
                    "copy?); it is not used and is fetched again", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return False

    def place(self, content_hash: str, data: bytes, target: str | None = None) -> str:
        """Cache verified bytes and return the content file.

        The bytes are written to ``target`` (a path inside a build, created read-only) or to a temp file,
        then hard-linked into ``content/``: the content file appears complete or not at all.
        """
        path = target or str(self.temp_path("content"))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY_FILE)
        try:
            _write_all(fd, data)
            stamp(fd, content_hash)
        finally:
            os.close(fd)
        final = self.content_file(content_hash)
        self.link_into_content(path, final)
        if target is None:
            os.unlink(path)
        return final

    def adopt_content(self, content_hash: str, temp: Path) -> str:
        """Move an already verified file into the cache as ``content_hash``."""
        os.chmod(temp, _READ_ONLY_FILE)
        stamp(str(temp), content_hash)
        final = self.content_file(content_hash)
        self.link_into_content(str(temp), final)
        temp.unlink()
        return final

    def link_into_content(self, source: str, final: str) -> None:
        """Hard-link a complete, read-only file into ``content/`` (an existing copy wins)."""
        try:
            os.link(source, final)
        except FileExistsError:
            pass
        except FileNotFoundError:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.link(source, final)

    def add_usage(self, delta: int) -> int:
        """Add ``delta`` bytes to the recorded content usage; return the new total."""
        with self.lock("usage"):
            total = max(0, self._recorded_usage() + delta)
            self._usage_file.write_text(str(total))
            return total

    def _recorded_usage(self) -> int:
        try:
            return int(self._usage_file.read_text())
        except FileNotFoundError:
            return 0
        except ValueError:
            return self.usage()

    # -- versions --------------------------------------------------------------------------------
    def hit(self, key: str) -> Path | None:
        """The folder of ``key`` if it is materialized (one stat), marking it recently used."""
        folder = self.version_dir(key)
        try:
            os.utime(folder)
        except FileNotFoundError:
            return None
        return folder

    def untouched(self, folder: Path, key: str) -> bool:
        """True when every file of the materialized version ``key`` is as satchel made it: the (path, mtime,
        size) of its files match the fingerprint recorded when it was built, so a file written to, replaced
        (``cp -p`` included), added or removed shows. Costs a stat per file: only for processes that can write
        read-only files (``can_write_read_only_files``)."""
        try:
            expected = self._fingerprint_file(key).read_text()
        except FileNotFoundError:
            return False  # built before fingerprints existed: rebuild it once
        return fingerprint(folder_state(folder)) == expected

    def _fingerprint_file(self, key: str) -> Path:
        return self.root / "fingerprints" / key

    def new_build(self) -> Path:
        """An empty folder to build a version in (publish it with ``publish``)."""
        build = self.temp_path("version")
        build.mkdir()
        return build

    def publish(self, build: Path, key: str, expected: str) -> Path:
        """Make the build read-only and rename it into place as version ``key``; ``expected`` is the
        fingerprint its files have (see ``untouched``)."""
        for dirpath, _, _ in os.walk(build, topdown=False):
            if dirpath != str(build):
                os.chmod(dirpath, _READ_ONLY_DIR)
        recorded = self._fingerprint_file(key)
        recorded.parent.mkdir(parents=True, exist_ok=True)
        recorded.write_text(expected)
        final = self.version_dir(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(build, final)  # a folder moves to another parent only while it is writable (its '..' changes)
        os.chmod(final, _READ_ONLY_DIR)
        os.utime(final)
        return final

    def drop_version(self, key: str) -> None:
        """Remove a materialized version (its content stays cached)."""
        folder = self.version_dir(key)
        if folder.exists():
            trash = self.temp_path("trash")
            os.chmod(folder, stat.S_IRWXU)  # it moves to another parent: it must be writable (see publish)
            os.rename(folder, trash)
            remove_tree(trash)
        self._fingerprint_file(key).unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove every cached version and all cached content."""
        with _flock(self.root / "locks" / "content.lock", fcntl.LOCK_EX):
            for name in ("versions", "content", "tmp", "fingerprints"):
                folder = self.root / name
                if folder.exists():
                    trash = self.root / f".trash-{uuid.uuid4().hex}"
                    os.rename(folder, trash)
                    remove_tree(trash)
            self._usage_file.unlink(missing_ok=True)

    def drop_dataset(self, version_id: str) -> int:
        """Remove every cached copy of one version (all parts, file subsets, link kinds); return how many."""
        base = self.root / "versions"
        keys = [e.name for e in os.scandir(base) if e.name.split(".")[0] == version_id] if base.is_dir() else []
        for key in keys:
            self.drop_version(key)
        return len(keys)

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
                # ctime, not mtime (a stamp, not a time of use): it moves when a version links or unlinks it
                found.append((Path(entry.path), info.st_size, info.st_nlink, info.st_ctime))
        return found

    def evict(self, keep: set[str]) -> int:
        """Bring content under the limit, never touching versions in ``keep``; return bytes freed."""
        if self._recorded_usage() <= self.limit:
            return 0
        with _flock(self.root / "locks" / "content.lock", fcntl.LOCK_EX):
            files = self._content_files()
            excess = sum(size for _, size, _, _ in files) - self.limit
            if excess <= 0:
                self.add_usage(excess + self.limit - self._recorded_usage())
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
            self.add_usage(-freed)
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



@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    """A blocking flock (shared or exclusive) on ``path``, released when the block ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)


def link_file(source: str, target: str, *, soft: bool) -> None:
    """Link ``target`` to cached content: a symlink, or a hard link (a read-only copy if impossible)."""
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
        stamp(target, os.path.basename(source))  # the content file's name is its hash


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def remove_tree(path: Path) -> None:
    """Delete a folder tree, read-only folders included."""
    if not path.exists():
        return
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path)
