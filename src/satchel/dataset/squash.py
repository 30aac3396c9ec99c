"""Squash: one flat version (no parents) from one or several versions, without moving stored bytes
that the target store already holds."""

from __future__ import annotations

from typing import Any

from satchel.catalog import DraftRow, VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.lifecycle import large_in_flight, packs_in_flight, publish_manifest, version_stats
from satchel.dataset.upload import UploadItem, store_items
from satchel.dataset.view import View
from satchel.errors import DatasetNotFinalizedError, InvalidArgumentError
from satchel.objects import Manifest, ManifestEntry
from satchel.objects.codec import ZSTD_LEVEL

Sourced = dict[str, tuple[ManifestEntry, str]]


def squashed_view(ctx: Context, records: list[VersionRecord]) -> Sourced:
    """The first version's view, then each next version's own changes (removals included), in order.

    Values carry the storage URL the entry's location points into.
    """
    if not records:
        raise InvalidArgumentError("squash needs at least one dataset: pass dataset_ids or "
                                   "dataset_project_name_pairs")
    for record in records:
        if not record.is_final:
            raise DatasetNotFinalizedError(
                f"dataset {record.id} is not finalized; finalize() it before squashing", dataset_id=record.id
            )
    first = records[0]
    result: Sourced = {p: (e, str(first.storage_url)) for p, e in ctx.views.view(first).items()}
    for record in records[1:]:
        view = ctx.views.view(record)
        added, modified, removed = ctx.views.changes(record)
        for path in removed:
            result.pop(path, None)
        for path in (*added, *modified):
            result[path] = (view[path], str(record.storage_url))
    return result


def relocate(ctx: Context, sourced: Sourced, target_url: str, new_id: str, max_workers: int) -> View:
    """Entries located in ``target_url``; content only elsewhere is copied there first."""
    store = ctx.store(target_url)
    foreign = {(path, entry.hash, entry.size) for path, (entry, url) in sourced.items()
               if url != store.url and not entry.link}
    if foreign:  # drafts' rows keep this content alive against a concurrent collection
        ctx.catalog.change_draft(new_id, [DraftRow(path, h, size) for path, h, size in sorted(foreign)])
    index = store.index()
    copies: dict[str, UploadItem] = {}
    for path, (entry, url) in sourced.items():
        if url != store.url and not entry.link and entry.hash not in index and entry.hash not in copies:
            copies[entry.hash] = UploadItem(entry.hash, entry.size, path, source_store=ctx.store(url),
                                            source_location=entry.location)
    if copies:
        store_items(store, list(copies.values()), level=ZSTD_LEVEL, chunk_bytes=64 << 20,
                    max_workers=max_workers, on_bytes=lambda _n: None,
                    packs_in_flight=packs_in_flight(store, max_workers),
                    large_in_flight=large_in_flight(store, max_workers))
        index = store.index()
    located: View = {}
    for path, (entry, url) in sourced.items():
        if url == store.url or entry.link:
            located[path] = entry._replace(origin=new_id)
        else:
            loc = index[entry.hash]
            located[path] = ManifestEntry(entry.hash, entry.size, new_id, loc.pack, loc.offset, loc.length,
                                          loc.codec, blocks=store.block_table_of(entry.hash, loc))
    return located


def finalize_flat(ctx: Context, record: VersionRecord, view: View, target_url: str) -> dict[str, Any]:
    """Write a full manifest for ``view`` and complete ``record``; return its stats."""
    store = ctx.store(target_url)
    ctx.catalog.set_storage(record.id, store.url)
    stats = version_stats({}, view)
    publish_manifest(ctx, store, record.id, Manifest("full", [], view, []), view, lambda manifest_hash: (
        ctx.catalog.finalize_version(record.id, manifest=manifest_hash, storage_url=store.url, depth=0, stats=stats)))
    return stats


def open_flat(ctx: Context, record: VersionRecord, view: View, target_url: str) -> None:
    """Give the draft ``record`` the files of ``view`` as its pending changes (their content is stored in
    ``target_url`` already, so finalizing uploads nothing); ``squash(close_squashed_dataset=False)``."""
    ctx.catalog.set_storage(record.id, ctx.store(target_url).url)
    ctx.catalog.change_draft(record.id, [DraftRow(path, e.hash, e.size, link=e.link or None)
                                         for path, e in sorted(view.items())])
