"""Fetching many small files from a local store in worker processes.

Laying out 100,000 small files is per-file work: a read of the pack range, a decompression, a hash check, then
a create, write, time stamp and hard link on disk. Threads take turns at the GIL over each of those short steps
(two threads were no faster than one); processes do not. So a cold get of many small files from a store on a
local filesystem hands its groups of small entries to a few ``python -m satchel.dataset.fetch_workers``
processes, each fetching whole groups into the same cache and build folder as the parent would.

Workers are started by ``satchel.dataset.workers``.

Protocol: the parent writes one pickled ``WorkerJob`` to the worker's stdin and closes it; the worker writes one
JSON line per piece it finished, ``[piece number, [numbers of the groups of that piece that failed]]``. A group
that failed, and every piece of a worker that stopped before reporting it, is fetched again by the parent
itself, which raises or reports the error as a fetch in-process does. The worker trusts its job (its parent
wrote it); the parent reads nothing from a worker but those numbers, and checks them.
"""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from satchel.dataset.workers import start_worker
from satchel.objects import ManifestEntry

log = logging.getLogger(__name__)

Group = list[tuple[ManifestEntry, list[str]]]  # entries of one pack, each with the dataset paths it goes to


@dataclass(frozen=True)
class WorkerJob:
    """What one worker fetches, and where from and to."""

    store_url: str
    objects_dir: str
    cache_root: str
    cache_limit: int
    build: str | None
    soft: bool
    dataset_id: str
    pieces: dict[int, list[Group]]


def fetch_in_processes(job: WorkerJob, pieces: list[list[Group]], processes: int,
                       on_piece: Callable[[list[Group], set[int]], None]) -> list[Group]:
    """Fetch ``pieces`` on ``processes`` workers (``job.pieces`` is ignored: each worker gets its share).
    ``on_piece(piece, failed group numbers)`` is called as each piece is reported. Returns the groups to fetch
    again in this process: those that failed, and those of pieces no worker reported."""
    shares = [{n: pieces[n] for n in range(k, len(pieces), processes)} for k in range(processes)]
    reported: set[int] = set()
    redo: list[Group] = []
    lock = threading.Lock()

    def report(piece: int, failed: set[int]) -> bool:
        with lock:
            if piece in reported:  # a second report of one piece: the worker is not to be believed
                return False
            reported.add(piece)
            redo.extend(pieces[piece][n] for n in sorted(failed))
            on_piece(pieces[piece], failed)
            return True

    workers = [_Worker(replace(job, pieces=share)) for share in shares if share]
    try:
        for worker in workers:
            worker.start()
        readers = [threading.Thread(target=worker.collect, args=(report,), daemon=True) for worker in workers]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
    finally:
        for worker in workers:
            worker.stop()
    missed = [n for n in range(len(pieces)) if n not in reported]
    if missed:
        log.info("fetch workers stopped before %d of %d pieces; this process fetches them", len(missed), len(pieces))
    return redo + [group for n in missed for group in pieces[n]]


class _Worker:
    """One worker process and the pieces it was given."""

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.process: subprocess.Popen[bytes] | None = None
        self.feeder: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.process = start_worker("satchel.dataset.fetch_workers")
        except OSError as exc:
            log.info("cannot start a fetch worker (%s); this process fetches its share", exc)
            return
        payload = pickle.dumps(self.job, protocol=pickle.HIGHEST_PROTOCOL)
        self.feeder = threading.Thread(target=self._feed, args=(payload,), daemon=True)
        self.feeder.start()  # a big job fills the pipe: written while the other workers start

    def _feed(self, payload: bytes) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            with self.process.stdin:
                self.process.stdin.write(payload)
        except OSError:  # the worker died: its pieces are fetched again by the parent
            pass

    def collect(self, report: Callable[[int, set[int]], bool]) -> None:
        """Report each piece this worker finishes (lines that are not a valid report end the reading)."""
        if self.process is None or self.process.stdout is None:
            return
        for line in self.process.stdout:
            parsed = _parse(line, self.job.pieces)
            if parsed is None or not report(*parsed):
                log.info("a fetch worker wrote an unexpected line; its other pieces are fetched here")
                self.process.kill()
                return

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self.feeder is not None:
            self.feeder.join()


def _parse(line: bytes, pieces: dict[int, list[Group]]) -> tuple[int, set[int]] | None:
    """(piece, failed group numbers) from a worker's line, checked against what it was given; else None."""
    try:
        parsed = json.loads(line)
    except ValueError:
        return None
    if not isinstance(parsed, list) or len(parsed) != 2:
        return None
    piece, failed = parsed
    if type(piece) is not int or piece not in pieces or not isinstance(failed, list):
        return None
    groups = len(pieces[piece])
    if not all(type(n) is int and 0 <= n < groups for n in failed):
        return None
    return piece, set(failed)


def _work(job: WorkerJob, out: Callable[[str], None]) -> None:
    """In a worker: fetch every group of the job's pieces, reporting each piece when it is done."""
    from satchel.dataset.cache import LocalCache
    from satchel.dataset.fetch import Fetcher
    from satchel.objects import ObjectStore
    from satchel.storage import open_storage

    store = ObjectStore(open_storage(job.store_url), Path(job.objects_dir))
    cache = LocalCache(Path(job.cache_root), job.cache_limit)
    paths_of = {entry.hash: paths for groups in job.pieces.values() for group in groups for entry, paths in group}
    fetcher = Fetcher(cache, store, paths_of, job.build, job.soft, None, job.dataset_id)
    for number, groups in job.pieces.items():
        failed = []
        for at, group in enumerate(groups):
            try:
                fetcher.fetch_group([entry for entry, _ in group])
            except Exception:  # the parent fetches the group again and reports the error
                failed.append(at)
        out(json.dumps([number, failed]) + "\n")


def main() -> None:
    """A worker's entry point: the job on stdin, reports on stdout."""
    job = pickle.load(sys.stdin.buffer)  # written by the parent that started this process

    def out(line: str) -> None:
        sys.stdout.write(line)
        sys.stdout.flush()

    _work(job, out)


if __name__ == "__main__":
    main()
