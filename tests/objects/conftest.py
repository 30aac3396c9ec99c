"""Fixtures shared by the object-layer tests: a local storage and an object store over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from satchel.objects.store import ObjectStore
from satchel.storage import LocalStorage


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


@pytest.fixture
def store(storage: LocalStorage, tmp_path: Path) -> ObjectStore:
    return ObjectStore(storage, tmp_path / "cache")
