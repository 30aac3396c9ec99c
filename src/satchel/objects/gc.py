"""Garbage collection of a store: delete packs and manifests that nothing live refers to.

Live is: every manifest the caller names (the dataset layer knows its catalog's finalized versions), every
manifest a ref in the store names (versions of any catalog sharing the store), every manifest and pack a
writer's pin names, and content hashes the caller's drafts still need (any pack holding them stays). Every
(pack, hash) pair a live manifest's entries point at is live; a delta's inherited entries are live through
its parents, which are live versions themselves. So no view is merged: each live manifest is read once. The
chunks a kept chunked file's recipe names are live too, and so are the recipes it copies rows from
(objects/chunks.py).

A collection holds a lease (``locks/gc/``) from before it reads pins and the caller's live set until its
last deletion; writers wait for it (see :mod:`satchel.objects.refs` and docs/format.md). A pack is deleted
only when none of its entries is live, no pin names it, and it is older than ``grace_seconds``; its index goes
first, so no reader ever finds an index whose pack is gone. Manifests younger than ten minutes are kept too.
Packs with some dead entries are kept whole and their dead bytes reported (reclaiming them needs a repack,
which rewrites manifests: not done yet). A manifest that a live version needs and that cannot be read stops
the collection (IntegrityError): what it points at cannot be known, so nothing is deleted.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from satchel.errors import IntegrityError, ObjectMissingError, StorageNotFoundError
from satchel.objects.codec import Codec
from satchel.objects.manifest import manifest_key
from satchel.objects.packs import Location, index_key, list_packs, pack_key
from satchel.objects.refs import CollectionLease, Pins, read_pins, read_refs, ref_key
from satchel.objects.store import ObjectStore
from satchel.storage.base import ObjectInfo

log = logging.getLogger(__name__)
MANIFEST_GRACE_SECONDS = 600.0


@dataclass
class LiveSet:
    """What the caller knows must survive: manifests of its finalized versions, hashes its drafts need, and refs
    it knows to be stale (a version of its catalog that is a draft, or final with another manifest).
    ``locations`` (pack, hash) are added by the collection from the live manifests."""

    manifests: set[str] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    stale_refs: set[tuple[str, str]] = field(default_factory=set)
    locations: set[tuple[str, str]] = field(default_factory=set)
    chunked: set[tuple[str, Location]] = field(default_factory=set)
    """(hash, location) of the chunked files the live manifests name, added by the collection."""


Indexes = dict[str, dict[str, Location] | None]


@dataclass
class GcReport:
    """What a collection freed (or would free, on a dry run)."""

    packs_deleted: int = 0
    manifests_deleted: int = 0
    bytes_freed: int = 0
    dead_bytes_kept: int = 0
    packs_kept: int = 0
    damaged_indexes_kept: int = 0
    missing_manifests: int = 0
    stale_refs_deleted: int = 0



def collect_garbage(store: ObjectStore, live_of: Callable[[dict[str, set[str]]], LiveSet], *,
                    dry_run: bool = False, grace_seconds: float = 0.0) -> GcReport:
    """Delete unreferenced packs, manifests and stale refs of ``store``; return the report. ``live_of(refs)`` is
    called once the collection's lease is held (so any writer that commits after it has pinned what it needs),
    with the store's refs (version id -> manifest hashes)."""
    lease = contextlib.nullcontext() if dry_run else CollectionLease(store.storage)
    report = GcReport()
    with lease:
        first = read_pins(store.storage, clean=not dry_run)
        refs = read_refs(store.storage)
        live = live_of(refs)
        live.manifests.update(m for v, ms in refs.items() for m in ms if (v, m) not in live.stale_refs)
        _add_locations(store, live, report)
        packs, listed = list_packs(store.storage)
        indexes = _read_indexes(store, listed, report)
        # A live entry its pack no longer serves (the pack is gone, or a repair dropped the entry): readers fall
        # back to any other stored copy of that content, so every copy of it is live.
        live.hashes.update(h for p, h in live.locations if h not in (indexes.get(p) or {}))
        second = read_pins(store.storage, clean=False)
        pinned = Pins(first.packs | second.packs, first.manifests | second.manifests)
        _add_chunks(store, indexes, live, pinned)
        fallback = {h for p, h in live.locations if h not in (indexes.get(p) or {})} - live.hashes
        if fallback:  # chunks whose pack no longer serves them: their other copies (chunked files among them)
            live.hashes.update(fallback)
            _add_chunks(store, indexes, live, pinned)
        check = lease.check if isinstance(lease, CollectionLease) else None
        _delete_stale_refs(store, live.stale_refs, pinned, report, check)
        _collect_packs(store, packs, listed, indexes, live, pinned, report, check, time.time() - grace_seconds)
        _collect_manifests(store, live.manifests | pinned.manifests, report, check,
                           time.time() - max(grace_seconds, MANIFEST_GRACE_SECONDS))
    if not dry_run:
        store.forget_index()
    return report


def _add_locations(store: ObjectStore, live: LiveSet, report: GcReport) -> None:
    """Every (pack, hash) the live manifests point at. A manifest that is gone is skipped (its version is broken
    already, see `satchel check`); one that cannot be read stops the collection (IntegrityError)."""
    for manifest_hash in sorted(live.manifests):
        try:
            manifest = store.get_manifest(manifest_hash)
        except ObjectMissingError:
            log.warning("manifest %s of a live version is missing from %s; see `satchel check`", manifest_hash,
                        store.url)
            report.missing_manifests += 1
            continue
        live.locations.update((e.pack, e.hash) for e in manifest.entries.values() if e.pack and not e.link)
        live.chunked.update((e.hash, e.location) for e in manifest.entries.values()
                            if e.codec == Codec.CHUNKS and e.pack and not e.link)


def _add_chunks(store: ObjectStore, indexes: Indexes, live: LiveSet, pinned: Pins) -> None:
    """The chunks of every chunked file kept (a live entry, a live hash, or a pinned pack's) are live: each
    such file's recipe is read. One that cannot be read stops the collection (IntegrityError): what it points
    at cannot be known, so nothing is deleted (see `satchel check`)."""
    kept = [(h, loc, True) for h, loc in sorted(live.chunked)]  # read where the manifest says (its index
    for pack_id, records in sorted(indexes.items()):             # may be damaged), then every kept index entry
        for content_hash, location in sorted((records or {}).items()):
            if location.codec == Codec.CHUNKS and ((pack_id, content_hash) in live.locations
                                                   or content_hash in live.hashes or pack_id in pinned.packs):
                kept.append((content_hash, location, False))
    for content_hash, location, from_manifest in kept:
        try:
            recipe = store.recipe(content_hash, location)
        except ObjectMissingError:
            if from_manifest:  # its pack is gone: readers use another copy, which the index entries cover
                continue
            raise
        except IntegrityError as exc:
            raise IntegrityError(
                f"{exc}. Nothing was collected: its chunks cannot be told from garbage. Run `satchel check "
                "--read-data --repair` on the store first", object_key=pack_key(location.pack),
                content_hash=content_hash) from exc
        live.locations.update((loc.pack, h) for h, loc in recipe.chunks())
        live.locations.update((loc.pack, h) for h, loc in recipe.bases)  # read to expand it


def _read_indexes(store: ObjectStore, listed: dict[str, ObjectInfo], report: GcReport) -> Indexes:
    """pack id -> its index records (None when the index is damaged: then its pack is kept). Local copies of
    indexes are used where they are current, as for any reader."""
    indexes: Indexes = {}
    for pack_id, info in listed.items():
        try:
            indexes[pack_id] = store.load_index(pack_id, info.size)
        except StorageNotFoundError:
            continue  # deleted meanwhile
        except IntegrityError as exc:
            log.warning("%s; its pack is kept", exc)
            report.damaged_indexes_kept += 1
            indexes[pack_id] = None
    return indexes


def _delete_stale_refs(store: ObjectStore, stale: set[tuple[str, str]], pinned: Pins, report: GcReport,
                       check: Callable[[], None] | None) -> None:
    for version_id, manifest_hash in sorted(stale):
        if manifest_hash in pinned.manifests:
            continue  # a finalize of that version is in flight
        report.stale_refs_deleted += 1
        if check is not None:
            check()
            store.storage.delete(ref_key(version_id, manifest_hash))


def _collect_packs(store: ObjectStore, packs: dict[str, ObjectInfo], listed: dict[str, ObjectInfo],
                   indexes: Indexes, live: LiveSet, pinned: Pins, report: GcReport, check: Callable[[], None] | None,
                   cutoff: float) -> None:
    for pack_id, records in indexes.items():
        pack_info = packs.get(pack_id)
        if records is None:
            continue
        live_entries = {h for h in records if (pack_id, h) in live.locations or h in live.hashes}
        young = pack_info is not None and pack_info.modified is not None and pack_info.modified > cutoff
        if live_entries or young or pack_id in pinned.packs:
            report.packs_kept += 1
            report.dead_bytes_kept += sum(loc.length for h, loc in records.items() if h not in live_entries)
            continue
        report.packs_deleted += 1
        report.bytes_freed += listed[pack_id].size + (pack_info.size if pack_info else 0)
        if check is not None:
            check()
            store.storage.delete(index_key(pack_id))
            store.storage.delete(pack_key(pack_id))


def _collect_manifests(store: ObjectStore, live: set[str], report: GcReport, check: Callable[[], None] | None,
                       cutoff: float) -> None:
    for info in list(store.storage.list("manifests/")):
        manifest_hash = info.key.rsplit("/", 1)[-1]
        young = info.modified is not None and info.modified > cutoff
        if manifest_hash in live or young:
            continue
        report.manifests_deleted += 1
        report.bytes_freed += info.size
        if check is not None:
            check()
            store.storage.delete(manifest_key(manifest_hash))
