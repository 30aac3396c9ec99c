"""What the server checks before it records a manifest (finalize, flatten): the manifest is in its store and
decodes (paths checked), its lineage is the version's, and every file it lists is stored with the size it
claims. The statistics recorded are the server's own, computed from that view.

Versions stored elsewhere (an ``output_uri`` on S3, GCS, Azure or a folder the client writes directly) are
recorded as the client reports them: the server cannot read those stores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from satchel.catalog.base import STATUS_COMPLETED, VersionRecord
from satchel.dataset.lifecycle import version_stats
from satchel.dataset.view import ViewLoader, merge_views
from satchel.errors import IntegrityError, InvalidArgumentError, StorageNotFoundError
from satchel.objects import ObjectStore
from satchel.objects.packs import index_key, pack_key
from satchel.server.state import ServerState
from satchel.storage.server import namespace_from_url


class _Elsewhere(Exception):
    """A store the server does not hold."""


def checked_stats(state: ServerState, record: VersionRecord, manifest_hash: str, storage_url: str,
                  parents: tuple[str, ...]) -> dict[str, Any] | None:
    """The statistics of ``record`` finalized with ``manifest_hash`` in ``storage_url``, after checking it;
    IntegrityError (nothing recorded) when the manifest is missing, invalid or names content that is not stored.
    None when the version is stored outside the server."""
    if not storage_url.startswith("server://"):
        return None

    def open_store(url: str) -> ObjectStore:
        if not url.startswith("server://"):
            raise _Elsewhere(url)
        return state.store(namespace_from_url(url))

    store = open_store(storage_url)
    final = dataclasses.replace(record, status=STATUS_COMPLETED, manifest=manifest_hash, storage_url=storage_url,
                                parents=parents)
    loader = ViewLoader(state.catalog, open_store, keep=4)
    try:
        try:
            manifest = store.get_manifest(manifest_hash)
        except IntegrityError as exc:
            raise IntegrityError(f"dataset {record.id}: manifest {manifest_hash} cannot be used ({exc}); upload() "
                                 "again, then finalize()", object_key="", content_hash=manifest_hash,
                                 dataset_id=record.id) from exc
        if manifest.kind == "delta" and tuple(manifest.parents) != parents:
            raise IntegrityError(f"dataset {record.id}: its manifest names parents {manifest.parents}, not the "
                                 f"version's {list(parents)}; nothing was finalized", object_key="",
                                 content_hash=manifest_hash, dataset_id=record.id)
        view = loader.view(final)
        parents_view = merge_views(loader.view(state.catalog.get_version(p)) for p in parents)
    except _Elsewhere:
        return None
    except (StorageNotFoundError, ValueError) as exc:
        raise IntegrityError(f"dataset {record.id}: manifest {manifest_hash} cannot be used ({exc}); upload() "
                             "again, then finalize()", object_key="", content_hash=manifest_hash,
                             dataset_id=record.id) from exc
    _check_stored(store, record.id, view)
    return version_stats(parents_view, view, store=store)


def _check_stored(store: ObjectStore, version_id: str, view: Mapping[str, Any]) -> None:
    sizes: dict[str, int | None] = {}
    indexes: dict[str, dict[str, Any]] = {}
    for path, entry in view.items():
        if entry.link:
            continue
        if not entry.pack:
            raise InvalidArgumentError(f"dataset {version_id}: {path!r} is not stored; upload() first")
        if entry.pack not in sizes:
            sizes[entry.pack] = store.storage.head(pack_key(entry.pack))
            index_size = store.storage.head(index_key(entry.pack)) if sizes[entry.pack] is not None else None
            indexes[entry.pack] = store.load_index(entry.pack, index_size) if index_size is not None else {}
        location = indexes[entry.pack].get(entry.hash)
        if location is None or location != entry.location:
            what = "is not stored" if location is None else "is stored with another size or place"
            raise IntegrityError(f"dataset {version_id}: {path!r} ({entry.hash}, {entry.size} bytes) {what} in pack "
                                 f"{entry.pack}; upload() again, then finalize()", object_key=pack_key(entry.pack),
                                 content_hash=entry.hash, dataset_id=version_id, dataset_path=path)
