"""The content-addressed object store on top of one Storage.

Write order (docs/format.md): a pack, then its index; all indexes a manifest refers to, then the
manifest. A hash is "in the store" once an index lists it, so a reader never finds an index whose pack
is incomplete. Every read is verified against its content hash.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import zstandard
from blake3 import blake3

from satchel.errors import (
    IntegrityError,
    ObjectMissingError,
    StorageFormatError,
    StorageNotFoundError,
)
from satchel.objects import chunks as chunking
from satchel.objects import codec
from satchel.objects.blocks import TABLE_MIN_SIZE, BlockHasher, blocks_key
from satchel.objects.hashing import hash_bytes, is_content_hash, new_hasher
from satchel.objects.manifest import PATH_CHECKS, Manifest, decode_manifest, encode_manifest, manifest_key
from satchel.objects.packs import (
    PACK_MAGIC,
    Location,
    PackBuilder,
    decode_index,
    encode_index,
    find_in_index,
    fits,
    index_key,
    list_packs,
    pack_key,
)
from satchel.storage.base import ObjectInfo, Storage

log = logging.getLogger(__name__)

FORMAT_KEY = "satchel-store.json"
STORE_FORMAT = 2
"""Format 2 stores may hold chunked files (codec CHUNKS); a store is raised to it when the first one is written,
so a satchel that knows only format 1 (and would neither read nor keep chunks) refuses the store."""
_COALESCE_GAP = 1 << 20
_MAX_RANGE = 64 << 20
_STREAM_CHUNK = 8 << 20
_SAMPLE = 1 << 20
_REMOTE_RUNS_AHEAD = 2
"""Runs of a chunked file (up to 8 MiB each) requested ahead from an object store: two kept SeaweedFS as busy as
four (a 1 GiB get in 2.7-2.9 s either way) with 100 MB less resident when four files are fetched at once."""


class ObjectStore:
    """Blobs by content hash in packs, plus manifests, on ``storage``.

    ``cache_dir`` keeps local copies of immutable objects (indexes, manifests) so they are fetched once.
    """

    def __init__(self, storage: Storage, cache_dir: Path) -> None:
        self.storage = storage
        self.cache_dir = cache_dir
        self._index: dict[str, Location] = {}
        self._loaded: set[str] = set()
        self._lock = threading.Lock()
        self._format_checked = False
        self._format_version = 1
        self._recipes: dict[tuple[str, str], tuple[chunking.Recipe, str]] = {}  # with the stored hash
        self._tables: dict[tuple[str, str], str] = {}  # (content hash, pack) -> block table written here

    def block_table_of(self, content_hash: str, location: Location) -> str:
        """The hash of the block table (or, for a chunked file, of the recipe) this process wrote for the entry
        at ``location``, or "" (an entry stored by another process, or compressed, or small: read whole)."""
        if location.codec in (codec.Codec.RAW, codec.Codec.CHUNKS):
            return self._tables.get((content_hash, location.pack), "")
        return ""

    def remember_table(self, content_hash: str, location: Location, table_hash: str) -> None:
        """Note the table (or recipe) hash this process wrote for the entry at ``location``."""
        with self._lock:
            self._tables[(content_hash, location.pack)] = table_hash

    @property
    def url(self) -> str:
        """The storage URL."""
        return self.storage.url

    # -- format ----------------------------------------------------------------------------------
    def check_format(self, *, create: bool) -> None:
        """Verify the store's format file (write it first when ``create``)."""
        if self._format_checked:
            return
        if create:
            self.storage.put_if_absent(FORMAT_KEY, _format_document(1))
        try:
            info = json.loads(self.storage.get(FORMAT_KEY))
        except StorageNotFoundError:
            return
        except ValueError as exc:
            raise StorageFormatError(
                f"{self.url}/{FORMAT_KEY} is not a satchel format file; is this folder a satchel store?",
                url=self.url,
                key=FORMAT_KEY,
            ) from exc
        version = info.get("version") if isinstance(info, dict) else None
        if not isinstance(version, int) or version > STORE_FORMAT:
            raise StorageFormatError(
                f"store {self.url} has format {version!r}; this satchel reads format <= {STORE_FORMAT}. "
                "Upgrade satchel to read it.",
                url=self.url,
                key=FORMAT_KEY,
            )
        self._format_checked = True
        self._format_version = version

    def require_format(self, version: int) -> None:
        """Raise the store's format to ``version`` (before writing what older satchels must not touch)."""
        self.check_format(create=True)
        if self._format_version >= version:
            return
        self._format_checked = False
        self.check_format(create=False)  # read again just before: another writer may have raised it further
        if self._format_version >= version:
            return
        self.storage.put(FORMAT_KEY, _format_document(version))
        self._format_checked = False
        self.check_format(create=False)
        if self._format_version < version:
            raise StorageFormatError(
                f"store {self.url} stays at format {self._format_version}: its server runs an older satchel that "
                "cannot keep chunked files; upgrade satchel on the server, then upload again", url=self.url,
                key=FORMAT_KEY)

    # -- index -----------------------------------------------------------------------------------
    def index(self) -> dict[str, Location]:
        """hash -> Location of everything stored, refreshed from the storage listing.

        An index that cannot be read, or whose pack is gone, is skipped (logged; ``satchel check`` reports and
        repairs it), and entries that point outside their pack are dropped: their content counts as not
        stored, so the next upload stores it again. One damaged index never blocks the store.
        """
        self.check_format(create=False)
        packs, indexes = list_packs(self.storage)
        new_ids = [p for p in indexes if p not in self._loaded]
        load = partial(self._load_usable_index, packs=packs, indexes=indexes)
        for pack_id, records in zip(new_ids, self._each_index(new_ids, load), strict=True):
            if records is not None:
                self._remember(pack_id, records)
        return self._index

    def _each_index(self, pack_ids: list[str], load: Callable[[str], dict[str, Location] | None]
                    ) -> Iterator[dict[str, Location] | None]:
        """``load`` of each of ``pack_ids``, in their order: concurrently from an object store (one request per
        index), lazily from local storage (a consumer that stops early reads no more)."""
        if len(pack_ids) > 1 and not self.storage.capabilities.local_path:
            with ThreadPoolExecutor(max_workers=min(16, len(pack_ids)), thread_name_prefix="satchel-index") as pool:
                yield from pool.map(load, pack_ids)
        else:
            yield from map(load, pack_ids)

    def locate(self, hashes: Iterable[str]) -> dict[str, Location]:
        """Where the store holds those of ``hashes`` it holds: what ``index()`` answers for them, from a fresh
        listing, without decoding every index. A child's upload and finalize ask for its changes (W7: 1,000 of
        a store's 140,000 entries): the indexes this process has not decoded are scanned for them (fetched
        concurrently from an object store, as ``index()`` does), and the first in the listing's order wins, as
        in ``index()``. A string that is not a content hash is simply not found."""
        wanted = set(hashes)
        self.check_format(create=False)
        packs, indexes = list_packs(self.storage)
        with self._lock:
            found = {h: self._index[h] for h in wanted if h in self._index}
            unread = [p for p in indexes if p not in self._loaded]
        rest = {bytes.fromhex(h) for h in wanted - found.keys() if is_content_hash(h)}
        if not rest:
            return found
        scan = partial(self._load_usable_index, packs=packs, indexes=indexes, wanted=rest)
        for records in self._each_index(unread, scan):
            for content_hash, location in (records or {}).items():
                if content_hash not in found:
                    found[content_hash] = location
                    rest.discard(bytes.fromhex(content_hash))
            if not rest:
                break
        return found

    def _load_usable_index(self, pack_id: str, *, packs: dict[str, ObjectInfo], indexes: dict[str, ObjectInfo],
                           wanted: set[bytes] | None = None) -> dict[str, Location] | None:
        """The index's entries that lie inside its pack (only those of ``wanted`` raw hashes when it is given),
        or None when the index cannot be used (logged). ``packs`` and ``indexes``: the store's listing
        (``list_packs``)."""
        pack = packs.get(pack_id)
        if pack is None:
            log.warning("pack %s/%s is missing but its index is there: its content counts as not stored (see "
                        "`satchel check --repair`)", self.url, pack_key(pack_id))
            return None
        parse = decode_index if wanted is None else partial(find_in_index, wanted=wanted)
        try:
            records = self._read_index(pack_id, indexes[pack_id].size, parse)
        except IntegrityError as exc:
            log.warning("%s", exc)
            return None
        inside = {h: loc for h, loc in records.items() if fits(loc, pack.size)}
        if len(inside) != len(records):
            log.warning("pack index %s/%s has %d entries outside its pack: ignored (see `satchel check --repair`)",
                        self.url, index_key(pack_id), len(records) - len(inside))
        return inside

    def load_index(self, pack_id: str, size: int) -> dict[str, Location]:
        """The decoded index of ``pack_id`` (the local copy when it has the listed ``size``: a repaired index
        has another). IntegrityError when the stored index cannot be read."""
        return self._read_index(pack_id, size, decode_index)

    def _read_index(self, pack_id: str, size: int, parse: Callable[[str, bytes], dict[str, Location]]
                    ) -> dict[str, Location]:
        """``parse(pack_id, data)`` of the index of ``pack_id`` (the local copy when it has the listed ``size``),
        fetched and kept locally when there is no usable local copy. IntegrityError when the stored index cannot
        be parsed."""
        local = self.cache_dir / "index" / f"{pack_id}.idx"
        try:
            data = local.read_bytes()
            if len(data) == size:
                return parse(pack_id, data)
        except FileNotFoundError:
            pass
        except ValueError:
            log.warning("local copy of index %s is damaged; fetching it again", pack_id)
        data = self.storage.get(index_key(pack_id))
        try:
            records = parse(pack_id, data)
        except ValueError as exc:
            raise IntegrityError(
                f"pack index {self.url}/{index_key(pack_id)} is damaged ({exc}); its content counts as not stored. "
                "Run satchel.check_store(repair=True) (CLI: satchel check --repair) to rebuild or set it aside",
                object_key=index_key(pack_id),
                content_hash=pack_id,
            ) from exc
        _write_local(local, data)
        return records

    def alternative(self, content_hash: str, failed: Location) -> Location | None:
        """Another stored location of ``content_hash`` than ``failed`` (after a repair or a later upload stored
        it again), from a fresh listing; None when there is none. For the failure path only: it reads every
        usable index (local copies where they are current)."""
        self.forget_index()
        packs, indexes = list_packs(self.storage)
        for pack_id in sorted(indexes.keys() - {failed.pack}):
            found = (self._load_usable_index(pack_id, packs=packs, indexes=indexes) or {}).get(content_hash)
            if found is not None:
                return found
        return None

    def forget_index(self) -> None:
        """Drop what this process knows of the index (after packs were deleted); the next index() relists."""
        with self._lock:
            self._index = {}
            self._loaded = set()

    def _remember(self, pack_id: str, locations: dict[str, Location], *, written: bool = False) -> None:
        """Note where content is; a location this process ``written`` wins over one it only read of (it may
        replace a chunked file whose chunks a collection removed)."""
        with self._lock:
            for content_hash, location in locations.items():
                if written:
                    self._index[content_hash] = location
                else:
                    self._index.setdefault(content_hash, location)
            self._loaded.add(pack_id)

    # -- writes ----------------------------------------------------------------------------------
    def write_pack(self, builder: PackBuilder) -> dict[str, Location]:
        """Store a pack and then its index; return the new locations. Idempotent."""
        self.check_format(create=True)
        data = builder.buffer
        pack_id = hash_bytes(data)
        self.storage.put_if_absent(pack_key(pack_id), data)
        index_data = encode_index(builder.records)
        self.storage.put_if_absent(index_key(pack_id), index_data)
        _write_local(self.cache_dir / "index" / f"{pack_id}.idx", index_data)
        locations = {h: Location(pack_id, off, ln, size, c) for h, off, ln, size, c in builder.records}
        self._remember(pack_id, locations, written=True)
        return locations

    def open_pack(self) -> PackFile:
        """A pack written to a local temporary file as entries are added (no pack-sized buffer in memory); its
        ``store()`` stores it, then its index."""
        self.check_format(create=True)
        tmp_dir = self.cache_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return PackFile(self, tmp_dir / f"pack-{uuid.uuid4().hex}")

    def store_pack_file(self, path: Path, records: list[tuple[str, int, int, int, int]], pack_id: str
                        ) -> dict[str, Location]:
        """Store the complete pack at ``path`` (consumed; its BLAKE3 is ``pack_id``), then its index."""
        if self.storage.capabilities.local_path:  # it becomes the stored object: make it durable
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
        if self.storage.head(pack_key(pack_id)) is None:
            self.storage.put_file(pack_key(pack_id), path, consume=True)
        index_data = encode_index(records)
        self.storage.put_if_absent(index_key(pack_id), index_data)
        _write_local(self.cache_dir / "index" / f"{pack_id}.idx", index_data)
        locations = {h: Location(pack_id, off, ln, size, c) for h, off, ln, size, c in records}
        self._remember(pack_id, locations, written=True)
        return locations

    def write_stream(self, chunks: Iterable[bytes], level: int | None) -> tuple[str, Location]:
        """Store one large entry streamed from ``chunks`` as its own pack.

        Returns (content hash of the raw bytes, location). The caller compares the hash with what it
        expected; the object is stored under its true hash either way.
        """
        self.check_format(create=True)
        tmp_dir = self.cache_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"pack-{uuid.uuid4().hex}"
        raw_hasher, pack_hasher = new_hasher(), new_hasher()
        block_hasher = BlockHasher()
        size = 0
        stream = iter(chunks)
        head = bytearray()
        for chunk in stream:
            head += chunk
            if len(head) >= _SAMPLE:
                break
        first = bytes(head)
        compressor = codec.stream_compressor(level) if level is not None and codec.worth_compressing(first, level) \
            else None
        try:
            with open(tmp, "wb") as out:
                def emit(block: bytes) -> None:
                    if block:
                        pack_hasher.update(block)
                        out.write(block)
                emit(PACK_MAGIC)
                for chunk in itertools.chain([first], stream):
                    raw_hasher.update(chunk)
                    if not compressor:
                        block_hasher.update(chunk)
                    size += len(chunk)
                    emit(compressor.compress(chunk) if compressor else chunk)
                if compressor:
                    emit(compressor.flush())
                stored = out.tell() - len(PACK_MAGIC)
                out.flush()
                if self.storage.capabilities.local_path:  # it becomes the stored object: make it durable
                    os.fsync(out.fileno())
            used = codec.Codec.ZSTD if compressor else codec.Codec.RAW
            pack_id = pack_hasher.hexdigest()
            content_hash = raw_hasher.hexdigest()
            if self.storage.head(pack_key(pack_id)) is None:
                self.storage.put_file(pack_key(pack_id), tmp, consume=True)
        finally:
            tmp.unlink(missing_ok=True)
        if used == codec.Codec.RAW and size >= TABLE_MIN_SIZE:  # before the index: a reader never misses it
            table = block_hasher.table(content_hash, size)
            table_hash = hash_bytes(table)
            self.storage.put_if_absent(blocks_key(table_hash), table)
            with self._lock:
                self._tables[(content_hash, pack_id)] = table_hash
        record = (content_hash, len(PACK_MAGIC), stored, size, int(used))
        index_data = encode_index([record])
        self.storage.put_if_absent(index_key(pack_id), index_data)
        location = Location(pack_id, len(PACK_MAGIC), stored, size, int(used))
        self._remember(pack_id, {content_hash: location}, written=True)
        return content_hash, location

    def write_chunked(self, chunks: Iterable[bytes], level: int | None,
                      base: tuple[str, Location] | None = None) -> tuple[str, Location, int]:
        """Store one large entry streamed from ``chunks`` as content-defined chunks plus its recipe
        (objects/chunks.py): chunks the store holds already are not stored again. ``base``: a chunked entry of
        this store likely to share most chunks (the same path's in the parent version), whose recipe the new one
        may copy runs of rows from.

        Returns (content hash of the raw bytes, location, bytes newly stored). The caller compares the hash with
        what it expected; the object is stored under its true hash either way."""
        self.check_format(create=True)
        return chunking.store_chunked(self, chunks, level, base)

    # -- reads -----------------------------------------------------------------------------------
    def _check_plausible(self, content_hash: str, location: Location) -> None:
        """IntegrityError (before anything is read or allocated) for a location no real entry can have."""
        bound = location.size if location.codec == codec.Codec.RAW else chunking.max_recipe_size(location.size) \
            if location.codec == codec.Codec.CHUNKS else codec.max_stored_size(location.size)
        if location.length > bound or location.offset < len(PACK_MAGIC) or location.size > codec.MAX_ENTRY_SIZE:
            key = pack_key(location.pack)
            raise IntegrityError(
                f"object {content_hash} in {self.url}/{key} has an impossible location (offset {location.offset}, "
                f"{location.length} bytes stored for {location.size}); the manifest or index naming it is damaged",
                object_key=key, content_hash=content_hash)

    def _fetch(self, pack_id: str, start: int, length: int, content_hash: str) -> bytes:
        key = pack_key(pack_id)
        try:
            data = self.storage.get_range(key, start, length)
        except StorageNotFoundError as exc:
            raise ObjectMissingError(
                f"pack {self.url}/{key} is missing", object_key=key, content_hash=content_hash
            ) from exc
        if len(data) != length:
            raise IntegrityError(
                f"pack {self.url}/{key} is truncated", object_key=key, content_hash=content_hash
            )
        return data

    def _verified(self, content_hash: str, location: Location, payload: bytes | memoryview) -> bytes | memoryview:
        key = pack_key(location.pack)
        try:
            data = codec.decode(location.codec, payload, location.size)
        except ValueError as exc:
            raise IntegrityError(
                f"object {content_hash} in {self.url}/{key} cannot be decoded: {exc}",
                object_key=key,
                content_hash=content_hash,
            ) from exc
        if len(data) != location.size or hash_bytes(data) != content_hash:
            raise IntegrityError(
                f"object {content_hash} in {self.url}/{key} does not match its hash",
                object_key=key,
                content_hash=content_hash,
            )
        return data

    def read(self, content_hash: str, location: Location) -> bytes:
        """Return the verified raw bytes of one entry."""
        self._check_plausible(content_hash, location)
        if location.codec == codec.Codec.CHUNKS:
            return b"".join(self.iter_verified(content_hash, location))
        payload = self._fetch(location.pack, location.offset, location.length, content_hash)
        return bytes(self._verified(content_hash, location, payload))  # bytes already: not copied

    def read_batch(self, items: list[tuple[str, Location]]) -> Iterator[tuple[str, bytes]]:
        """Yield (hash, verified bytes) for small entries, coalescing neighbouring ranges of a pack."""
        by_pack: dict[str, list[tuple[str, Location]]] = {}
        for content_hash, location in items:
            self._check_plausible(content_hash, location)
            if location.codec == codec.Codec.CHUNKS:
                yield content_hash, self.read(content_hash, location)
                continue
            by_pack.setdefault(location.pack, []).append((content_hash, location))
        for pack_id, group in by_pack.items():
            group.sort(key=lambda item: item[1].offset)
            for run in _coalesce(group):
                start = run[0][1].offset
                end = max(loc.offset + loc.length for _, loc in run)
                blob = self._fetch(pack_id, start, end - start, run[0][0])
                for content_hash, location in run:
                    begin = location.offset - start
                    payload = blob[begin : begin + location.length]
                    yield content_hash, bytes(self._verified(content_hash, location, payload))  # not copied

    def iter_verified(self, content_hash: str, location: Location) -> Iterator[bytes]:
        """Yield one (large) entry's raw bytes as they are read, checking its hash as they go: the last step
        raises IntegrityError when the whole does not match (a consumer that forwards the bytes must treat that
        as a failed transfer). Bounded memory."""
        key = pack_key(location.pack)
        self._check_plausible(content_hash, location)
        if location.codec == codec.Codec.CHUNKS:
            window = 1 if self.storage.capabilities.local_path else _REMOTE_RUNS_AHEAD
            yield from chunking.assemble(self, self.recipe(content_hash, location), window)
            return
        hasher = new_hasher()
        written = 0
        held = b""  # the last piece goes out only once the whole matched: a wrong file never arrives complete
        try:
            chunks = self.storage.iter_range(key, location.offset, location.length, _STREAM_CHUNK)
            for data in codec.stream_decode(location.codec, chunks, _STREAM_CHUNK):
                written += len(data)
                if written > location.size:
                    raise IntegrityError(f"object {content_hash} in {self.url}/{key} decodes to more than its "
                                         f"{location.size} bytes", object_key=key, content_hash=content_hash)
                hasher.update(data)
                if held:
                    yield held
                held = data
        except StorageNotFoundError as exc:
            raise ObjectMissingError(f"pack {self.url}/{key} is missing", object_key=key,
                                     content_hash=content_hash) from exc
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"object {content_hash} in {self.url}/{key} cannot be decoded: {exc}",
                                 object_key=key, content_hash=content_hash) from exc
        if written != location.size or hasher.hexdigest() != content_hash:
            raise IntegrityError(f"object {content_hash} in {self.url}/{key} does not match its hash",
                                 object_key=key, content_hash=content_hash)
        if held:
            yield held

    def recipe(self, content_hash: str, location: Location, expected: str = "") -> chunking.Recipe:
        """The checked recipe of a chunked entry, its bases applied (IntegrityError when it or a base is damaged
        or another file's, or, with ``expected``, when its stored bytes do not hash to it: the hash a manifest
        names)."""
        return self.recipe_and_hash(content_hash, location, expected)[0]

    def recipe_and_hash(self, content_hash: str, location: Location, expected: str = "", depth: int = 0
                        ) -> tuple[chunking.Recipe, str]:
        """``recipe`` and the hash of its stored bytes."""
        key = pack_key(location.pack)
        found = self._recipes.get((content_hash, location.pack))
        if found is None:
            if depth > chunking.MAX_DEPTH:
                raise IntegrityError(f"the chunk list of object {content_hash} in {self.url}/{key} copies from a "
                                     f"chain of more than {chunking.MAX_DEPTH} others", object_key=key,
                                     content_hash=content_hash)
            self._check_plausible(content_hash, location)
            payload = self._fetch(location.pack, location.offset, location.length, content_hash)
            found = (self._expanded(content_hash, location, payload, depth), hash_bytes(payload))
            with self._lock:
                if len(self._recipes) >= 256:
                    self._recipes.clear()
                self._recipes[(content_hash, location.pack)] = found
        if expected and found[1] != expected:
            raise IntegrityError(f"the chunk list of object {content_hash} in {self.url}/{key} does not match the "
                                 "hash that names it", object_key=key, content_hash=content_hash)
        return found

    def _expanded(self, content_hash: str, location: Location, payload: bytes, depth: int) -> chunking.Recipe:
        key = pack_key(location.pack)
        try:
            stored = chunking.decode_recipe(payload, content_hash, location.size)
            base = None
            if stored.base is not None:
                ref = stored.base
                base = self.recipe_and_hash(ref.file_hash, ref.location, ref.recipe_hash, depth + 1)[0]
            return stored.expand(base)
        except ValueError as exc:
            raise IntegrityError(f"the chunk list of object {content_hash} in {self.url}/{key} is damaged ({exc})",
                                 object_key=key, content_hash=content_hash) from exc

    def chunks_present(self, content_hash: str, location: Location) -> bool:
        """False for a chunked entry whose recipe cannot be read or one of whose chunk (or base) packs is gone
        (a collection removed them, e.g. between an upload and its finalize): it must be stored again (and the
        index is listed afresh next time). True for any other entry."""
        if location.codec != codec.Codec.CHUNKS:
            return True
        try:
            packs = self.chunk_packs(content_hash, location)
        except (IntegrityError, ObjectMissingError):
            return False
        if all(self.storage.head(pack_key(pack)) is not None for pack in sorted(packs)):
            return True
        self.forget_index()  # what this process knows of the index is stale: the next use lists it again
        return False

    def chunk_packs(self, content_hash: str, location: Location) -> set[str]:
        """The packs a chunked entry's chunks are in (empty for an entry stored whole)."""
        if location.codec != codec.Codec.CHUNKS:
            return set()
        return self.recipe(content_hash, location).pack_ids()

    def fetch_range(self, pack_id: str, start: int, length: int, content_hash: str) -> bytes:
        """``length`` bytes of a pack from ``start`` (ObjectMissingError: no pack; IntegrityError: too short)."""
        return self._fetch(pack_id, start, length, content_hash)

    def verified_or_elsewhere(self, content_hash: str, location: Location, payload: bytes | memoryview
                              ) -> bytes | memoryview:
        """The verified bytes of ``payload`` read at ``location``, or, when they are damaged, of another stored
        copy of the same content (IntegrityError when there is none)."""
        self._check_plausible(content_hash, location)
        try:
            return self._verified(content_hash, location, payload)
        except IntegrityError:
            return self._read_elsewhere(content_hash, location)

    def read_anywhere(self, content_hash: str, location: Location) -> bytes:
        """``read``, falling back to another stored copy when the one at ``location`` is damaged or gone."""
        try:
            return self.read(content_hash, location)
        except (IntegrityError, ObjectMissingError):
            return self._read_elsewhere(content_hash, location)

    def _read_elsewhere(self, content_hash: str, failed: Location) -> bytes:
        """Another stored copy of ``content_hash`` than the one at ``failed``; re-raises the error being handled
        when there is none (called from an ``except`` block only)."""
        found = self.alternative(content_hash, failed)
        if found is None or found.codec == codec.Codec.CHUNKS:
            raise  # the error the caller is handling: there is no other copy
        log.info("object %s: reading its other stored copy in %s", content_hash, found.pack)
        return self.read(content_hash, found)

    def raise_mismatch(self, content_hash: str) -> None:
        """IntegrityError: the bytes assembled for ``content_hash`` do not match it."""
        raise IntegrityError(f"object {content_hash} in {self.url} does not match its hash (its chunk list "
                             "names other bytes)", object_key="", content_hash=content_hash)

    def read_to_file(self, content_hash: str, location: Location, dest: Path) -> None:
        """Stream one (large) entry into ``dest``, verifying it (``iter_verified``); ``dest`` is removed on failure."""
        try:
            with open(dest, "wb") as out:
                for data in self.iter_verified(content_hash, location):
                    out.write(data)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise

    # -- manifests -------------------------------------------------------------------------------
    def put_manifest(self, manifest: Manifest) -> str:
        """Store a manifest; return its hash (the BLAKE3 of the stored object). PathError for invalid paths."""
        data = encode_manifest(manifest)
        manifest_hash = hash_bytes(data)
        self.put_encoded_manifest(manifest_hash, data)
        return manifest_hash

    def put_encoded_manifest(self, manifest_hash: str, data: bytes) -> None:
        """Store a manifest ``encode_manifest`` returned in this process (never bytes from elsewhere: its local
        copy is marked as having passed the path checks) under its hash."""
        self.check_format(create=True)
        self.storage.put_if_absent(manifest_key(manifest_hash), data)
        _write_local(self.cache_dir / "manifests" / manifest_hash, data)
        self._mark_paths_checked(manifest_hash)

    def _checked_marker(self, manifest_hash: str) -> Path:
        return self.cache_dir / "manifests" / f"{manifest_hash}.paths-checked-{PATH_CHECKS}"

    def _mark_paths_checked(self, manifest_hash: str) -> None:
        """Record that the manifest of this hash passed the path checks (best effort: without it they run again)."""
        with contextlib.suppress(OSError):
            self._checked_marker(manifest_hash).touch()

    def get_manifest(self, manifest_hash: str) -> Manifest:
        """Load and verify a manifest, from the local copy when there is one. Its paths are checked once per
        machine: bytes of this hash that passed the checks before (or that this machine encoded) skip them, the
        bytes being the same (their hash is checked on every read)."""
        local = self.cache_dir / "manifests" / manifest_hash
        key = manifest_key(manifest_hash)
        data = local.read_bytes() if local.is_file() else None
        if data is None or hash_bytes(data) != manifest_hash:
            try:
                data = self.storage.get(key)
            except StorageNotFoundError as exc:
                raise ObjectMissingError(
                    f"manifest {self.url}/{key} is missing", object_key=key, content_hash=manifest_hash
                ) from exc
            if hash_bytes(data) != manifest_hash:
                raise IntegrityError(
                    f"manifest {self.url}/{key} does not match its hash", object_key=key,
                    content_hash=manifest_hash,
                )
            _write_local(local, data)
        checked = self._checked_marker(manifest_hash).exists()
        try:
            manifest = decode_manifest(data, paths_checked=checked)
        except ValueError as exc:
            raise IntegrityError(
                f"manifest {self.url}/{key} cannot be read: {exc}; nothing was written. The object is damaged or was "
                "not written by satchel: run `satchel check` on this store to see what it affects",
                object_key=key, content_hash=manifest_hash, dataset_path=getattr(exc, "path", None),
            ) from exc
        if not checked:
            self._mark_paths_checked(manifest_hash)
        return manifest


class PackFile:
    """A pack being written to a local temporary file (``ObjectStore.open_pack``)."""

    def __init__(self, owner: ObjectStore, path: Path) -> None:
        self._owner = owner
        self.path = path
        self._out = open(path, "wb")  # noqa: SIM115 - closed by store() or discard()
        self._hasher = blake3()  # one thread: entry-sized updates are too small to share
        self.records: list[tuple[str, int, int, int, int]] = []
        self.hashes: set[str] = set()
        self.stored_bytes = 0
        self._write(PACK_MAGIC)

    def _write(self, data: bytes | memoryview) -> None:
        self._hasher.update(data)
        self._out.write(data)
        self.stored_bytes += len(data)

    def add(self, content_hash: str, codec: codec.Codec, payload: bytes | memoryview, size: int) -> None:
        """Append an entry (one already in this pack is ignored)."""
        if content_hash in self.hashes:
            return
        self.hashes.add(content_hash)
        self.records.append((content_hash, self.stored_bytes, len(payload), size, int(codec)))
        self._write(payload)

    def __len__(self) -> int:
        return len(self.records)

    def store(self, before: Callable[[str], None] | None = None) -> dict[str, Location]:
        """Store the pack and its index; return the locations. ``before(pack id)`` runs before the pack is
        stored (a writer pins it). The temporary file is gone afterwards."""
        try:
            self._out.close()
            pack_id = self._hasher.hexdigest()
            if before is not None:
                before(pack_id)
            return self._owner.store_pack_file(self.path, self.records, pack_id)
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop the pack (nothing stored)."""
        self._out.close()
        self.path.unlink(missing_ok=True)


def _coalesce(group: list[tuple[str, Location]]) -> Iterator[list[tuple[str, Location]]]:
    run: list[tuple[str, Location]] = []
    run_start = run_end = 0
    for item in group:
        location = item[1]
        end = location.offset + location.length
        if run and (location.offset - run_end > _COALESCE_GAP or end - run_start > _MAX_RANGE):
            yield run
            run = []
        if not run:
            run_start = location.offset
            run_end = end
        run.append(item)
        run_end = max(run_end, end)
    if run:
        yield run


def _format_document(version: int) -> bytes:
    return json.dumps({"format": "satchel-store", "version": version}).encode()


def _write_local(path: Path, data: bytes) -> None:
    """Write an immutable local copy atomically (best effort: a failure only costs a refetch)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("could not keep a local copy at %s: %s", path, exc)
