"""get_mutable_local_copy(overwrite=True) fetches before it deletes, and never points at satchel's own files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import satchel
from satchel import Dataset, IntegrityError, InvalidArgumentError, TargetNotEmptyError
from satchel.dataset.context import get_context
from tests.conftest import make_version, read_tree, store_dir, write_tree


def damaged_version(home: Path, tmp_path: Path) -> Dataset:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha", "b.bin": os.urandom(3000)})
    for pack in (store_dir(home) / "packs").rglob("*.pack"):
        pack.unlink()
    satchel.configure(home=home, cache_dir=tmp_path / "empty-cache")
    return Dataset.get(dataset_id=ds.id)


def test_a_failed_overwrite_leaves_the_target_as_it_was(home: Path, tmp_path: Path) -> None:
    ds = damaged_version(home, tmp_path)
    target = tmp_path / "work"
    mine = {"notes.txt": b"my work", "sub/model.pt": b"weights"}
    write_tree(target, mine)
    inode = target.stat().st_ino
    with pytest.raises(IntegrityError):
        ds.get_mutable_local_copy(target, overwrite=True)
    assert read_tree(target) == mine and target.stat().st_ino == inode
    assert sorted(os.listdir(target)) == ["notes.txt", "sub"]  # no hidden leftovers either


def test_overwrite_replaces_the_contents_of_the_same_folder(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha", "dir/b.txt": "bravo"})
    target = tmp_path / "work"
    write_tree(target, {"old.txt": "old", "dir/old.txt": "old"})
    inode = target.stat().st_ino
    (target / ".satchel-incoming-0123456789ab").mkdir()  # left by an interrupted copy
    assert ds.get_mutable_local_copy(target, overwrite=True) == str(target)
    assert read_tree(target) == {"a.txt": b"alpha", "dir/b.txt": b"bravo"} and target.stat().st_ino == inode
    assert sorted(os.listdir(target)) == ["a.txt", "dir"]


def test_a_non_empty_target_is_refused_before_anything_is_fetched(home: Path, tmp_path: Path) -> None:
    ds = damaged_version(home, tmp_path)
    write_tree(tmp_path / "work", {"mine.txt": "mine"})
    with pytest.raises(TargetNotEmptyError, match="overwrite=True"):
        ds.get_mutable_local_copy(tmp_path / "work")
    assert ds.get_mutable_local_copy(tmp_path / "work", raise_on_error=False) is None


LOCAL_STORE = pytest.mark.embedded_only("the default store is a local folder only in embedded mode")


@pytest.mark.parametrize("where", ["home", "inside-cache", "cache", pytest.param("inside-storage", marks=LOCAL_STORE),
                                   pytest.param("storage", marks=LOCAL_STORE), "contains-home", "other-storage"])
def test_targets_in_or_around_satchel_files_are_refused(home: Path, tmp_path: Path, where: str) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha"})
    elsewhere = make_version(tmp_path / "src2", {"b.txt": "bravo"}, name="other",
                             output_uri=str(tmp_path / "other-store"))
    settings = get_context().settings
    target = {"home": home, "inside-cache": settings.cache_dir / "versions", "cache": settings.cache_dir,
              "inside-storage": store_dir(home) / "packs", "storage": store_dir(home), "contains-home": tmp_path,
              "other-storage": tmp_path / "other-store" / "sub"}[where]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(InvalidArgumentError, match="satchel's own files"):
        ds.get_mutable_local_copy(target, overwrite=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert read_tree(Path(Dataset.get(dataset_id=elsewhere.id).get_local_copy())) == {"b.txt": b"bravo"}


@LOCAL_STORE
def test_a_symlink_to_the_home_is_refused_too(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha"})
    link = tmp_path / "innocent"
    link.symlink_to(store_dir(home))
    with pytest.raises(InvalidArgumentError):
        ds.get_mutable_local_copy(link, overwrite=True)
    assert (store_dir(home) / "satchel-store.json").is_file()


def test_the_files_an_interrupted_swap_set_aside_are_put_back(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"n.txt": "new", "thesis.tex": "the dataset's"})
    target = tmp_path / "work"
    # A call killed between moving the old files aside and moving the new ones in left this behind:
    write_tree(target, {".satchel-trash-0123456789ab/thesis.tex": "my thesis", ".satchel-trash-0123456789ab/d/x":
                        "mine", "n.txt": "new", ".satchel-incoming-0123456789ab/rest.txt": "partial"})
    with pytest.raises(TargetNotEmptyError):
        ds.get_mutable_local_copy(target)  # the user's files are back, so the folder is not empty
    assert read_tree(target) == {"thesis.tex": b"my thesis", "d/x": b"mine", "n.txt": b"new"}


def test_a_swap_that_fails_midway_puts_the_old_files_back(home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha", "b.txt": "bravo", "c.txt": "charlie"})
    target = tmp_path / "work"
    mine = {"a.txt": b"mine a", "z.txt": b"mine z"}
    write_tree(target, mine)
    original = Path.rename
    calls = []

    def failing_rename(self: Path, destination: Path) -> Path:
        calls.append(self)
        if len(calls) == 4:  # after the old files moved aside and one new file moved in
            raise OSError(5, "Input/output error")
        return original(self, destination)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="Input/output"):
        ds.get_mutable_local_copy(target, overwrite=True)
    monkeypatch.setattr(Path, "rename", original)
    assert read_tree(target) == mine
    assert sorted(os.listdir(target)) == ["a.txt", "z.txt"]
