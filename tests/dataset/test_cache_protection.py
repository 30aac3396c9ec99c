"""A write into a cached copy never spreads: not to another version, a writable copy, another process or a
rebuild; the same version's next get (by a process that can write read-only files) rebuilds the file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import satchel
import satchel.dataset.retrieve as retrieve
from satchel import Dataset
from satchel.dataset.cache import LocalCache, can_write_read_only_files, stamp_ns
from satchel.dataset.context import get_context
from satchel.objects import hash_bytes
from tests.cli.test_cli import invoke
from tests.conftest import make_version, read_tree, store_dir

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
    assert "was changed" in caplog.text and "f.bin was written to or replaced" in caplog.text
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
    for pack in (store_dir(home) / "packs").rglob("*.pack"):
        pack.unlink()  # nothing can be fetched: the cache must serve it
    cache = get_context().cache
    content_hash = second.file_entries_dict["f.bin"].hash
    content = cache.content_file(content_hash)
    assert os.stat(content).st_mtime_ns != stamp_ns(content_hash)
    with pytest.raises(satchel.ObjectMissingError):
        second.get_local_copy()  # b-only.txt was never cached
    satchel.configure(home=home)
    assert (Path(Dataset.get(dataset_id=first.id).get_local_copy()) / "f.bin").read_bytes() == GOOD
    assert os.stat(content).st_mtime_ns == stamp_ns(content_hash)


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


def test_cached_content_carries_the_stamp_of_its_hash(home: Path, two_versions: tuple[Dataset, Dataset]) -> None:
    first, _ = two_versions
    entries = first.file_entries_dict
    for path in Path(first.get_local_copy()).rglob("*"):
        assert path.stat().st_mtime_ns == stamp_ns(entries[path.name].hash)
    big = make_version(home.parent / "big", {"large.bin": os.urandom(17 << 20)}, name="big")
    large = big.file_entries_dict["large.bin"].hash
    assert (Path(big.get_local_copy()) / "large.bin").stat().st_mtime_ns == stamp_ns(large)
    assert len({stamp_ns(hash_bytes(b"%d" % i)) for i in range(1000)}) == 1000  # spread: one per content


def test_a_copy_that_keeps_times_is_caught_too(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cp -p / shutil.copy2 of one cached file over another of the same size keeps a valid-looking stamp."""
    monkeypatch.setattr(retrieve, "can_write_read_only_files", lambda: True)
    one, other = os.urandom(5000), os.urandom(5000)
    first = make_version(tmp_path / "a", {"x.bin": one}, name="first")
    second = make_version(tmp_path / "b", {"y.bin": other}, name="second")
    third = make_version(tmp_path / "c", {"z.bin": other}, name="third")  # shares second's content
    source, target = Path(first.get_local_copy()) / "x.bin", Path(second.get_local_copy()) / "y.bin"
    if os.geteuid() != 0:
        os.chmod(target, 0o644)
    shutil.copy2(source, target)  # bytes and mtime of x.bin, through y.bin's hard link
    assert (Path(third.get_local_copy()) / "z.bin").read_bytes() == other
    assert (Path(second.get_mutable_local_copy(tmp_path / "w")) / "y.bin").read_bytes() == other
    assert (Path(second.get_local_copy()) / "y.bin").read_bytes() == other


UNPRIVILEGED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from satchel import Dataset
    from satchel.dataset.cache import LocalCache, can_write_read_only_files

    assert not can_write_read_only_files()
    src = Path(sys.argv[1])
    (src / "dir").mkdir(parents=True)
    (src / "dir" / "a.txt").write_text("alpha")
    (src / "b.bin").write_bytes(os.urandom(3000))
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(src)
    ds.upload(show_progress=False)
    ds.finalize()
    folder = Path(ds.get_local_copy())  # cold: built and published
    try:
        (folder / "dir" / "a.txt").write_text("evil")
        raise SystemExit("a cached file was writable")
    except PermissionError:
        pass
    LocalCache.untouched = None  # a warm hit must not walk the copy: calling this would fail
    assert Path(Dataset.get(dataset_id=ds.id).get_local_copy()) == folder
    assert (folder / "dir" / "a.txt").read_text() == "alpha"
    assert sorted(p.name for p in Path(ds.get_local_copy(part=0, num_parts=2)).rglob("*") if p.is_file())
    copy = Path(ds.get_mutable_local_copy(src.parent / "copy"))
    (copy / "dir" / "a.txt").write_text("mine")  # writable
    print("ok", flush=True)
    """
)


def test_a_process_that_cannot_write_read_only_files_builds_and_hits(home: Path, tmp_path: Path) -> None:
    """As a user without CAP_DAC_OVERRIDE (root's capabilities dropped with setpriv when the suite runs as root):
    cold get, one-stat warm hit, parts, writable copy, cache clear."""
    unprivileged = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if can_write_read_only_files() else []
    run = subprocess.run([*unprivileged, sys.executable, "-c", UNPRIVILEGED, str(tmp_path / "src")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    clear = subprocess.run([*unprivileged, sys.executable, "-m", "satchel", "cache", "clear"], capture_output=True,
                           text=True, timeout=120)
    assert clear.returncode == 0, clear.stderr
    versions = home / "cache" / "versions"
    assert not versions.exists() or not any(versions.iterdir())


@pytest.mark.parametrize("how", ["listed", "stat each"])
def test_a_big_batch_finds_cached_content_by_listing_and_still_checks_it(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """From _LISTING_PAYS contents on, the content folders are listed instead of a stat per content (unless a
    folder is far bigger than what is asked of it): content that is there is still checked, and what is missing
    or was written to is fetched again."""
    import satchel.dataset.cache as cache_module

    monkeypatch.setattr(cache_module, "_LISTING_PAYS", 1)
    monkeypatch.setattr(cache_module, "_LISTED_PER_ASKED", 10**9 if how == "listed" else 0)
    files = {f"d{n % 3}/f{n}.bin": os.urandom(300 + n) for n in range(40)}
    first = make_version(tmp_path / "a", {**files, "a-only.txt": "a"}, name="first")
    second = make_version(tmp_path / "b", {**files, "b-only.txt": "b"}, name="second")
    assert read_tree(Path(first.get_local_copy())) == {**files, "a-only.txt": b"a"}
    cache = get_context().cache
    entries = first.file_entries_dict
    os.utime(cache.content_file(entries["d2/f2.bin"].hash))  # touched, same bytes: kept
    packs = store_dir(home) / "packs"
    packs.rename(tmp_path / "packs-away")  # nothing can be fetched: the cache alone must serve what is shared
    satchel.configure(home=home)  # no pack left open by this process either
    second = Dataset.get(dataset_id=second.id)
    assert read_tree(Path(second.get_local_copy(files=sorted(files)))) == files
    assert os.stat(cache.content_file(entries["d2/f2.bin"].hash)).st_mtime_ns == stamp_ns(entries["d2/f2.bin"].hash)
    (tmp_path / "packs-away").rename(packs)
    os.unlink(cache.content_file(entries["d0/f0.bin"].hash))  # gone from the cache
    write_through(Path(cache.content_file(entries["d1/f1.bin"].hash)))  # written to
    assert read_tree(Path(second.get_local_copy())) == {**files, "b-only.txt": b"b"}
