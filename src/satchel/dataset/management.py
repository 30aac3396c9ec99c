"""The management half of the ``Dataset`` API (a mixin of :class:`satchel.dataset.dataset.Dataset`):
listing, lineage, verification, publish/archive, tags, metadata, delete, rename, move."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from satchel.catalog import VersionRecord
from satchel.dataset import admin, context, lifecycle, reports
from satchel.dataset import metadata as metadata_codec
from satchel.dataset.context import Context, get_context
from satchel.dataset.progress import progress
from satchel.dataset.retrieve import INCOMPLETE_SUFFIX, cache_key
from satchel.dataset.verify import Verification, verify_folder, verify_links
from satchel.dataset.view import LinkEntry, View, diff_views
from satchel.errors import DatasetNotFinalizedError, InvalidArgumentError
from satchel.objects import split_link
from satchel.objects.gc import GcReport

if TYPE_CHECKING:
    from satchel.dataset.draft import DraftState

log = logging.getLogger("satchel")


class DatasetManagement:
    """Methods that manage versions rather than their files."""

    _ctx: Context
    _record: VersionRecord
    _state: DraftState | None

    if TYPE_CHECKING:
        @property
        def id(self) -> str: ...
        def _refresh(self) -> VersionRecord: ...
        def _view(self) -> View: ...
        def _draft_state(self, record: VersionRecord) -> DraftState: ...
        def _require_final(self, action: str) -> VersionRecord: ...
        def get_local_copy(self, use_soft_links: bool | None = None, part: int | None = None,
                           num_parts: int | None = None, raise_on_error: bool = True) -> str: ...

    # -- changes against other versions ----------------------------------------------------------
    def _changes(self, dataset_id: str | None) -> tuple[list[str], list[str], list[str]]:
        record = self._refresh()
        if dataset_id is not None:
            return diff_views(self._ctx.views.view(self._ctx.catalog.get_version(dataset_id)), self._view())
        if not record.is_final:
            state = self._draft_state(record)
            return diff_views(state.parents, state.current)
        return self._ctx.views.changes(record)

    def list_added_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths added against the merged direct parents, or against version ``dataset_id``."""
        return self._changes(dataset_id)[0]

    def list_modified_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths whose content changed against the merged direct parents, or against ``dataset_id``."""
        return self._changes(dataset_id)[1]

    def list_removed_files(self, dataset_id: str | None = None) -> list[str]:
        """Paths removed against the merged direct parents, or against ``dataset_id``."""
        return self._changes(dataset_id)[2]

    def get_dependency_graph(self) -> dict[str, list[str]]:
        """{version id: [parent ids]} over the whole lineage of this version."""
        graph: dict[str, list[str]] = {}
        todo = [self.id]
        while todo:
            current = todo.pop()
            if current in graph:
                continue
            parents = list(self._ctx.catalog.get_version(current).parents)
            graph[current] = parents
            todo.extend(parents)
        return graph

    def verify_dataset_hash(self, local_copy_path: str | Path | None = None, skip_hash: bool = False,
                            verbose: bool = False) -> Verification:
        """Dataset paths whose content (or size with ``skip_hash``) differs from the manifest in the folder
        (default: the cached copy, as it is), plus missing and extra files, plus external links whose source is
        gone or changed since it was added. An empty list means all is well; the list's ``problems`` says for
        each path whether it is changed, missing, extra, or a changed or missing link (logged with ``verbose``).
        """
        folder, temporary = self._folder_to_verify(local_copy_path)
        try:
            view = self._view()
            with progress(verbose, sum(e.size for e in view.values()), "verifying") as advance:
                problems = verify_folder(folder, view, skip_hash=skip_hash, on_bytes=advance)
            problems.update(verify_links(view, self._ctx.link_source))
        finally:
            if temporary:  # a copy with the files that could not be fetched left out: not worth keeping
                self._ctx.cache.drop_version(folder.name)
        if verbose:
            for path, problem in sorted(problems.items()):
                log.info("dataset %s: %s: %s", self.id, problem, path)
        return Verification(problems)

    def _folder_to_verify(self, local_copy_path: str | Path | None) -> tuple[Path, bool]:
        """(folder, whether it is an incomplete copy made for this check)."""
        if local_copy_path is not None:
            folder = Path(local_copy_path)
            if not folder.is_dir():
                raise InvalidArgumentError(f"cannot verify {str(folder)!r}: not a folder; pass local_copy_path of "
                                           "a folder holding the version's files")
            return folder, False
        record = self._require_final("verify the cached copy")
        cached = self._ctx.cache.hit(cache_key(record, part=None, num_parts=None, files=None, soft=False))
        if cached is not None:
            return cached, False  # as it is: a changed file is reported here (a get would rebuild it)
        # Build it, skipping what cannot be fetched (a changed link, a damaged object): those are reported.
        folder = Path(self.get_local_copy(raise_on_error=False))
        return folder, folder.name.endswith(INCOMPLETE_SUFFIX)

    # -- state and descriptive fields ------------------------------------------------------------
    def publish(self, raise_on_error: bool = True) -> bool:
        """Mark a finalized version published (it then needs ``force`` to be deleted); True when it is.
        A draft raises DatasetNotFinalizedError, or with ``raise_on_error=False`` is left as it is (False)."""
        try:
            self._ctx.catalog.publish_version(self.id)
        except DatasetNotFinalizedError:
            if raise_on_error:
                raise
            log.warning("dataset %s is not finalized; not published", self.id)
            return False
        self._refresh()
        return True

    def update_changed_files(self, num_files_added: int | None = None, num_files_modified: int | None = None,
                             num_files_removed: int | None = None) -> None:
        """Accepted for ClearML compatibility and has no effect: ClearML lets a script correct the counts it shows;
        satchel computes added, modified and removed files (and bytes) from the version's view when it is
        finalized (``stats``), so there is nothing to correct."""
        log.debug("update_changed_files(%s, %s, %s) ignored: satchel counts changes itself", num_files_added,
                  num_files_modified, num_files_removed)

    def archive(self) -> None:
        """Hide the version from searches that do not ask for archived versions."""
        self._ctx.catalog.update_fields(self.id, archived=True)
        self._refresh()

    def unarchive(self) -> None:
        """Undo :meth:`archive`."""
        self._ctx.catalog.update_fields(self.id, archived=False)
        self._refresh()

    def set_description(self, description: str) -> None:
        """Replace the version's description."""
        self._ctx.catalog.update_fields(self.id, description=str(description))
        self._refresh()

    def add_tags(self, tags: str | Sequence[str]) -> None:
        """Add tags (existing ones are kept, order preserved)."""
        new = [tags] if isinstance(tags, str) else list(tags)
        merged = list(dict.fromkeys([*self._refresh().tags, *new]))
        self._ctx.catalog.update_fields(self.id, tags=merged)
        self._refresh()

    def set_metadata(self, metadata: Any, metadata_name: str = "metadata", ui_visible: bool = True) -> None:
        """Attach a dict, pandas DataFrame or numpy array under ``metadata_name`` (``ui_visible`` is accepted
        for ClearML compatibility)."""
        metadata_codec.check_name(metadata_name)
        kind, content = metadata_codec.encode(metadata)
        self._ctx.catalog.set_metadata(self.id, metadata_name, kind, content)

    def get_metadata(self, metadata_name: str = "metadata") -> Any:
        """The value stored with :meth:`set_metadata`, with its type; None when there is none."""
        found = self._ctx.catalog.get_metadata(self.id, metadata_name)
        return None if found is None else metadata_codec.decode(*found)

    def get_logger(self) -> reports.DatasetLogger:
        """A logger with ClearML's reporting methods (``report_table``, ``report_scalar``, ``report_text``,
        ``report_image``, ``report_histogram``, ``report_plotly``, ``report_matplotlib_figure``); each report is
        stored with this version at once (finalized versions too: reports describe, they do not change content)."""
        return reports.DatasetLogger(lambda name, content: self._ctx.catalog.set_metadata(self.id, name,
                                                                                         reports.KIND, content))

    def get_reports(self) -> list[dict[str, Any]]:
        """The version's reports, oldest first: dicts with ``type`` (text, scalar, single_value, table, histogram,
        image, plotly), ``title``, ``series``, ``iteration``, ``created`` and the type's data (image bytes under
        ``data``)."""
        found = []
        for name in self._ctx.catalog.list_metadata(self.id, reports.PREFIX):
            stored = self._ctx.catalog.get_metadata(self.id, name)
            if stored is not None and stored[0] == reports.KIND:
                found.append({"name": name, **reports.decode(stored[1])})
        return found

    # -- storage facts ---------------------------------------------------------------------------
    def get_default_storage(self) -> str:
        """The storage URL this version's content goes (or went) to."""
        record = self._refresh()
        return record.storage_url or lifecycle.target_url(self._ctx, record)

    def get_num_chunks(self, include_parents: bool = True) -> int:
        """How many stored packs the version's view uses (``include_parents=False``: only the packs holding
        files this version added or changed)."""
        return len({e.pack for e in self._view().values() if e.pack and (include_parents or e.origin == self.id)})

    @property
    def link_entries(self) -> list[LinkEntry]:
        """External links of the version, sorted by path."""
        entries = self.link_entries_dict
        return [entries[p] for p in sorted(entries)]

    @property
    def link_entries_dict(self) -> dict[str, LinkEntry]:
        """path -> LinkEntry(link, relative_path, parent_dataset_id, size, hash, tag) of every external link."""
        links = {}
        for path, entry in self._view().items():
            if entry.link:
                url, tag = split_link(entry.link)
                links[path] = LinkEntry(url, path, entry.origin, entry.size, entry.hash, tag or None)
        return links

    # -- class-level management ------------------------------------------------------------------
    @classmethod
    def list_datasets(
        cls,
        dataset_project: str | None = None,
        partial_name: str | None = None,
        tags: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        only_completed: bool = True,
        recursive_project_search: bool = True,
        include_archived: bool = True,
    ) -> list[dict[str, Any]]:
        """Versions as dicts (id, name, project, version, tags, status, created, file_count, total_size...),
        newest first. Projects nest with '/'; ``partial_name`` matches part of the name, any case."""
        return admin.list_datasets(get_context(), project=dataset_project, partial_name=partial_name,
                                   tags=[tags] if isinstance(tags, str) else tags, ids=ids,
                                   only_completed=only_completed, recursive=recursive_project_search,
                                   include_archived=include_archived)

    @classmethod
    def delete(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        force: bool = False,
        dataset_version: str | None = None,
        entire_dataset: bool = False,
        shallow_search: bool = False,
        delete_files: bool = True,
        delete_external_files: bool = False,
    ) -> dict[str, GcReport]:
        """Delete a version (or every version with ``entire_dataset=True`` and ``force=True``).

        A version other versions use as a parent, or a published one, needs ``force`` (children are then
        flattened first and stay readable). With ``delete_files`` the stored content no remaining version or
        draft refers to is freed; returns the garbage-collection report per store. ``delete_external_files``
        also deletes the sources of the deleted versions' external links that no remaining version links (an
        http(s) source cannot be deleted: it is left, with a warning). ``shallow_search`` is accepted for ClearML
        compatibility and has no effect (the search is always complete).
        """
        ctx = get_context()
        targets = admin.resolve_targets(ctx, dataset_id=dataset_id, project=dataset_project, name=dataset_name,
                                        version=dataset_version, entire_dataset=entire_dataset, force=force)
        doomed_links = admin.links_only_in(ctx, targets) if delete_external_files else []
        reports = admin.delete_versions(ctx, targets, force=force, delete_files=delete_files)
        admin.delete_link_sources(ctx, doomed_links)
        return reports

    # -- offline mode (ClearML's) ----------------------------------------------------------------
    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Offline mode on: from now on this process works in a new offline session folder (embedded catalog
        and storage, no server), to publish later with :meth:`import_offline_session`; off: back online."""
        folder = context.set_offline(offline_mode)
        if folder is not None:
            log.info("offline mode: working in %s", folder)

    @classmethod
    def is_offline(cls) -> bool:
        """True while offline mode is on."""
        return context.offline_folder() is not None

    def get_offline_mode_folder(self) -> Path | None:
        """The offline session folder holding this version (pass it, or a zip of it, to
        :meth:`import_offline_session`); None for a version made online."""
        home = self._ctx.settings.home
        return home if home.parent.name == "offline" and (home / "catalog.db").is_file() else None

    @classmethod
    def import_offline_session(cls, session_folder_zip: str | Path, upload: bool = True,
                               finalize: bool = False) -> str:
        """Publish an offline session (its folder, or a zip of it) to the current catalog, a server in team mode:
        every version with its lineage, under the same ids; content is uploaded (only what the target lacks).
        Finalized versions are finalized; drafts stay drafts unless ``finalize``. ``upload=False`` records a
        draft's changes without storing its content (finalized versions always bring their content). Returns
        the id of the session's last version."""
        import tempfile

        from satchel.dataset import push

        if context.offline_folder() is not None:
            raise InvalidArgumentError("import_offline_session publishes an offline session online: call "
                                       "Dataset.set_offline(False) first")
        target = get_context()
        with tempfile.TemporaryDirectory(prefix="satchel-session-") as scratch:
            folder = push.session_folder(session_folder_zip, Path(scratch))
            source = context.build_context(context.offline_settings(folder, target.settings.cache_dir))
            try:
                records = source.catalog.find_versions()
                if not records:
                    raise InvalidArgumentError(f"offline session {folder} holds no dataset version")
                report = push.PushReport()
                for record in records:
                    push.push(source, target, record.id, upload=upload, finalize_drafts=finalize, report=report)
            finally:
                source.close()
        return records[-1].id

    @classmethod
    def rename(cls, new_dataset_name: str, dataset_project: str, dataset_name: str) -> None:
        """Rename every version of project/name; lineage and content are unchanged."""
        if not new_dataset_name:
            raise InvalidArgumentError("new_dataset_name must not be empty")
        get_context().catalog.rename_dataset(dataset_project, dataset_name, new_project=dataset_project,
                                             new_name=new_dataset_name)

    @classmethod
    def move_to_project(cls, new_dataset_project: str, dataset_project: str, dataset_name: str) -> None:
        """Move every version of project/name to another project; lineage and content are unchanged."""
        if not new_dataset_project:
            raise InvalidArgumentError("new_dataset_project must not be empty")
        get_context().catalog.rename_dataset(dataset_project, dataset_name, new_project=new_dataset_project,
                                             new_name=dataset_name)

