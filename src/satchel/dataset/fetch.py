"""Bringing a version's content into the local cache, verified, fetching only what is missing.

When a build folder is given, each dataset path is created in it as it goes: fetched bytes are written
straight into the build (read-only) and hard-linked into ``content/``; content already cached is linked
from there. A file is thus written once, whatever the view's size.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from satchel.dataset.cache import LocalCache, link_file, stamp
from satchel.dataset.fetch_workers import Group, WorkerJob, fetch_in_processes
from satchel.dataset.workers import process_count
from satchel.errors import ExternalLinkError, IntegrityError, SatchelError, StorageError
from satchel.objects import ManifestEntry, ObjectStore, source_matches, split_link
from satchel.storage import Storage
from satchel.storage.base import redact

LinkOpener = Callable[[str], tuple[Storage, str]]

log = logging.getLogger(__name__)
_LARGE = 16 << 20
_GROUP = 256
_LINK_CHUNK = 2048
_PIECES_PER_PROCESS = 8  # runs of groups per worker process (progress is reported per run)


@dataclass(frozen=True)
class FetchFailure:
    """A file that could not be fetched (only collected when errors are not raised)."""

    dataset_path: str
    error: SatchelError



def with_context(exc: IntegrityError, dataset_id: str, dataset_path: str, store_url: str) -> IntegrityError:
    """The same integrity error, naming the dataset version and the file, and what to do."""
    return type(exc)(
        f"dataset {dataset_id}, file {dataset_path!r}: {exc}. The stored copy is damaged or gone: run "
        f"satchel.check_store({store_url!r}, repair=True) (CLI: satchel check --storage {store_url} --repair), which "
        "restores it from a local copy if there is one; if it reports the content lost, add the file to any new "
        "version and upload() it, and this version reads the new copy",
        object_key=exc.object_key,
        content_hash=exc.content_hash,
        dataset_id=dataset_id,
        dataset_path=dataset_path,
    )


@dataclass
class Fetcher:
    """One fetch: entries of a view, the store they live in, and where to put them."""

    cache: LocalCache
    store: ObjectStore
    paths_of: dict[str, list[str]]
    build: str | None
    soft: bool
    open_link: LinkOpener | None = None
    dataset_id: str = ""

    def _target(self, path: str) -> str:
        return f"{self.build}/{path}"

    def link_rest(self, content: str, paths: list[str]) -> None:
        """Link ``paths`` of the build to cached ``content``."""
        for path in paths:
            link_file(content, self._target(path), soft=self.soft)

    def resume(self, group: list[ManifestEntry]) -> list[ManifestEntry]:
        """The entries of ``group`` still to fetch after a worker process's attempt at it. A content it cached is
        complete (it is linked into the cache last): its paths are laid out again from it (what the worker
        left there may be a partial copy). The others' paths may hold a partial file, which is removed."""
        todo = []
        for entry in group:
            paths = self.paths_of[entry.hash]
            if self.build is not None:
                for path in paths:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._target(path))
            if self.cache.has_content(entry.hash):
                self.link_rest(self.cache.content_file(entry.hash), paths)
            else:
                todo.append(entry)
        return todo

    def deliver(self, content_hash: str, data: bytes) -> None:
        """Cache verified bytes; create their paths in the build."""
        paths = self.paths_of[content_hash]
        if self.build is not None and not self.soft:
            content = self.cache.place(content_hash, data, self._target(paths[0]))
            self.link_rest(content, paths[1:])
        else:
            content = self.cache.place(content_hash, data)
            if self.build is not None:
                self.link_rest(content, paths)

    def fetch_large(self, entry: ManifestEntry) -> None:
        """Stream one large entry (or an external link) into the cache (and the build)."""
        paths = self.paths_of[entry.hash]
        hard_build = self.build is not None and not self.soft
        temp = Path(self._target(paths[0])) if hard_build else self.cache.temp_path("fetch")
        if entry.link:
            self.download_link(entry, paths[0], temp)
        else:
            self.store.read_to_file(entry.hash, entry.location, temp)
        if hard_build:
            os.chmod(temp, 0o444)
            stamp(str(temp), entry.hash)
            content = self.cache.content_file(entry.hash)
            self.cache.link_into_content(str(temp), content)
            self.link_rest(content, paths[1:])
        else:
            content = self.cache.adopt_content(entry.hash, temp)
            if self.build is not None:
                self.link_rest(content, paths)

    def download_link(self, entry: ManifestEntry, dataset_path: str, dest: Path) -> None:
        """Download an external link's source into ``dest`` after checking it is what was recorded;
        ``dest`` is removed on failure."""
        assert self.open_link is not None
        url, tag = split_link(entry.link)
        storage, key = self.open_link(url)

        def fail(reason: str, detail: str) -> ExternalLinkError:
            return ExternalLinkError(
                f"dataset {self.dataset_id}, file {dataset_path!r}: the external link {redact(url)} {detail}; re-link "
                "it with add_external_files() in a new version, or pass raise_on_error=False to skip it",
                url=url, dataset_path=dataset_path, reason=reason, dataset_id=self.dataset_id)

        def check(when: str) -> None:
            info = storage.stat(key)
            if info is None:
                raise fail("missing", "no longer exists" if when == "before" else "vanished while it was downloaded")
            if not source_matches(entry, info.size, info.tag):
                what = "changed since it was added" if when == "before" else "changed while it was downloaded"
                raise fail("changed", f"{what} (size {entry.size} -> {info.size}, tag {tag!r} -> {info.tag!r})")

        check("before")
        written = 0
        try:
            with open(dest, "wb") as out:
                for chunk in storage.iter_range(key, 0, entry.size + 1):
                    written += len(chunk)
                    out.write(chunk)
            if written != entry.size:
                raise fail("changed", f"changed while it was downloaded ({written} bytes instead of {entry.size})")
            # The source's tag changes with every write (S3/GCS/Azure), so the same tag after the download
            # means the bytes downloaded are the ones recorded, even across ranged or resumed reads.
            check("after")
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    def fetch_group(self, group: list[ManifestEntry]) -> None:
        """Fetch small entries of one pack (coalesced range reads), one large entry, or one external link.

        When the stored copy the manifest points at is damaged or gone, another stored copy of the same content
        (re-stored by ``satchel check --repair`` or by a later upload) is used if the store has one. A damaged
        entry does not keep the group's others from being fetched: its error is raised after them."""
        try:
            self._fetch_group(group)
        except IntegrityError:
            if len(group) == 1 and group[0].link:
                raise
            first: IntegrityError | None = None
            for entry in group:  # one by one: which failed, and is there another copy of it?
                if not self.cache.has_content(entry.hash):
                    try:
                        self._fetch_one_somewhere(entry)
                    except IntegrityError as exc:  # the group's other entries are still fetched
                        first = first or exc
            if first is not None:
                raise first from None

    def _fetch_one_somewhere(self, entry: ManifestEntry) -> None:
        try:
            self._fetch_group([entry])
        except IntegrityError:
            found = self.store.alternative(entry.hash, entry.location)
            if found is None:
                raise
            log.info("dataset %s: reading %s from its other stored copy in %s", self.dataset_id,
                     self.paths_of[entry.hash][0], found.pack)
            self._fetch_group([entry._replace(pack=found.pack, offset=found.offset, length=found.length,
                                              codec=found.codec)])

    def _fetch_group(self, group: list[ManifestEntry]) -> None:
        if len(group) == 1 and (group[0].size >= _LARGE or group[0].link):
            self.fetch_large(group[0])
            return
        for content_hash, data in self.store.read_batch([(e.hash, e.location) for e in group]):
            self.deliver(content_hash, data)


def make_parent_folders(root: str, paths: Iterable[str]) -> None:
    """Make the folders under ``root`` that ``paths`` (dataset paths) lie in, each once."""
    for folder in sorted({p.rpartition("/")[0] for p in paths} - {""}):
        os.makedirs(f"{root}/{folder}", exist_ok=True)


def fetch_content(
    cache: LocalCache,
    store: ObjectStore,
    entries: Mapping[str, ManifestEntry],
    *,
    dataset_id: str,
    max_workers: int,
    raise_on_error: bool,
    on_bytes: Callable[[int], None],
    build: Path | None = None,
    soft: bool = False,
    open_link: LinkOpener | None = None,
) -> list[FetchFailure]:
    """Cache the content of ``entries`` not cached yet (and lay out ``build``); return failures."""
    paths_of: dict[str, list[str]] = {}
    first: dict[str, ManifestEntry] = {}
    for path, entry in entries.items():
        if entry.hash not in paths_of:
            paths_of[entry.hash] = []
            first[entry.hash] = entry
        paths_of[entry.hash].append(path)
    if build is not None:
        make_parent_folders(str(build), entries)
    fetcher = Fetcher(cache, store, paths_of, str(build) if build is not None else None, soft, open_link,
                      dataset_id)
    cached = _intact_content(cache, first, max_workers)
    is_cached = set(cached)
    missing = [first[h] for h in paths_of if h not in is_cached]
    failures: list[FetchFailure] = []

    def laid_out(group: Iterable[ManifestEntry]) -> int:
        """The bytes ``group``'s contents make at all their paths (what progress counts)."""
        return sum(e.size * len(paths_of[e.hash]) for e in group)

    def fetch(group: list[ManifestEntry]) -> list[FetchFailure]:
        try:
            fetcher.fetch_group(group)
        except IntegrityError as exc:
            path = next((paths_of[e.hash][0] for e in group if e.hash == exc.content_hash), paths_of[group[0].hash][0])
            error = with_context(exc, dataset_id, path, store.url)
            if raise_on_error:
                raise error from exc
            log.warning("%s", error)
            return [FetchFailure(p, error) for e in group if not cache.has_content(e.hash) for p in paths_of[e.hash]]
        except (ExternalLinkError, StorageError) as exc:
            if raise_on_error or not group[0].link:
                raise
            log.warning("%s", redact(str(exc)))  # a link that cannot be fetched is skipped and reported
            return [FetchFailure(p, exc) for p in paths_of[group[0].hash]]
        finally:
            on_bytes(laid_out(group))
        return []

    def link(hashes: list[str]) -> list[FetchFailure]:
        if build is not None:
            for content_hash in hashes:
                fetcher.link_rest(cache.content_file(content_hash), paths_of[content_hash])
        on_bytes(laid_out(first[h] for h in hashes))
        return []

    alone, packed = _groups(missing)
    processes = process_count(sum(map(len, packed)), max_workers, local=store.storage.capabilities.local_path)
    jobs = [partial(fetch, g) for g in (alone if processes else alone + packed)]
    jobs += [partial(link, cached[i : i + _LINK_CHUNK]) for i in range(0, len(cached), _LINK_CHUNK)]
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="satchel-fetch") as pool:
        futures = [pool.submit(job) for job in jobs]
        if processes:  # the many small files on worker processes; what they could not fetch, here
            job = WorkerJob(store.url, str(store.cache_dir), str(cache.root), cache.limit, fetcher.build, soft,
                            dataset_id, {})

            def done(piece: list[Group], failed: set[int]) -> None:
                on_bytes(sum(laid_out(e for e, _ in group) for n, group in enumerate(piece) if n not in failed))

            pieces = _pieces([[(e, paths_of[e.hash]) for e in group] for group in packed], processes)
            redo = fetch_in_processes(job, pieces, processes, done)
            for group in redo:
                todo = fetcher.resume([e for e, _ in group])
                on_bytes(laid_out(e for e, _ in group) - laid_out(todo))  # what the worker left complete
                if todo:
                    futures.append(pool.submit(fetch, todo))
        for future in futures:
            failures.extend(future.result())
    failed = {f.dataset_path for f in failures}
    cache.add_usage(sum(e.size for e in missing if paths_of[e.hash][0] not in failed))
    return failures


def _intact_content(cache: LocalCache, first: dict[str, ManifestEntry], max_workers: int) -> list[str]:
    """Hashes whose cached content is intact (one stat each); content written to since it was cached is
    re-hashed in parallel, and dropped (to be fetched again) unless it still matches."""
    maybe = cache.cached_among(first.keys())
    looks = {h: cache.content_looks_intact(h, e.size) if h in maybe else None for h, e in first.items()}
    suspects = [h for h, intact in looks.items() if intact is False]
    if suspects:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="satchel-recheck") as pool:
            kept = pool.map(lambda h: cache.recheck(h, first[h].size, verifiable=not first[h].link), suspects)
            looks.update(zip(suspects, kept, strict=True))
    return [h for h, intact in looks.items() if intact]


def _pieces(groups: list[Group], processes: int) -> list[list[Group]]:
    """``groups`` cut in runs, ``_PIECES_PER_PROCESS`` per process (each run reads its packs in order)."""
    count = min(len(groups), processes * _PIECES_PER_PROCESS)
    size = -(-len(groups) // count) if count else 0
    return [groups[i : i + size] for i in range(0, len(groups), size)] if size else []


def _groups(items: list[ManifestEntry]) -> tuple[list[list[ManifestEntry]], list[list[ManifestEntry]]]:
    """(large entries and links, one per group; small ones by pack, in offset order, a few hundred per group)."""
    alone: list[list[ManifestEntry]] = []
    by_pack: dict[str, list[ManifestEntry]] = {}
    for entry in items:
        if entry.size >= _LARGE or entry.link:
            alone.append([entry])
        else:
            by_pack.setdefault(entry.pack, []).append(entry)
    packed: list[list[ManifestEntry]] = []
    for members in by_pack.values():
        members.sort(key=lambda e: e.offset)
        packed.extend(members[i : i + _GROUP] for i in range(0, len(members), _GROUP))
    return alone, packed
