"""Chunked large files: content-defined chunks shared by every file, version and dataset of a store.

A large file is cut by FastCDC (content-defined chunking: a cut falls where the bytes say, so an insertion
moves only the cuts next to it) into chunks of about 39 KiB. Each chunk is an ordinary content-addressed entry
of a pack, so a chunk any index already lists is not stored again: a child version in which 1% of a 512 MiB
file changed stores about that 1%, not the file. The file itself is an index entry with codec ``CHUNKS``
whose payload is its *recipe*: its chunks' hashes, sizes and locations, as its own rows or as runs of the
rows of a base recipe (the same path's in the parent version), so an edited copy's recipe is a few KB.

Chunks carry their location, so reading a file needs its recipe and range reads of its chunks, not the index.
The recipe is bound to its entry (it names the file's hash and size, and the file's hash is checked over the
assembled bytes), and every chunk is checked against its own hash before any of its bytes is handed out.
See docs/format.md, "Chunked files".
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import zstandard
from blake3 import blake3

from satchel.errors import IntegrityError, ObjectMissingError
from satchel.objects import codec
from satchel.objects.hashing import hash_bytes, is_content_hash, new_hasher
from satchel.objects.packs import PACK_MAGIC, Location, PackBuilder, pack_key
from satchel.objects.refs import GC_WAIT_SECONDS, GrowingPin, wait_for_collections

if TYPE_CHECKING:  # the store imports this module
    from satchel.objects.store import ObjectStore, PackFile

CHUNKED_MIN_SIZE = 16 << 20
"""Files from this size up are stored chunked (smaller ones share packs whole, as before)."""
CDC_AVG = 32768
"""FastCDC's average-size parameter; with its minimum of a quarter of it, chunks average about 39 KiB (each edited
place of a file costs about two mean chunks, so smaller chunks store edits closer to their size)."""
CDC_MIN = CDC_AVG // 4
CDC_MAX = CDC_AVG * 4
MAX_CHUNK = 16 << 20
"""The largest chunk a reader accepts (FastCDC's own upper limit), whatever chunker settings wrote it."""
PACK_BYTES = 128 << 20
"""Chunks of one file go to packs of about this size, written to a temporary file as they come (not held in
memory): one durable write per pack."""
MAGIC = b"SATCHRC1"
MAX_DEPTH = 8
"""A recipe copies runs of rows from at most this many recipes, each from the next (then one is written whole)."""
_HEAD = struct.Struct("<8sQ32sIIIB")  # magic, file size, file hash, packs, own rows, terms, has a base
_BASE = struct.Struct("<32s32sQQQ32s")  # base file hash, its pack, offset, length, size, its stored recipe's hash
_PER_CHUNK = 32 + 4 + 4 + 8 + 4 + 1
_PER_TERM = 1 + 4 + 4
_RECIPE_RATIO = 64
"""A recipe decodes to at most this many times its stored size (its 32-byte hashes do not compress: an honest one
stays under 2x)."""
_OWN, _COPY = 0, 1
_RUN_BYTES = 8 << 20
_WINDOW = 8 << 20
_GAP = 256 << 10


@dataclass(frozen=True)
class Recipe:
    """A decoded, checked recipe with its base applied: every chunk of one file, in order. ``bases``: the
    recipes it copies rows from, nearest first (hash and location of each: they must stay stored)."""

    file_hash: str
    size: int
    packs: tuple[str, ...]
    hashes: bytes
    sizes: array[int]
    pack_numbers: array[int]
    offsets: array[int]
    lengths: array[int]
    codecs: bytes
    bases: tuple[tuple[str, Location], ...] = ()

    def __len__(self) -> int:
        return len(self.sizes)

    def chunk(self, index: int) -> tuple[str, Location]:
        """The hash and location of chunk ``index``."""
        return (self.hashes[32 * index : 32 * index + 32].hex(),
                Location(self.packs[self.pack_numbers[index]], self.offsets[index], self.lengths[index],
                         self.sizes[index], self.codecs[index]))

    def chunks(self) -> Iterator[tuple[str, Location]]:
        """(hash, location) of every chunk, in file order."""
        return (self.chunk(i) for i in range(len(self)))

    @cached_property
    def starts(self) -> array[int]:
        """The offset in the file of each chunk, then the file's size."""
        starts = array("Q", [0])
        for chunk_size in self.sizes:
            starts.append(starts[-1] + chunk_size)
        return starts

    def pack_ids(self) -> set[str]:
        """The packs the chunks are in, and those of the recipes it copies from."""
        return {self.packs[n] for n in set(self.pack_numbers)} | {loc.pack for _, loc in self.bases}


@dataclass(frozen=True)
class BaseRef:
    """The recipe a stored recipe copies rows from: its file, where it is stored, and its stored bytes' hash."""

    file_hash: str
    location: Location
    recipe_hash: str


@dataclass(frozen=True)
class StoredRecipe:
    """One stored recipe as decoded, before its base is applied: its own rows, and terms that list the file's
    chunks as runs of its own rows (kind 0) and of its base's (kind 1)."""

    file_hash: str
    size: int
    rows: Recipe
    terms: list[tuple[int, int, int]]
    base: BaseRef | None

    def expand(self, base: Recipe | None) -> Recipe:
        """The whole recipe, ``base`` being the base's (checked); ValueError when the terms do not fit."""
        if (base is None) != (self.base is None):
            raise ValueError("the recipe's base is missing")
        if sum(count for _, _, count in self.terms) > _max_rows(self.size):
            raise ValueError("the recipe lists more chunks than its file can have")
        parts: list[tuple[Recipe, int, int]] = []
        for kind, start, count in self.terms:
            source = self.rows if kind == _OWN else base
            if source is None or kind not in (_OWN, _COPY) or start + count > len(source):
                raise ValueError("a term of the recipe points outside the rows it names")
            parts.append((source, start, count))
        bases = ((self.base.file_hash, self.base.location), *base.bases) if self.base and base else ()
        if len(bases) > MAX_DEPTH:
            raise ValueError(f"the recipe copies from a chain of more than {MAX_DEPTH} others")
        recipe = _joined(self.file_hash, self.size, parts, bases)
        _check(recipe)
        return recipe


def _joined(file_hash: str, size: int, parts: list[tuple[Recipe, int, int]],
            bases: tuple[tuple[str, Location], ...]) -> Recipe:
    packs: dict[str, int] = {}
    hashes, sizes, numbers = bytearray(), array("I"), array("I")
    offsets, lengths, codecs = array("Q"), array("I"), bytearray()
    renumbered: dict[int, list[int]] = {}  # per source, once: a recipe may have many terms
    for source, start, count in parts:
        stop = start + count
        renumber = renumbered.get(id(source))
        if renumber is None:
            renumber = renumbered[id(source)] = [packs.setdefault(pack, len(packs)) for pack in source.packs]
        hashes += source.hashes[32 * start : 32 * stop]
        sizes += source.sizes[start:stop]
        numbers.extend(renumber[n] for n in source.pack_numbers[start:stop])
        offsets += source.offsets[start:stop]
        lengths += source.lengths[start:stop]
        codecs += source.codecs[start:stop]
    return Recipe(file_hash, size, tuple(packs), bytes(hashes), sizes, numbers, offsets, lengths, bytes(codecs),
                  bases)


def _max_rows(size: int) -> int:
    return min(size, (size // 64) + 2)  # FastCDC never cuts below 64 bytes; the last chunk may be short


def max_recipe_size(size: int) -> int:
    """The most bytes the stored recipe of a file of ``size`` bytes can take (a chunk holds at least one byte;
    the pack list and the terms are no longer than the chunk list)."""
    return codec.max_stored_size(_HEAD.size + _BASE.size + _max_rows(size) * (_PER_CHUNK + 32 + _PER_TERM))


def encode_recipe(file_hash: str, size: int, chunks: list[tuple[str, Location]],
                  base: tuple[BaseRef, Recipe] | None = None) -> bytes:
    """The stored form (a zstd frame) of the recipe of ``chunks`` (in file order). With ``base`` (a recipe and
    its reference), runs of chunks that follow each other in the base as here are copied from it, not listed."""
    terms, own = _terms(chunks, base[1]) if base else ([(_OWN, 0, len(chunks))] if chunks else [], chunks)
    packs: dict[str, int] = {}
    numbers = array("I", (packs.setdefault(loc.pack, len(packs)) for _, loc in own))
    reference = b""
    if base:
        ref = base[0]
        reference = _BASE.pack(bytes.fromhex(ref.file_hash), bytes.fromhex(ref.location.pack), ref.location.offset,
                               ref.location.length, ref.location.size, bytes.fromhex(ref.recipe_hash))
    columns = [
        _HEAD.pack(MAGIC, size, bytes.fromhex(file_hash), len(packs), len(own), len(terms), bool(base)),
        reference,
        b"".join(bytes.fromhex(p) for p in packs),
        b"".join(bytes.fromhex(h) for h, _ in own),
        _le(array("I", (loc.size for _, loc in own))),
        _le(numbers),
        _le(array("Q", (loc.offset for _, loc in own))),
        _le(array("I", (loc.length for _, loc in own))),
        bytes(loc.codec for _, loc in own),
        bytes(kind for kind, _, _ in terms),
        _le(array("I", (start for _, start, _ in terms))),
        _le(array("I", (count for _, _, count in terms))),
    ]
    return bytes(zstandard.ZstdCompressor(level=3).compress(b"".join(columns)))


def _terms(chunks: list[tuple[str, Location]], base: Recipe
           ) -> tuple[list[tuple[int, int, int]], list[tuple[str, Location]]]:
    """Runs of ``chunks`` found in ``base`` in the same order (copied), and the rest (own rows)."""
    first: dict[bytes, int] = {}
    for row in range(len(base)):
        first.setdefault(base.hashes[32 * row : 32 * row + 32], row)
    wanted = [bytes.fromhex(h) for h, _ in chunks]
    terms: list[tuple[int, int, int]] = []
    own: list[tuple[str, Location]] = []
    i = 0
    while i < len(chunks):
        j = first.get(wanted[i])
        if j is None:
            if terms and terms[-1][0] == _OWN:
                terms[-1] = (_OWN, terms[-1][1], terms[-1][2] + 1)
            else:
                terms.append((_OWN, len(own), 1))
            own.append(chunks[i])
            i += 1
            continue
        run = 1
        while i + run < len(chunks) and j + run < len(base) and \
                wanted[i + run] == base.hashes[32 * (j + run) : 32 * (j + run) + 32]:
            run += 1
        terms.append((_COPY, j, run))
        i += run
    return terms, own


def decode_recipe(payload: bytes, file_hash: str, size: int) -> StoredRecipe:
    """Check and decode a stored recipe for the entry ``file_hash`` of ``size`` bytes (its base not applied:
    ``StoredRecipe.expand``); ValueError when it is damaged, or the recipe of another file."""
    try:
        declared = zstandard.frame_content_size(payload)
    except zstandard.ZstdError as exc:
        raise ValueError(f"the recipe is not a zstd frame ({exc})") from exc
    bound = min(max_recipe_size(size), _RECIPE_RATIO * len(payload) + 4096)  # hashes do not compress
    if declared < 0 or declared > bound:
        raise ValueError(f"the recipe declares {declared} bytes; a file of {size} bytes stored in {len(payload)} "
                         f"has at most {bound}")
    try:
        raw = memoryview(zstandard.ZstdDecompressor().decompress(payload, max_output_size=bound))
    except (zstandard.ZstdError, MemoryError) as exc:
        raise ValueError(f"the recipe cannot be decoded ({exc!r})") from exc
    if len(raw) < _HEAD.size:
        raise ValueError("the recipe is truncated")
    magic, named_size, named_hash, pack_count, count, term_count, has_base = _HEAD.unpack_from(raw)
    if magic != MAGIC:
        raise ValueError("not a satchel recipe")
    if named_size != size or named_hash.hex() != file_hash:
        raise ValueError("the recipe describes another file")
    if has_base not in (0, 1) or len(raw) != (_HEAD.size + has_base * _BASE.size + 32 * pack_count
                                               + _PER_CHUNK * count + _PER_TERM * term_count):
        raise ValueError("the recipe's columns disagree with its counts")
    at = _HEAD.size
    base = None
    if has_base:
        b_hash, b_pack, b_offset, b_length, b_size, b_recipe = _BASE.unpack_from(raw, at)
        base = BaseRef(b_hash.hex(), Location(b_pack.hex(), b_offset, b_length, b_size, codec.Codec.CHUNKS),
                       b_recipe.hex())
        at += _BASE.size
    packs = tuple(bytes(raw[at + 32 * i : at + 32 * i + 32]).hex() for i in range(pack_count))
    at += 32 * pack_count
    hashes = bytes(raw[at : at + 32 * count])
    at += 32 * count
    sizes, at = _column("I", raw, at, count)
    numbers, at = _column("I", raw, at, count)
    offsets, at = _column("Q", raw, at, count)
    lengths, at = _column("I", raw, at, count)
    codecs = bytes(raw[at : at + count])
    at += count
    kinds = bytes(raw[at : at + term_count])
    starts, at = _column("I", raw, at + term_count, term_count)
    counts, at = _column("I", raw, at, term_count)
    rows = Recipe(file_hash, sum(sizes), packs, hashes, sizes, numbers, offsets, lengths, codecs)
    if len(set(packs)) != len(packs) or (count and max(numbers) >= pack_count):
        raise ValueError("the recipe names a pack twice or an unknown pack number")
    return StoredRecipe(file_hash, size, rows, list(zip(kinds, starts, counts, strict=True)), base)


def _check(recipe: Recipe) -> None:
    """ValueError for a recipe no writer produces (before anything is read through it)."""
    count = len(recipe)
    if sum(recipe.sizes) != recipe.size:
        raise ValueError("the recipe's chunks do not add up to the file's size")
    if count and (min(recipe.sizes) < 1 or max(recipe.sizes) > MAX_CHUNK):
        raise ValueError("the recipe holds an empty or oversized chunk")
    if count and (max(recipe.pack_numbers) >= len(recipe.packs) or max(recipe.codecs) > codec.Codec.ZSTD):
        raise ValueError("the recipe holds an unknown pack number or codec")
    for i in range(count):
        bound = recipe.sizes[i] if recipe.codecs[i] == codec.Codec.RAW else codec.max_stored_size(recipe.sizes[i])
        if recipe.offsets[i] < len(PACK_MAGIC) or recipe.lengths[i] > bound:
            raise ValueError(f"chunk {i} of the recipe has an impossible location")
    if not all(map(is_content_hash, recipe.packs)):
        raise ValueError("the recipe names an invalid pack id")


def _column(typecode: str, raw: memoryview, at: int, count: int) -> tuple[array[int], int]:
    values = array(typecode)
    end = at + values.itemsize * count
    values.frombytes(raw[at:end])
    if values.itemsize > 1 and struct.pack("=H", 1) != struct.pack("<H", 1):
        values.byteswap()
    return values, end


def _le(values: array[int]) -> bytes:
    if struct.pack("=H", 1) != struct.pack("<H", 1):
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


# -- writing ----------------------------------------------------------------------------------------
def store_chunked(store: ObjectStore, stream: Iterable[bytes], level: int | None,
                  base: tuple[str, Location] | None = None) -> tuple[str, Location, int]:
    """Cut ``stream`` into chunks, store those the store does not hold in packs, then the recipe in a pack of
    its own (after every chunk's pack and index: a reader that finds the file finds its chunks).

    Safe against collections: every pack the recipe names is pinned before it is stored (or when it is chosen,
    for chunks the store already held), and those held already are checked to be there once no collection
    runs; ObjectMissingError (upload again: the chunks are stored anew) when one was collected meanwhile.

    Returns (the file's content hash, its location, the bytes newly stored). When the store already holds the
    file (found by its hash once read), its existing location is returned and no recipe is written.
    """
    whole = new_hasher()
    with GrowingPin(store.storage) as pin, \
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="satchel-chunk") as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="satchel-chunk-pack") as shipper:
        wait_for_collections(store.storage, GC_WAIT_SECONDS)
        writer = _ChunkWriter(store, level, pool, shipper, pin)
        try:
            for pieces in _cut(stream, whole):
                writer.add_window(pieces)
            writer.finish()
        finally:
            writer.discard()
        file_hash = whole.hexdigest()
        existing = store.index().get(file_hash)
        if existing is not None and store.chunks_present(file_hash, existing):
            return file_hash, existing, writer.stored
        wait_for_collections(store.storage, GC_WAIT_SECONDS)
        writer.check_reused()
        chunks = [(h, writer.located[h]) for h, _ in writer.chunks]
        recipe = encode_recipe(file_hash, writer.size, chunks)
        chosen = _usable_base(store, base)
        if chosen is not None:  # copying runs of the base's rows: kept when it is the smaller recipe
            recipe = min(recipe, encode_recipe(file_hash, writer.size, chunks, chosen), key=len)
        store.require_format(2)
        holder = PackBuilder()
        holder.add(file_hash, codec.Codec.CHUNKS, recipe, writer.size)
        pin.add([hash_bytes(holder.buffer)])
        location = store.write_pack(holder)[file_hash]
    store.remember_table(file_hash, location, hash_bytes(recipe))
    return file_hash, location, writer.stored + holder.stored_bytes


class _ChunkWriter:
    """Packs the chunks a store lacks: hashed in order, compressed on ``pool``, written to a pack file as they
    come; a full pack is stored (made durable, then indexed) by ``shipper`` while the next one fills.
    Compression is tried on every chunk of a window while it pays; after a window where it did not, only on the
    first chunk of each window until it pays again (random or already compressed bytes are not compressed in
    vain)."""

    def __init__(self, store: ObjectStore, level: int | None, pool: ThreadPoolExecutor,
                 shipper: ThreadPoolExecutor, pin: GrowingPin) -> None:
        self.store = store
        self.pin = pin
        self.reused: set[str] = set()  # packs of chunks the store held already
        self.level = level
        self.pool = pool
        self.shipper = shipper
        self.known = store.index()
        self.chunks: list[tuple[str, int]] = []
        self.located: dict[str, Location] = {}
        self.pack: PackFile | None = None
        self.shipping: Future[dict[str, Location]] | None = None
        self.shipping_hashes: set[str] = set()
        self.probing = False
        self.stored = self.size = 0

    def add_window(self, pieces: list[memoryview]) -> None:
        new: list[tuple[str, memoryview]] = []
        filling = self.pack.hashes if self.pack is not None else set()
        for piece in pieces:
            chunk_hash = hash_bytes(piece)
            self.chunks.append((chunk_hash, len(piece)))
            self.size += len(piece)
            if chunk_hash in self.located or chunk_hash in filling or chunk_hash in self.shipping_hashes:
                continue
            found = self.known.get(chunk_hash)
            if found is not None and found.codec != codec.Codec.CHUNKS:
                self.located[chunk_hash] = found
                self.reused.add(found.pack)
                continue
            new.append((chunk_hash, piece))
        self.pin.add(self.reused)
        for (chunk_hash, piece), (used, payload) in zip(new, self._encoded(new), strict=True):
            if self.pack is None:
                self.pack = self.store.open_pack()
            self.pack.add(chunk_hash, used, payload, len(piece))
            if self.pack.stored_bytes >= PACK_BYTES:
                self._ship()

    def _encoded(self, new: list[tuple[str, memoryview]]) -> list[tuple[codec.Codec, bytes | memoryview]]:
        level = self.level
        if level is None or not new:
            return [(codec.Codec.RAW, piece) for _, piece in new]
        if self.probing:
            used, payload = codec.encode(new[0][1], level)
            self.probing = used == codec.Codec.RAW
            if self.probing:
                return [(used, payload)] + [(codec.Codec.RAW, piece) for _, piece in new[1:]]
        encoded = list(self.pool.map(lambda item: codec.encode(item[1], level), new, chunksize=16))
        self.probing = all(used == codec.Codec.RAW for used, _ in encoded)
        return encoded

    def _ship(self) -> None:
        if self.shipping is not None:
            self.located.update(self.shipping.result())
        assert self.pack is not None
        self.stored += self.pack.stored_bytes
        self.shipping = self.shipper.submit(self.pack.store, lambda pack_id: self.pin.add([pack_id]))
        self.shipping_hashes = self.pack.hashes
        self.pack = None

    def finish(self) -> None:
        """Store what is left; every chunk is located afterwards."""
        if self.pack is not None and len(self.pack):
            self._ship()
        if self.shipping is not None:
            self.located.update(self.shipping.result())
            self.shipping = None

    def check_reused(self) -> None:
        """ObjectMissingError when a pack holding chunks this file reuses is gone (a collection ran before they
        were pinned); the index is forgotten, so the next upload stores those chunks anew."""
        for pack in sorted(self.reused):
            if self.store.storage.head(pack_key(pack)) is None:
                self.store.forget_index()
                raise ObjectMissingError(
                    f"pack {self.store.url}/{pack_key(pack)}, which holds chunks of a file being uploaded, was "
                    "deleted by a collection meanwhile; call upload() again (it stores them anew)",
                    object_key=pack_key(pack), content_hash=pack)

    def discard(self) -> None:
        """Remove the temporary file of a pack not stored (after an error)."""
        if self.pack is not None:
            self.pack.discard()
            self.pack = None


def _usable_base(store: ObjectStore, base: tuple[str, Location] | None) -> tuple[BaseRef, Recipe] | None:
    """The base's reference and recipe when a new recipe may copy from it (a readable chunked entry whose chain
    is not at its longest); None otherwise."""
    if base is None or base[1].codec != codec.Codec.CHUNKS:
        return None
    try:
        recipe, recipe_hash = store.recipe_and_hash(*base)
    except (IntegrityError, ObjectMissingError):
        return None  # a damaged base: the new recipe lists its chunks itself
    if len(recipe.bases) >= MAX_DEPTH:
        return None
    return BaseRef(base[0], base[1], recipe_hash), recipe


def _cut(stream: Iterable[bytes], whole: blake3) -> Iterator[list[memoryview]]:
    """The chunks of ``stream`` in order, a window at a time (views into the window), feeding ``whole`` with
    every byte. The last chunk of a window may end only because the window does, so it is cut again with the
    next window (a cut depends only on the bytes from its chunk's start: the same cuts as one pass over the
    whole stream)."""
    from pyfastcdc import FastCDC  # a compiled extension: loaded when a large file is stored

    cutter = FastCDC(CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)
    carry = b""
    for block in _windows(stream):
        if block is None:  # the end: the carried bytes are the last chunks
            if carry:
                yield [piece.data for piece in cutter.cut_buf(carry)]
            return
        whole.update(block)
        window = carry + block if carry else block
        pieces = list(cutter.cut_buf(window))
        yield [piece.data for piece in pieces[:-1]]
        carry = bytes(window[pieces[-1].offset :]) if pieces else b""


def _windows(stream: Iterable[bytes]) -> Iterator[bytes | None]:
    """The stream regrouped in windows of at least ``_WINDOW`` bytes, then None."""
    parts: list[bytes] = []
    held = 0
    for part in stream:
        parts.append(part)
        held += len(part)
        if held >= _WINDOW:
            yield parts[0] if len(parts) == 1 else b"".join(parts)
            parts, held = [], 0
    if parts:
        yield b"".join(parts)
    yield None


# -- reading ----------------------------------------------------------------------------------------
def iter_chunks(store: ObjectStore, recipe: Recipe, window: int) -> Iterator[bytes]:
    """The file's bytes, a run of neighbouring chunks at a time (each chunk checked against its hash before any
    of its bytes is handed out): the chunks of a run lie close together in one pack and are read in one range
    request of up to 8 MiB, ``window`` requests ahead (threads)."""
    runs = list(_runs(recipe))

    def read(run: range) -> bytes:
        return b"".join(_read_run(store, recipe, run))

    if window <= 1 or len(runs) <= 1:
        yield from map(read, runs)
        return
    with ThreadPoolExecutor(max_workers=window, thread_name_prefix="satchel-chunks") as pool:
        ahead: deque[Future[bytes]] = deque()
        try:
            for run in runs:
                ahead.append(pool.submit(read, run))
                if len(ahead) >= window:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()


def read_range(store: ObjectStore, recipe: Recipe, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of the file (within it), from the chunks covering them, each checked against its
    hash. Trusting the recipe is the caller's part (a recipe whose hash the manifest names)."""
    first = bisect_right(recipe.starts, start) - 1
    last = bisect_right(recipe.starts, end - 1) - 1
    data = b"".join(piece for run in _runs(recipe, first, last + 1) for piece in _read_run(store, recipe, run))
    offset = start - recipe.starts[first]
    return data[offset : offset + end - start]


def _runs(recipe: Recipe, begin: int = 0, stop: int | None = None) -> Iterator[range]:
    """Consecutive chunk numbers (from ``begin`` to before ``stop``) stored close together in one pack (one
    range request each)."""
    stop = len(recipe) if stop is None else stop
    start = begin
    for i in range(begin + 1, stop + 1):
        if i == stop or not _joins(recipe, start, i):
            yield range(start, i)
            start = i


def _joins(recipe: Recipe, start: int, i: int) -> bool:
    prev = i - 1
    if recipe.pack_numbers[i] != recipe.pack_numbers[prev]:
        return False
    gap = recipe.offsets[i] - (recipe.offsets[prev] + recipe.lengths[prev])
    return 0 <= gap <= _GAP and recipe.offsets[i] + recipe.lengths[i] - recipe.offsets[start] <= _RUN_BYTES


def _read_run(store: ObjectStore, recipe: Recipe, run: range) -> Iterator[bytes | memoryview]:
    """The checked bytes of the chunks of ``run``, from one range read (chunk by chunk from wherever each is
    stored when that read fails). Locations were checked when the recipe was decoded."""
    first, last = run[0], run[-1]
    pack = recipe.packs[recipe.pack_numbers[first]]
    start = recipe.offsets[first]
    try:
        blob: memoryview | None = memoryview(store.fetch_range(  # sliced below, not copied
            pack, start, recipe.offsets[last] + recipe.lengths[last] - start,
            recipe.hashes[32 * first : 32 * first + 32].hex()))
    except (ObjectMissingError, IntegrityError):  # the pack is gone or short: each chunk may be stored elsewhere
        blob = None
    for i in run:
        if blob is not None:
            begin = recipe.offsets[i] - start
            piece = blob[begin : begin + recipe.lengths[i]]
            data = _decoded(recipe.codecs[i], piece, recipe.sizes[i])
            if data is not None and blake3(data).digest() == recipe.hashes[32 * i : 32 * i + 32]:
                yield data  # the common case, checked here without building names
                continue
            yield store.verified_or_elsewhere(*recipe.chunk(i), piece)  # raises, or reads another copy
        else:
            yield store.read_anywhere(*recipe.chunk(i))


def _decoded(used: int, piece: memoryview, size: int) -> bytes | memoryview | None:
    """The raw bytes of a chunk's payload of ``size`` bytes, or None when it cannot be decoded to that size."""
    try:
        data = codec.decode(used, piece, size)
    except ValueError:
        return None
    return data if len(data) == size else None


def assemble(store: ObjectStore, recipe: Recipe, window: int) -> Iterator[bytes]:
    """``iter_chunks`` and then the check of the whole file's hash (IntegrityError from the store when it does
    not match: the last chunk is held back until it does)."""
    hasher = blake3()  # one thread: chunk-sized updates are too small to share
    held = b""
    for data in iter_chunks(store, recipe, window):
        hasher.update(data)
        if held:
            yield held
        held = data
    if hasher.hexdigest() != recipe.file_hash:
        store.raise_mismatch(recipe.file_hash)
    if held:
        yield held
