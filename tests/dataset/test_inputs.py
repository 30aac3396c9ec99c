"""Inputs are checked where they enter: odd local files, parts, paths too long for the local folder."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from satchel import (
    Dataset,
    InvalidArgumentError,
    PathTooLongError,
    SourceFileError,
)
from satchel.dataset import scan
from satchel.dataset.parts import split_parts
from satchel.objects import ManifestEntry
from tests.conftest import make_version, read_tree, write_tree


def draft() -> Dataset:
    return Dataset.create(dataset_name="ds", dataset_project="p")


def test_fifos_sockets_and_symlink_loops_in_a_folder_are_skipped_with_a_warning(
        home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = write_tree(tmp_path / "src", {"a.txt": "alpha", "sub/b.txt": "bravo"})
    os.mkfifo(src / "pipe")
    (src / "loop").symlink_to(src / "loop")
    (src / "dangling").symlink_to(src / "nowhere")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(src / "sub" / "sock"))
    try:
        ds = draft()
        assert ds.add_files(src) == 2
    finally:
        server.close()
    assert ds.list_files() == ["a.txt", "sub/b.txt"]
    assert "skipped 4 entries" in caplog.text and "not regular files" in caplog.text


def test_a_fifo_given_directly_is_refused_at_once(home: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    ds = draft()
    done: list[BaseException] = []

    def add(path: Path) -> None:
        try:
            ds.add_files(path)
        except BaseException as exc:
            done.append(exc)

    for path, message in ((fifo, "FIFO"), (loop, "symlink loop")):
        done.clear()
        worker = threading.Thread(target=add, args=(path,), daemon=True)
        worker.start()
        worker.join(10)
        assert not worker.is_alive(), f"add_files({path.name}) hung"
        assert isinstance(done[0], InvalidArgumentError) and message in str(done[0])


def test_an_unreadable_file_is_a_source_error(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tree(tmp_path / "src", {"secret.txt": "x"})

    def denied(path: str, expected_size: int) -> object:
        raise PermissionError(13, "Permission denied", path)  # what open() raises for a user without read access

    monkeypatch.setattr(scan, "read_file", denied)
    with pytest.raises(SourceFileError, match=r"cannot read .*secret\.txt: Permission denied"):
        draft().add_files(src)


@pytest.mark.parametrize(("part", "num_parts"), [(True, 2), (0, False), ("0", 2), (0.0, 2), (0, 2.5), (0, None),
                                                 (None, 3), (-1, 2), (2, 2), (0, 0)])
def test_part_and_num_parts_must_be_whole_numbers_in_range(home: Path, tmp_path: Path, part: object,
                                                           num_parts: object) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha"})
    with pytest.raises(InvalidArgumentError, match="part"):
        ds.get_local_copy(part=part, num_parts=num_parts)  # type: ignore[arg-type]


def test_numpy_integers_are_whole_numbers(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha", "b.txt": "bravo"})
    assert read_tree(Path(ds.get_local_copy(part=np.int64(1), num_parts=np.int32(2))))  # type: ignore[arg-type]


def test_a_huge_num_parts_costs_nothing_and_keeps_the_split(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha", "b.txt": "", "c.txt": "charlie!"})
    view = {f"f{i}": ManifestEntry("0" * 64, i, "v") for i in range(3)}
    assert len(split_parts(view, 10**9)) == 3  # only as many parts as files are built, not 10**9 lists
    shards = [read_tree(Path(ds.get_local_copy(part=i, num_parts=10**9))) for i in (0, 1, 2, 3, 10**9 - 1)]
    assert shards == [{"c.txt": b"charlie!"}, {"a.txt": b"alpha"}, {"b.txt": b""}, {}, {}]


def reference_split(view: dict[str, ManifestEntry], num_parts: int) -> list[list[str]]:
    """The split as specified, simulating every part (the slow way)."""
    weights = [0] * num_parts
    parts: list[list[str]] = [[] for _ in range(num_parts)]
    for path in sorted(view, key=lambda p: (-view[p].size, p)):
        lightest = min(range(num_parts), key=lambda i: (weights[i], i))
        parts[lightest].append(path)
        weights[lightest] += view[path].size
    return [sorted(p) for p in parts]


@pytest.mark.parametrize("sizes", [[5, 0, 0, 3, 0], [0, 0, 0], [1, 2, 3, 4, 5, 6, 7], [7]])
def test_the_short_split_equals_the_full_one(sizes: list[int]) -> None:
    view = {f"f{i}": ManifestEntry("0" * 64, size, "v") for i, size in enumerate(sizes)}
    for num_parts in range(1, len(sizes) + 4):
        short = split_parts(view, num_parts)
        assert short + [[]] * (num_parts - len(short)) == reference_split(view, num_parts)


def make_deep_file(base: Path, length: int) -> str:
    """Create a file whose path under ``base`` is ``length`` characters long (made relative to descriptors, as
    the whole path may not fit one system call); return that relative path."""
    parts = []
    while length - sum(len(p) + 1 for p in parts) > 250:
        parts.append("d" * 200)
    parts.append("f" * (length - sum(len(p) + 1 for p in parts)))
    current = os.open(base, os.O_RDONLY)
    for part in parts[:-1]:
        os.mkdir(part, dir_fd=current)
        deeper = os.open(part, os.O_RDONLY, dir_fd=current)
        os.close(current)
        current = deeper
    with os.fdopen(os.open(parts[-1], os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=current), "w") as handle:
        handle.write("deep")
    os.close(current)
    return "/".join(parts)


def test_a_path_too_long_for_the_cache_folder_is_refused_before_writing(home: Path, tmp_path: Path) -> None:
    base = tmp_path / "s"
    base.mkdir()
    deep = make_deep_file(base, os.pathconf(base, "PC_PATH_MAX") - len(str(base)) - 24)  # fits here, not in the cache
    ds = draft()
    ds.add_files(base)
    ds.upload(show_progress=False)
    ds.finalize()
    with pytest.raises(PathTooLongError, match="too long to be written under") as caught:
        ds.get_local_copy()
    assert caught.value.dataset_path == deep
    versions = home / "cache" / "versions"
    assert not versions.exists() or not any(versions.iterdir())


def test_a_name_too_long_is_refused_before_writing(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "src", {"ok.txt": "fine"})
    from tests.dataset.test_hostile_paths import forge

    forge(home, ds, {1: ("x" * 300).encode()})  # a valid dataset path no filesystem here can hold
    with pytest.raises(PathTooLongError, match="a name of 300 bytes"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    with pytest.raises(PathTooLongError):
        Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
