"""Squash: one flat version (no parents) from one or several versions, without moving stored bytes
that the target store already holds."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from satchel.catalog import DraftRow, VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.lifecycle import large_in_flight, packs_in_flight, publish_manifest, version_stats
from satchel.dataset.overlay import Overlay, relabeled
from satchel.dataset.upload import UploadItem, store_items
from satchel.dataset.view import View
from satchel.errors import DatasetNotFinalizedError, InvalidArgumentError
from satchel.objects import Manifest, ManifestEntry
from satchel.objects.codec import ZSTD_LEVEL


@dataclass
class Sourced:
    """A squashed view and where its entries' locations point: into ``home``, except for the paths of
    ``elsewhere`` (path -> storage URL). Kept apart so that the common case (one store) costs no per-entry
    bookkeeping."""

    view: MutableMapping[str, ManifestEntry]
    home: str
    elsewhere: dict[str, str] = field(default_factory=dict)

    def url(self, path: str) -> str:
        """The storage URL that ``path``'s location points into."""
        return self.elsewhere.get(path, self.home)


def squashed_view(ctx: Context, records: list[VersionRecord]) -> Sourced:
    """The first version's view, then each next version's own changes (removals included), in order."""
    if not records:
        raise InvalidArgumentError("squash needs at least one dataset: pass dataset_ids or "
                                   "dataset_project_name_pairs")
    for record in records:
        if not record.is_final:
            raise DatasetNotFinalizedError(
                f"dataset {record.id} is not finalized; finalize() it before squashing", dataset_id=record.id
            )
    first = records[0]
    result = Sourced(Overlay(ctx.views.view(first)), str(first.storage_url))
    for record in records[1:]:
        view, url = ctx.views.view(record), str(record.storage_url)
        added, modified, removed = ctx.views.changes(record)
        for path in removed:
            result.view.pop(path, None)
            result.elsewhere.pop(path, None)
        for path in (*added, *modified):
            result.view[path] = view[path]
            if url == result.home:
                result.elsewhere.pop(path, None)
            else:
                result.elsewhere[path] = url
    return result


def relocate(ctx: Context, sourced: Sourced, target_url: str, new_id: str, max_workers: int) -> View:
    """Entries located in ``target_url``, each with ``new_id`` as its origin; content only elsewhere is copied
    there first. Columns stay columns, under an overlay of the changes: no flat copy is built (the manifest
    encoder streams the overlay's columns)."""
    store = ctx.store(target_url)
    candidates = sourced.elsewhere if sourced.home == store.url else sourced.view
    foreign = {path: sourced.view[path] for path in candidates
               if sourced.url(path) != store.url and not sourced.view[path].link}
    located = relabeled(sourced.view, new_id)
    if not foreign:
        return located
    ctx.catalog.change_draft(new_id, [DraftRow(path, e.hash, e.size) for path, e in sorted(foreign.items())])
    # the draft's rows keep this content alive against a concurrent collection
    index = store.index()
    copies: dict[str, UploadItem] = {}
    for path, entry in foreign.items():
        if entry.hash not in index and entry.hash not in copies:
            copies[entry.hash] = UploadItem(entry.hash, entry.size, path, source_store=ctx.store(sourced.url(path)),
                                            source_location=entry.location)
    if copies:
        store_items(store, list(copies.values()), level=ZSTD_LEVEL, chunk_bytes=64 << 20,
                    max_workers=max_workers, on_bytes=lambda _n: None,
                    packs_in_flight=packs_in_flight(store, max_workers),
                    large_in_flight=large_in_flight(store, max_workers))
        index = store.index()
    moved = {}
    for path, entry in foreign.items():
        loc = index[entry.hash]
        moved[path] = ManifestEntry(entry.hash, entry.size, new_id, loc.pack, loc.offset, loc.length, loc.codec,
                                    blocks=store.block_table_of(entry.hash, loc))
    return Overlay(located, moved)


def finalize_flat(ctx: Context, record: VersionRecord, view: View, target_url: str) -> dict[str, Any]:
    """Write a full manifest for ``view`` and complete ``record``; return its stats."""
    store = ctx.store(target_url)
    ctx.catalog.set_storage(record.id, store.url)
    stats = version_stats({}, view, store=store)
    publish_manifest(ctx, store, record.id, Manifest("full", [], view, []), view, lambda manifest_hash: (
        ctx.catalog.finalize_version(record.id, manifest=manifest_hash, storage_url=store.url, depth=0, stats=stats)))
    return stats


def open_flat(ctx: Context, record: VersionRecord, view: View, target_url: str) -> None:
    """Give the draft ``record`` the files of ``view`` as its pending changes (their content is stored in
    ``target_url`` already, so finalizing uploads nothing); ``squash(close_squashed_dataset=False)``."""
    ctx.catalog.set_storage(record.id, ctx.store(target_url).url)
    ctx.catalog.change_draft(record.id, [DraftRow(path, e.hash, e.size, link=e.link or None)
                                         for path, e in sorted(view.items())])
