"""Garbage collection never deletes what a finalize made live meanwhile, in one process, across processes,
and across machines that share only an object store (each with its own SQLite catalog)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import satchel
import satchel.dataset.admin as admin
from satchel import Dataset
from satchel.dataset.context import get_context
from satchel.objects import refs
from satchel.objects.refs import PINS, read_refs
from satchel.storage import open_storage
from tests.conftest import Backend, make_version, read_tree, s3_backend, write_tree


def pause_gc_after_live_set(monkeypatch: pytest.MonkeyPatch, meanwhile: Callable[[], Callable[[], bool]]) -> None:
    """Make the next collection run ``meanwhile()`` right after it computed what its catalog keeps alive, then
    wait (up to 60 s) until the returned predicate holds before it goes on to delete."""
    original = admin.live_set

    def live_set(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)  # type: ignore[arg-type]
        done = meanwhile()
        deadline = time.monotonic() + 60
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)
        return result

    monkeypatch.setattr(admin, "live_set", live_set)


def pinned_or(storage_url: str, finished: Callable[[], bool]) -> Callable[[], bool]:
    """True once a writer's pin is in the store (it is waiting for the collection), or the writer finished."""
    storage = open_storage(storage_url, options=dict(get_context().settings.storage_options))
    return lambda: finished() or any(True for _ in storage.list(PINS))


def test_a_finalize_reusing_dead_content_during_gc_stays_readable(home: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"shared.bin": os.urandom(50_000), "other.txt": "o"}
    old = make_version(tmp_path / "old", files)
    Dataset.delete(dataset_id=old.id, delete_files=False)  # its packs are dead now
    made: list[Dataset] = []
    errors: list[BaseException] = []

    def finalize_meanwhile() -> Callable[[], bool]:
        def run() -> None:  # a draft the collection cannot know of: created after it read the catalog
            try:
                reuse = Dataset.create(dataset_name="reuse", dataset_project="p")
                made.append(reuse)
                reuse.add_files(tmp_path / "old")
                reuse.upload(show_progress=False)  # stores nothing: the dead packs still hold the content
                reuse.finalize()
            except BaseException as exc:
                errors.append(exc)
        worker = threading.Thread(target=run)
        worker.start()
        return pinned_or(get_context().storage_for("p"), lambda: not worker.is_alive())

    pause_gc_after_live_set(monkeypatch, finalize_meanwhile)
    admin.collect(get_context())
    deadline = time.monotonic() + 60
    while not (made and made[0].is_final()) and not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not errors
    satchel.configure(home=home, cache_dir=tmp_path / "fresh-cache")
    assert read_tree(Path(Dataset.get(dataset_id=made[0].id).get_local_copy())) == {
        k: v.encode() if isinstance(v, str) else v for k, v in files.items()}


def test_refs_name_every_version_and_follow_flatten_and_delete(home: Path, tmp_path: Path) -> None:
    parent = make_version(tmp_path / "p", {"a.txt": "a"})
    child = make_version(tmp_path / "c", {"b.txt": "b"}, parents=[parent])
    storage = get_context().store(get_context().storage_for("p")).storage
    catalog = get_context().catalog
    assert read_refs(storage) == {v.id: {catalog.get_version(v.id).manifest} for v in (parent, child)}
    Dataset.delete(dataset_id=parent.id, force=True)  # the child is flattened: a new manifest, a new ref
    assert read_refs(storage) == {child.id: {catalog.get_version(child.id).manifest}}
    assert not list(storage.list(PINS))
    Dataset.delete(dataset_id=child.id)
    assert read_refs(storage) == {}


def test_a_failed_commit_keeps_its_ref_until_gc_finds_it_stale(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"a.txt": "alpha"})
    write_tree(tmp_path / "b", {"b.txt": "bravo"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "a")
    ds.upload(show_progress=False)
    other = Dataset.get(dataset_id=ds.id)
    original = get_context().catalog.finalize_version

    def concurrent_add_then_commit(*args: object, **kwargs: object) -> None:
        other.add_files(tmp_path / "b")  # another writer changes the draft: this commit must fail
        original(*args, **kwargs)  # type: ignore[arg-type]

    get_context().catalog.finalize_version = concurrent_add_then_commit  # type: ignore[method-assign]
    try:
        with pytest.raises(satchel.ConflictError):
            ds.finalize()
    finally:
        del get_context().catalog.finalize_version
    storage = get_context().store(get_context().storage_for("p")).storage
    assert len(read_refs(storage)[ds.id]) == 1  # left in place: a concurrent finalize may own it
    report = admin.collect(get_context())
    assert report.stale_refs_deleted == 1 and read_refs(storage) == {}
    ds.finalize(auto_upload=True)
    assert read_refs(storage) == {ds.id: {get_context().catalog.get_version(ds.id).manifest}}
    assert admin.collect(get_context()).stale_refs_deleted == 0


def test_gc_writes_the_refs_of_versions_from_before_refs(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "v", {"a.txt": "a"})
    storage = get_context().store(get_context().storage_for("p")).storage
    for info in list(storage.list("refs/")):
        storage.delete(info.key)
    admin.collect(get_context())
    assert read_refs(storage) == {ds.id: {get_context().catalog.get_version(ds.id).manifest}}


WRITER = textwrap.dedent(
    """
    import sys
    from satchel import Dataset
    ds = Dataset.create(dataset_name=sys.argv[2], dataset_project="machine-b", output_uri=sys.argv[1])
    ds.add_files(sys.argv[3])
    ds.upload(show_progress=False)
    ds.finalize()
    print(ds.id, flush=True)
    """
)


def test_two_machines_sharing_only_an_object_store(home: Path, tmp_path: Path, seaweedfs: object,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    backend: Backend = s3_backend(seaweedfs, f"shared-{os.getpid()}-{time.monotonic_ns()}")  # type: ignore[arg-type]
    for name, value in backend.options.items():
        monkeypatch.setenv(f"SATCHEL_{name.upper()}", value)
    satchel.configure(home=home)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env_b = {**os.environ, "SATCHEL_HOME": str(tmp_path / "machine-b"), "PYTHONPATH": str(Path.cwd())}

    def machine_b(name: str, folder: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, str(script), backend.url, name, str(folder)], env=env_b,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # Machine B keeps a version that machine A's catalog has never heard of.
    only_b = {"b-only.bin": os.urandom(30_000)}
    write_tree(tmp_path / "b-files", only_b)
    first = machine_b("kept", tmp_path / "b-files")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    kept_id = out.strip()
    # Machine A stores content, then deletes its version without freeing (dead content in the store).
    shared = {"shared.bin": os.urandom(40_000)}
    a = make_version(tmp_path / "a-files", shared, output_uri=backend.url)
    Dataset.delete(dataset_id=a.id, delete_files=False)
    # While A collects, B finalizes a version that reuses that dead content (its upload stores nothing).
    writer: list[subprocess.Popen[str]] = []

    def b_reuses() -> Callable[[], bool]:
        writer.append(machine_b("reuse", tmp_path / "a-files"))
        return pinned_or(backend.url, lambda: writer[0].poll() is not None)

    pause_gc_after_live_set(monkeypatch, b_reuses)
    report = admin.collect(get_context(), backend.url)
    out, err = writer[0].communicate(timeout=120)
    assert writer[0].returncode == 0, err
    reuse_id = out.strip()
    assert report.packs_kept >= 2
    # Both of B's versions read back whole from a fresh cache on machine B.
    reader = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from satchel import Dataset
        for version_id in sys.argv[1:]:
            folder = Path(Dataset.get(dataset_id=version_id).get_local_copy())
            print(version_id, sorted((p.name, p.stat().st_size) for p in folder.rglob("*")), flush=True)
        """
    )
    check = subprocess.run([sys.executable, "-c", reader, kept_id, reuse_id], env={
        **env_b, "SATCHEL_CACHE_DIR": str(tmp_path / "b-fresh-cache")}, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert f"{kept_id} [('b-only.bin', 30000)]" in check.stdout
    assert f"{reuse_id} [('shared.bin', 40000)]" in check.stdout


def test_writers_judge_leases_by_renewals_not_by_clocks(home: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(refs, "LEASE_SECONDS", 1.0)
    monkeypatch.setattr(refs, "CLOCK_SKEW_SECONDS", 0.25)
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    storage = get_context().store(get_context().storage_for("p")).storage

    def finalize_timed() -> float:
        ds = Dataset.create(dataset_name="ds", dataset_project="p")
        ds.add_files(tmp_path / "src")
        ds.upload(show_progress=False)
        started = time.monotonic()
        ds.finalize()
        return time.monotonic() - started

    # A dead collection whose clock ran a day ahead: its lease says it expires tomorrow, but nobody renews it.
    storage.put(f"{refs.COLLECTIONS}{time.time() + 86400:.3f}-dead", b"")
    assert 1.0 < finalize_timed() < 10
    for info in list(storage.list(refs.COLLECTIONS)):
        storage.delete(info.key)
    # A live collection renews its lease: the writer waits for it to end, however long past a lease that is.
    lease = refs.CollectionLease(storage)
    with lease:
        waited: list[float] = []
        worker = threading.Thread(target=lambda: waited.append(finalize_timed()))
        worker.start()
        time.sleep(3.0)  # three lease lengths: the writer must still be waiting
        assert worker.is_alive()
        lease.check()  # renewed all along
    worker.join(30)
    assert waited and waited[0] >= 2.5
