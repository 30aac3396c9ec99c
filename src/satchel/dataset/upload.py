"""Storing content that a target store does not hold yet: local files and content of other stores.

Small entries are read, verified and compressed by a thread pool, or for many small local files by worker
processes (``encode_workers``), and appended in order to packs of about ``chunk_bytes``; a writer thread
stores full packs (pack, then index) while the next one fills. Large
entries are streamed into packs of their own. Each pack is complete on its own, so an interrupted upload
keeps every pack already indexed and a rerun stores only what is missing.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from satchel.dataset.encode_workers import Encoded, EncodePool
from satchel.dataset.scan import prefetch, read_ahead_pays, read_file
from satchel.dataset.workers import process_count
from satchel.errors import SourceFileError
from satchel.objects import Codec, Location, ObjectStore, PackBuilder, hash_bytes
from satchel.objects import codec as codecs
from satchel.objects.blocks import TABLE_MIN_SIZE
from satchel.objects.chunks import CHUNKED_MIN_SIZE

LARGE_FILE = CHUNKED_MIN_SIZE
_READ_CHUNK = 8 << 20
_BATCH_BYTES = 8 << 20
_BATCH_FILES = 256


class UploadItem(NamedTuple):
    """One content hash to store, read either from a local file or from another store (a tuple: a first upload
    of 100,000 files makes one for each)."""

    hash: str
    size: int
    dataset_path: str
    local_path: str | None = None
    source_store: ObjectStore | None = None
    source_location: Location | None = None
    base: tuple[str, Location] | None = None
    """A chunked entry of the target store that this content likely shares most chunks with (the same path's
    content in the parent version): its recipe may copy runs of that one's rows."""


@dataclass
class UploadReport:
    """What one upload stored."""

    files: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    packs: int = 0


def _changed(item: UploadItem, what: str) -> SourceFileError:
    return SourceFileError(
        f"{item.local_path} {what} since it was added as {item.dataset_path!r}; run add_files() (or "
        "sync_folder()) again for it, then upload()",
        path=item.local_path or "",
    )


def _read_local(item: UploadItem) -> bytes:
    assert item.local_path is not None
    try:
        data, info = read_file(item.local_path, item.size)
    except FileNotFoundError:
        raise _changed(item, "vanished") from None
    if len(data) != item.size or info.st_size != item.size or hash_bytes(data) != item.hash:
        raise _changed(item, "changed")
    return data


def _local_chunks(item: UploadItem) -> Iterator[bytes]:
    assert item.local_path is not None
    try:
        handle = open(item.local_path, "rb")  # noqa: SIM115 - closed below, generator
    except FileNotFoundError:
        raise _changed(item, "vanished") from None
    with handle:
        while chunk := handle.read(_READ_CHUNK):
            yield chunk


class PackPipeline:
    """Fills packs and stores them on writer threads, keeping at most ``in_flight`` packs in flight
    (1 for a local folder, where the disk is the limit; several for object stores, where each request
    waits on the network)."""

    def __init__(self, target: ObjectStore, chunk_bytes: int, report: UploadReport,
                 on_bytes: Callable[[int], None], in_flight: int = 1) -> None:
        self.target = target
        self.chunk_bytes = chunk_bytes
        self.report = report
        self.on_bytes = on_bytes
        self.in_flight = max(1, in_flight)
        self.builder = PackBuilder()
        self.writer = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="satchel-pack")
        self.pending: deque[Future[None]] = deque()
        self._lock = threading.Lock()

    def add(self, content_hash: str, codec: Codec, payload: bytes | memoryview, size: int) -> None:
        """Append one entry; ship the pack when it is full."""
        self.builder.add(content_hash, codec, payload, size)
        if self.builder.stored_bytes >= self.chunk_bytes:
            self.ship()

    def ship(self) -> None:
        """Hand the current pack to a writer (after the oldest finishes when ``in_flight`` are busy)."""
        if not len(self.builder):
            return
        builder, self.builder = self.builder, PackBuilder()
        while len(self.pending) >= self.in_flight:
            self.pending.popleft().result()
        self.pending.append(self.writer.submit(self._write, builder))

    def _write(self, builder: PackBuilder) -> None:
        self.target.write_pack(builder)
        with self._lock:
            self.report.packs += 1
            self.report.files += len(builder)
            self.report.raw_bytes += builder.raw_bytes
            self.report.stored_bytes += builder.stored_bytes
            self.on_bytes(builder.raw_bytes)

    def wait(self) -> None:
        """Block until every pack in flight is stored (re-raising the first error)."""
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        """Store what is left and stop the writer."""
        try:
            self.ship()
            self.wait()
        finally:
            self.writer.shutdown(wait=True)


def store_items(
    target: ObjectStore,
    items: list[UploadItem],
    *,
    level: int | None,
    chunk_bytes: int,
    max_workers: int,
    on_bytes: Callable[[int], None],
    packs_in_flight: int = 1,
    large_in_flight: int = 1,
) -> UploadReport:
    """Store every item into ``target``; raise SourceFileError / IntegrityError / StorageError on failure."""
    report = UploadReport()
    small: list[UploadItem] = []
    large: list[UploadItem] = []
    for item in items:
        (large if _stored_alone(item) else small).append(item)
    small.sort(key=lambda i: (i.local_path is None, i.local_path or "", i.hash))
    pipeline = PackPipeline(target, chunk_bytes, report, on_bytes, packs_in_flight)
    local = [item.local_path for item in small if item.local_path is not None]
    processes = process_count(len(local), max_workers)
    try:
        with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="satchel-read") as pool, \
                EncodePool(processes, bool(local) and read_ahead_pays(local[0]),
                           lambda batch: [_encode(item, level) for item in batch]) as encoders:
            def submit(batch: list[UploadItem]) -> Future[Encoded]:
                if processes and all(item.local_path is not None for item in batch):
                    return encoders.submit(batch, level)
                return pool.submit(_encode_batch, batch, level)

            _encode_in_window(submit, small, pipeline, window=8 * processes or 2 * max_workers)
    finally:
        pipeline.close()
    lock = threading.Lock()

    def store_large(item: UploadItem) -> None:
        stored = _store_large(target, item, level)
        with lock:
            report.files += 1
            report.packs += 1
            report.raw_bytes += item.size
            report.stored_bytes += stored
            on_bytes(item.size)

    if large_in_flight > 1 and len(large) > 1:
        with ThreadPoolExecutor(max_workers=large_in_flight, thread_name_prefix="satchel-large") as pool:
            for future in [pool.submit(store_large, item) for item in large]:
                future.result()
    else:
        for item in large:
            store_large(item)
    return report


def _encode_in_window(submit: Callable[[list[UploadItem]], Future[Encoded]], items: list[UploadItem],
                      pipeline: PackPipeline, window: int) -> None:
    """Read and encode batches in parallel (``submit`` starts one), at most ``window`` batches ahead of the
    packer (bounded memory); on an error, batches not started yet are cancelled."""
    ahead: deque[Future[Encoded]] = deque()

    def drain() -> None:
        for content_hash, codec, payload, size in ahead.popleft().result():
            pipeline.add(content_hash, codec, payload, size)

    try:
        for batch in _batches(items):
            ahead.append(submit(batch))
            if len(ahead) >= window:
                drain()
        while ahead:
            drain()
    except BaseException:
        for future in ahead:
            future.cancel()
        raise


def _encode_batch(batch: list[UploadItem], level: int | None) -> Encoded:
    """Read and encode a batch in this process, its local files hinted to the kernel first (on local disks)."""
    if batch and batch[0].local_path is not None and read_ahead_pays(batch[0].local_path):
        for item in batch:
            if item.local_path is not None:
                prefetch(item.local_path)
    return [_encode(item, level) for item in batch]


def _encode(item: UploadItem, level: int | None) -> tuple[str, Codec, bytes | memoryview, int]:
    if item.local_path is not None:
        data = _read_local(item)
    else:
        assert item.source_store is not None and item.source_location is not None
        data = item.source_store.read(item.hash, item.source_location)
    codec, payload = codecs.encode(data, level)
    return item.hash, codec, payload, item.size


RANGE_READ_SUFFIXES = frozenset({
    ".parquet", ".arrow", ".feather", ".ipc", ".orc", ".avro", ".lance", ".npy", ".h5", ".hdf5", ".nc",
    ".tfrecord", ".zip", ".tar", ".mp4", ".mov", ".mkv", ".webm", ".mp3", ".flac", ".ogg", ".wav"})
"""Large files of formats readers open by range (columnar tables, arrays, archives, media) are stored raw, so
``satchel://`` reads only the blocks a reader asks for (a Parquet footer, a few row groups, a seek)."""


def _range_read(item: UploadItem) -> bool:
    return os.path.splitext(item.dataset_path)[1].lower() in RANGE_READ_SUFFIXES


def _stored_alone(item: UploadItem) -> bool:
    """Large files get a pack of their own; so do files of range-read formats from 4 MiB (raw, with a block
    table)."""
    return item.size >= LARGE_FILE or (item.size >= TABLE_MIN_SIZE and _range_read(item))


def _store_large(target: ObjectStore, item: UploadItem, level: int | None) -> int:
    """Store one large item: chunked (content-defined chunks the store lacks, then its recipe), or, for formats
    read by range, raw in a pack of its own with a block table. Return the bytes newly stored."""
    if item.local_path is not None:
        return _store_stream(target, item, level, _local_chunks(item))
    assert item.source_store is not None and item.source_location is not None
    target.cache_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="satchel-copy-", dir=target.cache_dir)
    os.close(fd)
    temp = Path(name)
    try:
        item.source_store.read_to_file(item.hash, item.source_location, temp)
        copy = UploadItem(item.hash, item.size, item.dataset_path, local_path=str(temp))
        return _store_stream(target, copy, level, _local_chunks(copy))
    finally:
        temp.unlink(missing_ok=True)


def _store_stream(target: ObjectStore, item: UploadItem, level: int | None, chunks: Iterator[bytes]) -> int:
    if _range_read(item):
        content_hash, location = target.write_stream(chunks, None)
        stored = location.length
    else:
        content_hash, location, stored = target.write_chunked(chunks, level, item.base)
    if content_hash != item.hash:
        raise _changed(item, "changed")
    return stored


def _batches(items: list[UploadItem]) -> Iterator[list[UploadItem]]:
    batch: list[UploadItem] = []
    weight = 0
    for item in items:
        batch.append(item)
        weight += item.size
        if len(batch) >= _BATCH_FILES or weight >= _BATCH_BYTES:
            yield batch
            batch, weight = [], 0
    if batch:
        yield batch
