"""Changing a draft: recording added and removed files as draft rows relative to the merged parents.

A ``DraftState`` (parents' view, rows, current view) is loaded once and then kept up to date with the
changes this process makes, as long as the catalog's revision of the draft says nobody else changed it;
so a loop of many small ``add_files`` calls costs O(changes), not O(dataset) per call.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from satchel.catalog import DraftRow, VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.overlay import Overlay, hashes_of
from satchel.dataset.scan import SourceFile
from satchel.dataset.view import View
from satchel.errors import InvalidDatasetPathError
from satchel.objects import ManifestEntry
from satchel.objects.manifest import draft_entry
from satchel.objects.pathnames import folders_of

_INCREMENTAL = 1000


@dataclass
class DraftState:
    """A draft's parents' view, its rows, the resulting current view, and the revision they reflect."""

    version_id: str
    revision: int
    parents: View
    rows: dict[str, DraftRow]
    current: Overlay
    _folders: Counter[str] | None = field(default=None, repr=False)

    def folders(self) -> Counter[str]:
        """Folder -> number of files below it, in the current view."""
        if self._folders is None:
            direct = Counter(path.rpartition("/")[0] for path in self.current)  # files right in each folder
            counts: Counter[str] = Counter()
            for folder, files in direct.items():
                for ancestor in _parents_of(f"{folder}/") if folder else ():
                    counts[ancestor] += files
            self._folders = counts
        return self._folders

    def apply(self, upsert: list[DraftRow], forget: list[str], revision: int) -> None:
        """Reflect a change made through the catalog (folder counts: updated if small, else recounted lazily)."""
        if len(upsert) + len(forget) > _INCREMENTAL:
            self._folders = None
        folders = self._folders
        for path in forget:
            self.rows.pop(path, None)
            self._set(path, self.parents.get(path), folders)
        puts: dict[str, ManifestEntry] = {}
        for row in upsert:
            self.rows[row.path] = row
            entry = None if row.hash is None else draft_entry(row.hash, row.size, self.version_id, row.link)
            if folders is None and entry is not None:
                puts[row.path] = entry  # set in one loop below: no folder counts to keep
            else:
                self._set(row.path, entry, folders)
        self.current.set_many(puts)
        self.revision = revision

    def _set(self, path: str, entry: ManifestEntry | None, folders: Counter[str] | None) -> None:
        """Set or drop ``path`` in the current view, and in the folder counts when they are kept (else they are
        recounted when next asked for)."""
        had = folders is not None and path in self.current
        if entry is None:
            self.current.pop(path, None)
        else:
            self.current[path] = entry
        delta = (entry is not None) - had
        if folders is not None and delta:
            for folder in _parents_of(path):
                folders[folder] += delta


def _parents_of(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def load_state(ctx: Context, record: VersionRecord, cached: DraftState | None) -> DraftState:
    """The draft's state: ``cached`` if the catalog's revision still matches it, else loaded afresh."""
    revision = ctx.catalog.draft_revision(record.id)
    if cached is not None and cached.version_id == record.id and cached.revision == revision:
        return cached
    parents, rows, current = ctx.views.draft(record)  # checked: no path both a file and a folder
    return DraftState(record.id, revision, parents, rows, current)


def _commit(ctx: Context, state: DraftState, upsert: list[DraftRow], forget: list[str]) -> None:
    if not upsert and not forget:
        return
    expected = state.revision + 1
    revision = ctx.catalog.change_draft(state.version_id, upsert, forget)
    state.apply(upsert, forget, revision)
    if revision != expected:
        state.revision = -1  # someone else changed the draft too: reload next time


def check_paths(state: DraftState, paths: list[str], present: list[str | None] | None = None) -> None:
    """Refuse paths that would be both a file and a folder in the dataset (or among ``paths`` themselves).
    Paths the dataset already has as files cost one lookup each (re-adding a folder checks nothing else);
    ``present``, when given, is each path's hash in the current view (None: not there), so none is looked up.
    The folders holding new paths are checked once each, not once per path."""
    incoming = set(paths)
    holding = folders_of(incoming)
    among = holding & incoming
    if among:
        clash = min(among)
        path = min(p for p in paths if p.startswith(clash + "/"))
        raise InvalidDatasetPathError(
            f"cannot add both {clash!r} and {path!r}: a dataset path cannot be a file and a folder; add one "
            "of them under another dataset_path",
            dataset_path=path,
        )
    current = state.current
    if present is None:
        new = [path for path in paths if path not in current]
    else:
        new = [path for path, found in zip(paths, present, strict=True) if found is None]
    if not new:
        return
    folders = state.folders()
    files = {folder for folder in holding if folder in current}  # a folder of a path already there is no file
    for path in new:  # in order: the first path that clashes names its own clash
        if folders.get(path):
            raise InvalidDatasetPathError(
                f"cannot add {path!r}: the dataset has a folder of that name; remove_files({path!r}) first, or "
                "add the file under another dataset_path",
                dataset_path=path,
            )
        if files:
            folder = next((f for f in _parents_of(path) if f in files), None)
            if folder is not None:
                raise InvalidDatasetPathError(
                    f"cannot add {path!r}: {folder!r} is a file in the dataset, so it cannot also be a folder; "
                    f"remove_files({folder!r}) first, or add under another dataset_path",
                    dataset_path=path,
                )


def record_sources(ctx: Context, state: DraftState, sources: list[SourceFile],
                   hashes: dict[str, str]) -> tuple[int, int]:
    """Record hashed sources in the draft; return (added, modified). Unchanged files cost nothing: the current
    view's hashes are asked for as one batch, and no entry is built for a path the draft has no row for."""
    paths = [source.dataset_path for source in sources]
    current = hashes_of(state.current, paths)
    check_paths(state, paths, current)
    rows = state.rows
    upserts: list[DraftRow] = []
    reverts: list[str] = []
    added = modified = 0
    for source, path, existing in zip(sources, paths, current, strict=True):
        content_hash = hashes[path]
        if existing is None:
            added += 1
        elif existing != content_hash:
            modified += 1
        row = rows.get(path)
        if row is None:  # the current entry, if any, is inherited
            if existing != content_hash:
                upserts.append(DraftRow(path, content_hash, source.size, source.local_path))
            continue
        inherited = state.parents.get(path)
        if inherited is not None and inherited.hash == content_hash:
            reverts.append(path)
        elif row.hash != content_hash or row.source != source.local_path:
            upserts.append(DraftRow(path, content_hash, source.size, source.local_path))
    _commit(ctx, state, upserts, reverts)
    return added, modified


def record_links(ctx: Context, state: DraftState, links: list[DraftRow]) -> tuple[int, int]:
    """Record external links (rows with ``link`` set) in the draft; return (added, modified).

    A link replaces a file at the same path and the other way round; an unchanged link costs nothing.
    """
    check_paths(state, [row.path for row in links])
    upserts: list[DraftRow] = []
    reverts: list[str] = []
    added = modified = 0
    for row in links:
        existing = state.current.get(row.path)
        if existing is not None and existing.hash == row.hash:
            continue
        if existing is None:
            added += 1
        else:
            modified += 1
        inherited = state.parents.get(row.path)
        if inherited is not None and inherited.hash == row.hash:
            reverts.append(row.path)
        else:
            upserts.append(row)
    _commit(ctx, state, upserts, reverts)
    return added, modified


def remove_paths(ctx: Context, state: DraftState, paths: list[str]) -> int:
    """Remove dataset paths from the draft's view; return how many were there."""
    present = [p for p in paths if p in state.current]
    removals = [DraftRow(p, None) for p in present if p in state.parents]
    forget = [p for p in present if p not in state.parents]
    _commit(ctx, state, removals, forget)
    return len(present)
