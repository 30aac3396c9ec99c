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
from collections.abc import Iterable
from pathlib import Path

RACY_WINDOW_NS = 1_000_000_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat_v2 (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL, hash TEXT NOT NULL, hashed_ns INTEGER NOT NULL, PRIMARY KEY (dev, ino)
)
"""

StatKey = tuple[int, int, int, int, int]


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

    def lookup(self, keys: Iterable[StatKey]) -> dict[StatKey, str]:
        """Known, trusted hashes for the given (dev, ino, size, mtime_ns, ctime_ns) keys: one query joining a
        temporary table of the wanted inodes, however many there are."""
        wanted: dict[tuple[int, int], StatKey] = {(k[0], k[1]): k for k in keys}
        if not wanted:
            return {}
        found: dict[StatKey, str] = {}
        with self._lock:
            conn = self._conn
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (dev INTEGER NOT NULL, ino INTEGER NOT NULL)")
            conn.execute("BEGIN")
            try:
                conn.execute("DELETE FROM wanted")
                conn.executemany("INSERT INTO wanted VALUES (?, ?)", wanted)
                rows = conn.execute(
                    "SELECT s.dev, s.ino, s.hash, s.size, s.mtime_ns, s.ctime_ns, s.hashed_ns FROM wanted w "
                    "JOIN stat_v2 s ON s.dev = w.dev AND s.ino = w.ino").fetchall()
                conn.execute("DELETE FROM wanted")
            finally:
                conn.execute("COMMIT")
        for dev, ino, content_hash, size, mtime_ns, ctime_ns, hashed_ns in rows:
            key = wanted[(dev, ino)]
            settled = hashed_ns - max(mtime_ns, ctime_ns) >= RACY_WINDOW_NS
            if key[2:] == (size, mtime_ns, ctime_ns) and settled:
                found[key] = content_hash
        return found

    def remember(self, items: Iterable[tuple[StatKey, str, int]]) -> None:
        """Record (key, hash, time the file's read started in ns)."""
        rows = [(*key, content_hash, started) for key, content_hash, started in items]
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
