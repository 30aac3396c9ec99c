"""A write into a cached copy never spreads: not to another version, a writable copy, another process or a
rebuild; the same version's next get (by a process that can write read-only files) rebuilds the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import satchel
import satchel.dataset.retrieve as retrieve
from satchel import Dataset
from satchel.dataset.cache import CONTENT_MTIME_NS, LocalCache
from satchel.dataset.context import get_context
from tests.cli.test_cli import invoke
from tests.conftest import make_version, read_tree

GOOD = os.urandom(20_000)


def write_through(path: Path, data: bytes = b"EVIL") -> None:
    """What a root process does to a read-only hard link (a user can do it too, after chmod u+w)."""
    if os.geteuid() != 0:
        os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.write(data)


@pytest.fixture
def two_versions(home: Path, tmp_path: Path) -> tuple[Dataset, Dataset]:
    first = make_version(tmp_path / "a", {"f.bin": GOOD, "a-only.txt": "a"}, name="first")
    second = make_version(tmp_path / "b", {"f.bin": GOOD, "b-only.txt": "b"}, name="second")
    return first, second


def test_a_write_into_a_cached_copy_reaches_no_other_copy(home: Path, tmp_path: Path,
                                                          two_versions: tuple[Dataset, Dataset]) -> None:
    first, second = two_versions
    copy = Path(first.get_local_copy())
    write_through(copy / "f.bin")
    assert (Path(second.get_local_copy()) / "f.bin").read_bytes() == GOOD  # another version, built afterwards
    assert (Path(second.get_local_copy(use_soft_links=True)) / "f.bin").read_bytes() == GOOD
    writable = Path(second.get_mutable_local_copy(tmp_path / "writable"))
    assert (writable / "f.bin").read_bytes() == GOOD
    other = subprocess.run([sys.executable, "-m", "satchel", "get", "--id", first.id, "--part", "0", "--num-parts",
                            "1"], capture_output=True, text=True, timeout=120)  # another process, same home
    assert other.returncode == 0, other.stderr
    assert (Path(other.stdout.strip()) / "f.bin").read_bytes() == GOOD
    assert invoke("cache", "clear", "--id", first.id)[0] == 0  # the content file is still the written one
    assert (Path(first.get_local_copy()) / "f.bin").read_bytes() == GOOD


def test_the_same_version_rebuilds_what_was_written_added_or_removed(
        home: Path, tmp_path: Path, two_versions: tuple[Dataset, Dataset], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(retrieve, "can_write_read_only_files", lambda: True)  # as root
    first, _ = two_versions
    expected = {"f.bin": GOOD, "a-only.txt": b"a"}
    copy = Path(first.get_local_copy())
    write_through(copy / "f.bin")
    assert read_tree(Path(first.get_local_copy())) == expected
    assert "was changed" in caplog.text and "f.bin was written to" in caplog.text
    copy = Path(first.get_local_copy())
    os.chmod(copy, 0o755)
    (copy / "a-only.txt").unlink()
    assert read_tree(Path(first.get_local_copy())) == expected
    copy = Path(first.get_local_copy())
    os.chmod(copy, 0o755)
    (copy / "checkpoint.pt").write_bytes(b"not the dataset's")
    assert read_tree(Path(first.get_local_copy())) == expected
    soft = Path(first.get_local_copy(use_soft_links=True))
    write_through(soft / "f.bin")  # through the symlink, into the cache's content
    assert read_tree(Path(first.get_local_copy(use_soft_links=True))) == expected


def test_content_touched_but_unchanged_is_kept_without_a_fetch(home: Path, two_versions: tuple[Dataset, Dataset],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieve, "can_write_read_only_files", lambda: True)
    first, second = two_versions
    copy = Path(first.get_local_copy())
    os.utime(copy / "f.bin")  # a new mtime, the same bytes
    for pack in (home / "storage/packs").rglob("*.pack"):
        pack.unlink()  # nothing can be fetched: the cache must serve it
    cache = get_context().cache
    content = cache.content_file(second.file_entries_dict["f.bin"].hash)
    assert os.stat(content).st_mtime_ns != CONTENT_MTIME_NS
    with pytest.raises(satchel.ObjectMissingError):
        second.get_local_copy()  # b-only.txt was never cached
    satchel.configure(home=home)
    assert (Path(Dataset.get(dataset_id=first.id).get_local_copy()) / "f.bin").read_bytes() == GOOD
    assert os.stat(content).st_mtime_ns == CONTENT_MTIME_NS


def test_a_warm_hit_of_a_process_that_cannot_write_is_one_stat(home: Path, two_versions: tuple[Dataset, Dataset],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = two_versions
    folder = first.get_local_copy()
    monkeypatch.setattr(retrieve, "can_write_read_only_files", lambda: False)

    def no_walk(*args: object) -> None:
        raise AssertionError("a non-root warm hit walked the copy")

    monkeypatch.setattr(LocalCache, "untouched", no_walk)
    monkeypatch.setattr(LocalCache, "lock", no_walk)
    assert first.get_local_copy() == folder


def test_cached_content_carries_the_stamp(home: Path, two_versions: tuple[Dataset, Dataset]) -> None:
    first, _ = two_versions
    for path in Path(first.get_local_copy()).rglob("*"):
        assert path.stat().st_mtime_ns == CONTENT_MTIME_NS
    big = make_version(home.parent / "big", {"large.bin": os.urandom(17 << 20)}, name="big")
    assert (Path(big.get_local_copy()) / "large.bin").stat().st_mtime_ns == CONTENT_MTIME_NS
