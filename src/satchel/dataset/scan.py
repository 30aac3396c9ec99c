"""Finding local files to add and hashing them (with the stat cache and change detection)."""

from __future__ import annotations

import functools
import logging
import operator
import os
import re
import stat as stat_module
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from satchel.dataset.paths import local_file_matches
from satchel.dataset.statcache import StatCache, StatKey, StatRow
from satchel.errors import InvalidArgumentError, SourceFileError
from satchel.objects.hashing import hash_bytes, hash_file

log = logging.getLogger(__name__)
_BATCH = 256
_SMALL = 4 << 20
_AHEAD = 128  # small files asked ahead of the one being read (a few hundred KB to 1 MB in flight)
_LOCAL_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "bcachefs", "f2fs", "jfs", "reiserfs",
                                "nilfs2", "zfs", "tmpfs", "ramfs", "overlay", "squashfs", "erofs", "vfat", "exfat",
                                "ntfs3", "hfsplus"})
_LOCAL_DEVICES: dict[int, bool] = {}
_MOUNT_ESCAPE = re.compile(r"\\([0-7]{3})")


class SourceFile(NamedTuple):
    """A local file about to be added, with the stat taken when it was found."""

    dataset_path: str
    local_path: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    ctime_ns: int = 0


# the stat cache's key of a source, (dev, ino, size, mtime_ns, ctime_ns), taken at C speed
_stat_key: Callable[[SourceFile], StatKey] = operator.itemgetter(4, 5, 2, 3, 6)


def _walk(folder: str, recursive: bool, skipped: list[str]) -> list[tuple[str, os.stat_result]]:
    """(path, stat) of regular files (symlinks to files followed; symlinked folders not). Entries that are not
    regular files (FIFOs, sockets, devices, broken symlinks, symlink loops) go to ``skipped``.

    A file costs one stat: the floor on filesystems that cannot vouch for a whole folder (threads do not help:
    a stat of a cached inode is shorter than the hand-over of the GIL; measured, 2 threads were 30% slower)."""
    found: list[tuple[str, os.stat_result]] = []
    todo = [folder]
    while todo:
        files, folders, odd = _list_folder(todo.pop())
        found += files
        skipped += odd
        if recursive:
            todo += folders
    return found


def _list_folder(folder: str) -> tuple[list[tuple[str, os.stat_result]], list[str], list[str]]:
    """(files with their stat, sub-folders, entries that are not regular files) of one folder."""
    files: list[tuple[str, os.stat_result]] = []
    folders: list[str] = []
    odd: list[str] = []
    try:
        entries = os.scandir(folder)
    except OSError as exc:
        raise SourceFileError(f"cannot list the folder {folder}: {exc.strerror}; fix its permissions, or "
                              "add the files around it", path=folder) from exc
    with entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
                continue
            try:
                info = entry.stat(follow_symlinks=True)
            except OSError:  # vanished, a broken symlink, a symlink loop
                odd.append(entry.path)
                continue
            if stat_module.S_ISREG(info.st_mode):
                files.append((entry.path, info))
            elif not stat_module.S_ISDIR(info.st_mode):
                odd.append(entry.path)
    return files, folders, odd


def _single_file(root: str, shown: str) -> os.stat_result:
    """The stat of a file given directly to add_files; InvalidArgumentError unless it is a regular file."""
    try:
        info = os.stat(root)
    except OSError as exc:
        what = "a broken symlink or a symlink loop" if os.path.islink(root) else exc.strerror
        raise InvalidArgumentError(f"cannot add {shown!r}: {what}; check the path") from exc
    if not stat_module.S_ISREG(info.st_mode):
        raise InvalidArgumentError(f"cannot add {shown!r}: it is {_kind(info.st_mode)}, not a regular file; satchel "
                                   "stores regular files (and their folders)")
    return info


def _kind(mode: int) -> str:
    if stat_module.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat_module.S_ISSOCK(mode):
        return "a socket"
    if stat_module.S_ISCHR(mode) or stat_module.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def find_sources(
    path: str | os.PathLike[str],
    *,
    wildcard: list[str],
    local_base_folder: str | os.PathLike[str] | None,
    dataset_path: str,
    recursive: bool,
) -> list[SourceFile]:
    """The files under ``path`` (a file or a folder) that match ``wildcard``, with their dataset paths.

    Dataset paths are ``dataset_path/<path relative to local_base_folder>``; the base defaults to the
    folder itself, or the file's folder when ``path`` is a file.
    """
    root = os.path.abspath(os.path.expanduser(path))
    if "\0" in root:
        raise InvalidArgumentError(f"cannot add {str(path)!r}: a path cannot hold a NUL character")
    if not os.path.lexists(root):
        raise InvalidArgumentError(f"cannot add {str(path)!r}: no such file or folder; check the path")
    is_folder = os.path.isdir(root)
    skipped: list[str] = []
    if is_folder:
        found = _walk(root, recursive, skipped)
        default_base = root
    else:
        found = [(root, _single_file(root, str(path)))]
        default_base = os.path.dirname(root)
    if skipped:
        log.warning("skipped %d entr%s under %s that %s not regular files (FIFOs, sockets, devices, broken symlinks "
                    "or symlink loops), e.g. %r", len(skipped), "y" if len(skipped) == 1 else "ies", root,
                    "is" if len(skipped) == 1 else "are", skipped[0])
    base = os.path.abspath(os.path.expanduser(local_base_folder)) if local_base_folder else default_base
    base_prefix = base.rstrip("/") + "/"
    within_start = len(root) + 1 if is_folder else len(default_base.rstrip("/")) + 1
    outside = next((local for local, _ in found if not local.startswith(base_prefix)), None)
    if outside is not None:
        raise InvalidArgumentError(
            f"{outside!r} is not inside local_base_folder {base!r}; pass a base folder that contains it"
        )
    if wildcard:
        found = [(local, info) for local, info in found if local_file_matches(local[within_start:], wildcard)]
    cut, prefix = len(base_prefix), f"{dataset_path}/" if dataset_path else ""
    sources = [SourceFile(prefix + local[cut:], local, info.st_size, info.st_mtime_ns, info.st_dev, info.st_ino,
                          info.st_ctime_ns) for local, info in found]
    sources.sort()  # by dataset path (the first field; no two sources share one)
    return sources


def _changed(source: SourceFile, info: os.stat_result) -> bool:
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns) != (source.size, source.mtime_ns, source.ctime_ns)


def read_file(path: str, expected_size: int) -> tuple[bytes, os.stat_result]:
    """Read up to ``expected_size`` bytes of a file (one byte when it is 0), with its stat after the read: a file
    that grew shows in the stat's size (no extra read is spent looking for more bytes). Raises FileNotFoundError
    when it is gone."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, expected_size or 1)  # a file stat'ed empty may have content (procfs, some FUSE)
        while 0 < len(data) < expected_size:
            more = os.read(fd, expected_size - len(data))
            if not more:
                break
            data += more
        return data, os.fstat(fd)
    finally:
        os.close(fd)


def read_verified(source: SourceFile) -> bytes:
    """Read a small source file, raising SourceFileError if it vanished or changed since it was found."""
    try:
        data, info = read_file(source.local_path, source.size)
    except FileNotFoundError:
        raise _vanished(source) from None
    except OSError as exc:
        raise _unreadable(source, exc) from exc
    if _changed(source, info) or len(data) != source.size:
        raise _changed_error(source)
    return data


def hash_source(source: SourceFile) -> str:
    """Hash one source file, checking it did not change while being read."""
    if source.size < _SMALL:
        return hash_bytes(read_verified(source))
    try:
        content_hash, _ = hash_file(source.local_path)
        info = os.stat(source.local_path)
    except FileNotFoundError:
        raise _vanished(source) from None
    except OSError as exc:
        raise _unreadable(source, exc) from exc
    if _changed(source, info):
        raise _changed_error(source)
    return content_hash


def _vanished(source: SourceFile) -> SourceFileError:
    return SourceFileError(
        f"{source.local_path} vanished while satchel was reading it; nothing was recorded for it. "
        "Run the command again once the folder is stable.",
        path=source.local_path,
    )


def _unreadable(source: SourceFile, exc: OSError) -> SourceFileError:
    return SourceFileError(
        f"cannot read {source.local_path}: {exc.strerror or exc}; nothing was recorded for it. Fix its permissions, "
        "or leave it out (wildcard=...)",
        path=source.local_path,
    )


def _changed_error(source: SourceFile) -> SourceFileError:
    return SourceFileError(
        f"{source.local_path} changed while satchel was reading it; nothing was recorded for it. "
        "Run the command again once the folder is stable.",
        path=source.local_path,
    )


def hash_sources(
    sources: list[SourceFile],
    stat_cache: StatCache,
    *,
    max_workers: int,
    on_bytes: Callable[[int], None] | None = None,
) -> dict[str, str]:
    """dataset path -> content hash for every source; files whose stat is known are not read.

    Large files are hashed on ``max_workers`` threads. Small files on a local disk are read one after another
    by a single thread that asks the kernel to read ahead the next ones (``_serial_small``); on other
    filesystems (network ones, where each open waits on the server) they share the threads too."""
    known = stat_cache.lookup(list(map(_stat_key, sources)))  # C speed: W1 re-add asks 100,000
    result: dict[str, str] = {}
    todo: list[SourceFile] = []
    for source, found in zip(sources, known, strict=True):
        if found is None:
            todo.append(source)
        else:
            result[source.dataset_path] = found
    if on_bytes is not None:
        on_bytes(sum(s.size for s in sources) - sum(s.size for s in todo))

    def run(batch: list[SourceFile]) -> tuple[list[SourceFile], list[StatRow]]:
        done = [_hashed(source) for source in batch]
        if on_bytes is not None:
            on_bytes(sum(s.size for s in batch))
        return batch, done

    def run_serial(files: list[SourceFile]) -> tuple[list[SourceFile], list[StatRow]]:
        for at in range(min(_AHEAD, len(files))):
            prefetch(files[at].local_path)
        done: list[StatRow] = []
        for at, source in enumerate(files):
            if at + _AHEAD < len(files):
                prefetch(files[at + _AHEAD].local_path)
            done.append(_hashed(source))
            if on_bytes is not None and (at + 1) % _BATCH == 0:
                on_bytes(sum(s.size for s in files[at + 1 - _BATCH : at + 1]))
        if on_bytes is not None:
            on_bytes(sum(s.size for s in files[len(files) - len(files) % _BATCH :]))
        return files, done

    serial = [s for s in todo if s.size < _SMALL] if _serial_small(todo) else []
    jobs: list[Callable[[], tuple[list[SourceFile], list[StatRow]]]] = []
    if serial:
        jobs.append(functools.partial(run_serial, serial))
    threaded = [s for s in todo if s.size >= _SMALL] if serial else todo
    jobs += [functools.partial(run, batch) for batch in _batches(threaded)]
    hashed: list[StatRow] = []
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        for done_sources, rows in pool.map(lambda job: job(), jobs):
            result.update(zip([s.dataset_path for s in done_sources], [row[5] for row in rows], strict=True))
            hashed += rows
    stat_cache.remember(hashed)
    return result


def _hashed(source: SourceFile) -> StatRow:
    """The stat-cache row of ``source``, hashed now (the time its read started included)."""
    started = time.time_ns()
    content_hash = hash_source(source)
    return source.dev, source.ino, source.size, source.mtime_ns, source.ctime_ns, content_hash, started


def _serial_small(sources: list[SourceFile]) -> bool:
    """Should the small files among ``sources`` be read by one thread with read-ahead hints? Only on Linux (where
    the hint exists), and when they lie on a local-disk filesystem: there one thread reads 100,000 small files
    2-3x faster than two threads taking turns at the GIL, cold or warm (see RESULTS.md)."""
    first = next((s for s in sources if s.size < _SMALL), None)
    return first is not None and read_ahead_pays(first.local_path)


def read_ahead_pays(path: str) -> bool:
    """Do read-ahead hints (``prefetch``) pay for the files next to ``path``? Only on Linux (where the hint
    exists) and on a local-disk filesystem: on a network one, the extra open of each file waits on the server."""
    if not hasattr(os, "posix_fadvise"):
        return False
    folder = os.path.realpath(os.path.dirname(path))
    try:
        device = os.stat(folder).st_dev
    except OSError:
        return False
    local = _LOCAL_DEVICES.get(device)
    if local is None:  # mountinfo read once per device and process
        local = _LOCAL_DEVICES[device] = filesystem_type(folder) in _LOCAL_FILESYSTEMS
    return local


def prefetch(path: str) -> None:
    """Ask the kernel to start reading ``path`` into its cache (best effort: errors show when it is read)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def filesystem_type(path: str) -> str:
    """The type of the filesystem ``path`` (absolute, symlinks resolved) lies on, from /proc/self/mountinfo;
    "" where that cannot be told."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            return mount_type(mounts.read().splitlines(), path)
    except OSError:
        return ""


def mount_type(mountinfo: list[str], path: str) -> str:
    """The filesystem type of the longest mount point holding ``path``, in ``mountinfo``'s lines (proc(5):
    the mount point is the fifth field, octal-escaped; the type follows the "-" that ends the optional fields);
    "" when no line holds it."""
    best, kind = "", ""
    for line in mountinfo:
        fields = line.split(" ")
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        point = _MOUNT_ESCAPE.sub(lambda m: chr(int(m[1], 8)), fields[4])
        separator = fields.index("-", 6)
        holds = path == point or path.startswith(point.rstrip("/") + "/")
        if holds and len(point) >= len(best) and separator + 1 < len(fields):
            best, kind = point, fields[separator + 1]
    return kind


def _batches(sources: list[SourceFile]) -> list[list[SourceFile]]:
    batches: list[list[SourceFile]] = []
    current: list[SourceFile] = []
    weight = 0
    for source in sources:
        current.append(source)
        weight += source.size
        if len(current) >= _BATCH or weight >= _SMALL * 4:
            batches.append(current)
            current, weight = [], 0
    if current:
        batches.append(current)
    return batches
