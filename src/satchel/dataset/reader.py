"""Reading one file of a version without materializing the version: the bytes of a path, whole or a range.

Every byte handed out is verified:

- content already in the local content cache (intact: size and stamp, re-hashed when touched) is read from
  there;
- a range of a large file stored raw whose entry names a block table (manifest format 4) is read by range from
  its pack, and each block (``BLOCK_SIZE`` raw bytes) is checked against the table before any byte of it is
  used (``satchel.objects.blocks``); verified blocks are kept in a small in-memory read-ahead;
- a range of a chunked large file whose entry names its recipe's hash is read from the chunks covering it, each
  checked against its hash (``satchel.objects.chunks``);
- anything else (small files, compressed large files, external links, older stores without tables) is fetched
  whole, verified against its hash, into the local content cache (the same path ``get_local_copy`` takes),
  then read from there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from satchel.catalog import VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.fetch import fetch_content
from satchel.dataset.listing import Listing, build_listing
from satchel.dataset.view import View
from satchel.errors import IntegrityError, InvalidArgumentError, ObjectMissingError, PathNotFoundError
from satchel.objects import Codec, ManifestEntry
from satchel.objects.blocks import BlockTable, read_blocks
from satchel.objects.chunks import read_range

READ_AHEAD_BLOCKS = 4
"""Verified blocks kept per open version (bounded memory: this many times BLOCK_SIZE)."""
RANGE_READ_MAX = 64 << 20
"""Longer reads (a whole large file) go through the local cache, on disk, not through memory block by block."""
log = logging.getLogger("satchel")


@dataclass
class VersionReader:
    """The files of one version, for readers that want bytes, not a folder (fsspec, ``Dataset.open``, torch)."""

    ctx: Context
    record: VersionRecord
    _view: View | None = None
    _listing: Listing | None = None
    _tables: dict[tuple[str, str, int], BlockTable | None] = field(default_factory=dict)
    _blocks: OrderedDict[tuple[str, str, int], bytes] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def view(self) -> View:
        if self._view is None:
            self._view = self.ctx.views.view(self.record)
        return self._view

    @property
    def listing(self) -> Listing:
        if self._listing is None:
            self._listing = build_listing(self.view)
        return self._listing

    def entry(self, path: str) -> ManifestEntry:
        """The entry at ``path`` (PathNotFoundError, a FileNotFoundError, when there is none)."""
        found = self.view.get(path.strip("/"))
        if found is None:
            raise PathNotFoundError(f"dataset {self.record.id} has no file {path!r}; check the path against the "
                                    "version's file list",
                                    dataset_id=self.record.id, dataset_path=path)
        return found

    def read(self, path: str, start: int = 0, end: int | None = None) -> bytes:
        """Verified bytes ``[start, end)`` of the file at ``path`` (``end`` None: to the end of the file)."""
        entry = self.entry(path)
        end = entry.size if end is None else min(end, entry.size)
        if start < 0 or end < 0:
            raise InvalidArgumentError(f"a range starts and ends at 0 or after, not {start}..{end}")
        if start >= end:
            return b""
        local = self._cached(entry)
        if local is not None:
            with contextlib.suppress(FileNotFoundError):  # evicted in between: read it another way
                return _pread(local, start, end - start)
        if entry.codec == Codec.CHUNKS and entry.blocks and end - start <= RANGE_READ_MAX:
            try:
                return self._read_chunks(entry, start, end)
            except (IntegrityError, ObjectMissingError) as exc:  # the whole-file path tries other stored copies
                log.warning("dataset %s: %s; reading %s whole instead", self.record.id, exc, path)
        table = self._table(entry) if end - start <= RANGE_READ_MAX else None
        if table is not None:
            try:
                return self._read_blocks(entry, table, start, end)
            except (IntegrityError, ObjectMissingError) as exc:  # the whole-file path tries other stored copies
                log.warning("dataset %s: %s; reading %s whole instead", self.record.id, exc, path)
        try:
            return _pread(self._fetch_whole(path, entry), start, end - start)  # not cached: checked above
        except FileNotFoundError:  # evicted by another process just now: once more
            return _pread(self.fetch(path, entry), start, end - start)

    def fetch(self, path: str, entry: ManifestEntry | None = None) -> str:
        """The local content file of ``path``: fetched whole and verified into the cache when not there."""
        entry = entry or self.entry(path)
        return self._cached(entry) or self._fetch_whole(path, entry)

    def _read_chunks(self, entry: ManifestEntry, start: int, end: int) -> bytes:
        """Bytes of a chunked file from the chunks covering them (its recipe checked against the hash the
        manifest names, each chunk against its own)."""
        store = self.ctx.store(str(self.record.storage_url))
        return read_range(store, store.recipe(entry.hash, entry.location, expected=entry.blocks), start, end)

    def _fetch_whole(self, path: str, entry: ManifestEntry) -> str:
        """Fetch ``entry`` whole and verified into the cache; its content file."""
        store = self.ctx.store(str(self.record.storage_url)) if self.record.storage_url else None
        if store is None:
            raise InvalidArgumentError(f"dataset {self.record.id} is a draft whose files are not uploaded; read "
                                       "its source files, or upload() it first")
        with self.ctx.cache.using_content():
            fetch_content(self.ctx.cache, store, {path: entry}, dataset_id=self.record.id, max_workers=1,
                          raise_on_error=True, on_bytes=lambda _n: None, open_link=self.ctx.link_source)
        self.ctx.cache.evict(keep=set())  # the cache's size limit holds for streamed reads too
        return self.ctx.cache.content_file(entry.hash)

    def _cached(self, entry: ManifestEntry) -> str | None:
        intact = self.ctx.cache.content_looks_intact(entry.hash, entry.size)
        if intact is None:
            return None
        if intact or self.ctx.cache.recheck(entry.hash, entry.size, verifiable=not entry.link):
            return self.ctx.cache.content_file(entry.hash)
        return None

    def _table(self, entry: ManifestEntry) -> BlockTable | None:
        if not entry.blocks or entry.link or not entry.pack or not self.record.storage_url:
            return None
        key = (entry.blocks, entry.hash, entry.size)  # a table is checked against one entry's hash and size
        with self._lock:
            if key in self._tables:
                return self._tables[key]
        store = self.ctx.store(self.record.storage_url)
        found = read_blocks(store, entry)
        with self._lock:
            self._tables[key] = found
        return found

    def _read_blocks(self, entry: ManifestEntry, table: BlockTable, start: int, end: int) -> bytes:
        first, last = start // table.block_size, (end - 1) // table.block_size
        with self._lock:
            got = {i: self._blocks[(entry.blocks, entry.hash, i)] for i in range(first, last + 1)
                   if (entry.blocks, entry.hash, i) in self._blocks}
        missing = [i for i in range(first, last + 1) if i not in got]
        if missing:  # one range request for the blocks not in the read-ahead, each checked against the table
            store = self.ctx.store(str(self.record.storage_url))
            for index, data in table.read(store, entry, missing[0], missing[-1] + 1):
                got[index] = data
                self._remember((entry.blocks, entry.hash, index), data)
        out = bytearray()
        for index in range(first, last + 1):
            base = index * table.block_size
            out += got[index][max(start - base, 0) : min(end - base, len(got[index]))]
        return bytes(out)

    def _remember(self, key: tuple[str, str, int], data: bytes) -> None:
        with self._lock:
            self._blocks[key] = data
            self._blocks.move_to_end(key)
            while len(self._blocks) > max(READ_AHEAD_BLOCKS, 1):
                self._blocks.popitem(last=False)


def _pread(path: str, start: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        out = bytearray()
        while len(out) < length:
            chunk = os.pread(fd, length - len(out), start + len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        os.close(fd)
