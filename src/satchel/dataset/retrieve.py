"""Getting a finalized version back: a cached read-only folder, or a writable copy."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import unquote, urlparse

from satchel.catalog import VersionRecord
from satchel.dataset.cache import (
    SOFT_SUFFIX,
    FolderState,
    can_write_read_only_files,
    fingerprint,
    folder_state,
    remove_tree,
    stamp_ns,
)
from satchel.dataset.context import Context
from satchel.dataset.fetch import FetchFailure, fetch_content, make_parent_folders
from satchel.dataset.parts import check_part, select_part
from satchel.dataset.paths import select_dataset_paths
from satchel.dataset.view import View
from satchel.errors import InvalidArgumentError, PathTooLongError, TargetNotEmptyError
from satchel.objects import hash_bytes
from satchel.storage import normalize_url

log = logging.getLogger(__name__)
INCOMPLETE_SUFFIX = ".incomplete"
_WHOLE_COPY = 1 << 20  # files up to this size are copied by one read and one write
Progress = Callable[[int], AbstractContextManager[Callable[[int], None]]]


def selection(view: View, part: int | None, num_parts: int | None, files: list[str] | None) -> View:
    """The part of ``view`` asked for: a shard, some files (paths, folders or wildcards), or all."""
    split = check_part(part, num_parts)
    chosen = select_part(view, *split) if split else view
    if files is None:
        return dict(chosen.items())  # columns and overlays hand over their entries without a lookup per path
    picked: dict[str, object] = {}
    unknown = []
    for pattern in files:
        matches = select_dataset_paths(chosen, pattern)
        if not matches:
            unknown.append(pattern)
        picked.update(dict.fromkeys(matches))
    if unknown:
        raise InvalidArgumentError(
            f"files not in this version{' part' if split else ''}: {unknown[:5]}; see list_files() for its paths"
        )
    return {p: chosen[p] for p in sorted(picked)}


def expected_state(entries: View) -> FolderState:
    """The state a folder materialized from ``entries`` has (see ``cache.fingerprint``)."""
    return {path: (stamp_ns(entry.hash), entry.size) for path, entry in entries.items()}


def describe_changes(actual: FolderState, expected: FolderState) -> str:
    """What differs between a materialized folder and what it was built as (the first few paths)."""
    changed = [f"{p} was added" for p in actual.keys() - expected.keys()]
    changed += [f"{p} was removed" for p in expected.keys() - actual.keys()]
    changed += [f"{p} was written to or replaced" for p in actual.keys() & expected.keys() if actual[p] != expected[p]]
    return ", ".join(sorted(changed)[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")


def check_path_lengths(entries: View, folder: Path) -> None:
    """PathTooLongError, before anything is written, when a path of ``entries`` cannot be created under
    ``folder`` (longer than the system's path limit, or a name longer than the filesystem's)."""
    if not entries:
        return
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    name_max = os.pathconf(existing, "PC_NAME_MAX")
    path_max = os.pathconf(existing, "PC_PATH_MAX")
    room = path_max - len(os.fsencode(str(folder))) - 2
    if len(max(entries, key=len)) * 4 <= min(name_max, room):
        return  # even four bytes per character fit: nothing to measure
    for path in entries:
        encoded = os.fsencode(path)
        longest = max(map(len, encoded.split(b"/")))
        if len(encoded) > room or longest > name_max:
            what = f"a name of {longest} bytes (the filesystem allows {name_max})" if longest > name_max else \
                f"{len(encoded)} bytes, and only {room} fit under the folder (the system allows {path_max} in all)"
            raise PathTooLongError(
                f"dataset path {path!r} is too long to be written under {folder}: {what}. Use a shorter folder "
                "(SATCHEL_CACHE_DIR for cached copies, target_folder for writable ones), or get the other files "
                "with files=[...]", dataset_path=path, folder=str(folder))


def cache_key(record: VersionRecord, *, part: int | None, num_parts: int | None,
              files: list[str] | None, soft: bool) -> str:
    """Name of the materialized folder for this selection."""
    key = record.id
    if part is not None and num_parts is not None:
        key += f".part{part}of{num_parts}"
    if files is not None:
        key += ".files-" + hash_bytes("\0".join(sorted(files)).encode())[:16]
    return key + (SOFT_SUFFIX if soft else "")


def _fetch(ctx: Context, record: VersionRecord, entries: View, *, max_workers: int,
           raise_on_error: bool, progress: Progress, build: Path | None = None,
           soft: bool = False) -> list[FetchFailure]:
    assert record.storage_url is not None
    store = ctx.store(record.storage_url)
    with progress(sum(e.size for e in entries.values())) as advance:
        return fetch_content(ctx.cache, store, entries, dataset_id=record.id, max_workers=max_workers,
                             raise_on_error=raise_on_error, on_bytes=advance, build=build, soft=soft,
                             open_link=ctx.link_source)


def local_copy(ctx: Context, record: VersionRecord, *, soft: bool, part: int | None, num_parts: int | None,
               files: list[str] | None, raise_on_error: bool, max_workers: int, progress: Progress) -> Path:
    """The cached read-only folder of a selection of ``record``; built once, then a single stat."""
    split = check_part(part, num_parts)
    part, num_parts = split if split else (None, None)
    key = cache_key(record, part=part, num_parts=num_parts, files=files, soft=soft)
    found = ctx.cache.hit(key)
    if found is not None and not can_write_read_only_files():
        return found  # nobody here can have changed the read-only files: one stat
    with ctx.cache.lock(key):
        found = ctx.cache.hit(key)
        if found is not None and ctx.cache.untouched(found, key):
            return found
        entries = selection(ctx.views.view(record), part, num_parts, files)
        if found is not None:
            log.warning("dataset %s: the cached copy %s was changed (%s); it is rebuilt", record.id, found,
                        describe_changes(folder_state(found), expected_state(entries)))
            ctx.cache.drop_version(key)
        longest = max(ctx.cache.version_dir(f"{key}{INCOMPLETE_SUFFIX}"), ctx.cache.root / "tmp" / f"version-{key}",
                      key=lambda p: len(str(p)))  # where it is built, where it ends up
        check_path_lengths(entries, longest)
        build = ctx.cache.new_build()
        try:
            with ctx.cache.using_content():
                failures = _fetch(ctx, record, entries, max_workers=max_workers, raise_on_error=raise_on_error,
                                  progress=progress, build=build, soft=soft)
                partial = f"{key}{INCOMPLETE_SUFFIX}"
                ctx.cache.drop_version(partial)  # one partial copy per selection, replaced by the next attempt
                if failures:
                    key = partial
                    log.warning("dataset %s: %d file(s) could not be fetched and are missing from %s", record.id,
                                len(failures), ctx.cache.version_dir(key))
                built = expected_state(entries)
                for failure in failures:
                    built.pop(failure.dataset_path, None)
                folder = ctx.cache.publish(build, key, fingerprint(built))
        except BaseException:
            remove_tree(build)
            raise
    ctx.cache.evict(keep={key})
    return folder


INCOMING = ".satchel-incoming-"
TRASH = ".satchel-trash-"


def check_target_outside_satchel(ctx: Context, target: Path) -> None:
    """InvalidArgumentError when ``target`` is, contains or lies inside the satchel home, the cache or a local
    storage folder of the catalog: a writable copy there would delete or corrupt satchel's own files."""
    real = Path(os.path.realpath(target))
    protected = {"the satchel home (SATCHEL_HOME)": ctx.settings.home, "the cache": ctx.settings.cache_dir}
    urls = {normalize_url(ctx.settings.default_storage)}
    urls |= {r.storage_url for r in ctx.catalog.find_versions() if r.storage_url}
    for url in sorted(urls):
        if url.startswith("file://"):
            protected[f"the storage {url}"] = Path(unquote(urlparse(url).path))
    for name, folder in protected.items():
        place = Path(os.path.realpath(folder))
        relation = "is" if real == place else "contains" if place.is_relative_to(real) else \
            "lies inside" if real.is_relative_to(place) else None
        if relation:
            raise InvalidArgumentError(
                f"target_folder {str(target)!r} {relation} {name} ({place}); a writable copy there would delete or "
                "corrupt satchel's own files. Choose a folder outside it")


def prepare_target(target: Path, overwrite: bool) -> None:
    """Make sure ``target`` is a folder that may be filled: empty, or ``overwrite`` (its contents are replaced
    only once the new copy is complete). Leftovers of an interrupted copy are removed."""
    if target.exists() and not target.is_dir():
        raise TargetNotEmptyError(f"{target} is a file, not a folder; choose a folder path", target=str(target))
    if target.is_dir():
        for child in sorted(target.iterdir()):
            if child.name.startswith(INCOMING) and child.is_dir() and not child.is_symlink():
                remove_tree(child)  # the new copy of an interrupted call
        for child in sorted(target.iterdir()):
            if child.name.startswith(TRASH) and child.is_dir() and not child.is_symlink():
                log.warning("%s: putting back the files an interrupted copy had set aside in %s", target, child.name)
                _restore(target, child)
        if any(target.iterdir()) and not overwrite:
            raise TargetNotEmptyError(
                f"{target} is not empty; pass overwrite=True to replace its contents, or choose an empty folder",
                target=str(target),
            )
    target.mkdir(parents=True, exist_ok=True)


def mutable_copy(ctx: Context, record: VersionRecord, target: Path, *, overwrite: bool, part: int | None,
                 num_parts: int | None, raise_on_error: bool, max_workers: int, progress: Progress) -> Path:
    """Write real, writable copies of a selection of ``record`` into ``target``.

    The copy is built in a hidden folder inside ``target`` (same filesystem, works for a mount point) and
    swapped in only when complete: on any failure the folder's previous contents are untouched.
    """
    check_target_outside_satchel(ctx, target)
    entries = selection(ctx.views.view(record), part, num_parts, None)
    incoming = target / f"{INCOMING}{uuid.uuid4().hex[:12]}"
    check_path_lengths(entries, incoming)
    prepare_target(target, overwrite)
    incoming.mkdir()
    try:
        skipped = _copy_into(ctx, record, entries, incoming, max_workers=max_workers, raise_on_error=raise_on_error,
                             progress=progress)
        _swap_in(target, incoming)
    except BaseException:
        remove_tree(incoming)
        raise
    if skipped:
        log.warning("dataset %s: %d file(s) could not be fetched and are missing from %s", record.id,
                    len(skipped), target)
    ctx.cache.evict(keep=set())
    return target


def _copy_into(ctx: Context, record: VersionRecord, entries: View, folder: Path, *, max_workers: int,
               raise_on_error: bool, progress: Progress) -> set[str]:
    """Fetch and copy ``entries`` into ``folder``; return the paths skipped (``raise_on_error=False``)."""
    with ctx.cache.using_content():
        failures = _fetch(ctx, record, entries, max_workers=max_workers, raise_on_error=raise_on_error,
                          progress=progress)
        skipped = {f.dataset_path for f in failures}
        make_parent_folders(str(folder), entries)
        content_file = ctx.cache.content_file
        for path, entry in entries.items():
            if path not in skipped:
                copy_writable(content_file(entry.hash), f"{folder}/{path}", entry.size)
    return skipped


def copy_writable(source: str, destination: str, size: int) -> None:
    """Copy the file ``source`` of ``size`` bytes to a new file ``destination``, writable (0o644). Small files
    are read and written whole (a few system calls, where ``shutil.copyfile`` spent twice as many on checks);
    large ones are copied by the kernel."""
    if size > _WHOLE_COPY:
        shutil.copyfile(source, destination)
        os.chmod(destination, 0o644)
        return
    with open(source, "rb", buffering=0) as reader:
        data = reader.read()
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, 0o644)  # whatever the umask
    finally:
        os.close(fd)


def _swap_in(target: Path, incoming: Path) -> None:
    """Replace the contents of ``target`` (but ``incoming``) with those of ``incoming``, by renames. The old
    contents wait in a trash folder until the new ones are all in place; on a failure (or, after a crash, on the
    next call: ``prepare_target``) they are put back."""
    trash = target / f"{TRASH}{uuid.uuid4().hex[:12]}"
    old = [child for child in target.iterdir() if child != incoming]
    trash.mkdir()
    moved_in: list[str] = []
    try:
        for child in old:
            child.rename(trash / child.name)
        for child in list(incoming.iterdir()):
            child.rename(target / child.name)
            moved_in.append(child.name)
    except BaseException:
        for name in moved_in:  # back where the caller removes the new copy
            (target / name).rename(incoming / name)
        _restore(target, trash)
        raise
    incoming.rmdir()
    remove_tree(trash)


def _restore(target: Path, trash: Path) -> None:
    """Put the old contents of ``target`` back from ``trash``; entries of the new copy in their way go."""
    for child in list(trash.iterdir()):
        place = target / child.name
        if place.is_dir() and not place.is_symlink():
            remove_tree(place)
        elif place.exists() or place.is_symlink():
            place.unlink()
        child.rename(place)
    trash.rmdir()
