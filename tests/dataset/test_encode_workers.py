"""An upload of many small local files reads, checks and compresses them on worker processes (real
subprocesses): the stored content reads back the same, a file changed since it was added is refused with the
same error as on threads, and a worker that dies or answers nonsense costs only time (this process encodes its
batches). Every answer is checked against the batch it answers before a byte of it is stored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import satchel.dataset.encode_workers as encoders
import satchel.dataset.workers as worker_processes
from satchel import Dataset, SourceFileError
from satchel.dataset.upload import UploadItem
from satchel.objects import Codec
from tests.conftest import read_tree, write_tree

FILES = {f"d{n % 4}/f{n:03d}.{'txt' if n % 2 else 'bin'}": (b"text %d " % n) * (20 + n) if n % 2
         else os.urandom(100 + n) for n in range(700)}  # three batches of 256, half compressible


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Worker processes from the first small file on; records each worker started."""
    monkeypatch.setattr(worker_processes, "PROCESSES_FROM", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two workers, whatever this machine has
    names: list[str] = []
    original = encoders.start_worker

    def recording(module: str) -> subprocess.Popen[bytes]:
        names.append(module)
        return original(module)

    monkeypatch.setattr(encoders, "start_worker", recording)
    return names


def added(folder: Path, files: dict[str, bytes]) -> Dataset:
    write_tree(folder, files)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(folder)
    return ds


def test_an_upload_on_workers_stores_what_reads_back(home: Path, tmp_path: Path, started: list[str]) -> None:
    ds = added(tmp_path / "src", FILES)
    ds.upload(show_progress=False, max_workers=2)
    ds.finalize()
    assert started == ["satchel.dataset.encode_workers"] * 2
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "copy"))) == FILES


@pytest.mark.parametrize("change", ["rewritten", "grown", "vanished"])
def test_a_file_changed_since_add_is_refused_as_on_threads(home: Path, tmp_path: Path, started: list[str],
                                                           change: str) -> None:
    ds = added(tmp_path / "src", FILES)
    target = tmp_path / "src" / "d1" / "f301.txt"
    if change == "rewritten":
        target.write_bytes(b"X" * len(FILES["d1/f301.txt"]))
    elif change == "grown":
        with target.open("ab") as out:
            out.write(b"more")
    else:
        target.unlink()
    with pytest.raises(SourceFileError, match=r"f301\.txt") as caught:
        ds.upload(show_progress=False, max_workers=2)
    assert ("vanished" if change == "vanished" else "changed") in str(caught.value)
    assert started  # the workers ran, and the batch they refused was encoded here, raising the error


WORKERS = {
    "exits at once": "import sys; sys.exit(3)",
    "answers nonsense": "import sys, pickle; pickle.load(sys.stdin.buffer); sys.stdout.buffer.write(b'x' * 64)",
    "answers another batch": (
        "import sys, pickle, struct; n, files, *_ = pickle.load(sys.stdin.buffer); "
        "sys.stdout.buffer.write(struct.pack('<IIBQ', n + 1000, len(files), 0, 0)); sys.stdout.flush()"),
    "claims too many bytes": (
        "import sys, pickle, struct; n, files, *_ = pickle.load(sys.stdin.buffer); "
        "sys.stdout.buffer.write(struct.pack('<IIBQ', n, len(files), 0, 1 << 40)); sys.stdout.flush()"),
    "stores raw bytes of the wrong size": (
        "import sys, pickle, struct; n, files, *_ = pickle.load(sys.stdin.buffer); "
        "body = b''.join(struct.pack('<BQ', 0, 1) for _ in files) + b'x' * len(files); "
        "sys.stdout.buffer.write(struct.pack('<IIBQ', n, len(files), 0, len(body)) + body); sys.stdout.flush()"),
    "dies after one batch": (
        "import io, os, sys, pickle; from satchel.dataset import encode_workers as w; "
        "first = pickle.load(sys.stdin.buffer); "
        "sys.stdin = io.TextIOWrapper(io.BytesIO(pickle.dumps(first))); w.main(); os._exit(9)"),
    "is not python": None,
    "cannot start": None,
}


@pytest.mark.parametrize("worker", list(WORKERS))
def test_a_worker_that_fails_costs_only_time(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              worker: str) -> None:
    monkeypatch.setattr(worker_processes, "PROCESSES_FROM", 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    script = WORKERS[worker]

    def broken(module: str) -> subprocess.Popen[bytes]:
        if worker == "cannot start":
            raise OSError(24, "Too many open files")
        command = [sys.executable, "-c", script] if script is not None else ["/bin/false"]
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})

    monkeypatch.setattr(encoders, "start_worker", broken)
    ds = added(tmp_path / "src", FILES)
    ds.upload(show_progress=False, max_workers=2)
    ds.finalize()
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "copy"))) == FILES


def test_an_answer_is_checked_against_its_batch() -> None:
    batch = [UploadItem("a" * 64, 10, "a"), UploadItem("b" * 64, 5, "b")]
    table = encoders._ITEM.pack(Codec.RAW, 10) + encoders._ITEM.pack(Codec.ZSTD, 7)
    body = memoryview(table + b"0123456789" + b"zzzzzzz")
    assert [(h, c, bytes(p), s) for h, c, p, s in encoders._checked(1, batch, body)] == [
        ("a" * 64, Codec.RAW, b"0123456789", 10), ("b" * 64, Codec.ZSTD, b"zzzzzzz", 5)]
    for bad in (table + b"0123456789" + b"zzzzzz",  # cut short
                table + b"0123456789" + b"zzzzzzzz",  # a byte too many
                encoders._ITEM.pack(Codec.RAW, 9) + encoders._ITEM.pack(Codec.ZSTD, 8) + b"0" * 17,  # raw, wrong size
                encoders._ITEM.pack(Codec.CHUNKS, 10) + encoders._ITEM.pack(Codec.ZSTD, 7) + b"0" * 17,  # no codec here
                encoders._ITEM.pack(Codec.RAW, 10) + encoders._ITEM.pack(Codec.ZSTD, 1 << 30) + b"0" * 17,
                table[:5]):
        with pytest.raises(ValueError):
            encoders._checked(1, batch, memoryview(bad))
