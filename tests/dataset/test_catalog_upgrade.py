"""A local catalog written by an older satchel is rebuilt in place when opened, and keeps every pending change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy

import satchel
from satchel import Dataset
from satchel.catalog.sql import SCHEMA_VERSION
from satchel.dataset.context import get_context
from tests.conftest import catalog_db, read_tree, write_tree

_ROWID_DRAFT_ROWS = """CREATE TABLE draft_rows (
    version_id VARCHAR(64) NOT NULL, path TEXT NOT NULL, hash VARCHAR(64), size BIGINT NOT NULL, source TEXT,
    link TEXT, PRIMARY KEY (version_id, path), FOREIGN KEY(version_id) REFERENCES versions (id))"""


def _draft_rows_ddl(db: sqlite3.Connection) -> str:
    return db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'draft_rows'").fetchone()[0]


@pytest.mark.embedded_only("upgrades a local SQLite catalog file in place (a server upgrades its database at start)")
def test_a_catalog_from_before_gets_draft_rows_without_rowid_and_keeps_the_pending_changes(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path / "v1", {"keep.txt": "keep", "gone.txt": "gone"})
    parent = Dataset.create(dataset_name="ds", dataset_project="p")
    parent.add_files(tmp_path / "v1")
    parent.upload(show_progress=False)
    parent.finalize()
    write_tree(tmp_path / "v2", {"new.txt": "new", "sub/deep.txt": "deep"})
    child = Dataset.create(dataset_name="ds", dataset_project="p", parent_datasets=[parent.id])
    child.add_files(tmp_path / "v2")
    child.remove_files("gone.txt")
    get_context().close()
    with sqlite3.connect(catalog_db(home)) as db:  # the table as satchel made it before: a rowid table
        before = sorted(db.execute("SELECT * FROM draft_rows"))
        schema = db.execute("SELECT value FROM satchel_meta WHERE key = 'schema'").fetchone()
        db.execute("ALTER TABLE draft_rows RENAME TO new_rows")
        db.execute(_ROWID_DRAFT_ROWS)
        db.execute("INSERT INTO draft_rows SELECT * FROM new_rows")
        db.execute("DROP TABLE new_rows")
        assert "WITHOUT ROWID" not in _draft_rows_ddl(db).upper()
    assert len(before) == 3  # two added files, one removal

    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("crashed while rebuilding")

    with monkeypatch.context() as patch:  # the rebuild fails after renaming the old table: nothing changes
        patch.setattr(sqlalchemy.Table, "create", crash)
        with pytest.raises(RuntimeError, match="crashed"):
            satchel.configure(home=home)  # opens the catalog, which rebuilds the table
    with sqlite3.connect(catalog_db(home)) as db:
        assert "WITHOUT ROWID" not in _draft_rows_ddl(db).upper()
        assert sorted(db.execute("SELECT * FROM draft_rows")) == before

    satchel.configure(home=home)
    again = Dataset.get(dataset_id=child.id)
    assert again.list_files() == ["keep.txt", "new.txt", "sub/deep.txt"]
    with sqlite3.connect(catalog_db(home)) as db:
        assert "WITHOUT ROWID" in _draft_rows_ddl(db).upper()
        assert sorted(db.execute("SELECT * FROM draft_rows")) == before
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'draft_rows_%'").fetchall() == []
        assert db.execute("SELECT value FROM satchel_meta WHERE key = 'schema'").fetchone() == schema  # unchanged:
        # an older satchel reads and writes either table, so it still opens this catalog
    again.upload(show_progress=False)
    again.finalize()
    assert read_tree(Path(again.get_local_copy())) == {"keep.txt": b"keep", "new.txt": b"new", "sub/deep.txt": b"deep"}


def test_a_new_catalog_keeps_draft_rows_without_rowid(home: Path) -> None:
    Dataset.create(dataset_name="ds", dataset_project="p")
    with sqlite3.connect(catalog_db(home)) as db:
        assert "WITHOUT ROWID" in _draft_rows_ddl(db).upper()
        assert db.execute("SELECT value FROM satchel_meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)
