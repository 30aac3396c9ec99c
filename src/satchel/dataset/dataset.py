"""The public ``Dataset`` API, with ClearML Data's method and argument names."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Union

from satchel.catalog import FINAL_STATUSES, STATUS_PUBLISHED, VersionRecord
from satchel.dataset import draft, lifecycle, links, retrieve, squash
from satchel.dataset.context import Context, get_context
from satchel.dataset.management import DatasetManagement
from satchel.dataset.paths import as_patterns, normalize_dataset_path, select_dataset_paths
from satchel.dataset.progress import progress
from satchel.dataset.scan import find_sources, hash_sources
from satchel.dataset.versions import check_version_string, latest, next_version
from satchel.dataset.view import FileEntry, View
from satchel.errors import (
    ConflictError,
    DatasetFinalizedError,
    DatasetNotFinalizedError,
    DatasetNotFoundError,
    InvalidArgumentError,
    PendingUploadError,
    SatchelError,
)
from satchel.objects import resolve_compression
from satchel.storage import normalize_url
from satchel.units import format_size

log = logging.getLogger("satchel")

DatasetRef = Union[str, "Dataset"]
DEFAULT_CHUNK_MB = 64


class Dataset(DatasetManagement):
    """One dataset version. Get one with :meth:`create` or :meth:`get`, not the constructor."""

    def __init__(self, record: VersionRecord, context: Context | None = None) -> None:
        self._ctx = context or get_context()
        self._record = record
        self._state: draft.DraftState | None = None

    # -- identity --------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        """The version's id."""
        return self._record.id

    @property
    def name(self) -> str:
        """The dataset's name."""
        return self._record.name

    @property
    def project(self) -> str:
        """The dataset's project (``/`` nests projects)."""
        return self._record.project

    @property
    def version(self) -> str:
        """The version string, e.g. ``1.0.2``. Settable, as in ClearML (``ds.version = "2.0.0"``): it renames the
        version, whatever its state (content and lineage are unchanged); ConflictError when it is taken."""
        return self._record.version

    @version.setter
    def version(self, value: str) -> None:
        self._ctx.catalog.update_fields(self.id, version=check_version_string(str(value)))
        self._refresh()

    @property
    def tags(self) -> list[str]:
        """The version's tags."""
        return list(self._record.tags)

    @tags.setter
    def tags(self, values: Sequence[str]) -> None:
        self._ctx.catalog.update_fields(self.id, tags=_as_list(values))
        self._refresh()

    @property
    def description(self) -> str:
        """The version's description."""
        return self._record.description

    @property
    def parent_ids(self) -> list[str]:
        """Ids of the direct parents, in merge order."""
        return list(self._record.parents)

    @property
    def storage_url(self) -> str | None:
        """Where the version's content is stored (None before the first upload)."""
        return self._record.storage_url

    @property
    def stats(self) -> dict[str, Any]:
        """Statistics recorded at finalize (file count, sizes, added/modified/removed)."""
        return dict(self._record.stats)

    def __repr__(self) -> str:
        state = "final" if self.is_final() else "draft"
        return f"<Dataset {self.project}/{self.name} v{self.version} {state} id={self.id}>"

    def _refresh(self) -> VersionRecord:
        self._record = self._ctx.catalog.get_version(self.id)
        return self._record

    def _require_draft(self, action: str) -> VersionRecord:
        record = self._refresh()
        if record.is_final:
            raise DatasetFinalizedError(
                f"cannot {action}: dataset {self.project}/{self.name} v{self.version} ({self.id}) is finalized. "
                "Create a child version with Dataset.create(parent_datasets=[...]) and change that",
                dataset_id=self.id,
            )
        return record

    def _draft_state(self, record: VersionRecord) -> draft.DraftState:
        self._state = draft.load_state(self._ctx, record, self._state)
        return self._state

    def _require_final(self, action: str) -> VersionRecord:
        record = self._refresh()
        if not record.is_final:
            raise DatasetNotFinalizedError(
                f"cannot {action}: dataset {self.project}/{self.name} v{self.version} ({self.id}) is not "
                "finalized; call upload() and finalize() first",
                dataset_id=self.id,
            )
        return record

    def _workers(self, max_workers: int | None, *, cpu_bound: bool = False) -> int:
        """Threads to use: the argument, else the setting; CPU-bound local work gets at most one per core."""
        if max_workers is not None and max_workers < 1:
            raise InvalidArgumentError(f"max_workers must be at least 1, got {max_workers}")
        if max_workers is not None:
            return max_workers
        if cpu_bound:
            return min(self._ctx.settings.max_workers, os.cpu_count() or 1)
        return self._ctx.settings.max_workers

    def _is_local(self, url: str | None) -> bool:
        """True when ``url`` is a storage on a local filesystem (work there is CPU-bound, not latency-bound)."""
        return url is not None and self._ctx.store(url).storage.capabilities.local_path

    def _progress(self, enabled: bool, what: str) -> Callable[[int], AbstractContextManager[Callable[[int], None]]]:
        return lambda total: progress(enabled, total, f"{what} {self.name}")

    # -- creating and finding --------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        dataset_name: str | None = None,
        dataset_project: str | None = None,
        dataset_tags: Sequence[str] | str | None = None,
        parent_datasets: Sequence[DatasetRef] | DatasetRef | None = None,
        use_current_task: bool = False,
        dataset_version: str | None = None,
        output_uri: str | None = None,
        description: str | None = None,
    ) -> Dataset:
        """Create a new draft version whose view starts as its parents' views merged in list order.

        Parents must be finalized. Project and name default to the last parent's. Without
        ``dataset_version`` the latest version of project/name is bumped (``1.0.0`` first).
        ``use_current_task`` is accepted for ClearML compatibility and ignored (satchel has no tasks).
        """
        if dataset_version is not None and not isinstance(dataset_version, str):
            raise InvalidArgumentError(f"dataset_version must be a string such as '1.2.0', not "
                                       f"{type(dataset_version).__name__} {dataset_version!r} (the positional order is "
                                       "ClearML's: name, project, tags, parents, use_current_task, version, ...)")
        if dataset_version is not None:
            dataset_version = check_version_string(dataset_version)
        ctx = get_context()
        parents = [_resolve(ctx, p) for p in _as_list(parent_datasets)]
        for parent in parents:
            if not parent.is_final:
                raise DatasetNotFinalizedError(
                    f"parent dataset {parent.project}/{parent.name} v{parent.version} ({parent.id}) is not "
                    "finalized; finalize() it before using it as a parent",
                    dataset_id=parent.id,
                )
        project = dataset_project or (parents[-1].project if parents else None)
        name = dataset_name or (parents[-1].name if parents else None)
        if not name or not project:
            raise InvalidArgumentError("Dataset.create needs dataset_name and dataset_project (or parent_datasets "
                                       "to take them from)")
        if output_uri is not None:
            output_uri = normalize_url(output_uri)
        for attempt in range(20):
            version = dataset_version
            if version is None:
                version = next_version(r.version for r in ctx.catalog.find_versions(project=project, name=name))
            record = VersionRecord(
                id=uuid.uuid4().hex,
                project=project,
                name=name,
                version=str(version),
                created_at=time.time(),
                parents=tuple(p.id for p in parents),
                tags=tuple(_as_list(dataset_tags)),
                description=description or "",
                output_uri=output_uri,
            )
            try:
                ctx.catalog.create_version(record)
                break
            except ConflictError:
                if dataset_version is not None or attempt == 19:
                    raise
                time.sleep(0.01 * (attempt + 1))
        log.info("created dataset %s/%s v%s (%s)", project, name, record.version, record.id)
        return cls(record, ctx)

    @classmethod
    def get(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        dataset_tags: Sequence[str] | str | None = None,
        only_completed: bool = False,
        only_published: bool = False,
        include_archived: bool = False,
        auto_create: bool = False,
        writable_copy: bool = False,
        dataset_version: str | None = None,
        alias: str | None = None,
        overridable: bool = False,
        shallow_search: bool = False,
        silence_alias_warnings: bool = False,
        **kwargs: Any,
    ) -> Dataset:
        """A version by id, or the latest one matching project/name/tags/version.

        Latest means the highest semantic version (newest among equals), else the most recent. With only
        ``dataset_project``, the most recently created version in that project. ``auto_create`` creates
        the dataset when nothing matches; ``writable_copy`` returns a new draft child of the match.
        ``alias``, ``overridable``, ``shallow_search`` and ``silence_alias_warnings`` are accepted for ClearML
        compatibility and have no effect (there are no tasks to register an alias on, and the search is always
        complete). Other keyword arguments are ignored with a warning, as ClearML's ``get`` ignores them.
        """
        if kwargs:
            log.warning("Dataset.get: ignoring unknown argument(s) %s", ", ".join(sorted(kwargs)))
        dataset_tags = _as_list(dataset_tags) or None
        ctx = get_context()
        try:
            record = _find(ctx, dataset_id, dataset_project, dataset_name, dataset_tags, dataset_version,
                           only_completed, only_published, include_archived)
        except DatasetNotFoundError:
            if not auto_create or dataset_id is not None:
                raise
            return cls.create(dataset_name=dataset_name, dataset_project=dataset_project,
                              dataset_tags=dataset_tags, dataset_version=dataset_version)
        found = cls(record, ctx)
        if writable_copy:
            return cls.create(dataset_name=record.name, dataset_project=record.project,
                              dataset_tags=list(record.tags), parent_datasets=[found],
                              output_uri=record.output_uri)
        return found

    # -- changing a draft ------------------------------------------------------------------------
    def add_files(
        self,
        path: str | Path,
        wildcard: str | Sequence[str] | None = None,
        local_base_folder: str | Path | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
    ) -> int:
        """Add a file or a folder's files; return how many new paths were added.

        Files land at ``dataset_path/<path relative to local_base_folder>``. Changed files are recorded
        as modified (see the log); unchanged ones cost a stat, not a read.
        """
        record = self._require_draft("add files")
        prefix = normalize_dataset_path(dataset_path)
        sources = find_sources(path, wildcard=as_patterns(wildcard), local_base_folder=local_base_folder,
                               dataset_path=prefix, recursive=recursive)
        with progress(verbose, sum(s.size for s in sources), f"hashing {self.name}") as advance:
            hashes = hash_sources(sources, self._ctx.stat_cache, max_workers=self._workers(max_workers, cpu_bound=True),
                                  on_bytes=advance)
        added, modified = draft.record_sources(self._ctx, self._draft_state(record), sources, hashes)
        log.info("dataset %s: %d file(s) added, %d modified, %d unchanged", self.id, added, modified,
                 len(sources) - added - modified)
        return added

    def add_external_files(
        self,
        source_url: str | Path | Sequence[str | Path],
        wildcard: str | Sequence[str] | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
        read_hash: bool = False,
    ) -> int:
        """Link files that stay where they are; return how many links were added or changed.

        ``source_url``: the URL of a file or of a folder/prefix (``s3://``, ``gs://``, ``azure://``, ``az://``,
        ``file://`` or a local path; ``http(s)://`` for single files), or a list of them. A file is linked at
        ``dataset_path/<file name>``, a folder's files at ``dataset_path/<path under the folder>``
        (``recursive=False``: only its direct files; ``wildcard``: only matching names). The version records
        each link's URL, size and change tag (ETag, generation, mtime); nothing is uploaded. Getting a copy
        downloads links into the view (cached like stored files) and refuses a source that changed or vanished.
        A local file added later at the same path replaces the link, and the other way round.
        ``read_hash`` is accepted for ClearML compatibility and has no effect: ClearML reads each file to hash it
        so that a changed source shows as modified; satchel's change tag tells that without reading.
        """
        record = self._require_draft("add external files")
        urls = links.source_urls(source_url)
        found = links.find_all_links(self._ctx, urls, patterns=as_patterns(wildcard), dataset_path=dataset_path,
                                     recursive=recursive, max_workers=self._workers(max_workers))
        added, modified = draft.record_links(self._ctx, self._draft_state(record), found)
        log.info("dataset %s: %d external link(s) added, %d changed, %d unchanged", self.id, added, modified,
                 len(found) - added - modified)
        return added + modified

    def remove_files(self, dataset_path: str | None = None, recursive: bool = True, verbose: bool = False) -> int:
        """Remove the files matching ``dataset_path`` (a path, folder or wildcard; a leading ``/`` is the dataset
        root), and the external links whose URL matches it (``s3://bucket/raw/*``); return how many."""
        if not dataset_path:
            raise InvalidArgumentError("remove_files needs dataset_path: a file, a folder or a wildcard "
                                       "(use '*' to remove all files)")
        state = self._draft_state(self._require_draft("remove files"))
        matched = [] if "://" in dataset_path else select_dataset_paths(state.current, dataset_path,
                                                                         recursive=recursive)
        matched = sorted(set(matched) | set(links.paths_linking(state.current, dataset_path, recursive=recursive)))
        removed = draft.remove_paths(self._ctx, state, matched)
        log.info("dataset %s: %d file(s) removed matching %r", self.id, removed, dataset_path)
        return removed

    def sync_folder(self, local_path: str | Path, dataset_path: str | None = None,
                    verbose: bool = False) -> tuple[int, int]:
        """Make the dataset subtree ``dataset_path`` mirror ``local_path``.

        Returns (files removed, files added or modified).
        """
        record = self._require_draft("sync a folder")
        prefix = normalize_dataset_path(dataset_path)
        folder = Path(local_path).expanduser()
        if not folder.is_dir():
            raise InvalidArgumentError(f"cannot sync {str(local_path)!r}: not a folder; pass an existing folder")
        sources = find_sources(folder, wildcard=[], local_base_folder=None, dataset_path=prefix, recursive=True)
        keep = {s.dataset_path for s in sources}
        state = self._draft_state(record)
        inside = prefix + "/"
        current = state.current
        stale = [p for p in current  # external links are not the folder's: kept, as ClearML does
                 if p not in keep and (not prefix or p == prefix or p.startswith(inside)) and not current[p].link]
        removed = draft.remove_paths(self._ctx, state, stale)
        with progress(verbose, sum(s.size for s in sources), f"hashing {self.name}") as advance:
            hashes = hash_sources(sources, self._ctx.stat_cache, max_workers=self._workers(None, cpu_bound=True),
                                  on_bytes=advance)
        added, modified = draft.record_sources(self._ctx, self._draft_state(record), sources, hashes)
        return removed, added + modified

    # -- storing ---------------------------------------------------------------------------------
    def upload(
        self,
        show_progress: bool = True,
        verbose: bool = False,
        output_url: str | None = None,
        compression: Any = None,
        chunk_size: int | None = None,
        max_workers: int | None = None,
        retries: int = 3,
        preview: bool = True,
        upload_as_external_links: bool = False,
    ) -> None:
        """Store all content not yet in the target storage; return when it is all stored.

        Target: ``output_url``, else the dataset's ``output_uri``, else the default storage.
        ``compression``: None/"zstd" (default), "zstd:<level>", "none", zipfile.ZIP_STORED (raw) or
        ZIP_DEFLATED (zstd). ``chunk_size``: target pack size in MB (default 64; -1: one pack for all small
        files, as ClearML's single chunk). Safe to call again after an interruption: only what is missing is
        stored. ``preview`` is accepted for ClearML compatibility and has no effect.
        ``upload_as_external_links=True`` (ClearML: store each file as its own object and link it) is refused:
        satchel stores files in packs, each one still readable on its own by range.
        """
        if upload_as_external_links:
            raise InvalidArgumentError("upload_as_external_links=True is not supported: satchel packs files (each "
                                       "file stays readable on its own); to keep files where they are, link them "
                                       "with add_external_files()")
        record = self._require_draft("upload")
        level = resolve_compression(compression)
        if chunk_size is not None and chunk_size <= 0 and chunk_size != -1:
            raise InvalidArgumentError(f"chunk_size is a pack size in MB: positive, or -1 for a single pack; got "
                                       f"{chunk_size}")
        chunk_mb = (1 << 20) if chunk_size == -1 else (chunk_size or DEFAULT_CHUNK_MB)
        report = lifecycle.upload(
            self._ctx, record, self._draft_state(record), output_url=output_url, level=level,
            chunk_bytes=int(chunk_mb * 1024 * 1024),
            max_workers=self._workers(max_workers, cpu_bound=self._is_local(lifecycle.target_url(self._ctx, record,
                                                                                                   output_url))),
            retries=retries, progress=self._progress(show_progress or verbose, "uploading"),
        )
        self._refresh()
        log.info("dataset %s: stored %d file(s), %s raw as %s in %d pack(s) at %s", self.id, report.files,
                 format_size(report.raw_bytes), format_size(report.stored_bytes), report.packs, self.storage_url)

    def is_dirty(self) -> bool:
        """True when the draft has content that is not stored yet."""
        record = self._refresh()
        if record.is_final:
            return False
        store = self._ctx.store(lifecycle.target_url(self._ctx, record))
        return lifecycle.pending(self._ctx, record, store, self._draft_state(record)).files > 0

    def finalize(self, verbose: bool = False, raise_on_error: bool = True, auto_upload: bool = False) -> bool:
        """Make the version immutable and visible as completed; True on success.

        Raises PendingUploadError when content is not stored (call upload() first, or pass
        ``auto_upload=True``). With ``raise_on_error=False`` failures return False instead.
        """
        try:
            self._finalize(verbose, auto_upload)
        except SatchelError:
            if raise_on_error:
                raise
            log.exception("finalize of dataset %s failed", self.id)
            return False
        return True

    def _finalize(self, verbose: bool, auto_upload: bool) -> None:
        record = self._require_draft("finalize")
        store = self._ctx.store(lifecycle.target_url(self._ctx, record))
        state = self._draft_state(record)
        todo = lifecycle.pending(self._ctx, record, store, state)
        located_rows = todo.located
        if todo.files:
            if not auto_upload:
                raise PendingUploadError(
                    f"dataset {self.id} has {todo.files} file(s) ({format_size(todo.bytes)}) not stored yet; "
                    "call upload() before finalize(), or finalize(auto_upload=True)",
                    dataset_id=self.id, pending_files=todo.files, pending_bytes=todo.bytes,
                )
            self.upload(show_progress=verbose, output_url=store.url)
            record = self._refresh()
            state = self._draft_state(record)
            located_rows = None  # stored since: located again
        store.check_format(create=True)
        built = lifecycle.build_manifest(self._ctx, record, store, state, located_rows)
        stats = lifecycle.version_stats(state.parents, built.located, built.changes, store)
        lifecycle.publish_manifest(
            self._ctx, store, self.id, built.manifest, built.located,
            lambda manifest_hash: self._ctx.catalog.finalize_version(
                self.id, manifest=manifest_hash, storage_url=store.url, depth=built.depth, stats=stats,
                revision=state.revision))
        self._state = None
        self._refresh()
        log.info("dataset %s finalized: %d file(s), %s", self.id, stats["file_count"],
                 format_size(stats["total_size"]))

    def is_final(self) -> bool:
        """True once finalized (immutable)."""
        return self._refresh().is_final

    # -- reading ---------------------------------------------------------------------------------
    def _view(self) -> View:
        record = self._refresh()
        return self._ctx.views.view(record) if record.is_final else self._draft_state(record).current

    def list_files(self, dataset_path: str | None = None, recursive: bool = True,
                   dataset_id: str | None = None) -> list[str]:
        """Sorted dataset paths, optionally matching ``dataset_path`` (wildcard or folder) and only those
        whose content comes from version ``dataset_id``."""
        view = self._view()
        paths = select_dataset_paths(view, dataset_path or "*", recursive=recursive)
        if dataset_id is not None:
            paths = [p for p in paths if view[p].origin == dataset_id]
        return paths

    @property
    def file_entries_dict(self) -> dict[str, FileEntry]:
        """path -> FileEntry(relative_path, hash, size, parent_dataset_id, local_path)."""
        view = self._view()
        rows = {} if self._record.is_final else self._draft_state(self._record).rows
        sources = {p: r.source for p, r in rows.items()}
        return {p: FileEntry(p, e.hash, e.size, e.origin, sources.get(p)) for p, e in view.items() if not e.link}

    @property
    def file_entries(self) -> list[FileEntry]:
        """The file entries, sorted by path."""
        entries = self.file_entries_dict
        return [entries[p] for p in sorted(entries)]

    def open(self, path: str, mode: str = "rb") -> Any:
        """One file of this (finalized) version as a read-only, seekable binary file, without a local copy of
        the version: only the bytes read are fetched (large files stored raw: by 1 MiB block), every one of them
        verified. ``mode`` must be ``"rb"``. See docs/integrations.md."""
        if mode != "rb":
            raise InvalidArgumentError(f"mode={mode!r}: dataset files open read-only, with mode='rb'")
        import fsspec

        record = self._require_final("open files")
        return fsspec.filesystem("satchel").open(f"{record.id}/{path.lstrip('/')}", "rb")

    def read_bytes(self, path: str) -> bytes:
        """The verified bytes of one file of this (finalized) version (PathNotFoundError, a FileNotFoundError,
        when there is none)."""
        from satchel.dataset.reader import VersionReader

        return VersionReader(self._ctx, self._require_final("read files")).read(path)

    def get_local_copy(
        self,
        use_soft_links: bool | None = None,
        part: int | None = None,
        num_parts: int | None = None,
        raise_on_error: bool = True,
        max_workers: int | None = None,
        files: Sequence[str] | None = None,
    ) -> str:
        """Path of a cached, read-only folder with the version's view (or one part, or some files).

        Files are hard links into the cache (symlinks with ``use_soft_links=True``) and must not be
        changed; use get_mutable_local_copy() for a writable copy. A cache hit costs one stat.
        """
        record = self._require_final("get a local copy")
        folder = retrieve.local_copy(
            self._ctx, record, soft=bool(use_soft_links), part=part, num_parts=num_parts,
            files=_file_list(files), raise_on_error=raise_on_error,
            max_workers=self._workers(max_workers, cpu_bound=self._is_local(record.storage_url)),
            progress=self._progress(False, "downloading"),
        )
        return str(folder)

    def get_mutable_local_copy(
        self,
        target_folder: str | Path,
        overwrite: bool = False,
        part: int | None = None,
        num_parts: int | None = None,
        raise_on_error: bool = True,
        max_workers: int | None = None,
    ) -> str | None:
        """Copy the version's view (or one part) into ``target_folder`` as writable files.

        A non-empty target raises TargetNotEmptyError (returns None with ``raise_on_error=False``) unless
        ``overwrite=True``, which replaces its contents once the new copy is complete (built in a hidden folder
        inside it): if fetching fails, the folder is left as it was. A target that is, contains or lies inside the
        satchel home, the cache or a local storage folder is refused (InvalidArgumentError).
        """
        record = self._require_final("get a mutable copy")
        try:
            folder = retrieve.mutable_copy(
                self._ctx, record, Path(target_folder).expanduser().absolute(), overwrite=overwrite, part=part,
                num_parts=num_parts, raise_on_error=raise_on_error,
                max_workers=self._workers(max_workers, cpu_bound=self._is_local(record.storage_url)),
                progress=self._progress(False, "downloading"),
            )
        except FileExistsError:
            if raise_on_error:
                raise
            return None
        return str(folder)

    # -- squash ----------------------------------------------------------------------------------
    @classmethod
    def squash(
        cls,
        dataset_name: str,
        dataset_ids: Sequence[DatasetRef] | None = None,
        dataset_project_name_pairs: Sequence[tuple[str, str]] | None = None,
        output_url: str | None = None,
        close_squashed_dataset: bool = True,
    ) -> Dataset:
        """A new version with no parents: the first version's view, then each next version's own changes
        (removals included) in the given order. Content the target storage already holds is neither
        downloaded nor uploaded again. It is finalized, unless ``close_squashed_dataset=False``: then it stays a
        draft holding those files (already stored), to change before ``finalize()``.
        """
        ctx = get_context()
        records = [_resolve(ctx, d) for d in dataset_ids or []]
        for project, name in dataset_project_name_pairs or []:
            records.append(_find(ctx, None, project, name, None, None, True, False, True))
        sources = {str(r.storage_url) for r in records}
        default = ctx.storage_for(records[0].project)
        target = normalize_url(output_url or (sources.pop() if len(sources) == 1 else default))
        sourced = squash.squashed_view(ctx, records)
        created = cls.create(dataset_name=dataset_name, dataset_project=records[0].project, output_uri=target,
                             description=f"squash of {', '.join(r.id for r in records)}")
        view = squash.relocate(ctx, sourced, target, created.id, ctx.settings.max_workers)
        if close_squashed_dataset:
            squash.finalize_flat(ctx, created._refresh(), view, target)
        else:
            squash.open_flat(ctx, created._refresh(), view, target)
        created._refresh()
        return created


def _as_list(value: Sequence[Any] | str | Dataset | None) -> list[Any]:
    """A bare string (or Dataset) as a one-item list: ``dataset_tags="train"`` means one tag."""
    if value is None:
        return []
    if isinstance(value, str | Dataset):
        return [value]
    return list(value)


def _file_list(files: Sequence[str] | None) -> list[str] | None:
    if files is None:
        return None
    if isinstance(files, str):
        return [files]
    return list(files)


def _resolve(ctx: Context, ref: DatasetRef) -> VersionRecord:
    if isinstance(ref, Dataset):
        return ctx.catalog.get_version(ref.id)
    if not isinstance(ref, str):
        raise InvalidArgumentError(f"expected a dataset id or a Dataset, got {type(ref).__name__}")
    return ctx.catalog.get_version(ref)


def _find(
    ctx: Context,
    dataset_id: str | None,
    project: str | None,
    name: str | None,
    tags: Iterable[str] | None,
    version: str | None,
    only_completed: bool,
    only_published: bool,
    include_archived: bool,
) -> VersionRecord:
    if dataset_id is not None:
        return ctx.catalog.get_version(dataset_id)
    if project is None and name is None and not tags and version is None:
        raise InvalidArgumentError("Dataset.get needs dataset_id, or dataset_project / dataset_name / "
                                   "dataset_tags / dataset_version to search by")
    statuses: frozenset[str] | None = None
    if only_published:
        statuses = frozenset({STATUS_PUBLISHED})
    elif only_completed:
        statuses = FINAL_STATUSES
    records = ctx.catalog.find_versions(project=project, name=name, version=version, tags=list(tags or []),
                                        statuses=statuses, include_archived=include_archived)
    if not records and only_published:
        raise DatasetNotFoundError("no published dataset version matches; publish() a finalized version first, or "
                                   "drop only_published")
    if not records:
        what = ", ".join(f"{k}={v!r}" for k, v in (("project", project), ("name", name), ("version", version),
                                                     ("tags", list(tags or []) or None)) if v is not None)
        raise DatasetNotFoundError(f"no dataset version matches {what}; check the names, or pass "
                                   "auto_create=True to create it")
    if name is None and version is None:
        return max(records, key=lambda r: r.created_at)
    return latest(records)
