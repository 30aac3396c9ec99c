"""Dataset.get: by id, latest by version, by project, tags, filters, auto_create, writable_copy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from satchel import ConflictError, Dataset, DatasetNotFoundError, InvalidArgumentError


def make(name: str, project: str = "p", final: bool = True, **kw: object) -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project=project, **kw)  # type: ignore[arg-type]
    if final:
        ds.finalize()
    time.sleep(0.002)
    return ds


def test_get_by_id_and_unknown_id(home: Path) -> None:
    ds = make("a")
    assert Dataset.get(dataset_id=ds.id).id == ds.id
    with pytest.raises(DatasetNotFoundError) as caught:
        Dataset.get(dataset_id="nope")
    assert isinstance(caught.value, LookupError) and caught.value.dataset_id == "nope"


def test_latest_is_highest_semantic_version(home: Path) -> None:
    make("a", dataset_version="1.10.0")
    newest_created = make("a", dataset_version="1.9.0")
    assert Dataset.get(dataset_project="p", dataset_name="a").version == "1.10.0"
    assert Dataset.get(dataset_project="p", dataset_name="a", dataset_version="1.9.0").id == newest_created.id


def test_only_project_gives_most_recent_dataset(home: Path) -> None:
    make("a", dataset_version="9.0.0")
    recent = make("b")
    assert Dataset.get(dataset_project="p").id == recent.id


def test_filters(home: Path) -> None:
    done = make("a", dataset_tags=["train"])
    draft = make("a", final=False, dataset_tags=["train", "new"])
    assert Dataset.get(dataset_project="p", dataset_name="a").id == draft.id
    assert Dataset.get(dataset_project="p", dataset_name="a", only_completed=True).id == done.id
    assert Dataset.get(dataset_project="p", dataset_name="a", dataset_tags=["new"]).id == draft.id
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_project="p", dataset_name="a", only_published=True)
    with pytest.raises(DatasetNotFoundError, match="auto_create"):
        Dataset.get(dataset_project="p", dataset_name="zzz")
    with pytest.raises(InvalidArgumentError):
        Dataset.get()


def test_auto_create_and_writable_copy(home: Path) -> None:
    created = Dataset.get(dataset_project="p", dataset_name="fresh", auto_create=True)
    assert not created.is_final() and created.version == "1.0.0"
    created.finalize()
    child = Dataset.get(dataset_project="p", dataset_name="fresh", writable_copy=True)
    assert child.id != created.id and child.parent_ids == [created.id] and not child.is_final()
    assert child.version == "1.0.1"


def test_duplicate_version_is_a_conflict(home: Path) -> None:
    make("a", dataset_version="1.0.0")
    with pytest.raises(ConflictError, match="dataset_version"):
        Dataset.create(dataset_name="a", dataset_project="p", dataset_version="1.0.0")


def test_create_needs_a_name(home: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="dataset_name"):
        Dataset.create(dataset_project="p")


def test_tags_and_repr(home: Path) -> None:
    ds = make("a", dataset_tags=["x"])
    ds.tags = ["y", "z"]
    assert Dataset.get(dataset_id=ds.id).tags == ["y", "z"]
    assert "p/a" in repr(ds) and "final" in repr(ds)


def test_clearml_style_error_handling_keeps_working(home: Path) -> None:
    with pytest.raises(ValueError):
        Dataset.get(dataset_id="missing")
    draft = Dataset.create(dataset_name="d", dataset_project="p", use_current_task=True)
    with pytest.raises(ValueError):
        draft.get_local_copy()
    assert Dataset.get(dataset_id=draft.id, alias="train", shallow_search=True).id == draft.id
