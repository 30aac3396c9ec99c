"""Settings follow the environment between calls (as a user's own test suite or a notebook changes it), and
satchel.configure(...) keeps winning over it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import satchel
from satchel import Dataset, DatasetNotFoundError
from satchel.dataset.context import get_context
from tests.conftest import write_tree


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SATCHEL_"):
            monkeypatch.delenv(name)
    satchel.configure()  # no arguments: the environment decides
    yield
    satchel.configure()


def version_in_current_home(tmp_path: Path, name: str) -> str:
    write_tree(tmp_path / name, {f"{name}.txt": name})
    ds = Dataset.create(dataset_name=name, dataset_project="p")
    ds.add_files(tmp_path / name)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds.id


def test_a_changed_satchel_home_is_used_by_the_next_call(clean_environment: None, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "a"))
    in_a = version_in_current_home(tmp_path, "first")
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "b"))
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=in_a)
    in_b = version_in_current_home(tmp_path, "second")
    assert Path(Dataset.get(dataset_id=in_b).get_local_copy()).is_relative_to(tmp_path / "b")
    assert (tmp_path / "b" / "storage").is_dir() and (tmp_path / "b" / "catalog.db").is_file()
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "a"))
    assert Dataset.get(dataset_id=in_a).name == "first"
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=in_b)


def test_other_satchel_variables_follow_too(clean_environment: None, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SATCHEL_CACHE_DIR", str(tmp_path / "cache-1"))
    version_id = version_in_current_home(tmp_path, "ds")
    assert Path(Dataset.get(dataset_id=version_id).get_local_copy()).is_relative_to(tmp_path / "cache-1")
    monkeypatch.setenv("SATCHEL_CACHE_DIR", str(tmp_path / "cache-2"))
    monkeypatch.setenv("SATCHEL_CACHE_LIMIT", "7MB")
    assert Path(Dataset.get(dataset_id=version_id).get_local_copy()).is_relative_to(tmp_path / "cache-2")
    assert get_context().settings.cache_limit == 7_000_000


def test_configure_wins_over_the_environment(clean_environment: None, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    satchel.configure(home=tmp_path / "configured")
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("SATCHEL_MAX_WORKERS", "3")
    version_in_current_home(tmp_path, "ds")
    assert (tmp_path / "configured" / "catalog.db").is_file() and not (tmp_path / "from-env").exists()
    assert get_context().settings.max_workers == 3  # what configure() did not set still follows the environment


def test_a_dataset_keeps_working_after_the_context_changed(clean_environment: None, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SATCHEL_HOME", str(tmp_path / "a"))
    write_tree(tmp_path / "src", {"x.txt": "x"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    satchel.configure(home=tmp_path / "elsewhere")  # closes the context ds was made with
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.list_files() == ["x.txt"] and (tmp_path / "a" / "catalog.db").is_file()
