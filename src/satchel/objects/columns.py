"""A decoded manifest's entries kept as its columns: a read-only mapping of path -> ManifestEntry whose
entries are built when asked for.

A million-entry manifest decoded into a dict of ``ManifestEntry`` tuples costs about 1 GB and a second of
object creation; kept as columns (hashes as 32 raw bytes each, integers in arrays) it costs about 200 MB, its
paths can be listed, looked up and counted without building any entry, and the collector has next to
nothing to scan. Everything that is in a column was checked by the decoder (``satchel.objects.manifest``)
before this object exists, so building an entry cannot fail.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Container, ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from satchel.objects.collector import gc_paused
from satchel.objects.pathnames import SortedFolders

if TYPE_CHECKING:
    from satchel.objects.manifest import ManifestEntry

_new_tuple = tuple.__new__
_NONE = 0xFFFFFFFF  # the id column value naming no pack or no block table
_BISECTIONS = 50_000  # lookups answered by bisection (at least) before a dict is built for them
_REMEMBERED_MAX = 1 << 20  # bisected paths remembered (about 130 bytes each), at most an eighth of the paths


SORTED_COUNT_FROM = 500_000
"""Rows from which the stored size is counted by a numpy sort of their location keys (W5's 10M: 0.9 s, a dict
took 5.5 s). Fewer are counted with a dict: loading numpy costs a fresh process about 0.1 s from a cold page
cache, which a W3 child (100,000 rows, one finalize per process) paid for a count taking 0.04 s."""
_MAX_PACKED_OFFSET = 1 << 40
_Key = int | tuple[int | str, int]
"""A stored object's location as a key: (pack id or, for a pack these columns do not name, its name, offset), or
the first two packed into one integer."""
_PACKED_NONE = 0xFFFFFF  # the no-pack id as packed in a location key (its low 3 bytes)
_LAST_KEY = (1 << 64) - 1  # above every packed location key (the no-pack id packed is below it)


def _packed_key(pack: int, offset: int) -> int:
    """(pack id, offset) packed into one integer: the id's low 3 bytes above the offset's 40 bits."""
    return (pack & _PACKED_NONE) << 40 | offset


class _DictKeys:
    """The location keys a stored-size count counted, as a container."""

    def __init__(self, counted: Container[_Key]) -> None:
        self._counted = counted

    def absent(self, keys: Iterable[_Key]) -> list[_Key]:
        """Those of ``keys`` not counted."""
        return [key for key in keys if key not in self._counted]


class _SortedKeys:
    """The packed location keys a stored-size count counted, in a sorted numpy array, asked all at once."""

    def __init__(self, ordered: Any) -> None:
        self._ordered = ordered

    def absent(self, keys: Iterable[_Key]) -> list[_Key]:
        import numpy as np

        keys = list(keys)
        packed = np.fromiter((key for key in keys if isinstance(key, int)), dtype=np.uint64)  # pairs name no row
        found = set(packed[_found(packed, self._ordered)].tolist())
        return [key for key in keys if key not in found]


_CountedKeys = _DictKeys | _SortedKeys


def _found(values: Any, ordered: Any) -> Any:
    """A numpy mask: which of ``values`` are in the sorted numpy array ``ordered`` (by bisection, so a large
    ``ordered`` costs no hash table)."""
    import numpy as np

    if not len(ordered):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
    return ordered[at] == values


def _sum(values: Any, where: Any = None) -> int:
    """The exact sum of a numpy array of unsigned 64-bit integers (of those the boolean mask ``where`` selects),
    at C speed when it cannot overflow."""
    mask = {} if where is None else {"where": where}
    if len(values) and int(values.max(initial=0, **mask)) > ((1 << 64) - 1) // len(values):
        return sum((values if where is None else values[where]).tolist())
    return int(values.sum(**mask))


@dataclass(frozen=True)
class ColumnSummary:
    """Totals over a set of entries: raw bytes, stored bytes (each stored object once), links, packs used."""

    total_size: int
    stored_size: int
    link_count: int
    packs: set[str]


def _number(numbers: dict[str, int], name: str) -> int:
    """The id of ``name``, given the next free one when it is new."""
    found = numbers.get(name)
    if found is None:
        found = numbers[name] = 1 + max((i for i in numbers.values() if i != _NONE), default=-1)
    return found


Piece = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Streamed:
    """A column's little-endian bytes as pieces made while they are written (``nbytes`` in all): a patched
    view's big columns are never held whole (W4's squash held a second copy of its hashes and integers)."""

    nbytes: int
    pieces: Callable[[], Iterator[Piece]]


@runtime_checkable
class ColumnsSource(Protocol):
    """Entries that can give the manifest encoder their columns without building an entry (columns do; an
    overlay does when it lies over columns), or None when they cannot."""

    def columns(self) -> Columns | None:
        """The entries as the encoder's columns, or None."""
        ...


@dataclass
class Columns:
    """Entries as the manifest encoder writes them: paths sorted, names sorted, every id naming one of them
    (``NONE``: no pack, no block table); ``links`` None when no entry is a link, ``table_ids`` None when no
    entry has a block table."""

    paths: Sequence[str]
    hashes: bytes | bytearray | Streamed
    sizes: array[int] | Streamed
    origins: list[str]
    origin_ids: array[int]
    packs: list[str]
    pack_ids: array[int]
    offsets: array[int] | Streamed
    lengths: array[int] | Streamed
    codecs: bytes | bytearray
    links: Sequence[str] | None
    tables: list[str]
    table_ids: array[int] | None


def _renumbered(ids: array[int], names: Mapping[int, str]) -> tuple[list[str], array[int]]:
    """(the used names sorted, ``ids`` renumbered into them), NONE kept as NONE."""
    used = set(ids) - {_NONE}
    ordered = sorted({names[i] for i in used})
    number = {name: i for i, name in enumerate(ordered)}
    table = {i: number[names[i]] for i in used}
    if all(old == new for old, new in table.items()):
        return ordered, ids
    table[_NONE] = _NONE
    return ordered, array("I", map(table.__getitem__, ids))


class EntryColumns(Mapping[str, "ManifestEntry"]):
    """Read-only path -> ManifestEntry over a manifest's columns, in the manifest's path order: ``paths`` must be
    strictly increasing (the decoder checks it), so they are unique and can be bisected.

    ``names`` maps each column of small integers to the strings they stand for (origins, packs, block tables);
    ``links`` is None when no entry is a link.
    """

    __slots__ = (
        "_codecs",
        "_entry_type",
        "_hashes",
        "_index",
        "_lengths",
        "_links",
        "_lookups",
        "_offsets",
        "_origin_ids",
        "_origins",
        "_pack_ids",
        "_packs",
        "_paths",
        "_remembered",
        "_sizes",
        "_table_ids",
        "_tables",
    )

    def __init__(self, entry_type: type[ManifestEntry], paths: Sequence[str], hashes: bytes | bytearray,
                 sizes: array[int], origin_ids: array[int], origins: list[str], pack_ids: array[int],
                 packs: dict[int, str], offsets: array[int], lengths: array[int], codecs: bytes | bytearray,
                 links: Sequence[str] | None, table_ids: array[int] | None, tables: dict[int, str]) -> None:
        self._entry_type = entry_type
        self._paths = paths
        self._index: dict[str, int] | None = None
        self._remembered: dict[str, int] = {}  # path -> row, -1 when not held (see _bisected)
        self._lookups = 0
        self._hashes, self._sizes, self._offsets, self._lengths, self._codecs = hashes, sizes, offsets, lengths, codecs
        self._origin_ids, self._origins = origin_ids, origins
        self._pack_ids, self._packs = pack_ids, packs
        self._links = links
        self._table_ids, self._tables = table_ids, tables

    def relabeled(self, origin: str) -> EntryColumns:
        """The same entries with ``origin`` as every entry's origin (sharing every other column)."""
        copy = object.__new__(EntryColumns)
        for name in self.__slots__:
            setattr(copy, name, getattr(self, name))
        copy._origin_ids, copy._origins = array("I", bytes(4 * len(self))), [origin]
        return copy

    def patched_columns(self, puts: Mapping[str, ManifestEntry], dropped: Iterable[str]) -> Columns:
        """The columns of these entries without the ``dropped`` paths and with ``puts`` set (replacing or added,
        in path order), for the encoder, without building them: the hashes, sizes, offsets and lengths are
        streamed from these columns and ``puts`` as they are written; the paths are shared, the small id columns
        gathered at C speed. No entry is built."""
        with gc_paused():
            patch = _Patch(self, self._segments(puts, dropped), puts)
            paths, links = patch.paths_and_links()
            origin_no, pack_no, table_no = patch.numbers()
            origins, origin_ids = _renumbered(patch.ints(self._origin_ids, 0, lambda e: _number(origin_no, e.origin)),
                                              {i: name for name, i in origin_no.items()})
            packs, pack_ids = _renumbered(patch.ints(self._pack_ids, _NONE, lambda e: _pack_number(pack_no, e)),
                                          {i: name for name, i in pack_no.items()})
            tables: list[str] = []
            table_ids = None
            if patch.with_tables:
                tables, table_ids = _renumbered(
                    patch.ints(self._table_ids, _NONE, lambda e: _table_number(table_no, e)),
                    {i: name for name, i in table_no.items()})
            sizes, offsets, lengths = (patch.streamed_ints(column, attrgetter(field)) for column, field in (
                (self._sizes, "size"), (self._offsets, "offset"), (self._lengths, "length")))
            hashes = patch.streamed_bytes(self._hashes, 32, _hash_bytes)
            return Columns(paths, hashes, sizes, origins, origin_ids, packs, pack_ids, offsets, lengths,
                           patch.joined(self._codecs, 1, _codec_byte), links, tables, table_ids if tables else None)

    def _segments(self, puts: Mapping[str, ManifestEntry], dropped: Iterable[str]) -> list[tuple[int, int] | str]:
        """Runs (start, end) of these rows to keep, and the paths of ``puts``, in path order."""
        paths, count = self._paths, len(self._paths)
        gone = self._rows_of((*dropped, *puts))
        events = sorted([(row, 1, "") for row in gone] + [(bisect_left(paths, p), 0, p) for p in puts])
        segments: list[tuple[int, int] | str] = []
        cursor = 0
        for at, drop, path in events:  # at one position: the put first, then the dropped row
            if at > cursor:
                segments.append((cursor, at))
                cursor = at
            if drop:
                cursor = at + 1
            else:
                segments.append(path)
        if cursor < count:
            segments.append((cursor, count))
        return segments

    def folders(self) -> SortedFolders:
        """The folders of these paths, answered by bisecting them (nothing is built)."""
        return SortedFolders(self._paths)

    def summary(self, extra: Mapping[str, ManifestEntry] | None = None, dropped: Iterable[str] = ()) -> ColumnSummary:
        """Totals a version's statistics need, from the columns: over these entries without the ``dropped`` paths
        and those ``extra`` sets, plus ``extra``'s entries (an overlay's changes), without building an entry."""
        extra = extra or {}
        skip = self._rows_of((*dropped, *extra))
        with gc_paused():
            return self._summary(extra, skip)

    def _summary(self, extra: Mapping[str, ManifestEntry], skip: set[int]) -> ColumnSummary:
        links = sum(1 for row, link in enumerate(self._links or ()) if link and row not in skip)
        packable = len(self._paths) >= SORTED_COUNT_FROM and self._packable()  # counted by a sort of packed keys
        total = self._total_size() - sum(self._sizes[row] for row in skip)
        stored, counted = self._stored_packed(skip) if packable else self._stored_pairs(skip)
        pack_no = {name: i for i, name in self._packs.items() if i != _NONE}
        added: dict[_Key, int] = {}  # an extra's object, once, when no kept row names it
        for entry in extra.values():
            total += entry.size
            links += bool(entry.link)
            if not entry.pack or entry.link:
                continue
            number = pack_no.get(entry.pack)
            if number is None or (packable and entry.offset >= _MAX_PACKED_OFFSET):  # so no row has that key
                added.setdefault((entry.pack, entry.offset), entry.length)
            else:
                added.setdefault(_packed_key(number, entry.offset) if packable else (number, entry.offset),
                                 entry.length)
        stored += sum(added[key] for key in counted.absent(added))
        packs = self.pack_names() | {e.pack for e in extra.values() if e.pack and not e.link}
        return ColumnSummary(total_size=total, link_count=links, packs=packs, stored_size=stored)

    def _total_size(self) -> int:
        if len(self._sizes) < SORTED_COUNT_FROM:
            return sum(self._sizes)
        import numpy as np

        return _sum(np.asarray(self._sizes, dtype=np.uint64))

    def _packable(self) -> bool:
        """Do all location keys fit ``_packed_key`` (offsets under 2**40, fewer than 2**24 - 1 packs)?"""
        import numpy as np  # loaded on first use: only finalize and squash of big views count with it

        return len(self._packs) < _PACKED_NONE and not (
            len(self._offsets) and int(np.asarray(self._offsets).max()) >= _MAX_PACKED_OFFSET)

    def _stored_packed(self, skip: set[int]) -> tuple[int, _CountedKeys]:
        """(bytes stored by the rows not in ``skip``, each object once; the location keys they count), from one
        sort of the rows' packed location keys (W5's 10M rows: about 1 s and 100-130 MB at the peak; a dict of them
        took 5.5 s and 1 GB). Rows naming one object with two lengths (only damaged or generated data) count the
        last kept row's."""
        import numpy as np

        keys = self._location_keys()
        kept = keys < np.uint64(_PACKED_NONE << 40)  # links name no stored object
        if skip:
            kept[np.fromiter(skip, dtype=np.int64, count=len(skip))] = False
        lengths = np.asarray(self._lengths, dtype=np.uint64)  # the column itself, not a copy
        total = _sum(lengths, where=kept)
        keys[~kept] = np.uint64(_LAST_KEY)  # sorted past the kept keys, in place: no copy of the keys to sort
        keys.sort(kind="stable")  # merges runs: rows of a pack mostly come in its order (W5: 0.65 -> 0.28 s)
        ordered = keys[: int(np.count_nonzero(kept))]  # a view: the skipped rows' keys stay with it
        repeated = ordered[1:][ordered[1:] == ordered[:-1]]
        if not repeated.size:
            return total, _SortedKeys(ordered)
        keys = self._location_keys()[kept]  # in row order again (the first array was sorted in place)
        shared = _found(keys, np.unique(repeated))  # rows whose object another kept row names too
        _, last = np.unique(keys[shared][::-1], return_index=True)
        kept_lengths = lengths[kept]
        return _sum(kept_lengths[~shared]) + _sum(kept_lengths[shared][::-1][last]), _SortedKeys(ordered)

    def _location_keys(self) -> Any:
        """A numpy array of each row's ``_packed_key``, built in place."""
        import numpy as np

        keys = np.asarray(self._pack_ids).astype(np.uint64)
        keys &= np.uint64(_PACKED_NONE)
        keys <<= np.uint64(40)
        keys |= np.asarray(self._offsets, dtype=np.uint64)
        return keys

    def _stored_pairs(self, skip: set[int]) -> tuple[int, _CountedKeys]:
        """``_stored_packed`` with a dict keyed by (pack id, offset): for views under ``SORTED_COUNT_FROM`` rows
        (W1's 100,000: 0.04 s), and for locations that do not fit a packed key (offsets of 2**40 or more, 2**24 packs
        or more: only damaged or hostile data has them)."""
        ids, offsets, lengths = self._pack_ids, self._offsets, self._lengths
        kept = (row for row in range(len(ids)) if row not in skip and ids[row] != _NONE)  # links: not stored
        seen: dict[_Key, int] = {(ids[row], offsets[row]): lengths[row] for row in kept}
        return sum(seen.values()), _DictKeys(seen)

    def unstored(self) -> list[str]:
        """Paths whose entry has no stored content and is not an external link (a finalized version has none:
        only damaged or hostile data does). A count at C speed, and a scan only when links exist."""
        if not self._pack_ids.count(_NONE):
            return []
        links = self._links if self._links is not None else [""] * len(self._paths)
        return [self._paths[row] for row, (pack, link) in enumerate(zip(self._pack_ids, links, strict=True))
                if pack == _NONE and not link]

    def with_codec(self, codec: int) -> list[tuple[str, ManifestEntry]]:
        """(path, entry) of the entries stored with ``codec`` (a scan at C speed when there are none)."""
        if codec not in self._codecs:
            return []
        return [(self._paths[row], self._entry(row)) for row, used in enumerate(self._codecs) if used == codec]

    def pack_names(self, skipped: Iterable[str] = ()) -> set[str]:
        """The packs the entries are stored in (without the rows of the ``skipped`` paths: a pack only they use
        is not named). Counted at C speed; the skipped rows cost one step each."""
        rows = self._rows_of(skipped)
        if not rows:
            return {self._packs[i] for i in set(self._pack_ids) if i != _NONE}
        counts = Counter(self._pack_ids)
        for row in rows:
            counts[self._pack_ids[row]] -= 1
        return {self._packs[i] for i, left in counts.items() if left > 0 and i != _NONE}

    def columns(self) -> Columns:
        """The columns as the encoder writes them (names sorted and renumbered when they are not)."""
        origins, origin_ids = _renumbered(self._origin_ids, dict(enumerate(self._origins)))
        packs, pack_ids = _renumbered(self._pack_ids, self._packs)
        tables, table_ids = _renumbered(self._table_ids, self._tables) if self._table_ids is not None else ([], None)
        return Columns(self._paths, self._hashes, self._sizes, origins, origin_ids, packs, pack_ids,
                       self._offsets, self._lengths, self._codecs, self._links, tables,
                       table_ids if tables else None)

    def _entry(self, row: int) -> ManifestEntry:
        start = row * 32
        return _new_tuple(self._entry_type, (
            self._hashes[start : start + 32].hex(),
            self._sizes[row],
            self._origins[self._origin_ids[row]],
            self._packs[self._pack_ids[row]],
            self._offsets[row],
            self._lengths[row],
            self._codecs[row],
            self._links[row] if self._links is not None else "",
            self._tables[self._table_ids[row]] if self._table_ids is not None else "",
        ))

    def _rows_of(self, paths: Iterable[str]) -> set[int]:
        """The rows of those ``paths`` these columns hold: a view's changes, asked as a batch. Bisected, or looked
        up in the dict when there is one, and not counted as lookups: batches of changes asked by finalize and
        squash (three of them for W4's squash) must not make a dict of a million paths (57 MB) worth building."""
        return {row for row in map(self._finder(), paths) if row is not None}

    def hashes_of(self, paths: Sequence[str]) -> list[str | None]:
        """The content hash at each of ``paths``, None where there is no file: a batch (re-adding a folder asks
        for every path it holds) answered without building entries (see ``_batch_rows``)."""
        hashes = self._hashes
        return [None if row is None else hashes[row * 32 : row * 32 + 32].hex() for row in self._batch_rows(paths)]

    def sizes_of(self, paths: Sequence[str]) -> list[int | None]:
        """The size at each of ``paths``, None where there is no file (as ``hashes_of``)."""
        sizes = self._sizes
        return [None if row is None else sizes[row] for row in self._batch_rows(paths)]

    def _batch_rows(self, paths: Sequence[str]) -> Iterator[int | None]:
        """The row of each of ``paths`` (None: not held), through the path dict when the batch is big enough to
        pay for building it (it is kept for later lookups), else by bisection."""
        if self._index is None and self._dict_pays(len(paths)):
            self._build_index()
        return map(self._finder(), paths)

    def _dict_pays(self, lookups: int) -> bool:
        """Do ``lookups`` pay for a dict of every path? It costs about as much as n/4 bisections."""
        return lookups > max(_BISECTIONS, len(self._paths) // 4)

    def _build_index(self) -> None:
        self._index = dict(zip(self._paths, range(len(self._paths)), strict=True))
        self._remembered = {}  # the dict answers every path now

    def _finder(self) -> Callable[[str], int | None]:
        """Path -> row: the dict when there is one, else bisection."""
        return self._index.get if self._index is not None else self._bisected

    def _bisected(self, path: str) -> int | None:
        """The row of ``path``, by bisection in the sorted paths, remembered (-1: not held) for the next time:
        finalizing a child asks for each of its changes in several passes (merge, clash check, manifest,
        statistics: six bisections of each of W5's 200,000 changes in 10M paths), at most ``_REMEMBERED_MAX`` and an
        eighth of the paths; forgotten once the dict of every path is built."""
        found = self._remembered.get(path)
        if found is not None:
            return found if found >= 0 else None
        row = bisect_left(self._paths, path)
        held = row < len(self._paths) and self._paths[row] == path
        if len(self._remembered) < min(_REMEMBERED_MAX, len(self._paths) >> 3):  # ~16 bytes a path; a dict: 60
            self._remembered[path] = row if held else -1
        return row if held else None

    def _row(self, path: str) -> int | None:
        """The row of ``path``: remembered, or by bisection in the sorted paths, then, once lookups are many, by a
        dict built for them (listing and iterating a view need neither; a child's overlay needs a few lookups).
        A remembered row costs no lookup."""
        if self._index is None and path not in self._remembered:
            self._lookups += 1
            if self._dict_pays(self._lookups):
                self._build_index()
        return self._finder()(path)

    def __getitem__(self, path: str) -> ManifestEntry:
        row = self._row(path)
        if row is None:
            raise KeyError(path)
        return self._entry(row)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and self._row(path) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def items(self) -> ItemsView[str, ManifestEntry]:
        return _Items(self)

    def values(self) -> ValuesView[ManifestEntry]:
        return _Values(self)

    def rows(self) -> Iterator[tuple[str, ManifestEntry]]:
        """(path, entry) in path order, each entry built from its row (no lookup by path)."""
        return zip(self._paths, map(self._entry, range(len(self._paths))), strict=True)

    def __repr__(self) -> str:
        return f"<EntryColumns of {len(self)} entries>"


def _hash_bytes(entry: ManifestEntry) -> bytes:
    return bytes.fromhex(entry.hash)


def _codec_byte(entry: ManifestEntry) -> bytes:
    return bytes((entry.codec,))


def _pack_number(numbers: dict[str, int], entry: ManifestEntry) -> int:
    return _NONE if not entry.pack else _number(numbers, entry.pack)


def _table_number(numbers: dict[str, int], entry: ManifestEntry) -> int:
    return _NONE if not entry.blocks else _number(numbers, entry.blocks)


def little_endian(values: array[int], *, fresh: bool = False) -> memoryview:
    """The bytes of ``values`` little-endian: a view of them (no copy) on a little-endian machine; on a big-endian
    one a swapped copy, or ``values`` swapped in place when the caller made them for this (``fresh``)."""
    if sys.byteorder == "big":
        if not fresh:
            values = array(values.typecode, values)
        values.byteswap()
    return memoryview(values).cast("B")


class _Patch:
    """Columns ``source`` patched: ``segments`` in order, each a run (start, end) of its rows or a path of
    ``puts``; each column is gathered (or streamed) from it on its own."""

    def __init__(self, source: EntryColumns, segments: list[tuple[int, int] | str],
                 puts: Mapping[str, ManifestEntry]) -> None:
        self.source, self.segments, self.puts = source, segments, puts
        self.count = sum(1 if isinstance(segment, str) else segment[1] - segment[0] for segment in segments)
        self.with_links = source._links is not None or any(e.link for e in puts.values())
        self.with_tables = source._table_ids is not None or any(e.blocks for e in puts.values())

    def numbers(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Name -> id of the source's origins, packs and block tables (the puts' new ones are numbered as the
        id columns are gathered)."""
        source = self.source
        return ({name: i for i, name in enumerate(source._origins)}, {name: i for i, name in source._packs.items()},
                {name: i for i, name in source._tables.items()})

    def paths_and_links(self) -> tuple[list[str], list[str] | None]:
        """The patched paths (the source's strings, shared) and links (None when no entry is a link)."""
        source, puts, with_links = self.source, self.puts, self.with_links
        paths: list[str] = []
        links: list[str] = []
        for segment in self.segments:
            if isinstance(segment, str):
                paths.append(segment)
                if with_links:
                    links.append(puts[segment].link)
                continue
            a, b = segment
            paths += source._paths[a:b]
            if with_links:
                links += source._links[a:b] if source._links is not None else [""] * (b - a)
        return paths, links if with_links else None

    def ints(self, source: array[int] | None, default: int, value_of: Callable[[ManifestEntry], int]) -> array[int]:
        """An integer column, allocated once and filled from views of ``source`` (``default`` where it is None)."""
        typecode = source.typecode if source is not None else "I"
        out = array(typecode, [default]) * self.count
        view, at = memoryview(out), 0
        for segment in self.segments:
            if isinstance(segment, str):
                out[at] = value_of(self.puts[segment])
                at += 1
                continue
            a, b = segment
            if source is not None:
                view[at : at + b - a] = memoryview(source)[a:b]
            at += b - a
        return out

    def joined(self, source: bytes | bytearray, width: int, value_of: Callable[[ManifestEntry], bytes]) -> bytearray:
        """A column of ``width`` bytes per row, allocated once and filled from views of ``source``."""
        out, whole, at = bytearray(self.count * width), memoryview(source), 0
        for segment in self.segments:
            a, b = (0, 1) if isinstance(segment, str) else segment
            out[at : at + (b - a) * width] = value_of(self.puts[segment]) if isinstance(segment, str) else \
                whole[a * width : b * width]
            at += (b - a) * width
        return out  # kept as it is (read only, like bytes): a copy would hold the column twice

    def streamed_ints(self, source: array[int], value_of: Callable[[ManifestEntry], int]) -> Streamed:
        """``ints(source, ...)`` as little-endian pieces: views of ``source``'s runs, the puts' values packed."""
        segments, puts = self.segments, self.puts

        def pieces() -> Iterator[Piece]:
            pending = array(source.typecode)
            for segment in segments:
                if isinstance(segment, str):
                    pending.append(value_of(puts[segment]))
                    continue
                if pending:
                    yield little_endian(pending, fresh=True)
                    pending = array(source.typecode)
                a, b = segment
                yield little_endian(source[a:b], fresh=True) if sys.byteorder == "big" else \
                    memoryview(source)[a:b].cast("B")
            if pending:
                yield little_endian(pending, fresh=True)

        return Streamed(self.count * source.itemsize, pieces)

    def streamed_bytes(self, source: bytes | bytearray, width: int, value_of: Callable[[ManifestEntry], bytes]
                       ) -> Streamed:
        """``joined(source, ...)`` as pieces: views of ``source``'s runs, the puts' values joined."""
        segments, puts = self.segments, self.puts

        def pieces() -> Iterator[Piece]:
            whole, pending = memoryview(source), bytearray()
            for segment in segments:
                if isinstance(segment, str):
                    pending += value_of(puts[segment])
                    continue
                if pending:
                    yield bytes(pending)
                    pending.clear()
                a, b = segment
                yield whole[a * width : b * width]
            if pending:
                yield bytes(pending)

        return Streamed(self.count * width, pieces)


class _Items(ItemsView[str, "ManifestEntry"]):
    _mapping: EntryColumns

    def __iter__(self) -> Iterator[tuple[str, ManifestEntry]]:
        return self._mapping.rows()


class _Values(ValuesView["ManifestEntry"]):
    _mapping: EntryColumns

    def __iter__(self) -> Iterator[ManifestEntry]:
        columns = self._mapping
        return map(columns._entry, range(len(columns)))
