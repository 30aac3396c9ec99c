"""Garbage collection of a store: delete packs and manifests that nothing live refers to.

What is live is decided by the caller (the dataset layer knows versions and drafts): ``(pack, hash)`` pairs
that finalized manifests point at, content hashes that drafts still need (any pack holding them stays),
and manifest hashes. A pack is deleted only when none of its entries is live and it is older than
``grace_seconds`` (default 0: uploads and squashes in flight are protected by their drafts' rows, and
finalize re-checks that every pack it points at exists); its index goes first,
so no reader ever finds an index whose pack is gone. Manifests younger than ten minutes are always kept:
one may have been written by a finalize that has not committed its catalog row yet (finalize also writes
its manifest again after committing). Packs with some dead entries are kept whole and their
dead bytes reported (reclaiming them needs a repack, which rewrites manifests: not done yet).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from satchel.objects.manifest import manifest_key
from satchel.objects.packs import decode_index, index_key, pack_id_of_index_key, pack_key
from satchel.objects.store import ObjectStore

MANIFEST_GRACE_SECONDS = 600.0


@dataclass
class LiveSet:
    """Everything that must survive a collection."""

    locations: set[tuple[str, str]] = field(default_factory=set)
    hashes: set[str] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)


@dataclass
class GcReport:
    """What a collection freed (or would free, on a dry run)."""

    packs_deleted: int = 0
    manifests_deleted: int = 0
    bytes_freed: int = 0
    dead_bytes_kept: int = 0
    packs_kept: int = 0


def collect_garbage(store: ObjectStore, live: LiveSet, *, dry_run: bool = False,
                    grace_seconds: float = 0.0) -> GcReport:
    """Delete unreferenced packs and manifests of ``store``; return the report."""
    report = GcReport()
    cutoff = time.time() - grace_seconds
    listing = list(store.storage.list("packs/"))
    sizes = {info.key: info for info in listing}
    for info in listing:
        pack_id = pack_id_of_index_key(info.key)
        if pack_id is None:
            continue
        records = decode_index(pack_id, store.storage.get(info.key))
        live_entries = {h for h in records if (pack_id, h) in live.locations or h in live.hashes}
        pack_info = sizes.get(pack_key(pack_id))
        young = pack_info is not None and pack_info.modified is not None and pack_info.modified > cutoff
        if live_entries or young:
            report.packs_kept += 1
            report.dead_bytes_kept += sum(loc.length for h, loc in records.items() if h not in live_entries)
            continue
        report.packs_deleted += 1
        report.bytes_freed += info.size + (pack_info.size if pack_info else 0)
        if not dry_run:
            store.storage.delete(index_key(pack_id))
            store.storage.delete(pack_key(pack_id))
    for info in store.storage.list("manifests/"):
        manifest_hash = info.key.rsplit("/", 1)[-1]
        young = info.modified is not None and info.modified > min(cutoff, time.time() - MANIFEST_GRACE_SECONDS)
        if manifest_hash in live.manifests or young:
            continue
        report.manifests_deleted += 1
        report.bytes_freed += info.size
        if not dry_run:
            store.storage.delete(manifest_key(manifest_hash))
    if not dry_run:
        store.forget_index()
    return report
