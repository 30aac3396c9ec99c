"""A cold get of many small files from a local store fetches them on worker processes (real subprocesses): the
copy is the same, progress counts every byte once, a damaged object is reported as an in-process fetch reports
it, and a worker that dies or talks nonsense costs only time (this process fetches its share)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import satchel.dataset.fetch_workers as workers
import satchel.dataset.retrieve as retrieve
import satchel.dataset.workers as worker_processes
from satchel import Dataset, IntegrityError
from satchel.dataset.context import get_context
from tests.conftest import read_tree, write_tree
from tests.dataset.test_faults import flip_byte_of

FILES = {f"d{n % 5}/f{n:03d}.bin": os.urandom(200 + 13 * n) for n in range(120)}


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Worker processes from the first small file on; records how many workers each fetch started."""
    monkeypatch.setattr(worker_processes, "PROCESSES_FROM", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two workers, whatever this machine has
    started: list[int] = []
    original = workers.fetch_in_processes

    def counting(job: workers.WorkerJob, pieces: list[list[workers.Group]], processes: int,
                 on_piece: object) -> list[workers.Group]:
        started.append(processes)
        return original(job, pieces, processes, on_piece)  # type: ignore[arg-type]

    monkeypatch.setattr("satchel.dataset.fetch.fetch_in_processes", counting)
    return started


def stored(folder: Path, files: dict[str, bytes]) -> Dataset:
    write_tree(folder, files)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(folder)
    ds.upload(show_progress=False, compression="none", chunk_size=1)  # 1 MB packs: several packs
    ds.finalize()
    return ds


def recorded_progress(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts a get reports as it fetches, from now on."""
    seen: list[int] = []
    original = retrieve.fetch_content

    def recording(*args: object, **kwargs: object) -> object:
        kwargs["on_bytes"] = seen.append
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(retrieve, "fetch_content", recording)
    return seen


def test_a_cold_get_on_workers_lays_out_every_file_as_threads_do(
        home: Path, tmp_path: Path, mode: str, spawned: list[int]) -> None:
    files = {**FILES, "copy/of/f001.bin": FILES["d1/f001.bin"]}  # one content at two paths
    ds = stored(tmp_path / "src", files)
    folder = Path(Dataset.get(dataset_id=ds.id).get_local_copy(max_workers=2))
    assert read_tree(folder) == files
    assert spawned == ([2] if mode == "embedded" else [])  # a server's store is not on a local filesystem
    cache, entries = get_context().cache, Dataset.get(dataset_id=ds.id).file_entries_dict
    for name, data in files.items():  # each content is cached, and the copy's files are its hard links
        content = cache.content_file(entries[name].hash)
        assert Path(content).read_bytes() == data and os.path.samefile(content, folder / name)
    soft = Path(Dataset.get(dataset_id=ds.id).get_local_copy(use_soft_links=True))
    assert read_tree(soft) == files
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "writable"))) == files


def test_progress_counts_every_byte_once(home: Path, tmp_path: Path, spawned: list[int],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ds = stored(tmp_path / "src", FILES)
    seen = recorded_progress(monkeypatch)
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == FILES
    assert sum(seen) == sum(map(len, FILES.values()))


def test_a_damaged_object_is_reported_as_an_in_process_fetch_reports_it(
        home: Path, tmp_path: Path, spawned: list[int]) -> None:
    ds = stored(tmp_path / "src", FILES)
    flip_byte_of(home, FILES["d3/f003.bin"])
    with pytest.raises(IntegrityError) as caught:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert caught.value.dataset_path == "d3/f003.bin" and ds.id in str(caught.value)
    folder = Path(Dataset.get(dataset_id=ds.id).get_local_copy(raise_on_error=False))
    assert read_tree(folder) == {k: v for k, v in FILES.items() if k != "d3/f003.bin"}


DIES_HALFWAY = """
import os, pickle, sys
from satchel.dataset import fetch, fetch_workers
job = pickle.load(sys.stdin.buffer)
delivered = []
original = fetch.Fetcher.deliver
def deliver(self, content_hash, data):
    delivered.append(content_hash)
    if len(delivered) == 10:  # a half-written file, then the worker dies
        with open(self._target(self.paths_of[content_hash][0]), "wb") as out:
            out.write(data[: len(data) // 2])
        os._exit(9)
    original(self, content_hash, data)
fetch.Fetcher.deliver = deliver
fetch_workers._work(job, lambda line: (sys.stdout.write(line), sys.stdout.flush()))
"""


REPORTS_TWICE = """
import pickle, sys
from satchel.dataset import fetch_workers
job = pickle.load(sys.stdin.buffer)
fetch_workers._work(job, lambda line: (sys.stdout.write(line + line), sys.stdout.flush()))
"""


@pytest.mark.parametrize("worker", ["exits at once", "writes nonsense", "reports a piece it was not given",
                                    "is not python", "dies halfway through a file", "cannot start",
                                    "reports each piece twice", "writes a number"])
def test_a_worker_that_fails_costs_only_time(home: Path, tmp_path: Path, mode: str, spawned: list[int],
                                              monkeypatch: pytest.MonkeyPatch, worker: str) -> None:
    files = {**FILES, "again/d1/f001.bin": FILES["d1/f001.bin"], "again/d3/f013.bin": FILES["d3/f013.bin"]}
    ds = stored(tmp_path / "src", files)  # contents at two paths: a worker may cache one and not lay out both
    script = {"exits at once": "import sys; sys.exit(3)",
              "writes nonsense": "import sys; sys.stdin.buffer.read(); print('not json'); print('[0, []]')",
              "reports a piece it was not given": "import sys; sys.stdin.buffer.read(); print('[999, []]')",
              "is not python": None, "dies halfway through a file": DIES_HALFWAY, "cannot start": None,
              "reports each piece twice": REPORTS_TWICE,
              "writes a number": "import sys; sys.stdin.buffer.read(); print('5'); print('null')"}[worker]
    command = [sys.executable, "-c", script] if script is not None else ["/bin/false"]

    def broken(module: str) -> subprocess.Popen[bytes]:
        assert module == "satchel.dataset.fetch_workers"
        if worker == "cannot start":
            raise OSError(24, "Too many open files")
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

    monkeypatch.setattr(workers, "start_worker", broken)
    seen = recorded_progress(monkeypatch)
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == files
    assert spawned == ([2] if mode == "embedded" else [])
    assert sum(seen) == sum(map(len, files.values()))  # what a failed worker did counts once too


def test_a_worker_report_is_checked_against_what_it_was_given() -> None:
    given: dict[int, list[workers.Group]] = {4: [[], [], []], 9: [[]]}
    assert workers._parse(b"[4, [0, 2]]\n", given) == (4, {0, 2})
    assert workers._parse(b"[9, []]\n", given) == (9, set())
    for line in (b"[5, []]", b"[4, [3]]", b"[4, [-1]]", b"[4, [true]]", b"[true, []]", b"[4.0, []]", b"{}",
                 b"[4, {}]", b"nonsense", b"[4]", b"5", b"null", b'"ab"', b"[4, [0], 1]"):
        assert workers._parse(line, given) is None, line


def test_how_many_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert worker_processes.process_count(20_000, 32) == 4  # one per core, at most MAX_PROCESSES
    assert worker_processes.process_count(20_000, 3) == 3
    assert worker_processes.process_count(19_999, 32) == 0  # too few files to pay for starting them
    assert worker_processes.process_count(20_000, 1) == 0  # max_workers=1: all in this process
    assert worker_processes.process_count(20_000, 32, local=False) == 0  # network-bound: threads
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert worker_processes.process_count(20_000, 32) == 0
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert worker_processes.process_count(20_000, 32) == 0  # a bundled app cannot run "python -m"
