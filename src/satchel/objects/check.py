"""Checking a store and repairing it (``satchel check [--read-data] [--repair]``), as ``restic check`` does.

Checked: every pack index parses, has its pack, and points inside it; every live manifest (the caller's, plus
the store's refs) exists, matches its hash, decodes, and every stored file it lists is in the index of the pack
it names, at the place it names. With ``read_data``: every pack's bytes match its id and every index entry
decodes to its content hash.

Repairs (each one reported):

* a damaged index is rebuilt from the live manifests' entries that point into its pack (each one read and
  verified first), or set aside under ``damaged/`` when none does;
* index entries that point outside their pack, or whose bytes are damaged, are dropped from the index (the old
  index is set aside), so their content counts as not stored: the next upload of that content stores it again,
  and readers use that new copy (a reader falls back to any other stored copy when the one its manifest names
  is damaged);
* content that is damaged or gone is stored again at once when ``restore`` finds a good local copy (the local
  cache); otherwise it is reported lost, with the versions and files that need it;
* a missing or damaged manifest is put back from this machine's verified local copy when there is one;
* a pack without index that no live manifest uses and older than a day (an upload killed between the two) is
  deleted.
Repairs never delete the only copy of anything a live manifest points at.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from satchel.errors import IntegrityError, ObjectMissingError, StorageNotFoundError
from satchel.objects import codec
from satchel.objects.chunks import CHUNKED_MIN_SIZE, Recipe
from satchel.objects.hashing import hash_bytes, hash_file, new_hasher
from satchel.objects.manifest import Manifest, ManifestEntry, decode_manifest, manifest_key
from satchel.objects.packs import (
    Location,
    decode_index,
    encode_index,
    fits,
    index_key,
    list_packs,
    pack_key,
)
from satchel.objects.refs import CollectionLease, read_pins
from satchel.objects.store import ObjectStore
from satchel.storage.base import ObjectInfo

log = logging.getLogger(__name__)
ORPHAN_AGE_SECONDS = 24 * 3600.0
_WHOLE_PACK = 128 << 20
_SHOWN = 5

Restore = Callable[[str], Path | None]
"""Given a content hash, a local file that may hold its bytes (it is verified before use), or None."""


@dataclass
class Problem:
    """One thing found wrong. ``affected``: (version id, dataset path) pairs that need it (the first few).
    ``actions``: what the repair did; ``lost``: content hashes it found no good copy of (``detail`` says what to
    do)."""

    kind: str
    key: str
    detail: str
    affected: list[tuple[str, str]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        """Nothing is left to do: a repair acted on it and lost nothing."""
        return bool(self.actions) and not self.lost


@dataclass
class CheckReport:
    """What a check saw and found."""

    store: str
    packs: int = 0
    manifests: int = 0
    entries: int = 0
    bytes_read: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong, or everything found was repaired."""
        return all(p.resolved for p in self.problems)


@dataclass
class _Live:
    """Live manifests, decoded, and where their entries point."""

    versions: dict[str, list[str]]
    manifests: dict[str, Manifest] = field(default_factory=dict)
    users: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)  # (pack, hash) -> uses
    by_pack: dict[str, dict[str, ManifestEntry]] = field(default_factory=dict)  # pack -> hash -> entry
    files_of: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)  # chunk -> chunked files
    files: set[tuple[str, str]] = field(default_factory=set)  # chunked files the manifests name
    copied_by: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict)  # base recipe -> files

    def add(self, manifest_hash: str, manifest: Manifest) -> None:
        self.manifests[manifest_hash] = manifest
        version = self.versions[manifest_hash][0]
        for path, entry in manifest.entries.items():
            if entry.pack and not entry.link:
                self.users.setdefault((entry.pack, entry.hash), []).append((version, path))
                self.by_pack.setdefault(entry.pack, {})[entry.hash] = entry

    def add_chunks(self, entry: ManifestEntry, recipe: Recipe) -> None:
        """The chunks of a live chunked entry, and the recipes it copies rows from (its bases), are live too, used
        where the entry is."""
        uses = self.users.get((entry.pack, entry.hash), [])
        file = (entry.pack, entry.hash)
        for chunk_hash, location in [*recipe.chunks(), *recipe.bases]:
            self.users.setdefault((location.pack, chunk_hash), []).extend(uses[:_SHOWN])
            self.by_pack.setdefault(location.pack, {})[chunk_hash] = ManifestEntry(
                chunk_hash, location.size, "", location.pack, location.offset, location.length, location.codec)
        for chunk_hash, location in recipe.chunks():
            self.files_of.setdefault((location.pack, chunk_hash), set()).add(file)
        for base_hash, location in recipe.bases:
            self.copied_by.setdefault((location.pack, base_hash), set()).add(file)

    def needing(self, pack: str, content_hash: str) -> set[tuple[str, str]]:
        """The chunked files that cannot be read without the object at (pack, hash): a chunk of theirs, or a
        recipe they copy rows from."""
        return self.files_of.get((pack, content_hash), set()) | self.copied_by.get((pack, content_hash), set())

    def chunked(self) -> dict[tuple[str, str], ManifestEntry]:
        """(pack, hash) -> entry of every live chunked file."""
        return {(pack, h): e for pack, entries in self.by_pack.items() for h, e in entries.items()
                if e.codec == codec.Codec.CHUNKS}

    def uses(self, pack: str, content_hash: str) -> list[tuple[str, str]]:
        return self.users.get((pack, content_hash), [])[:_SHOWN]

    def entries_in(self, pack: str) -> dict[str, ManifestEntry]:
        return self.by_pack.get(pack, {})


class Checker:
    """One check (and repair) of one store."""

    def __init__(self, store: ObjectStore, versions: dict[str, list[str]], *, read_data: bool, repair: bool,
                 restore: Restore) -> None:
        self.store = store
        self.storage = store.storage
        self.read_data = read_data
        self.repair = repair
        self.restore = restore
        self.report = CheckReport(store.url)
        self.live = _Live(versions)
        self.indexes: dict[str, dict[str, Location]] = {}
        self.restored: set[str] = set()
        self.lost: set[str] = set()
        self.flagged: set[tuple[str, str]] = set()  # (pack, hash or "*") already reported
        self.orphans: dict[str, Problem] = {}
        self.deferred: dict[str, dict[str, Location]] = {}  # pack -> chunked files, read once chunks are checked
        self.broken_files: set[tuple[str, str]] = set()  # (pack, hash) of chunked files a dropped chunk broke

    def problem(self, kind: str, key: str, detail: str, affected: list[tuple[str, str]] | None = None) -> Problem:
        found = Problem(kind, key, detail, affected or [])
        self.report.problems.append(found)
        log.warning("%s: %s %s: %s", self.store.url, kind, key, detail)
        return found

    # -- the walk ------------------------------------------------------------------------------------
    def run(self) -> CheckReport:
        self.store.check_format(create=False)
        self._load_manifests()
        packs, indexes = list_packs(self.storage)
        self.report.packs = len(packs)
        for pack_id in sorted(indexes):
            self._check_index(pack_id, packs.get(pack_id))
        for pack_id in sorted(set(packs) - set(indexes)):
            self._check_orphan(pack_id, packs[pack_id])
        if self.read_data or self.broken_files:
            self._check_chunked_files()
        self._check_manifest_entries()
        if self.orphans:
            self._delete_orphans()
        if self.repair:
            self.store.forget_index()
        return self.report

    def _load_manifests(self) -> None:
        for manifest_hash, versions in sorted(self.live.versions.items()):
            manifest = self._manifest(manifest_hash, versions)
            if manifest is not None:
                self.live.add(manifest_hash, manifest)
        self.report.manifests = len(self.live.manifests)
        self.report.entries = sum(len(m.entries) for m in self.live.manifests.values())
        self.live.files = set(self.live.chunked())
        for (pack, content_hash), entry in sorted(self.live.chunked().items()):
            try:
                recipe: Recipe | None = self.store.recipe(content_hash, entry.location)
            except (IntegrityError, ObjectMissingError) as exc:
                recipe = self._recipe_elsewhere(content_hash, entry.location)
                if recipe is None:
                    log.warning("%s: the chunk list of %s is unusable (%s)", self.store.url, content_hash, exc)
                    self.broken_files.add((pack, content_hash))  # reported, and stored again, with the files
            if recipe is not None:
                self.live.add_chunks(entry, recipe)

    def _recipe_elsewhere(self, content_hash: str, failed: Location) -> Recipe | None:
        """The recipe of another stored copy of a chunked file (what readers fall back to), or None."""
        other = self.store.alternative(content_hash, failed)
        if other is None or other.codec != codec.Codec.CHUNKS:
            return None
        try:
            return self.store.recipe(content_hash, other)
        except (IntegrityError, ObjectMissingError):
            return None

    def _manifest(self, manifest_hash: str, versions: list[str]) -> Manifest | None:
        key = manifest_key(manifest_hash)
        affected = [(v, "") for v in versions[:_SHOWN]]
        try:
            data = self.storage.get(key)
        except StorageNotFoundError:
            found = self.problem("missing manifest", key, "the manifest of a finalized version is gone", affected)
            return self._restore_manifest(manifest_hash, found)
        self.report.bytes_read += len(data)
        if hash_bytes(data) != manifest_hash:
            found = self.problem("damaged manifest", key, "the manifest does not match its hash", affected)
            return self._restore_manifest(manifest_hash, found)
        try:
            return decode_manifest(data)
        except ValueError as exc:
            self.problem("unreadable manifest", key, f"{exc}; it matches its hash, so it was written this way: "
                         "delete the versions that use it", affected)
            return None

    def _restore_manifest(self, manifest_hash: str, found: Problem) -> Manifest | None:
        local = self.store.cache_dir / "manifests" / manifest_hash
        data = local.read_bytes() if local.is_file() else None
        if data is None or hash_bytes(data) != manifest_hash:
            found.detail += "; no good local copy on this machine: restore it from a backup, or delete the versions"
            return None
        try:
            manifest = decode_manifest(data)
        except ValueError:
            return None
        if self.repair:
            self.storage.put(manifest_key(manifest_hash), data)
            found.actions.append("put back from this machine's local copy")
        else:
            found.detail += "; --repair puts back this machine's local copy"
        return manifest

    # -- indexes and packs -----------------------------------------------------------------------------
    def _check_index(self, pack_id: str, pack: ObjectInfo | None) -> None:
        key = index_key(pack_id)
        try:
            records = decode_index(pack_id, self.storage.get(key))
        except StorageNotFoundError:
            return  # deleted meanwhile (a collection)
        except ValueError as exc:
            self._rebuild_index(pack_id, pack, f"the index cannot be read ({exc})")
            return
        if pack is None:
            self.flagged.add((pack_id, "*"))
            found = self.problem("missing pack", pack_key(pack_id), f"the pack of index {key} is gone",
                                 self._uses(pack_id, records))
            self._drop_entries(pack_id, records, set(records), found, "its pack is gone")
            return
        outside = {h for h, loc in records.items() if not fits(loc, pack.size)}
        self.flagged.update((pack_id, h) for h in outside)
        if outside:
            found = self.problem("entries outside their pack", key, f"{len(outside)} index entries point past the "
                                 f"end of {pack_key(pack_id)}", self._uses(pack_id, records, outside))
            self._drop_entries(pack_id, records, outside, found, "they point outside the pack")
            records = {h: loc for h, loc in records.items() if h not in outside}
        if self.read_data and records:
            damaged = self._damaged_entries(pack_id, pack.size, records)
            self.flagged.update((pack_id, h) for h in damaged)
            if damaged:
                found = self.problem("damaged content", pack_key(pack_id), f"{len(damaged)} entries of the pack do "
                                     "not match their hash", self._uses(pack_id, records, damaged))
                self._drop_entries(pack_id, records, damaged, found, "their bytes are damaged")
                records = {h: loc for h, loc in records.items() if h not in damaged}
        self.indexes[pack_id] = records

    def _uses(self, pack_id: str, records: dict[str, Location], hashes: set[str] | None = None
              ) -> list[tuple[str, str]]:
        chosen = records if hashes is None else hashes
        return [use for h in chosen for use in self.live.uses(pack_id, h)][:_SHOWN]

    def _damaged_entries(self, pack_id: str, size: int, records: dict[str, Location]) -> set[str]:
        """Hashes whose stored bytes do not decode to them (chunked files are read after every chunk was
        checked: ``_check_chunked_files``)."""
        chunked = {h: loc for h, loc in records.items() if loc.codec == codec.Codec.CHUNKS}
        if chunked:
            self.deferred[pack_id] = chunked
            records = {h: loc for h, loc in records.items() if h not in chunked}
        if size > _WHOLE_PACK:
            return {h for h, loc in records.items() if not self._stream_ok(h, loc)}
        data = self.storage.get(pack_key(pack_id))
        self.report.bytes_read += len(data)
        return {h for h, loc in records.items() if not self._entry_ok(h, loc, data[loc.offset:loc.offset + loc.length])}

    @staticmethod
    def _entry_ok(content_hash: str, location: Location, payload: bytes) -> bool:
        try:
            data = codec.decode(location.codec, payload, location.size)
        except ValueError:
            return False
        return len(data) == location.size and hash_bytes(data) == content_hash

    def _check_chunked_files(self) -> None:
        """Assemble every live chunked file from its chunks (checked first, so a damaged chunk was dropped and a
        restored file stores it again); one that cannot be assembled is damaged content of its recipe's pack.
        Other recipes (one kept only as a base others copy rows from, whose own file may be gone) are decoded,
        not assembled. Files broken by what is dropped are handled in turn, until none is left."""
        handled: set[tuple[str, str]] = set()
        while True:
            todo = {pack: dict(found) for pack, found in self.deferred.items()}
            self.deferred = {}
            for pack, content_hash in self.broken_files - handled:
                entry = self.live.entries_in(pack).get(content_hash)
                if entry is not None and (pack, "*") not in self.flagged:
                    todo.setdefault(pack, {})[content_hash] = entry.location
            if not todo:
                return
            for pack_id, chunked in sorted(todo.items()):
                handled.update((pack_id, h) for h in chunked)
                damaged = {h for h, loc in chunked.items() if (pack_id, h) in self.broken_files
                           or not self._chunked_ok(pack_id, h, loc)}
                if damaged:
                    self._drop_chunked(pack_id, chunked, damaged)

    def _chunked_ok(self, pack: str, content_hash: str, location: Location) -> bool:
        if (pack, content_hash) in self.live.files:
            return self._assembles(content_hash, location)
        try:
            self.store.recipe(content_hash, location)
        except (IntegrityError, ObjectMissingError):
            return False
        return True

    def _drop_chunked(self, pack_id: str, chunked: dict[str, Location], damaged: set[str]) -> None:
        self.flagged.update((pack_id, h) for h in damaged)
        found = self.problem("damaged content", pack_key(pack_id), f"{len(damaged)} chunked files of the pack "
                             "cannot be assembled from their chunks (or their chunk lists cannot be read)",
                             self._uses(pack_id, chunked, damaged))
        self.store.forget_index()  # a restore must not reuse a chunk dropped from its index
        self._drop_entries(pack_id, self.indexes.get(pack_id, chunked), damaged, found,
                           "their chunks are damaged or gone")

    def _assembles(self, content_hash: str, location: Location) -> bool:
        try:
            for data in self.store.iter_verified(content_hash, location):
                self.report.bytes_read += len(data)
        except (IntegrityError, ObjectMissingError) as exc:
            log.debug("chunked file %s of %s: %s", content_hash, location.pack, exc)
            return False
        return True

    def _stream_ok(self, content_hash: str, location: Location) -> bool:
        if location.codec == codec.Codec.CHUNKS:
            return self._chunked_ok(location.pack, content_hash, location)
        hasher, written = new_hasher(), 0
        try:
            chunks = self.storage.iter_range(pack_key(location.pack), location.offset, location.length)
            for data in codec.stream_decode(location.codec, chunks, 8 << 20):
                written += len(data)
                if written > location.size:
                    return False
                hasher.update(data)
        except (zstandard.ZstdError, StorageNotFoundError) as exc:  # a storage outage is not damage: it raises
            log.debug("entry %s of %s: %s", content_hash, location.pack, exc)
            return False
        self.report.bytes_read += location.length
        return written == location.size and hasher.hexdigest() == content_hash

    def _rebuild_index(self, pack_id: str, pack: ObjectInfo | None, why: str) -> None:
        key = index_key(pack_id)
        wanted = self.live.entries_in(pack_id)
        self.flagged.add((pack_id, "*"))
        found = self.problem("damaged index", key, why, [use for h in wanted for use in
                                                        self.live.uses(pack_id, h)][:_SHOWN])
        good = {h: e.location for h, e in wanted.items()
                if pack is not None and fits(e.location, pack.size) and self._stream_ok(h, e.location)}
        if not self.repair:
            found.detail += (f"; --repair rebuilds it from the {len(good)} manifest entries that point into the "
                             "pack" if good else "; --repair sets it aside")
            return
        self._set_aside(key)
        for content_hash in sorted(set(wanted) - set(good)):
            self._restore_or_break(pack_id, content_hash, found)
        if good:
            self.storage.put(key, encode_index([(h, loc.offset, loc.length, loc.size, loc.codec)
                                                for h, loc in sorted(good.items())]))
            found.actions.append(f"rebuilt from {len(good)} verified manifest entries (the old index is in damaged/)")
            self.indexes[pack_id] = good
        else:
            found.actions.append("set aside in damaged/: nothing usable points into its pack")

    def _drop_entries(self, pack_id: str, records: dict[str, Location], bad: set[str], found: Problem,
                      why: str) -> None:
        if not self.repair:
            found.detail += f"; --repair drops them from the index ({why}) and stores again what it can"
            return
        key = index_key(pack_id)
        self._set_aside(key)
        kept = [(h, loc.offset, loc.length, loc.size, loc.codec) for h, loc in sorted(records.items()) if h not in bad]
        if kept:
            self.storage.put(key, encode_index(kept))
        else:
            self._set_aside(pack_key(pack_id))  # nothing usable left in it (and restoring may reuse its id)
        for content_hash in sorted(bad):
            self._restore_or_break(pack_id, content_hash, found)
        found.actions.append(f"dropped {len(bad)} entries from the index (the old index is in damaged/)")

    def _restore_or_break(self, pack_id: str, content_hash: str, found: Problem) -> None:
        """After the object at (pack, hash) was dropped: the chunked files that need it (a chunk of theirs, a
        recipe they copy from) are broken and stored again in turn; a file a manifest names is stored again."""
        needing = self.live.needing(pack_id, content_hash)
        if needing:
            self.broken_files.update(needing)
            found.actions.append(f"{content_hash[:16]} is stored again with the {len(needing)} chunked files that "
                                 "need it")
        if (pack_id, content_hash) in self.live.files or (not needing and self.live.uses(pack_id, content_hash)):
            self._restore_content(content_hash, found)

    def _restore_content(self, content_hash: str, found: Problem) -> None:
        """Store ``content_hash`` again from a verified local copy, else record it lost."""
        if content_hash in self.restored | self.lost:
            return
        source = self.restore(content_hash)
        if source is not None and source.is_file() and hash_file(str(source))[0] == content_hash:
            with open(source, "rb") as handle:
                pieces = iter(lambda: handle.read(8 << 20), b"")
                if source.stat().st_size >= CHUNKED_MIN_SIZE:
                    stored = self.store.write_chunked(pieces, codec.ZSTD_LEVEL)[0]
                else:
                    stored = self.store.write_stream(pieces, codec.ZSTD_LEVEL)[0]
            if stored == content_hash:
                self.restored.add(content_hash)
                found.actions.append(f"stored {content_hash[:16]} again from a local copy")
                return
        self.lost.add(content_hash)
        found.lost.append(content_hash)
        found.detail += (f"; content {content_hash[:16]} has no good copy here (it is lost from this store): add the "
                         "file to any new version and upload() it, and the versions that need it read the new copy")

    def _set_aside(self, key: str) -> None:
        """Move an object to ``damaged/<key>`` (kept for inspection, out of every reader's way); streamed through
        a temp file, so a large pack never sits in memory."""
        size = self.storage.head(key)
        if size is None:
            return
        target = f"damaged/{key}.{int(time.time())}"
        if size <= _WHOLE_PACK:
            self.storage.put(target, self.storage.get(key))
        else:
            temp = self.store.cache_dir / "tmp" / f"aside-{uuid.uuid4().hex}"
            temp.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open(temp, "wb") as out:
                    for chunk in self.storage.iter_range(key, 0, size):
                        out.write(chunk)
                self.storage.put_file(target, temp, consume=True)
            finally:
                temp.unlink(missing_ok=True)
        self.storage.delete(key)

    def _check_orphan(self, pack_id: str, pack: ObjectInfo) -> None:
        if self.live.entries_in(pack_id):
            self._rebuild_index(pack_id, pack, "the pack has no index")
        elif pack.modified is None or pack.modified < time.time() - ORPHAN_AGE_SECONDS:
            self._orphan(pack_id, pack.size)  # (a young one: an upload in flight writes the pack before its index)

    def _orphan(self, pack_id: str, size: int) -> None:
        found = self.problem("pack without index", pack_key(pack_id), f"{size} bytes nothing refers to (an upload "
                             "killed between a pack and its index)")
        if self.repair:
            self.orphans[pack_id] = found
        else:
            found.detail += "; --repair deletes it"

    def _delete_orphans(self) -> None:
        """Delete old packs without index, under a collection's lease and honouring pins, as ``gc`` does: a
        retried upload may be about to reuse one (a pack's id is its content)."""
        with CollectionLease(self.storage) as lease:
            pinned = read_pins(self.storage, clean=False).packs
            for pack_id, found in sorted(self.orphans.items()):
                if pack_id in pinned or self.storage.head(index_key(pack_id)) is not None:
                    found.actions.append("kept: an upload is using it again")
                    continue
                lease.check()
                self.storage.delete(pack_key(pack_id))
                found.actions.append("deleted")

    # -- manifests against indexes -----------------------------------------------------------------------
    def _check_manifest_entries(self) -> None:
        missing: dict[str, list[tuple[str, str]]] = {}
        for manifest_hash, manifest in self.live.manifests.items():
            version = self.live.versions[manifest_hash][0]
            for path, entry in manifest.entries.items():
                if entry.link or not entry.pack or {(entry.pack, "*"), (entry.pack, entry.hash)} & self.flagged:
                    continue
                if self.indexes.get(entry.pack, {}).get(entry.hash) != entry.location:
                    missing.setdefault(entry.hash, []).append((version, path))
        elsewhere = {h for records in self.indexes.values() for h in records} | self.restored | self.lost
        for content_hash, uses in sorted(missing.items()):
            if content_hash in elsewhere:
                continue  # readers fall back to the other stored copy (or it was reported already)
            found = self.problem("content not stored", content_hash, "a finalized version's file is in no index",
                                 uses[:_SHOWN])
            if self.repair:
                self._restore_content(content_hash, found)
                found.actions.append("looked for a local copy")
            else:
                found.detail += "; --repair stores it again from a local copy if there is one"


def check_store(store: ObjectStore, versions: dict[str, list[str]], *, read_data: bool = False,
                repair: bool = False, restore: Restore = lambda _h: None) -> CheckReport:
    """Check ``store`` (and repair it with ``repair``). ``versions``: manifest hash -> ids of the finalized
    versions using it (the caller's catalog and the store's refs)."""
    return Checker(store, versions, read_data=read_data, repair=repair, restore=restore).run()
