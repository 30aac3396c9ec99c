"""One read of an embedded SQLite catalog with the standard library's driver, for the warm path of
``satchel get`` (see ``satchel.dataset.quick``): opening the catalog through SQLAlchemy costs more than the
whole warm call may take. The schema is ``satchel.catalog.sql``'s; nothing here writes or migrates."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

SQLITE_PREFIX = "sqlite:///"


def version_status(catalog_url: str, version_id: str) -> str | None:
    """The status of ``version_id`` in the SQLite catalog at ``catalog_url``, or None when the catalog is not an
    existing SQLite file, has no such version, or cannot be read as expected (callers then take the full path,
    which reports what is wrong)."""
    if not catalog_url.startswith(SQLITE_PREFIX):
        return None
    try:
        path = Path(catalog_url[len(SQLITE_PREFIX):]).resolve()  # relative: to the working folder, as SQLAlchemy
        if not path.is_file():
            return None
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
            row = conn.execute("SELECT status FROM versions WHERE id = ?", (version_id,)).fetchone()
    except (sqlite3.Error, OSError, ValueError):
        return None
    return row[0] if row and isinstance(row[0], str) else None
