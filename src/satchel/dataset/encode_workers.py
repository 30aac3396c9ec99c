"""Reading, verifying and compressing many small local files for an upload in worker processes.

An upload of 100,000 small files spends its time reading each, checking its hash and compressing it: per-file
work that threads take turns at under the GIL. An ``EncodePool`` runs a few worker processes instead (started
by ``satchel.dataset.workers``); the parent keeps packing in order, as with threads.

Protocol, per worker: the parent writes pickled requests ``(batch number, [(path, size, hash)], level,
hint)`` to its stdin; the worker answers each with a header ``(batch number, count, status, body length)`` and
a body: when the status is 0, a ``(codec, length)`` per item, then the payloads in order. Status 1 means a
file of the batch changed, vanished or could not be read: the parent encodes that batch itself, which raises
the error it names. Every answer's shape is checked against the request (batch number, count, codec, length)
before a byte of it is used; its bytes are not hashed again (the worker runs this same code, which hashed what
it read). A worker that dies or answers anything else is stopped and its batches are encoded by the parent.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import IO, TYPE_CHECKING

from satchel.dataset.workers import start_worker
from satchel.objects import Codec
from satchel.objects import codec as codecs

if TYPE_CHECKING:
    from satchel.dataset.upload import UploadItem

log = logging.getLogger(__name__)

Encoded = list[tuple[str, Codec, "bytes | memoryview", int]]  # (hash, codec, payload, raw size) per item
_HEADER = struct.Struct("<IIBQ")  # batch number, items, status, body length
_ITEM = struct.Struct("<BQ")  # codec, payload length
_OK, _REDO = 0, 1


class EncodePool:
    """Worker processes encoding batches of local upload items; ``fallback`` encodes a batch in this process."""

    def __init__(self, processes: int, hint: bool, fallback: Callable[[list[UploadItem]], Encoded]) -> None:
        self.hint = hint
        self.fallback = fallback
        self._workers = [_Worker(self) for _ in range(processes)]
        self._next = 0
        self._numbers = 0

    def __enter__(self) -> EncodePool:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self._workers:
            worker.stop()

    def submit(self, batch: list[UploadItem], level: int | None) -> Future[Encoded]:
        """Encode ``batch`` (every item a local file) on the next worker."""
        self._numbers += 1
        worker = self._workers[self._next]
        self._next = (self._next + 1) % len(self._workers)
        return worker.submit(self._numbers, batch, level)

    def run_fallback(self, batch: list[UploadItem], future: Future[Encoded]) -> None:
        """Encode ``batch`` here, into ``future`` (its error too), unless the upload no longer wants it."""
        if future.cancelled():
            return
        try:
            result = self.fallback(batch)
        except BaseException as exc:  # the error the caller sees when it drains this batch
            _settle(future, error=exc)
            return
        _settle(future, result=result)


def _settle(future: Future[Encoded], *, result: Encoded | None = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless it was cancelled (an upload that failed cancels the batches it had not used)."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or [])
    except InvalidStateError:
        pass


class _Worker:
    """One worker process, the batches it was sent and not answered yet, and the thread reading its answers."""

    def __init__(self, pool: EncodePool) -> None:
        self.pool = pool
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None
        self.lock = threading.Lock()
        self.pending: dict[int, tuple[list[UploadItem], Future[Encoded]]] = {}
        self.dead = False

    def start(self) -> None:
        try:
            self.process = start_worker("satchel.dataset.encode_workers")
        except OSError as exc:
            log.info("cannot start an encoding worker (%s); this process encodes its share", exc)
            self.dead = True
            return
        self.reader = threading.Thread(target=self._read, name="satchel-encode-reader", daemon=True)
        self.reader.start()

    def submit(self, number: int, batch: list[UploadItem], level: int | None) -> Future[Encoded]:
        future: Future[Encoded] = Future()
        request = (number, [(item.local_path, item.size, item.hash) for item in batch], level, self.pool.hint)
        with self.lock:
            accepted = not self.dead
            if accepted:
                self.pending[number] = (batch, future)
        if not accepted:
            self.pool.run_fallback(batch, future)
            return future
        try:
            assert self.process is not None and self.process.stdin is not None
            pickle.dump(request, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
        except OSError:  # the worker died: the reader hands its batches back
            self._give_up()
        return future

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            while self._read_answer(self.process.stdout):
                pass
        except Exception as exc:  # any fault of the worker's answers: its batches are redone here
            log.info("an encoding worker's answer was not usable (%s); this process encodes its batches", exc)
        self._give_up()

    def _read_answer(self, stream: IO[bytes]) -> bool:
        """Read and check one answer, completing its batch; False at the end of the stream."""
        header = stream.read(_HEADER.size)
        if not header:
            return False
        number, count, status, length = _HEADER.unpack(_exact(header, _HEADER.size))
        with self.lock:
            batch, future = self.pending.get(number, (None, None))
        if batch is None or future is None or count != len(batch) or status not in (_OK, _REDO) or \
                length > sum(codecs.max_stored_size(item.size) + _ITEM.size for item in batch):
            raise ValueError(f"answer for batch {number} ({count} items, status {status}) matches no request")
        body = memoryview(_exact(stream.read(length), length))  # one read: the payloads are views into it
        if status == _REDO:
            self._forget(number)
            self.pool.run_fallback(batch, future)
            return True
        encoded = _checked(number, batch, body)  # a bad answer leaves the batch owed: the parent encodes it
        self._forget(number)
        _settle(future, result=encoded)
        return True

    def _forget(self, number: int) -> None:
        with self.lock:
            self.pending.pop(number, None)

    def _give_up(self) -> None:
        """The worker is gone or unusable: encode every batch it still owes in this process."""
        with self.lock:
            self.dead = True
            owed, self.pending = list(self.pending.values()), {}
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # nobody reads its answers any more: it would block on a full pipe
        for batch, future in owed:
            self.pool.run_fallback(batch, future)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join()
        if self.process.stdout is not None:
            self.process.stdout.close()


def _checked(number: int, batch: list[UploadItem], body: memoryview) -> Encoded:
    """The batch's items from an answer's body: a (codec, length) table, then the payloads in order; each
    codec and length checked against the item it answers."""
    table = _ITEM.size * len(batch)
    if len(body) < table:
        raise ValueError(f"answer for batch {number} cut short")
    encoded: Encoded = []
    at = table
    for item, (codec, length) in zip(batch, _ITEM.iter_unpack(body[:table]), strict=True):
        if codec not in (Codec.RAW, Codec.ZSTD) or length > codecs.max_stored_size(item.size) or (
                codec == Codec.RAW and length != item.size) or at + length > len(body):
            raise ValueError(f"answer for batch {number}: codec {codec}, {length} bytes for {item.size}")
        encoded.append((item.hash, Codec(codec), body[at : at + length], item.size))
        at += length
    if at != len(body):
        raise ValueError(f"answer for batch {number} has {len(body) - at} bytes too many")
    return encoded


def _exact(data: bytes, size: int) -> bytes:
    if len(data) != size:
        raise ValueError(f"answer cut short ({len(data)} of {size} bytes)")
    return data


def _encode_batch(files: list[tuple[str, int, str]], level: int | None, hint: bool) -> list[tuple[int, bytes]] | None:
    """In a worker: (codec, payload) per file, each checked to hold the expected bytes; None when one does not
    (changed, vanished, unreadable: the parent encodes the batch and raises the error)."""
    from satchel.dataset.scan import prefetch, read_file
    from satchel.objects import hash_bytes

    if hint:
        for path, _, _ in files:
            prefetch(path)
    out = []
    for path, size, expected in files:
        try:
            data, info = read_file(path, size)
        except OSError:
            return None
        if len(data) != size or info.st_size != size or hash_bytes(data) != expected:
            return None
        codec, payload = codecs.encode(data, level)
        out.append((int(codec), bytes(payload)))
    return out


def main() -> None:
    """A worker's entry point: requests on stdin until it closes, answers on stdout."""
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            number, files, level, hint = pickle.load(requests)  # written by the parent that started this process
        except EOFError:
            return
        encoded = _encode_batch(files, level, hint)
        if encoded is None:
            answers.write(_HEADER.pack(number, len(files), _REDO, 0))
        else:
            table = b"".join(_ITEM.pack(codec, len(payload)) for codec, payload in encoded)
            length = len(table) + sum(len(payload) for _, payload in encoded)
            answers.write(b"".join([_HEADER.pack(number, len(files), _OK, length), table,
                                    *(payload for _, payload in encoded)]))
        answers.flush()


if __name__ == "__main__":
    main()
