"""Manifests: a version's file table as one content-addressed object (see docs/format.md).

A ``full`` manifest lists every path of a version's view. A ``delta`` manifest lists the paths put and
removed relative to the merge of its ``parents`` (in order, later parents win); readers apply it on
top of the parents' views. Each entry carries its stored location, so reading one file needs no index.

Encoding: zstd over ``MAGIC``, a JSON header, then one column per field (paths NUL-separated, hashes as
32 raw bytes, integers little-endian), which loads a million entries in well under a second.
"""

from __future__ import annotations

import io
import json
import struct
import sys
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

import zstandard

from satchel.objects.codec import Codec
from satchel.objects.collector import gc_paused
from satchel.objects.columns import Columns, ColumnsSource, EntryColumns, Piece, Streamed, little_endian
from satchel.objects.hashing import hash_bytes, is_content_hash
from satchel.objects.packs import Location
from satchel.objects.pathnames import (
    check_joined,
    check_unique,
    clash_error,
    find_sorted_clash,
    from_wire,
    is_valid_id,
    needs_escape,
    to_wire,
    utf8,
)

MANIFEST_MAGIC = b"SATCHMF1"
MANIFEST_FORMAT = 1
MANIFEST_FORMAT_LINKS = 2  # format 1 plus a column of external links; written only when there are links
MANIFEST_FORMAT_ESCAPED = 3  # format 2 with paths in wire form (%25, %5C, %80-%FF); written only when needed
MANIFEST_FORMAT_BLOCKS = 4  # format 3 plus a column naming each entry's block table; written only when needed
MANIFEST_FORMAT_CHUNKS = 5  # format 4, and entries may be chunked files (codec 2); written only when some is
_TABLE_FORMATS = (MANIFEST_FORMAT_BLOCKS, MANIFEST_FORMAT_CHUNKS)
_NO_PACK = 0xFFFFFFFF
_MAX_RATIO = 1024  # a degenerate but real manifest (a million empty files) compresses ~200x
_MIN_LIMIT = 64 << 20
_MAX_RAW = 1 << 36
_LEN = struct.Struct("<Q")
_ROW_BYTES = 32 + 8 + 4 + 4 + 8 + 8 + 1  # an entry's bytes in the fixed-width columns (hash to codec)
_PIECE = 4 << 20  # bytes of the raw manifest's paths decoded at a time (the joined paths are never held whole)
_NUMPY_MAX_FROM = 4_000_000  # ids from which their largest is found by numpy (loading it costs about 0.07 s)


class ManifestEntry(NamedTuple):
    """One file of a version: content hash, raw size, the version that introduced it, and location.

    ``pack`` is empty while the content is not stored yet (draft versions only), and for external links.
    ``link`` is set for an external link: the source URL and its change tag (see :func:`make_link`); its
    ``hash`` is then :func:`link_id`, not a content hash, since the bytes stay at the source.
    """

    hash: str
    size: int
    origin: str
    pack: str = ""
    offset: int = 0
    length: int = 0
    codec: int = 0
    link: str = ""
    blocks: str = ""
    """The hash of the entry's block table (large files stored raw; see ``satchel.objects.blocks``), or empty."""

    @property
    def location(self) -> Location:
        """Where the content is stored (meaningful when ``pack`` is set)."""
        return Location(self.pack, self.offset, self.length, self.size, self.codec)


def with_origin(entry: ManifestEntry, origin: str) -> ManifestEntry:
    """``entry`` with another origin (what ``entry._replace(origin=origin)`` gives, four times faster: a squash
    of a million entries does this for each)."""
    return _new_entry(ManifestEntry, (entry[0], entry[1], origin, *entry[3:]))


def draft_entry(content_hash: str, size: int, origin: str, link: str | None) -> ManifestEntry:
    """A draft's entry, not stored yet (what ``ManifestEntry(content_hash, size, origin, link=link or "")`` gives,
    without its keyword handling: a draft of 100,000 files makes one per row)."""
    return _new_entry(ManifestEntry, (content_hash, size, origin, "", 0, 0, 0, link or "", ""))


def located_at(entry: ManifestEntry, location: Location, blocks: str) -> ManifestEntry:
    """``entry`` stored at ``location`` with block table ``blocks`` (what ``entry._replace(pack=..., offset=...,
    length=..., codec=..., blocks=...)`` gives, without its keyword handling: finalize does this per row)."""
    return _new_entry(ManifestEntry, (entry[0], entry[1], entry[2], location.pack, location.offset, location.length,
                                      location.codec, entry[7], blocks))


_new_entry = tuple.__new__


def make_link(url: str, tag: str | None) -> str:
    """The ``link`` field of an external link: URL and change tag (empty when the source offers none)."""
    return f"{url}\n{tag or ''}"


def split_link(link: str) -> tuple[str, str]:
    """(url, change tag) of a ``link`` field."""
    url, _, tag = link.partition("\n")
    return url, tag


def source_matches(entry: ManifestEntry, size: int, tag: str | None) -> bool:
    """Does a link's source (its current size and change tag) still match what ``entry`` recorded? Without a
    recorded tag (the source offered none) only the size is compared."""
    recorded = split_link(entry.link)[1]
    return size == entry.size and (not recorded or tag == recorded)


def link_id(url: str, tag: str | None, size: int) -> str:
    """Identity of an external link's content: changes whenever its URL, change tag or size does."""
    return hash_bytes(f"satchel-link\0{url}\0{tag or ''}\0{size}".encode())


@dataclass
class Manifest:
    """Decoded manifest. ``entries`` are puts (all files for ``full``), ``removed`` are delta removals."""

    kind: str
    parents: list[str] = field(default_factory=list)
    entries: Mapping[str, ManifestEntry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)


def manifest_key(manifest_hash: str) -> str:
    """Storage key of a manifest object."""
    return f"manifests/{manifest_hash[:2]}/{manifest_hash}"


def _check_ids(ids: array[int], known: int, what: str, *, missing_allowed: bool) -> None:
    """Every id names one of ``known`` names (or, with ``missing_allowed``, is the no-such-thing marker)."""
    if not ids or _largest(ids) < known:
        return
    bad = set(ids) - set(range(known)) - ({_NO_PACK} if missing_allowed else set())
    if bad:
        raise ValueError(f"manifest names {what} {min(bad)}, and lists only {known}")


def _largest(ids: array[int]) -> int:
    """The largest of ``ids`` (not empty): by numpy for a big column (W5's 10M ids: 5 ms, ``max`` took 0.12 s), by
    ``max`` for a small one, which is not worth loading numpy for."""
    if len(ids) < _NUMPY_MAX_FROM:
        return max(ids)
    import numpy as np

    return int(np.asarray(ids).max())


def _check_order(paths: Sequence[str]) -> None:
    """Paths are strictly increasing, as the encoder writes them (so each is listed once, and a lookup can
    bisect); PathError naming a path listed twice, ValueError when they are out of order."""
    if all(map(str.__lt__, paths, islice(paths, 1, None))):
        return
    check_unique(paths, set(paths))
    raise ValueError("manifest paths are not in order: damaged, or not written by satchel")


def _refuse_clash(paths: Sequence[str]) -> None:
    """PathError when a path of strictly increasing ``paths`` is both a file and a folder."""
    clash = find_sorted_clash(paths)
    if clash is not None:
        raise clash_error(*clash)


def _names(values: list[str]) -> dict[int, str]:
    """Column id -> name, with the no-such-thing marker naming nothing."""
    names = dict(enumerate(values))
    names[_NO_PACK] = ""
    return names


def _framed(*parts: Piece | Streamed) -> bytes:
    """``MANIFEST_MAGIC`` then each part with its length, compressed as one zstd frame that declares its size;
    the parts are fed to the compressor one by one, streamed ones piece by piece (the raw manifest, 90 MB for a
    million entries, is never joined in memory), and the frame grows in one buffer that becomes the result
    without a copy (joining its pieces at the end held the frame twice)."""
    sizes = [part.nbytes if isinstance(part, Streamed) else len(part) for part in parts]
    compressor = zstandard.ZstdCompressor(level=3).compressobj(
        size=len(MANIFEST_MAGIC) + sum(_LEN.size + size for size in sizes))
    out = io.BytesIO()
    out.write(compressor.compress(MANIFEST_MAGIC))
    for part, size in zip(parts, sizes, strict=True):
        out.write(compressor.compress(_LEN.pack(size)))
        if not isinstance(part, Streamed):
            out.write(compressor.compress(part))
            continue
        written = 0
        for piece in part.pieces():
            written += len(piece)
            out.write(compressor.compress(piece))
        if written != size:  # a bug, never data: the frame would not match its declared size
            raise AssertionError(f"a streamed manifest column wrote {written} bytes, not {size}")
    out.write(compressor.flush())
    return out.getvalue()


def encode_manifest(manifest: Manifest) -> bytes:
    """Serialize deterministically (paths sorted). Raises PathError when a path is not a valid dataset path
    (or is both a file and a folder), so no such manifest is ever written."""
    with gc_paused():
        return _encode(manifest)


def _encode(manifest: Manifest) -> bytes:
    entries = manifest.entries
    cols = entries.columns() if isinstance(entries, ColumnsSource) else None  # columns, or an overlay over them
    if cols is None:
        cols = _columns_of(entries)
    joined, removed = "\0".join(cols.paths), "\0".join(sorted(manifest.removed))
    chunked = Codec.CHUNKS in cols.codecs
    escaped = chunked or bool(cols.tables) or needs_escape(joined) or needs_escape(removed)  # one form for both
    # columns; formats 4 and 5 always write the wire form
    if escaped:
        joined, removed = to_wire(joined), to_wire(removed)
    check_joined(joined, len(cols.paths))
    check_joined(removed, len(manifest.removed))
    _refuse_clash(cols.paths)
    has_links = cols.links is not None and any(cols.links)
    version = MANIFEST_FORMAT_CHUNKS if chunked else MANIFEST_FORMAT_BLOCKS if cols.tables else \
        MANIFEST_FORMAT_ESCAPED if escaped else \
        MANIFEST_FORMAT_LINKS if has_links else MANIFEST_FORMAT
    if not all(map(is_content_hash, cols.tables)):
        raise ValueError(f"manifest block tables {cols.tables[:3]} are not content hashes")
    if not all(map(is_valid_id, [*cols.origins, *manifest.parents])) or not all(map(is_content_hash, cols.packs)):
        raise ValueError(f"manifest origins {cols.origins[:3]}, parents {manifest.parents[:3]} or packs "
                         f"{cols.packs[:3]} are not valid ids")
    header: dict[str, Any] = {"format": version, "kind": manifest.kind, "parents": manifest.parents,
                              "packs": cols.packs, "origins": cols.origins, "count": len(cols.paths)}
    if version in _TABLE_FORMATS:
        header["tables"] = cols.tables
    path_bytes = _ascii_pieces(joined) if joined.isascii() else joined.encode("utf-8")  # not the paths twice
    del joined
    blocks = [
        json.dumps(header, separators=(",", ":")).encode(),
        path_bytes,
        cols.hashes,
        _little_endian(cols.sizes),
        _little_endian(cols.origin_ids),
        _little_endian(cols.pack_ids),
        _little_endian(cols.offsets),
        _little_endian(cols.lengths),
        cols.codecs,
        removed.encode("utf-8"),
    ]
    if version != MANIFEST_FORMAT:
        blocks.append("\0".join(cols.links or [""] * len(cols.paths)).encode())
    if version in _TABLE_FORMATS:
        no_tables = array("I", [_NO_PACK]) * len(cols.paths)
        blocks.append(_little_endian(cols.table_ids if cols.table_ids is not None else no_tables))
    return _framed(*blocks)


def _ascii_pieces(text: str, piece: int = 1 << 20) -> Streamed:
    """ASCII ``text``'s bytes (its UTF-8) streamed a piece at a time, so a million paths are never held both as
    one str and as bytes."""
    return Streamed(len(text), lambda: (text[at : at + piece].encode("ascii") for at in range(0, len(text), piece)))


def _columns_of(entries: Mapping[str, ManifestEntry]) -> Columns:
    """Entries held one tuple each (a manifest being built), as the encoder's columns."""
    paths = sorted(entries)
    rows = list(map(entries.__getitem__, paths))
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ManifestEntry._fields)
    hashes, sizes, row_origins, row_packs, offsets, lengths, codecs, links, row_tables = columns
    origins = sorted(set(row_origins))
    packs = sorted(set(row_packs) - {""})
    tables = sorted(set(row_tables) - {""})
    origin_no = {o: i for i, o in enumerate(origins)}
    pack_no = {p: i for i, p in enumerate(packs)} | {"": _NO_PACK}
    table_no = {t: i for i, t in enumerate(tables)} | {"": _NO_PACK}
    return Columns(
        paths, bytes.fromhex("".join(hashes)), array("Q", sizes), origins,
        array("I", map(origin_no.__getitem__, row_origins)), packs, array("I", map(pack_no.__getitem__, row_packs)),
        array("Q", offsets), array("Q", lengths), bytes(codecs), list(links) if any(links) else None, tables,
        array("I", map(table_no.__getitem__, row_tables)) if tables else None)


def _little_endian(values: array[int] | Streamed) -> memoryview | Streamed:
    """The array's bytes, little-endian (a view of them, no copy, on a little-endian machine). A streamed column
    is little-endian already."""
    return values if isinstance(values, Streamed) else little_endian(values)


PATH_CHECKS = 1
"""The version of the decoder's path checks: raise it when they change, so bytes marked as having passed older
checks (``decode_manifest(paths_checked=True)``) are checked again."""


def decode_manifest(data: bytes, *, paths_checked: bool = False) -> Manifest:
    """Parse and check a manifest object. Raises PathError (a ValueError) when a path is not a valid dataset
    path, is listed twice or is both a file and a folder, and ValueError when it is not a readable manifest.

    ``paths_checked``: these very bytes passed this decoder's path checks (``PATH_CHECKS``) before, or were
    written by ``encode_manifest``, which refuses what they refuse; the caller knows it by their hash. The
    per-path checks (valid paths, order, clashes: about half of decoding a million paths) are then skipped;
    every other check still runs."""
    try:
        with gc_paused():
            return _decode(data, paths_checked)
    except ValueError:
        raise
    except MemoryError as exc:
        raise ValueError("manifest too large to decode (a damaged or hostile object?)") from exc
    except (zstandard.ZstdError, struct.error, LookupError, AttributeError, TypeError) as exc:
        raise ValueError(f"corrupt manifest: {exc!r}") from exc


def _header(block: bytes | bytearray) -> tuple[dict[str, Any], int, int]:
    """The checked JSON header, its format version and entry count."""
    header = json.loads(block)
    if not isinstance(header, dict):
        raise ValueError("manifest header is not an object")
    version = header.get("format")
    if version not in (MANIFEST_FORMAT, MANIFEST_FORMAT_LINKS, MANIFEST_FORMAT_ESCAPED, *_TABLE_FORMATS):
        raise ValueError(f"manifest format {version} is not supported (expected {MANIFEST_FORMAT} to "
                         f"{MANIFEST_FORMAT_CHUNKS}); upgrade satchel to read it")
    tables = header.get("tables", [])
    if version in _TABLE_FORMATS and (not isinstance(tables, list)
                                              or not all(isinstance(t, str) and is_content_hash(t) for t in tables)):
        raise ValueError("manifest block tables are not a list of content hashes")
    count = header.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"manifest count {count!r} is not a number of entries")
    if header.get("kind") not in ("full", "delta"):
        raise ValueError(f"manifest kind {header.get('kind')!r} is neither 'full' nor 'delta'")
    for name in ("parents", "origins"):
        if not isinstance(header.get(name), list) or not all(map(is_valid_id, header[name])):
            raise ValueError(f"manifest {name} are not a list of version ids")
    packs = header.get("packs")
    if not isinstance(packs, list) or not all(isinstance(p, str) and is_content_hash(p) for p in packs):
        raise ValueError("manifest packs are not a list of pack ids")
    for name in ("origins", "packs", "tables"):
        if name in header and len(set(header[name])) != len(header[name]):
            raise ValueError(f"manifest {name} name one twice (each column id stands for one name)")
    return header, version, count


class _RawReader:
    """The raw manifest (``MANIFEST_MAGIC``, then length-prefixed blocks) read from its zstd frame one block at a
    time, each column decompressed straight into the buffer that keeps it: the raw manifest (900 MB for W5's 10M
    entries) is never held whole, and no column is held twice.

    A frame declaring more than ``_MAX_RATIO`` times the object's size is refused at once (a small hostile object
    could otherwise make a reader allocate gigabytes), and a block longer than what the frame still declares is
    refused before it is allocated; libzstd refuses a frame whose content is not the size it declares (checked
    at its end, which ``end()`` reads). A frame that declares no size (never written by satchel) is decompressed
    whole first, up to that limit."""

    def __init__(self, data: bytes) -> None:
        limit = min(_MAX_RAW, max(_MIN_LIMIT, _MAX_RATIO * len(data)))
        declared = zstandard.frame_content_size(data)
        if declared > limit:
            raise ValueError(f"manifest declares {declared} bytes for a {len(data)}-byte object (over "
                             f"{_MAX_RATIO}x): damaged or hostile")
        self._reader: Any = zstandard.ZstdDecompressor().stream_reader(data)
        self._left = declared
        if declared < 0:  # not declared (never by satchel): decompressed whole, up to the limit
            whole = self._reader.read(limit + 1)
            if len(whole) > limit:
                raise ValueError(f"manifest decodes to more than {limit} bytes: damaged or hostile")
            self._reader, self._left = io.BytesIO(whole), len(whole)

    @property
    def left(self) -> int:
        """Raw bytes the frame may still give (what it declares; all it held when it declares nothing)."""
        return self._left

    def exactly(self, size: int) -> bytearray:
        """The next ``size`` raw bytes."""
        buffer = bytearray(size)
        self._fill(buffer)
        return buffer

    def length(self) -> int:
        """The next block's length, refused when the frame cannot hold that many bytes."""
        size: int = _LEN.unpack(self.exactly(_LEN.size))[0]
        if size > self._left:
            raise ValueError(f"a manifest block claims {size} bytes, more than its frame holds: damaged or hostile")
        return size

    def block(self) -> bytearray:
        """The next block, whole (a small one: header, removed paths, links)."""
        return self.exactly(self.length())

    def column(self, width: int, count: int) -> bytearray:
        """The next block, which must hold ``count`` values of ``width`` bytes."""
        return self.exactly(self._sized(width, count))

    def ints(self, typecode: str, count: int) -> array[int]:
        """The next block as an array of ``count`` little-endian integers."""
        self._sized(array(typecode).itemsize, count)
        values = array(typecode, [0]) * count
        self._fill(values)
        if sys.byteorder == "big":
            values.byteswap()
        return values

    def pieces(self, size: int) -> Iterator[bytearray]:
        """``size`` raw bytes (a block's length, read already) in pieces of at most ``_PIECE``."""
        while size:
            piece = self.exactly(min(size, _PIECE))
            size -= len(piece)
            yield piece

    def end(self) -> None:
        """Check that the frame ends after the last block (reading its end makes libzstd check the declared size;
        bytes after the frame are ignored, as a whole-frame decompression ignores them)."""
        if self._reader.read(1):
            raise ValueError("manifest holds bytes after its last block: damaged or not written by satchel")

    def _sized(self, width: int, count: int) -> int:
        size = self.length()
        if size != width * count:
            raise ValueError("manifest columns disagree on the number of entries")
        return size

    def _fill(self, buffer: bytearray | array[int]) -> None:
        """Fill ``buffer`` with the next raw bytes (as many as it holds)."""
        view = memoryview(buffer).cast("B")
        if len(view) > self._left:
            raise ValueError("truncated manifest")
        done = 0
        while done < len(view):
            got = self._reader.readinto(view[done:])
            if not got:
                raise ValueError("truncated manifest")
            done += got
        self._left -= done


def _codecs_known(codecs: bytearray, max_codec: int) -> None:
    """Every codec is one the manifest's format knows (a scan at C speed)."""
    unknown = codecs.translate(None, bytes(range(max_codec + 1)))
    if unknown:
        raise ValueError(f"manifest holds an unknown codec {max(unknown)}")


def _paths(raw: _RawReader, count: int, *, escaped: bool, checked: bool) -> tuple[str, ...]:
    """The next block's ``count`` NUL-joined paths, decoded and split a piece at a time, checked unless
    ``checked`` (they are known valid): the joined paths are never held whole next to their strings (W5's 10M:
    250 MB), except a single path longer than a piece, which is held whole before it is split."""
    size = raw.length()
    if not size and not count:
        return ()
    listed: list[str] = []
    tail = bytearray()  # the start of a path a piece cut (only the new piece is searched for its end)
    for piece in raw.pieces(size):
        cut = piece.rfind(b"\0")
        if cut < 0:
            tail += piece
            continue
        listed += _split(tail + piece[:cut], escaped=escaped, checked=checked)
        tail = piece[cut + 1 :]
        if len(listed) >= count:
            raise ValueError("manifest columns disagree on the number of entries")
    listed += _split(tail, escaped=escaped, checked=checked)  # the last path (an empty block: one empty path)
    if len(listed) != count:
        raise ValueError("manifest columns disagree on the number of entries")
    return tuple(listed)  # strings only: the collector stops tracking it, a list costs every full pass


def _split(joined: bytes | bytearray, *, escaped: bool, checked: bool) -> list[str]:
    """The paths of NUL-joined UTF-8 bytes (at least one, perhaps empty; in wire form when ``escaped``), checked
    unless ``checked``."""
    wire = utf8(joined)
    if not checked:
        check_joined(wire, wire.count("\0") + 1)
    return (from_wire(wire) if escaped else wire).split("\0")


def _removed(raw: _RawReader, *, escaped: bool, checked: bool) -> list[str]:
    """The removed paths of a delta (the next block; empty when there are none)."""
    joined = raw.block()
    return _split(joined, escaped=escaped, checked=checked) if joined else []


def _links(raw: _RawReader, count: int) -> tuple[str, ...] | None:
    """The links column (the next block), None when no entry is a link (known without splitting it)."""
    joined = raw.block()
    if joined.count(0) == len(joined) == max(count - 1, 0):
        return None
    links = tuple(str(joined, "utf-8").split("\0"))
    if len(links) != count:
        raise ValueError("manifest columns disagree on the number of entries")
    return links


def _decode(data: bytes, paths_checked: bool) -> Manifest:
    raw = _RawReader(data)
    if raw.exactly(len(MANIFEST_MAGIC)) != MANIFEST_MAGIC:
        raise ValueError("not a satchel manifest")
    header, version, count = _header(raw.block())
    with_tables = version in _TABLE_FORMATS
    if raw.left < count * (_ROW_BYTES + 4 * with_tables):  # cannot hold the columns: refused unread
        raise ValueError("truncated manifest")
    escaped = version in (MANIFEST_FORMAT_ESCAPED, *_TABLE_FORMATS)  # formats 4 and 5: paths in wire form
    paths = _paths(raw, count, escaped=escaped, checked=paths_checked)
    hashes = raw.column(32, count)
    sizes = raw.ints("Q", count)
    origin_ids, pack_ids = raw.ints("I", count), raw.ints("I", count)
    _check_ids(origin_ids, len(header["origins"]), "origin", missing_allowed=False)
    _check_ids(pack_ids, len(header["packs"]), "pack", missing_allowed=True)
    offsets, lengths = raw.ints("Q", count), raw.ints("Q", count)
    codecs = raw.column(1, count)
    _codecs_known(codecs, max_codec=Codec.CHUNKS if version == MANIFEST_FORMAT_CHUNKS else Codec.ZSTD)
    removed = _removed(raw, escaped=escaped, checked=paths_checked)
    links = _links(raw, count) if version != MANIFEST_FORMAT else None
    table_ids = raw.ints("I", count) if with_tables else None
    if table_ids is not None:
        _check_ids(table_ids, len(header.get("tables", [])), "block table", missing_allowed=True)
    raw.end()
    entries = EntryColumns(
        ManifestEntry, paths, hashes, sizes, origin_ids, list(header["origins"]), pack_ids, _names(header["packs"]),
        offsets, lengths, codecs, links, table_ids, _names(header.get("tables", [])))
    if not paths_checked:
        _check_order(paths)
        _refuse_clash(paths)
    if header["kind"] == "full" and removed:
        raise ValueError("a full manifest lists removed paths")
    return Manifest(kind=header["kind"], parents=list(header["parents"]), entries=entries, removed=removed)
