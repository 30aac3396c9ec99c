"""Moving a dataset to another project copies its content to that project's store.

Each project's store is readable only by tokens granted the project, so a moved version must not keep pointing
at its old project's store (that would open the whole store to the new project's tokens, or leave the version
unreadable to them). Before the catalog moves the versions, every finalized version's manifest, packs and
indexes (for a chunked file, the packs of its chunks and of the recipes it copies rows from too) are copied
(streamed, create-if-absent) to the new store and given a ref there; after the move each version is pointed at
the new store. A failure before the move leaves only extra copies, which gc frees.
"""

from __future__ import annotations

import uuid

from satchel.catalog.base import VersionRecord
from satchel.dataset.lifecycle import chunk_packs_of
from satchel.objects import Codec, ObjectStore
from satchel.objects.blocks import blocks_key
from satchel.objects.manifest import manifest_key
from satchel.objects.packs import index_key, pack_key
from satchel.objects.refs import write_ref
from satchel.server.state import ServerState
from satchel.storage.server import namespace_from_url, namespace_url


def copy_for_move(state: ServerState, records: list[VersionRecord], new_project: str) -> dict[str, str]:
    """Copy the content of ``records`` stored on the server to ``new_project``'s store; return version id -> the
    storage URL to record once the versions are moved."""
    target_url = namespace_url(new_project)
    target = state.store(namespace_from_url(target_url))
    relocated: dict[str, str] = {}
    for record in records:
        url = record.storage_url
        if not url or not url.startswith("server://") or url == target_url:
            continue
        source = state.store(namespace_from_url(url))
        if record.is_final and record.manifest:
            manifest = source.get_manifest(record.manifest)
            stored = [e for e in manifest.entries.values() if e.pack and not e.link]
            # a chunked file's chunks (and the recipes it copies rows from) first, then what the entries name
            chunk_packs = chunk_packs_of(source, manifest.entries, own=True)
            if chunk_packs:
                target.require_format(2)
            for pack in [*sorted(chunk_packs), *sorted({e.pack for e in stored} - chunk_packs)]:
                _copy(state, source, target, pack_key(pack))
                _copy(state, source, target, index_key(pack))
            for table in sorted({e.blocks for e in stored if e.blocks and e.codec == Codec.RAW}):
                _copy(state, source, target, blocks_key(table))
            _copy(state, source, target, manifest_key(record.manifest))
            write_ref(target.storage, record.id, record.manifest)
        relocated[record.id] = target_url
    return relocated


def _copy(state: ServerState, source: ObjectStore, target: ObjectStore, key: str) -> None:
    if target.storage.head(key) is not None:
        return
    size = source.storage.head(key)
    if size is None:
        return  # nothing to copy (a damaged store): the version reads as it did before
    if target.storage.head("satchel-store.json") is None:
        target.check_format(create=True)
    tmp = state.tmp_dir / f"move-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as out:
            for chunk in source.storage.iter_range(key, 0, size, 8 << 20):
                out.write(chunk)
        target.storage.put_file(key, tmp, consume=True)
    finally:
        tmp.unlink(missing_ok=True)
