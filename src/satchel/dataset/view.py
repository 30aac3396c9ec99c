"""A version's file view: its parents' views merged in list order, then its own puts and removals."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from satchel.catalog import Catalog, DraftRow, VersionRecord
from satchel.dataset.overlay import Overlay
from satchel.errors import IntegrityError
from satchel.objects import ManifestEntry, ObjectStore
from satchel.objects.collector import gc_paused
from satchel.objects.columns import EntryColumns
from satchel.objects.manifest import draft_entry
from satchel.objects.pathnames import (
    Folders,
    clash_error,
    find_clash,
    find_merge_clash,
    folders_of,
)

View = Mapping[str, ManifestEntry]
"""A version's files, path -> entry: read-only (finalized views are shared and may be columns or overlays)."""
MutableView = dict[str, ManifestEntry]
MAX_LINEAGE_DEPTH = 100  # deltas are at most 16 deep (lifecycle.MAX_DELTA_DEPTH); Python recursion allows ~300


@dataclass(frozen=True)
class FileEntry:
    """One file of a version as the public API shows it (ClearML's ``FileEntry`` fields)."""

    relative_path: str
    hash: str
    size: int
    parent_dataset_id: str
    local_path: str | None = None


@dataclass(frozen=True)
class LinkEntry:
    """One external link as the public API shows it (ClearML's ``LinkEntry`` fields, plus the change tag).

    ``hash`` identifies the link's source (URL, tag, size), not its bytes.
    """

    link: str
    relative_path: str
    parent_dataset_id: str
    size: int
    hash: str
    tag: str | None = None


def merge_views(views: Iterable[Mapping[str, ManifestEntry]]) -> View:
    """Merge in order: a later view overrides an earlier one on the same path (one view: that view)."""
    views = list(views)
    if len(views) == 1:
        return views[0]
    merged: MutableView = {}
    for view in views:
        merged.update(view.items())
    return merged


def apply_changes(base: Mapping[str, ManifestEntry], puts: Mapping[str, ManifestEntry],
                  removed: Iterable[str]) -> Overlay:
    """``base`` with ``removed`` paths dropped and ``puts`` set (``base`` is not copied: it must not change)."""
    return Overlay(base, puts, removed)


def diff_views(old: Mapping[str, ManifestEntry], new: Mapping[str, ManifestEntry]
               ) -> tuple[list[str], list[str], list[str]]:
    """(added, modified, removed) paths going from ``old`` to ``new``, each sorted."""
    added = sorted(p for p in new if p not in old)
    modified = sorted(p for p, e in new.items() if p in old and old[p].hash != e.hash)
    removed = sorted(p for p in old if p not in new)
    return added, modified, removed


def draft_changes(version_id: str, rows: Mapping[str, DraftRow]) -> tuple[View, list[str]]:
    """Draft rows as (puts, removed paths); puts have no location yet."""
    puts = {p: draft_entry(r.hash, r.size, version_id, r.link) for p, r in rows.items() if r.hash is not None}
    removed = [p for p, r in rows.items() if r.hash is None]
    return puts, removed


@dataclass
class _Delta:
    """A finalized version's own changes as its delta manifest lists them (valid while its record still names
    that manifest and those parents: a flatten rewrites both), and its change lists once computed."""

    manifest: str | None
    parents: tuple[str, ...]
    puts: Mapping[str, ManifestEntry]
    removed: list[str]
    lists: tuple[list[str], list[str], list[str]] | None = None


class ViewLoader:
    """Loads finalized views (memoized: they are immutable) and draft views (always fresh).

    Views returned for finalized versions are shared; callers must copy before changing them. Each memoized
    view keeps the set of its folders, so that checking a child for file-and-folder clashes costs its own
    changes, not its parent's size.
    """

    def __init__(self, catalog: Catalog, open_store: Callable[[str], ObjectStore], keep: int = 8) -> None:
        self.catalog = catalog
        self.open_store = open_store
        self.keep = keep
        self._memo: OrderedDict[str, tuple[View, Folders]] = OrderedDict()
        self._deltas: dict[str, _Delta] = {}
        self._lock = threading.Lock()

    def parents_view(self, record: VersionRecord, _chain: tuple[str, ...] = ()) -> View:
        """The merge of the version's parents' views (shared, as ``view``'s are, when there is one parent)."""
        chain = self._enter(record.id, _chain)
        views = [self._final(self.catalog.get_version(p), chain)[0] for p in record.parents]
        return views[0] if len(views) == 1 else merge_views(views)

    def changes(self, record: VersionRecord) -> tuple[list[str], list[str], list[str]]:
        """(added, modified, removed) paths of ``record`` against the merge of its parents, each sorted: what
        ``diff_views(parents_view(record), view(record))`` gives. A finalized version whose manifest is a delta
        against its one parent answers from that delta: the cost is its changes, not its size."""
        view = self.view(record)
        delta = self._deltas.get(record.id) if record.is_final and len(record.parents) == 1 else None
        if delta is None or (delta.manifest, delta.parents) != (record.manifest, tuple(record.parents)):
            return diff_views(self.parents_view(record), view)
        if delta.lists is None:  # asked three times in a row (added, modified, removed): computed once
            base = self.parents_view(record)
            delta.lists = (sorted(p for p in delta.puts if p not in base),
                           sorted(p for p, e in delta.puts.items() if p in base and base[p].hash != e.hash),
                           sorted({p for p in delta.removed if p in base and p not in view}))
        added, modified, removed = delta.lists
        return list(added), list(modified), list(removed)

    def view(self, record: VersionRecord, _chain: tuple[str, ...] = ()) -> View:
        """The whole file view of ``record`` (``_chain``: the versions whose views are being built, to refuse
        a lineage that loops)."""
        if record.is_final:
            return self._final(record, _chain)[0]
        return self.draft(record, _chain)[2]

    def draft(self, record: VersionRecord, _chain: tuple[str, ...] = ()
              ) -> tuple[View, dict[str, DraftRow], Overlay]:
        """A draft's parents' view, its pending rows, and its checked current view."""
        chain = self._enter(record.id, _chain)
        rows = self.catalog.draft_rows(record.id)
        puts, removed = draft_changes(record.id, rows)
        parents = [self.catalog.get_version(p) for p in record.parents]
        base, current, _ = self._merged(record.id, parents, puts, removed, chain)
        return base, rows, current

    def _final(self, record: VersionRecord, _chain: tuple[str, ...]) -> tuple[View, Folders]:
        if not record.is_final:  # only a parent that is a draft (refused when made; a hostile row)
            view = self.view(record, _chain)
            return view, folders_of(view)
        with self._lock:
            if record.id in self._memo:
                self._memo.move_to_end(record.id)
                return self._memo[record.id]
        with gc_paused():  # a view is millions of new entries at most, none in a cycle
            loaded = self._load_final(record, self._enter(record.id, _chain))
        with self._lock:
            self._memo[record.id] = loaded
            while len(self._memo) > self.keep:
                self._deltas.pop(self._memo.popitem(last=False)[0], None)
        return loaded

    @staticmethod
    def _enter(version_id: str, chain: tuple[str, ...]) -> tuple[str, ...]:
        if version_id in chain or len(chain) >= MAX_LINEAGE_DEPTH:
            loop = " -> ".join((*chain[chain.index(version_id):], version_id)) if version_id in chain else \
                f"more than {MAX_LINEAGE_DEPTH} levels"
            raise IntegrityError(
                f"dataset {version_id}: its lineage loops or is too deep ({loop}); its manifests or catalog rows are "
                "damaged or hostile. Nothing was written; run `satchel check` on its store",
                object_key="", content_hash="", dataset_id=version_id)
        return (*chain, version_id)

    def _load_final(self, record: VersionRecord, chain: tuple[str, ...]) -> tuple[View, Folders]:
        assert record.manifest is not None and record.storage_url is not None
        store = self.open_store(record.storage_url)
        try:
            manifest = store.get_manifest(record.manifest)
        except IntegrityError as exc:
            raise with_dataset(exc, record.id) from exc
        if manifest.kind == "full":
            entries = manifest.entries
            return entries, entries.folders() if isinstance(entries, EntryColumns) else folders_of(entries)
        parents = [self.catalog.get_version(p) for p in manifest.parents]
        _, view, folders = self._merged(record.id, parents, manifest.entries, manifest.removed, chain)
        if list(manifest.parents) == list(record.parents):
            with self._lock:
                self._deltas[record.id] = _Delta(record.manifest, tuple(record.parents), manifest.entries,
                                                 manifest.removed)
        return view, folders

    def _merged(self, version_id: str, parents: list[VersionRecord], puts: Mapping[str, ManifestEntry],
                removed: Iterable[str], chain: tuple[str, ...]) -> tuple[View, Overlay, Folders]:
        """(parents merged, then with ``puts`` and ``removed`` applied, its folders), checked for file-and-folder
        clashes (parents and changes can each be fine and still clash once merged)."""
        bases = [self._final(parent, chain) for parent in parents]
        base, base_folders = bases[0] if len(bases) == 1 else (merge_views(b[0] for b in bases), None)
        merged = apply_changes(base, puts, removed)
        folders: Folders
        if base_folders is None:  # no parent, or several (which may clash with each other): check it all
            folders = folders_of(merged)
            clash = find_clash(merged, folders)
        else:  # one parent, already checked: only the changes can clash
            clash = find_merge_clash(merged, base, base_folders, puts)
            folders = base_folders | folders_of(puts)
        if clash is not None:
            error = clash_error(*clash)
            raise IntegrityError(
                f"dataset {version_id}: {error}; its manifests or catalog rows are damaged or hostile. Nothing was "
                "written; run `satchel check` on its store", object_key="", content_hash="", dataset_id=version_id,
                dataset_path=error.path)
        return base, merged, folders


def with_dataset(exc: IntegrityError, dataset_id: str) -> IntegrityError:
    """The same error, its message and fields naming the dataset version."""
    return type(exc)(f"dataset {dataset_id}: {exc}", object_key=exc.object_key, content_hash=exc.content_hash,
                     dataset_id=dataset_id, dataset_path=exc.dataset_path)
