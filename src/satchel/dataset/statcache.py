"""The local stat cache: (device, inode, size, mtime_ns, ctime_ns) -> content hash, so unchanged files are not
re-read.

An entry is trusted only when the file's mtime and ctime were at least ``RACY_WINDOW_NS`` older than the
moment that file's read started: a write in the same timestamp tick as the read could otherwise go unnoticed
(git's "racy" rule). Such entries are re-hashed once and then trusted. ctime is part of the key because
tools that restore an old mtime after writing still change it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

RACY_WINDOW_NS = 1_000_000_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_v2 (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL, hash TEXT NOT NULL, hashed_ns INTEGER NOT NULL, PRIMARY KEY (dev, ino)
)
"""

StatKey = tuple[int, int, int, int, int]
StatRow = tuple[int, int, int, int, int, str, int]  # a key, the hash, when its read started


class StatCache:
    """A small SQLite table in the satchel home. Thread-safe; failures only cost a re-hash."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    @property
    def _conn(self) -> sqlite3.Connection:
        """The connection, opened on first use (and again after ``close``: a Dataset may outlive its context)."""
        if self._db is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(str(self._path), timeout=60, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    def lookup(self, keys: Sequence[StatKey]) -> list[str | None]:
        """The known, trusted hash of each (dev, ino, size, mtime_ns, ctime_ns) key's file, or None: one query in
        SQLite comparing a temporary table of the keys with the cache, however many there are (only the hashes
        that match come back to Python)."""
        found: list[str | None] = [None] * len(keys)
        if not keys:
            return found
        with self._lock:
            conn = self._conn
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted_keys (dev INTEGER NOT NULL, ino INTEGER NOT NULL, "
                         "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL)")
            conn.execute("BEGIN")
            try:
                conn.execute("DELETE FROM wanted_keys")
                conn.executemany("INSERT INTO wanted_keys VALUES (?, ?, ?, ?, ?)", keys)  # rowids 1..n: empty before
                rows = conn.execute(
                    "SELECT w.rowid, s.hash FROM wanted_keys w JOIN stat_v2 s ON s.dev = w.dev AND s.ino = w.ino "
                    "AND s.size = w.size AND s.mtime_ns = w.mtime_ns AND s.ctime_ns = w.ctime_ns "
                    "AND s.hashed_ns - max(s.mtime_ns, s.ctime_ns) >= ?", (RACY_WINDOW_NS,)).fetchall()
                conn.execute("DELETE FROM wanted_keys")
            finally:
                conn.execute("COMMIT")
        for rowid, content_hash in rows:
            found[rowid - 1] = content_hash
        return found

    def remember(self, rows: Iterable[StatRow]) -> None:
        """Record (dev, ino, size, mtime_ns, ctime_ns, hash, time the file's read started in ns) rows."""
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO stat_v2 VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (the next use opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
