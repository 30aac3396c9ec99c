"""A view over another without copying it: a version's view is its parent's with a few paths set or removed.

A child of a million-entry version with 1% changes used to copy its parent's dict of a million entries; an
``Overlay`` holds the parent (shared, never changed) and only the changes, so building it costs the changes.
Overlays over overlays fold into one level over the bottom view, so a lookup costs one or two dict probes
whatever the depth of the delta chain.
"""

from __future__ import annotations

from collections.abc import Collection, ItemsView, Iterable, Iterator, Mapping, MutableMapping, Sequence, ValuesView
from itertools import chain, filterfalse

from satchel.objects import ManifestEntry
from satchel.objects.columns import Columns, EntryColumns
from satchel.objects.manifest import with_origin


class Overlay(MutableMapping[str, ManifestEntry]):
    """``base`` with ``removed`` hidden and ``puts`` set. ``base`` must not change while the overlay is used;
    setting or deleting a path changes the overlay only (drafts change theirs as their rows change).

    Iteration follows ``base``'s order, then the paths that only the overlay has.
    """

    __slots__ = ("_base", "_hidden", "_len", "_puts")

    def __init__(self, base: Mapping[str, ManifestEntry], puts: Mapping[str, ManifestEntry] | None = None,
                 removed: Iterable[str] = ()) -> None:
        self._base: Mapping[str, ManifestEntry]
        self._puts: dict[str, ManifestEntry]
        self._hidden: set[str]
        self._len: int
        if isinstance(base, Overlay):
            self._base, self._puts, self._hidden, self._len = base._base, dict(base._puts), set(base._hidden), len(base)
        else:
            self._base, self._puts, self._hidden, self._len = base, {}, set(), len(base)
        self._remove_all(removed)
        self._set_all(puts or {})

    def _remove_all(self, paths: Iterable[str]) -> None:
        base, own, hidden = self._base, self._puts, self._hidden
        for path in paths:
            if own.pop(path, None) is not None:
                if path in base:
                    hidden.add(path)
                self._len -= 1
            elif path not in hidden and path in base:
                hidden.add(path)
                self._len -= 1

    def _set_all(self, entries: Mapping[str, ManifestEntry]) -> None:
        base, own, hidden = self._base, self._puts, self._hidden
        for path, entry in entries.items():
            if path not in own:
                if path in hidden:
                    hidden.discard(path)
                    self._len += 1
                elif path not in base:
                    self._len += 1
            own[path] = entry

    def set_many(self, entries: Mapping[str, ManifestEntry]) -> None:
        """Set every path of ``entries`` (as ``self[path] = entry`` for each, in one loop)."""
        self._set_all(entries)

    @property
    def base(self) -> Mapping[str, ManifestEntry]:
        """The view this one lies over (never an overlay)."""
        return self._base

    @property
    def changed(self) -> Mapping[str, ManifestEntry]:
        """The paths this overlay sets (over the base's or new)."""
        return self._puts

    @property
    def removed(self) -> Collection[str]:
        """The base's paths this overlay removes."""
        return self._hidden

    def relabeled(self, origin: str) -> Overlay:
        """The same view with ``origin`` as every entry's origin, the base's entries relabeled as columns when
        they are columns (see ``relabeled``)."""
        return self._same_paths(relabeled(self._base, origin),
                                {path: with_origin(entry, origin) for path, entry in self._puts.items()})

    def with_entries(self, entries: Mapping[str, ManifestEntry]) -> Overlay:
        """The same view with ``entries`` replacing the entries of paths it sets (a draft's rows, once located):
        the same paths over the same base, so the counts and hidden set carry over without a base lookup. Raises
        KeyError for a path this overlay does not set."""
        puts = dict(self._puts)
        for path, entry in entries.items():
            if path not in puts:
                raise KeyError(path)
            puts[path] = entry
        return self._same_paths(self._base, puts)

    def _same_paths(self, base: Mapping[str, ManifestEntry], puts: dict[str, ManifestEntry]) -> Overlay:
        """An overlay of ``puts`` over ``base``, which hold the same paths as this one's puts and base: the counts
        and the hidden set carry over as they are, with no lookup."""
        copy = Overlay({})
        copy._base, copy._puts, copy._hidden, copy._len = base, puts, set(self._hidden), self._len
        return copy

    def columns(self) -> Columns | None:
        """The entries as the manifest encoder's columns, streamed from the base's (no flat copy is built) when
        the base is columns; else None."""
        if isinstance(self._base, EntryColumns):
            return self._base.patched_columns(self._puts, self._hidden)
        return None

    def hashes_of(self, paths: Sequence[str]) -> list[str | None]:
        """The content hash at each of ``paths``, None where there is no file (see ``hashes_of``)."""
        found = hashes_of(self._base, paths)
        puts, hidden = self._puts, self._hidden
        if puts or hidden:
            for at, path in enumerate(paths):
                entry = puts.get(path)
                if entry is not None:
                    found[at] = entry.hash
                elif path in hidden:
                    found[at] = None
        return found

    def __getitem__(self, path: str) -> ManifestEntry:
        found = self._puts.get(path)
        if found is not None:
            return found
        if path in self._hidden:
            raise KeyError(path)
        return self._base[path]

    def __contains__(self, path: object) -> bool:
        return path in self._puts or (path not in self._hidden and path in self._base)

    def __setitem__(self, path: str, entry: ManifestEntry) -> None:
        if path not in self:
            self._len += 1
        self._puts[path] = entry
        self._hidden.discard(path)

    def __delitem__(self, path: str) -> None:
        if path not in self:
            raise KeyError(path)
        self._puts.pop(path, None)
        if path in self._base:
            self._hidden.add(path)
        self._len -= 1

    def __iter__(self) -> Iterator[str]:
        base = self._base
        kept = filterfalse(self._hidden.__contains__, base) if self._hidden else iter(base)  # C-speed filters
        return chain(kept, filterfalse(base.__contains__, self._puts))

    def __len__(self) -> int:
        return self._len

    def items(self) -> ItemsView[str, ManifestEntry]:
        return _Items(self)

    def values(self) -> ValuesView[ManifestEntry]:
        return _Values(self)

    def pairs(self) -> Iterator[tuple[str, ManifestEntry]]:
        """(path, entry) in iteration order, the base's entries taken from its own iteration (no lookups)."""
        base, puts, hidden = self._base, self._puts, self._hidden
        for path, entry in base.items():
            if path not in hidden:
                yield path, puts.get(path, entry)
        for path, entry in puts.items():
            if path not in base:
                yield path, entry

    def __repr__(self) -> str:
        return f"<Overlay of {len(self)} entries: {len(self._puts)} set, {len(self._hidden)} removed>"


class _Items(ItemsView[str, ManifestEntry]):
    _mapping: Overlay

    def __iter__(self) -> Iterator[tuple[str, ManifestEntry]]:
        return self._mapping.pairs()


class _Values(ValuesView[ManifestEntry]):
    _mapping: Overlay

    def __iter__(self) -> Iterator[ManifestEntry]:
        return (entry for _, entry in self._mapping.pairs())


def hashes_of(view: Mapping[str, ManifestEntry], paths: Sequence[str]) -> list[str | None]:
    """The content hash at each of ``paths`` in ``view``, None where it has no file: a batch that columns and
    overlays answer without building an entry per path."""
    if isinstance(view, EntryColumns | Overlay):
        return view.hashes_of(paths)
    found = map(view.get, paths)
    return [None if entry is None else entry.hash for entry in found]


def sizes_of(view: Mapping[str, ManifestEntry], paths: Sequence[str]) -> list[int | None]:
    """The size at each of ``paths`` in ``view``, None where it has no file (as ``hashes_of``)."""
    if isinstance(view, EntryColumns):
        return view.sizes_of(paths)
    found = map(view.get, paths)
    return [None if entry is None else entry.size for entry in found]


def relabeled(view: Mapping[str, ManifestEntry], origin: str) -> Mapping[str, ManifestEntry]:
    """``view`` with ``origin`` as every entry's origin (a squash's entries all come from the new version):
    columns and overlays stay what they are, without building their entries."""
    if isinstance(view, EntryColumns | Overlay):
        return view.relabeled(origin)
    return {path: with_origin(entry, origin) for path, entry in view.items()}
