"""Upload and finalize: storing a draft's content, then its manifest, then marking it completed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from satchel.catalog import VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.draft import DraftState
from satchel.dataset.overlay import Overlay, hashes_of, sizes_of
from satchel.dataset.upload import LARGE_FILE, UploadItem, UploadReport, store_items
from satchel.dataset.view import View, diff_views
from satchel.errors import (
    ConflictError,
    IntegrityError,
    InvalidArgumentError,
    InvalidDatasetPathError,
    ObjectMissingError,
)
from satchel.objects import Codec, Location, Manifest, ManifestEntry, ObjectStore, hash_bytes
from satchel.objects.collector import gc_paused
from satchel.objects.columns import EntryColumns
from satchel.objects.manifest import encode_manifest, located_at
from satchel.objects.packs import pack_key
from satchel.objects.pathnames import PathError
from satchel.objects.refs import pinned, write_ref
from satchel.storage import is_read_only, normalize_url

MAX_DELTA_DEPTH = 16
"""How deep a chain of delta manifests may grow before a version stores a full one. Loading a view folds every
delta down to the full manifest (W1's 100,000 files: about 9 ms per level, warm); 16 keeps that under 0.15 s,
and a full manifest every 17 versions of W7 costs 0.25 MB per version (its deltas are 47 KB)."""


@dataclass(frozen=True)
class Pending:
    """What a draft still has to store in its target. ``located``: where the target holds the draft's own rows'
    contents, when it was asked for exactly those (a child in its parents' store); finalize reuses it when
    nothing had to be stored."""

    items: list[UploadItem]
    located: Mapping[str, Location] | None = None

    @property
    def files(self) -> int:
        """Distinct contents to store."""
        return len(self.items)

    @property
    def bytes(self) -> int:
        """Raw bytes to store."""
        return sum(i.size for i in self.items)


def target_url(ctx: Context, record: VersionRecord, output_url: str | None = None) -> str:
    """Where a draft's content goes: the argument, else where it went before, else the dataset's output_uri,
    else the store its parents share (so a child costs no copies), else the default storage."""
    chosen = output_url or record.storage_url or record.output_uri
    if not chosen and record.parents:
        stores = {ctx.catalog.get_version(p).storage_url for p in record.parents}
        chosen = stores.pop() if len(stores) == 1 else None
    return normalize_url(chosen or ctx.storage_for(record.project))


def pending(ctx: Context, record: VersionRecord, store: ObjectStore, state: DraftState) -> Pending:
    """Contents of the draft's view that ``store`` does not hold, each with a place to read it from."""
    parents = [ctx.catalog.get_version(p) for p in record.parents]
    same_store = all(p.storage_url == store.url for p in parents)
    # a child locates its rows alone; a first version, or parents elsewhere, read the whole index (once a process)
    rows_only = same_store and bool(parents)
    missing: dict[str, str]  # content hash -> a path holding it
    if same_store:  # the parents' content is there (a first version has none): only rows can lack it
        wanted: dict[str, str] = {}
        with gc_paused():  # a loop over the draft's rows (W5: 200,000), no I/O, no cycle
            for path, row in state.rows.items():  # a set row is the current view's entry at its path
                if row.hash is not None and not row.link:
                    wanted.setdefault(row.hash, path)
        index = store.locate(wanted) if rows_only else store.index()
        missing = {h: p for h, p in wanted.items() if h not in index or not store.chunks_present(h, index[h])}
    else:
        index = store.index()
        missing = {}
        for path, entry in state.current.items():
            if not entry.link and entry.hash not in missing and (
                    entry.hash not in index or not store.chunks_present(entry.hash, index[entry.hash])):
                missing[entry.hash] = path
    items: dict[str, UploadItem] = {}
    with gc_paused():  # the same rows, in memory
        for path, row in state.rows.items() if missing else ():
            if row.hash in missing and row.hash not in items and row.source:
                before = state.parents.get(path) if same_store and row.size >= LARGE_FILE else None
                base = (before.hash, before.location) if before is not None and before.codec == Codec.CHUNKS \
                    else None
                items[row.hash] = UploadItem(row.hash, row.size, path, row.source, None, None, base)
    for parent in parents:
        if len(items) == len(missing):
            break
        assert parent.storage_url is not None
        source = ctx.store(parent.storage_url)
        for path, entry in ctx.views.view(parent).items():
            if entry.hash in missing and entry.hash not in items:
                items[entry.hash] = UploadItem(entry.hash, entry.size, path, source_store=source,
                                               source_location=entry.location)
    lost = [p for h, p in missing.items() if h not in items]
    if lost:
        raise IntegrityError(
            f"dataset {record.id}: no source left for {len(lost)} file(s), e.g. {lost[0]!r}; add them again "
            "with add_files()",
            object_key="",
            content_hash=next(h for h in missing if h not in items),
            dataset_id=record.id,
            dataset_path=lost[0],
        )
    return Pending(list(items.values()), index if rows_only else None)



def upload(ctx: Context, record: VersionRecord, state: DraftState, *, output_url: str | None, level: int | None,
           chunk_bytes: int, max_workers: int, retries: int, progress: Any) -> UploadReport:
    """Store everything the draft's target lacks. ``progress(total)`` yields a byte callback."""
    url = target_url(ctx, record, output_url)
    if is_read_only(url):
        raise InvalidArgumentError(
            f"cannot upload to {url}: web (http/https) storage is read-only; it is for external links "
            "(add_external_files). Choose a folder, s3://, gs:// or azure:// as output_url")
    store = ctx.store(url, retries=retries)
    store.check_format(create=True)
    ctx.catalog.set_storage(record.id, url)
    todo = pending(ctx, record, store, state)
    with progress(todo.bytes) as advance:
        return store_items(store, todo.items, level=level, chunk_bytes=chunk_bytes,
                           max_workers=max_workers, on_bytes=advance,
                           packs_in_flight=packs_in_flight(store, max_workers, chunk_bytes),
                           large_in_flight=large_in_flight(store, max_workers))


IN_FLIGHT_BYTES = 256 << 20


def packs_in_flight(store: ObjectStore, max_workers: int, chunk_bytes: int = 64 << 20) -> int:
    """Packs stored at once: one on a local disk (the disk is the limit); on object stores up to 4, and no
    more than fit in IN_FLIGHT_BYTES, so memory stays bounded whatever ``chunk_size`` a caller picks."""
    if store.storage.capabilities.local_path:
        return 1
    return max(1, min(4, max_workers, IN_FLIGHT_BYTES // max(chunk_bytes, 1)))


def large_in_flight(store: ObjectStore, max_workers: int) -> int:
    """Large files stored at once: two (with two workers or more). On object stores each is already a multipart
    upload of ``max_workers`` parts, and two overlap one file's staging with another's transfer; on a local disk
    one file's hashing and compression overlap the other's writing (W2, 4.3 GB: upload 13.4 s -> 10.0 s). More
    only added memory and contention in the benchmark."""
    return max(1, min(2, max_workers))


@dataclass
class Built:
    """What finalizing a draft writes: its manifest and delta depth, its whole view located in the store, and
    its (added, modified, removed) paths against its parents, sorted."""

    manifest: Manifest
    depth: int
    located: View
    changes: tuple[list[str], list[str], list[str]]


def build_manifest(ctx: Context, record: VersionRecord, store: ObjectStore, state: DraftState,
                   located_rows: Mapping[str, Location] | None = None) -> Built:
    """The manifest to finalize the draft ``state`` with, and what goes with it (see ``Built``).

    Entries point into ``store``. A delta against the parents is written when they all live in the same
    store and the chain is not too deep; otherwise the manifest is full. When the parents live in ``store``,
    their entries are located already: only the draft's own rows are looked up (``located_rows``: where
    ``pending`` found them, if nothing was stored since), and the cost is its changes.
    """
    parents = [ctx.catalog.get_version(p) for p in record.parents]
    same_store = bool(parents) and all(p.storage_url == store.url for p in parents)
    depth = 1 + max((p.depth for p in parents), default=0)
    view, parents_view = state.current, state.parents
    if same_store:
        set_paths = _set_paths(state)
        index = located_rows if located_rows is not None else \
            store.locate(view[p].hash for p in set_paths if not view[p].link)
        own = {p: _located(record, store, index, p, view[p]) for p in set_paths}  # (reads a chunked one's recipe)
        with gc_paused():  # from here on the rows and views in memory only, no cycle
            dropped = [p for p, r in state.rows.items() if r.hash is None]
            removed = sorted(p for p, held in zip(dropped, hashes_of(parents_view, dropped), strict=True) if held)
            # the draft's view with its own rows located: the same paths (a path set back to the parent's entry in
            # this process stays set, to that same entry)
            located: View = view.with_entries(own)
            before = dict(zip(own, hashes_of(parents_view, list(own)), strict=True))  # the parents' hash at each
            changes = (sorted(p for p, held in before.items() if held is None),
                       sorted(p for p, e in own.items() if before[p] is not None and before[p] != e.hash),
                       removed)
            delta = depth <= MAX_DELTA_DEPTH  # a path whose hash did not change is put only if it moved
            puts = {p: e for p, e in own.items() if before[p] != e.hash or parents_view.get(p) != e} if delta else {}
        if delta:
            return Built(Manifest("delta", list(record.parents), puts, removed), depth, located, changes)
        return Built(Manifest("full", [], located, []), 0, located, changes)  # encoded without a flat copy
    index = store.index()  # every entry is located: the whole index
    everything = {path: _located(record, store, index, path, entry) for path, entry in view.items()}
    return Built(Manifest("full", [], everything, []), 0, everything, diff_views(parents_view, everything))


def _set_paths(state: DraftState) -> list[str]:
    """The paths the draft's rows set (not remove): its current view holds each, with the row's entry."""
    return [p for p, r in state.rows.items() if r.hash is not None]


def _located(record: VersionRecord, store: ObjectStore, index: Mapping[str, Location], path: str,
             entry: ManifestEntry) -> ManifestEntry:
    """``entry`` pointing where ``store`` holds its content (an external link has no stored location)."""
    if entry.link:
        return entry
    loc = index.get(entry.hash)
    if loc is None:  # added by another process after this one's upload (or its pack just vanished)
        raise ConflictError(
            f"dataset {record.id} changed while it was being finalized: {path!r} is not stored (added by another "
            "process after the upload?); call finalize() again (with auto_upload=True it is uploaded first)")
    if loc.codec != Codec.ZSTD:  # compressed (W1 locates 100,000 so) has no chunks and no block table
        if not store.chunks_present(entry.hash, loc):  # a collection removed its chunks: the copy stored again
            loc = store.alternative(entry.hash, loc) or loc
        table = store.block_table_of(entry.hash, loc)
        if table:
            return located_at(entry, loc, table)
    return located_at(entry, loc, entry.blocks if entry.pack == loc.pack else "")


def publish_manifest(ctx: Context, store: ObjectStore, version_id: str, manifest: Manifest, view: View,
                     commit: Callable[[str], None]) -> str:
    """Write the manifest of version ``version_id`` (whose whole view is ``view``) and ``commit`` it to the
    catalog; return the manifest's hash.

    Safe against garbage collection on any machine sharing the store: the packs and the manifest are pinned
    before the packs are checked (after any running collection ends) and until the commit is done, and the
    version's ref is written before the commit. The encoder checks the manifest's paths once more (a full
    manifest's whole view; a delta's view was checked by the view loader, with the draft), so an invalid path
    never becomes final.
    """
    try:
        data = encode_manifest(manifest)
    except PathError as exc:
        raise InvalidDatasetPathError(f"dataset {version_id}: {exc}; nothing was finalized",
                                      dataset_path=exc.path) from exc
    manifest_hash = hash_bytes(data)
    # a delta's inherited entries are kept by its parents; a full manifest (a squash has no parents) names and
    # keeps exactly the packs its entries use, even when its view is an overlay over another store's columns
    full = manifest.kind == "full"
    packs = packs_of(view, exact=full) | chunk_packs_of(store, view, own=not full)
    with pinned(store.storage, packs, [manifest_hash]):
        check_packs_exist(store, view, packs)
        store.put_encoded_manifest(manifest_hash, data)
        write_ref(store.storage, version_id, manifest_hash)
        commit(manifest_hash)  # on failure the ref stays (it only keeps bytes); gc drops stale refs, unpinned
    return manifest_hash


def packs_of(view: View, *, exact: bool = False) -> set[str]:
    """The packs ``view``'s stored entries are in. Of an overlay, without ``exact``: also the packs of the base's
    removed or replaced entries (a delta's parents keep them, and it costs nothing for millions of rows); with
    it, only the packs its entries use."""
    if isinstance(view, EntryColumns):
        return view.pack_names()
    if isinstance(view, Overlay):
        own = {e.pack for e in view.changed.values() if e.pack and not e.link}
        if not exact:
            return packs_of(view.base) | own
        if isinstance(view.base, EntryColumns):
            return view.base.pack_names((*view.removed, *view.changed)) | own
    return {e.pack for e in view.values() if e.pack and not e.link}


def chunked_entries(view: View, *, own: bool = False) -> list[ManifestEntry]:
    """The chunked files of ``view`` (``own``: only those a child's overlay brings itself; inherited ones are
    kept through its parents, which are live versions)."""
    if isinstance(view, Overlay):
        mine = [e for e in view.changed.values() if e.codec == Codec.CHUNKS]
        if own:
            return mine
        if isinstance(view.base, EntryColumns):  # inherited: not overridden, not removed
            return mine + [e for p, e in view.base.with_codec(Codec.CHUNKS) if p not in view.changed and p in view]
        return [e for e in view.values() if e.codec == Codec.CHUNKS]
    if isinstance(view, EntryColumns):
        return [e for _, e in view.with_codec(Codec.CHUNKS)]
    return [e for e in view.values() if e.codec == Codec.CHUNKS]


def chunk_packs_of(store: ObjectStore, view: View, *, own: bool) -> set[str]:
    """The packs holding the chunks of the chunked files ``view`` brings itself (``own``: an overlay's changes
    only; else all of its chunked files). Reads their recipes: IntegrityError for a damaged one, so no version
    is finalized over it."""
    return {pack for e in chunked_entries(view, own=own) if e.pack and not e.link
            for pack in store.chunk_packs(e.hash, e.location)}


def chunk_bytes(store: ObjectStore, view: View) -> int:
    """The stored bytes of the chunks of ``view``'s chunked files, each chunk once (beyond their recipes,
    which the entries' own lengths count)."""
    seen: dict[tuple[str, int], int] = {}
    for entry in {(e.hash, e.pack): e for e in chunked_entries(view) if e.pack and not e.link}.values():
        chunks = store.recipe(entry.hash, entry.location).chunks()
        seen.update(((loc.pack, loc.offset), loc.length) for _, loc in chunks)
    return sum(seen.values())


def unstored(view: View) -> list[str]:
    """Paths of ``view`` whose entry is neither stored nor an external link (damaged or hostile data)."""
    if isinstance(view, EntryColumns):
        return view.unstored()
    if isinstance(view, Overlay) and isinstance(view.base, EntryColumns):
        inherited = [p for p in view.base.unstored() if p in view and p not in view.changed]
        return inherited + [p for p, e in view.changed.items() if not e.pack and not e.link]
    return [p for p, e in view.items() if not e.pack and not e.link]


def check_packs_exist(store: ObjectStore, view: View, packs: set[str]) -> None:
    """Make sure every entry of the view is stored (or a link) and every pack it needs (``packs``: those its
    entries point at and those holding its own chunked files' chunks) is still in the store (a collection may
    have run)."""
    lost = unstored(view)
    if lost:
        raise ObjectMissingError(
            f"{lost[0]!r} (and {len(lost) - 1} more) has no stored content: its parent's manifest or a catalog row is "
            "damaged or hostile. Nothing was finalized; run `satchel check` on the store",
            object_key="", content_hash="", dataset_path=lost[0])
    for pack in sorted(packs):
        if store.storage.head(pack_key(pack)) is None:
            store.forget_index()
            raise ObjectMissingError(
                f"pack {store.url}/{pack_key(pack)} is gone from the store (deleted by a collection?); call upload() "
                "again to store the missing content, then finalize()",
                object_key=pack_key(pack),
                content_hash=pack,
            )


def _flat_totals(entries: list[ManifestEntry]) -> tuple[int, int, int]:
    """(total size, stored size with each stored object counted once, external links) of ``entries``, at C speed
    (a first version's 100,000 entries)."""
    total = sum(map(attrgetter("size"), entries))
    links = sum(map(bool, map(attrgetter("link"), entries)))
    stored = [e for e in entries if not e.link] if links else entries
    keys = zip(map(attrgetter("pack"), stored), map(attrgetter("offset"), stored), strict=True)
    objects = dict(zip(keys, map(attrgetter("length"), stored), strict=True))  # the last row naming one gives it
    return total, sum(objects.values()), links


def version_stats(parents_view: View, view: View, changes: tuple[list[str], list[str], list[str]] | None = None,
                  store: ObjectStore | None = None) -> dict[str, int]:
    """Statistics kept with a finalized version so listings never recompute them. ``changes``: its (added,
    modified, removed) paths against ``parents_view`` when the caller knows them. ``store``: where the version is
    stored, whose chunked files' chunks count in ``stored_size`` (read from their recipes)."""
    summary = None
    if isinstance(view, EntryColumns):
        summary = view.summary()
    elif isinstance(view, Overlay) and isinstance(view.base, EntryColumns):
        summary = view.base.summary(view.changed, view.removed)
    if summary is not None:
        total, stored, links = summary.total_size, summary.stored_size, summary.link_count
    else:
        total, stored, links = _flat_totals(list(view.values()))  # an overlay's entries are built once
    if store is not None:
        stored += chunk_bytes(store, view)
    counts = {"file_count": len(view), "total_size": total, "stored_size": stored, "link_count": links}
    if changes is None and not parents_view:  # a flat version (a first version, a squash): everything is added
        return counts | {"added": len(view), "modified": 0, "removed": 0, "added_bytes": total, "modified_bytes": 0,
                         "removed_bytes": 0}
    added, modified, removed = changes if changes is not None else diff_views(parents_view, view)
    return counts | {
        "added": len(added),
        "modified": len(modified),
        "removed": len(removed),
        "added_bytes": sum(view[p].size for p in added),
        "modified_bytes": sum(view[p].size for p in modified),
        "removed_bytes": sum(size for size in sizes_of(parents_view, removed) if size is not None),
    }
