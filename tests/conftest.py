"""Shared fixtures: every test gets its own SATCHEL_HOME (catalog, default storage, cache)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import satchel
from satchel import Dataset
from satchel.dataset.context import get_context


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh satchel home, configured for this process and exported for subprocesses."""
    home = tmp_path / "satchel-home"
    for name in list(os.environ):
        if name.startswith("SATCHEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SATCHEL_HOME", str(home))
    satchel.configure(home=home)
    yield home
    get_context().close()


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    """Create ``files`` (relative path -> content) under ``root``."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def random_tree(root: Path, count: int, seed: int = 0, max_size: int = 4096) -> dict[str, bytes]:
    """``count`` files of random bytes in a few folders; returns relative path -> content."""
    rng = random.Random(seed)
    files = {f"d{i % 7}/f{i}.bin": rng.randbytes(rng.randint(0, max_size)) for i in range(count)}
    write_tree(root, files)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """relative path -> bytes of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def make_version(folder: Path, files: dict[str, str | bytes], *, name: str = "ds", project: str = "p",
            parents: list[Dataset] | None = None, remove: list[str] | None = None, **create: object) -> Dataset:
    """A finalized version: ``remove`` patterns first, then ``files`` written to ``folder`` and added."""
    ds = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=parents, **create)  # type: ignore[arg-type]
    for pattern in remove or []:
        ds.remove_files(pattern)
    if files:
        write_tree(folder, files)
        ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds
