"""Parts, file subsets, writable copies, cache eviction."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import satchel
from satchel import Dataset, InvalidArgumentError, TargetNotEmptyError
from satchel.dataset.context import get_context
from satchel.dataset.parts import split_parts
from satchel.objects import ManifestEntry
from tests.conftest import random_tree, read_tree, write_tree


def finalized(folder: Path) -> Dataset:
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def test_parts_cover_every_file_once_and_balance_bytes(home: Path, tmp_path: Path) -> None:
    files = random_tree(tmp_path / "src", 120, max_size=20_000)
    ds = finalized(tmp_path / "src")
    seen: dict[str, bytes] = {}
    sizes = []
    for part in range(4):
        got = read_tree(Path(ds.get_local_copy(part=part, num_parts=4)))
        assert not set(got) & set(seen)
        seen.update(got)
        sizes.append(sum(len(v) for v in got.values()))
    assert seen == files
    assert max(sizes) - min(sizes) <= 20_000
    again = read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy(part=1, num_parts=4)))
    assert sum(len(v) for v in again.values()) == sizes[1]


def test_split_is_deterministic() -> None:
    view = {f"f{i}": ManifestEntry("0" * 64, (i * 7919) % 1000, "o") for i in range(500)}
    assert split_parts(view, 3) == split_parts(dict(reversed(list(view.items()))), 3)


@pytest.mark.parametrize("part,num_parts", [(4, 4), (-1, 2), (0, 0), (1, None), (None, 2)])
def test_bad_part_arguments(home: Path, tmp_path: Path, part: int | None, num_parts: int | None) -> None:
    write_tree(tmp_path / "src", {"a": "a"})
    ds = finalized(tmp_path / "src")
    with pytest.raises(InvalidArgumentError, match="part"):
        ds.get_local_copy(part=part, num_parts=num_parts)


def test_files_fetches_only_those_bytes(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {f"f{i}.bin": os.urandom(50_000) for i in range(20)})
    write_tree(tmp_path / "src", {"big.bin": os.urandom(20 << 20)})
    ds = finalized(tmp_path / "src")
    content = get_context().settings.cache_dir / "content"
    folder = Path(ds.get_local_copy(files=["f3.bin", "big.bin"]))
    assert sorted(os.listdir(folder)) == ["big.bin", "f3.bin"]
    assert (folder / "f3.bin").read_bytes() == (tmp_path / "src/f3.bin").read_bytes()
    assert len(list(content.rglob("*"))) - len(list(content.glob("*"))) == 2
    with pytest.raises(InvalidArgumentError, match="list_files"):
        ds.get_local_copy(files=["nope.bin"])


def test_mutable_copy(home: Path, tmp_path: Path) -> None:
    files = random_tree(tmp_path / "src", 30)
    ds = finalized(tmp_path / "src")
    target = tmp_path / "work"
    assert ds.get_mutable_local_copy(target) == str(target)
    assert read_tree(target) == files
    first = next(iter(files))
    (target / first).write_bytes(b"edited")
    assert read_tree(Path(ds.get_local_copy()))[first] == files[first]
    with pytest.raises(TargetNotEmptyError, match="overwrite=True"):
        ds.get_mutable_local_copy(target)
    assert ds.get_mutable_local_copy(target, raise_on_error=False) is None
    (target / "stray.txt").write_text("x")
    ds.get_mutable_local_copy(target, overwrite=True)
    assert read_tree(target) == files
    part = tmp_path / "part"
    ds.get_mutable_local_copy(part, part=0, num_parts=2)
    assert 0 < len(read_tree(part)) < len(files)


def test_a_mutable_copy_is_independent_and_writable_whatever_the_umask(home: Path, tmp_path: Path) -> None:
    files = {"small.txt": b"small", "sub/big.bin": os.urandom((1 << 20) + 7)}  # copied whole, and by the kernel
    write_tree(tmp_path / "src", files)
    ds = finalized(tmp_path / "src")
    before = os.umask(0o077)
    try:
        target = Path(ds.get_mutable_local_copy(tmp_path / "work"))
    finally:
        os.umask(before)
    assert read_tree(target) == files
    cache = get_context().cache
    for name in files:
        info = os.stat(target / name)
        assert stat.S_IMODE(info.st_mode) == 0o644 and info.st_nlink == 1
        assert not os.path.samefile(target / name, cache.content_file(ds.file_entries_dict[name].hash))


def test_cache_eviction_respects_limit(home: Path, tmp_path: Path) -> None:
    satchel.configure(home=home, cache_limit="300KB")
    versions = []
    for i in range(3):
        write_tree(tmp_path / f"v{i}", {"data.bin": os.urandom(200_000)})
        ds = Dataset.create(dataset_name=f"d{i}", dataset_project="p")
        ds.add_files(tmp_path / f"v{i}")
        ds.upload(show_progress=False)
        ds.finalize()
        versions.append(ds)
    for ds in versions:
        ds.get_local_copy()
    cache = get_context().cache
    assert cache.usage() <= 300_000 + 200_000
    alive = [d for d in versions if cache.version_dir(d.id).exists()]
    assert versions[-1] in alive and len(alive) < 3
    rebuilt = Path(versions[0].get_local_copy())
    assert (rebuilt / "data.bin").read_bytes() == (tmp_path / "v0/data.bin").read_bytes()


def test_cache_limit_from_environment(home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SATCHEL_CACHE_LIMIT", "2GiB")
    monkeypatch.setenv("SATCHEL_CACHE_DIR", str(tmp_path / "elsewhere"))
    settings = satchel.configure()
    assert settings.cache_limit == 2 * 1024**3 and settings.cache_dir == tmp_path / "elsewhere"
    write_tree(tmp_path / "src", {"a": "a"})
    ds = finalized(tmp_path / "src")
    assert ds.get_local_copy().startswith(str(tmp_path / "elsewhere"))
