"""Races end in satchel errors; failed operations leave no temp files or partial copies behind."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import satchel
import satchel.dataset.lifecycle as lifecycle
import satchel.storage.local as local_storage
from satchel import ConflictError, Dataset, StorageError
from satchel.dataset.context import get_context
from tests.conftest import read_tree, store_dir, write_tree

ADD_IN_ANOTHER_PROCESS = textwrap.dedent(
    """
    import sys
    from satchel import Dataset
    Dataset.get(dataset_id=sys.argv[1]).add_files(sys.argv[2])
    """
)


def test_finalize_with_auto_upload_racing_an_add_in_another_process_is_a_conflict(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "first", {"a.txt": "alpha"})
    write_tree(tmp_path / "late", {"late.txt": "added while finalizing"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "first")
    original = lifecycle.upload

    def upload_then_another_process_adds(*args: object, **kwargs: object) -> object:
        report = original(*args, **kwargs)  # type: ignore[arg-type]
        subprocess.run([sys.executable, "-c", ADD_IN_ANOTHER_PROCESS, ds.id, str(tmp_path / "late")], check=True,
                       timeout=120)
        return report

    monkeypatch.setattr(lifecycle, "upload", upload_then_another_process_adds)
    with pytest.raises(ConflictError, match=r"call finalize\(\) again"):
        ds.finalize(auto_upload=True)
    monkeypatch.setattr(lifecycle, "upload", original)
    assert not ds.is_final()
    assert ds.finalize(auto_upload=True)
    assert read_tree(Path(ds.get_local_copy())) == {"a.txt": b"alpha", "late.txt": b"added while finalizing"}


def leftovers(home: Path) -> list[Path]:
    """Temp files of the store and of the cache."""
    places = [store_dir(home) / ".tmp", home / "cache" / "tmp", home / "cache" / "objects" / "tmp"]
    found = [p for place in places if place.exists() for p in place.rglob("*") if p.is_file()]
    found += [p for p in (home / "cache" / "objects").glob("satchel-copy-*")]
    return found


@pytest.mark.embedded_only("injects a full disk into this process's local storage adapter; through a server the "
                           "storage is the server's (test_server_files covers its temp files)")
@pytest.mark.parametrize("size", [3000, 17 << 20], ids=["small", "large"])
def test_a_failed_upload_removes_its_temp_files(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               size: int) -> None:
    write_tree(tmp_path / "src", {"a.bin": os.urandom(size), "b.txt": "b"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    real_fsync = os.fsync

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(local_storage.os, "fsync", disk_full)
    with pytest.raises(StorageError, match="No space left"):
        ds.upload(show_progress=False)
    monkeypatch.setattr(local_storage.os, "fsync", real_fsync)
    assert leftovers(home) == []
    ds.upload(show_progress=False)
    ds.finalize()
    assert leftovers(home) == []


def damaged(home: Path, tmp_path: Path) -> Dataset:
    write_tree(tmp_path / "src", {"good.txt": "good", "bad.bin": os.urandom(4000)})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src", wildcard="good.txt")
    ds.upload(show_progress=False)
    ds.add_files(tmp_path / "src", wildcard="bad.bin")
    ds.upload(show_progress=False)
    ds.finalize()
    bad_pack = max((store_dir(home) / "packs").rglob("*.pack"), key=lambda p: p.stat().st_size)
    bad_pack.unlink()
    satchel.configure(home=home)
    return Dataset.get(dataset_id=ds.id)


def test_gets_that_skip_damaged_files_keep_one_partial_copy_at_most(home: Path, tmp_path: Path) -> None:
    ds = damaged(home, tmp_path)
    versions = get_context().settings.cache_dir / "versions"
    for _ in range(3):
        assert read_tree(Path(ds.get_local_copy(raise_on_error=False))) == {"good.txt": b"good"}
    assert [p.name for p in versions.iterdir()] == [f"{ds.id}.incomplete"]


def test_verify_of_a_damaged_version_leaves_no_partial_copy(home: Path, tmp_path: Path) -> None:
    ds = damaged(home, tmp_path)
    for _ in range(2):
        result = ds.verify_dataset_hash()
        assert result == ["bad.bin"] and result.problems == {"bad.bin": "missing"}
    versions = get_context().settings.cache_dir / "versions"
    assert not versions.exists() or list(versions.iterdir()) == []
