"""Faults: damaged or missing stored objects, files changing under satchel, killed uploads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import satchel.dataset.scan as scan
from satchel import Dataset, IntegrityError, ObjectMissingError, SourceFileError
from satchel.dataset.context import get_context
from tests.conftest import random_tree, read_tree, store_dir, write_tree


def finalized(folder: Path, name: str = "ds") -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p")
    ds.add_files(folder)
    ds.upload(show_progress=False, compression="none")
    ds.finalize()
    return ds


def flip_byte_of(home: Path, content: bytes) -> Path:
    """Flip a byte inside the stored copy of ``content`` (stored raw) and return the pack."""
    for pack in (store_dir(home) / "packs").rglob("*.pack"):
        data = bytearray(pack.read_bytes())
        at = data.find(content)
        if at >= 0:
            data[at + len(content) // 2] ^= 0xFF
            pack.chmod(0o644)
            pack.write_bytes(bytes(data))
            return pack
    raise AssertionError("content not found in any pack")


def test_corrupted_object_raises_integrity_error_naming_everything(home: Path, tmp_path: Path) -> None:
    good, bad = os.urandom(5000), os.urandom(5000)
    write_tree(tmp_path / "src", {"good.bin": good, "dir/bad.bin": bad})
    ds = finalized(tmp_path / "src")
    pack = flip_byte_of(home, bad)
    with pytest.raises(IntegrityError) as caught:
        ds.get_local_copy()
    error = caught.value
    assert error.dataset_id == ds.id and error.dataset_path == "dir/bad.bin"
    assert pack.name in error.object_key and ds.id in str(error) and "dir/bad.bin" in str(error)
    cache = get_context().cache
    assert cache.hit(ds.id) is None
    assert not cache.has_content(error.content_hash)


def test_corruption_with_raise_on_error_false_skips_the_file(home: Path, tmp_path: Path) -> None:
    good, bad = os.urandom(5000), os.urandom(5000)
    write_tree(tmp_path / "src", {"good.bin": good})
    write_tree(tmp_path / "src2", {"bad.bin": bad})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False, compression="none")
    ds.add_files(tmp_path / "src2")
    ds.upload(show_progress=False, compression="none")
    ds.finalize()
    flip_byte_of(home, bad)
    folder = Path(ds.get_local_copy(raise_on_error=False))
    assert read_tree(folder) == {"good.bin": good}
    assert get_context().cache.hit(ds.id) is None


def test_a_damaged_file_among_many_in_one_pack_skips_only_itself(home: Path, tmp_path: Path) -> None:
    """raise_on_error=False: the other files read from the same pack (in the same batch) are all fetched."""
    files = {f"f{n:03d}.bin": os.urandom(300 + n) for n in range(60)}
    write_tree(tmp_path / "src", files)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False, compression="none")
    ds.finalize()
    flip_byte_of(home, files["f007.bin"])
    folder = Path(ds.get_local_copy(raise_on_error=False))
    assert read_tree(folder) == {k: v for k, v in files.items() if k != "f007.bin"}
    with pytest.raises(IntegrityError) as caught:
        Dataset.get(dataset_id=ds.id).get_local_copy(files=["f007.bin", "f050.bin"])
    assert caught.value.dataset_path == "f007.bin"


def test_missing_pack_raises_object_missing(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.bin": os.urandom(100)})
    ds = finalized(tmp_path / "src")
    for pack in (store_dir(home) / "packs").rglob("*.pack"):
        pack.unlink()
    with pytest.raises(ObjectMissingError) as caught:
        ds.get_local_copy()
    assert caught.value.dataset_path == "a.bin"


def test_corrupted_large_object(home: Path, tmp_path: Path) -> None:
    big = os.urandom(17 << 20)
    write_tree(tmp_path / "src", {"big.bin": big})
    ds = finalized(tmp_path / "src")
    flip_byte_of(home, big[:4096])
    with pytest.raises(IntegrityError) as caught:
        ds.get_local_copy()
    assert caught.value.dataset_path == "big.bin"
    assert not list((get_context().settings.cache_dir / "content").rglob("*" + caught.value.content_hash))


def test_file_changing_during_add_records_nothing(home: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "src", {"a.txt": "stable", "b.txt": "about to change"})
    original = scan.hash_sources

    def change_then_hash(sources: list[scan.SourceFile], *args: object, **kw: object) -> dict[str, str]:
        (tmp_path / "src/b.txt").write_text("changed while adding, longer")
        return original(sources, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("satchel.dataset.dataset.hash_sources", change_then_hash)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    with pytest.raises(SourceFileError, match="changed while satchel was reading") as caught:
        ds.add_files(tmp_path / "src")
    assert caught.value.path.endswith("b.txt")
    assert ds.list_files() == []


def test_file_vanishing_during_add(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "src", {"a.txt": "a", "b.txt": "b"})
    original = scan.hash_sources

    def delete_then_hash(sources: list[scan.SourceFile], *args: object, **kw: object) -> dict[str, str]:
        (tmp_path / "src/a.txt").unlink()
        return original(sources, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr("satchel.dataset.dataset.hash_sources", delete_then_hash)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    with pytest.raises(SourceFileError, match="vanished"):
        ds.add_files(tmp_path / "src")
    assert ds.list_files() == []


@pytest.mark.parametrize("big", [False, True])
def test_file_changed_or_vanished_before_upload(home: Path, tmp_path: Path, big: bool) -> None:
    size = (17 << 20) if big else 1000
    write_tree(tmp_path / "src", {"a.bin": os.urandom(size), "b.bin": os.urandom(size)})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    (tmp_path / "src/a.bin").write_bytes(os.urandom(size))
    with pytest.raises(SourceFileError, match=r"add_files\(\)") as caught:
        ds.upload(show_progress=False)
    assert caught.value.path.endswith("a.bin")
    (tmp_path / "src/b.bin").write_bytes(os.urandom(size))  # new content: b.bin must be read by the next upload
    ds.add_files(tmp_path / "src")
    (tmp_path / "src/b.bin").unlink()
    with pytest.raises(SourceFileError, match="vanished"):
        ds.upload(show_progress=False)
    ds.remove_files("b.bin")
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(Path(ds.get_local_copy())) == read_tree(tmp_path / "src")


def test_a_file_that_grew_before_upload_is_refused(home: Path, tmp_path: Path) -> None:
    """Bytes appended after add keep the added prefix (its hash still matches): the size read back tells."""
    write_tree(tmp_path / "src", {"log.txt": "line 1\n"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    with (tmp_path / "src/log.txt").open("a") as log:
        log.write("line 2\n")
    with pytest.raises(SourceFileError, match=r"log\.txt changed since it was added.*add_files\(\)"):
        ds.upload(show_progress=False)
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False)
    ds.finalize()
    assert read_tree(Path(ds.get_local_copy())) == {"log.txt": b"line 1\nline 2\n"}


UPLOADER = textwrap.dedent(
    """
    import sys, time
    import satchel
    from satchel import Dataset
    from satchel.objects import store

    original = store.ObjectStore.write_pack
    def slow_write_pack(self, builder):
        result = original(self, builder)
        time.sleep(0.3)
        return result
    store.ObjectStore.write_pack = slow_write_pack
    ds = Dataset.get(dataset_id=sys.argv[1])
    print("uploading", flush=True)
    ds.upload(show_progress=False, chunk_size=1, compression="none")
    print("finished", flush=True)
    """
)


def test_killed_upload_resumes_and_stores_only_what_is_missing(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "old", {"old.txt": "still readable"})
    old = finalized(tmp_path / "old", name="old")
    files = random_tree(tmp_path / "src", 40, max_size=300_000)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    script = tmp_path / "uploader.py"
    script.write_text(UPLOADER)
    env = {**os.environ, "SATCHEL_HOME": str(home), "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen([sys.executable, str(script), ds.id], env=env, stdout=subprocess.PIPE, text=True)
    packs_dir = store_dir(home, "p") / "packs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(packs_dir.rglob("*.idx"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stdout is not None and "finished" not in proc.stdout.read()
    before = {p: p.stat().st_ino for p in packs_dir.rglob("*.pack")}
    assert len(before) > 0
    assert read_tree(Path(old.get_local_copy())) == {"old.txt": b"still readable"}
    fresh = Dataset.get(dataset_id=ds.id)
    assert fresh.is_dirty() and not fresh.is_final()
    fresh.upload(show_progress=False, chunk_size=1, compression="none")
    after = {p: p.stat().st_ino for p in packs_dir.rglob("*.pack")}
    assert all(after.get(p) == inode for p, inode in before.items())
    stored = sum(p.stat().st_size for p in packs_dir.rglob("*.pack"))
    raw = sum(len(v) for v in files.values()) + len("still readable")
    assert stored <= raw * 1.05 + 8 * len(after)
    fresh.finalize()
    assert read_tree(Path(fresh.get_local_copy())) == files
