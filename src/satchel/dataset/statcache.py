"""The local stat cache: (device, inode, size, mtime_ns) -> content hash, so unchanged files are not re-read.

An entry is trusted only when the file's mtime was at least ``RACY_WINDOW_NS`` older than the moment it
was hashed: a write in the same timestamp tick as the hash could otherwise go unnoticed (git's "racy"
rule). Such entries are re-hashed once and then trusted.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

RACY_WINDOW_NS = 1_000_000_000
_BATCH = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS stat (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL, hashed_ns INTEGER NOT NULL, PRIMARY KEY (dev, ino)
)
"""

StatKey = tuple[int, int, int, int]


class StatCache:
    """A small SQLite table in the satchel home. Thread-safe; failures only cost a re-hash."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=60, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()

    def lookup(self, keys: Iterable[StatKey]) -> dict[StatKey, str]:
        """Known hashes for the given (dev, ino, size, mtime_ns) keys."""
        wanted: dict[tuple[int, int], StatKey] = {(k[0], k[1]): k for k in keys}
        by_device: dict[int, list[int]] = {}
        for dev, ino in wanted:
            by_device.setdefault(dev, []).append(ino)
        found: dict[StatKey, str] = {}
        with self._lock:
            for dev, inodes in by_device.items():
                for start in range(0, len(inodes), _BATCH):
                    chunk = inodes[start : start + _BATCH]
                    rows = self._conn.execute(
                        f"SELECT ino, hash, size, mtime_ns, hashed_ns FROM stat WHERE dev=? AND ino IN "
                        f"({','.join('?' * len(chunk))})",
                        (dev, *chunk),
                    )
                    for ino, content_hash, size, mtime_ns, hashed_ns in rows:
                        key = wanted[(dev, ino)]
                        if key[2:] == (size, mtime_ns) and hashed_ns - mtime_ns >= RACY_WINDOW_NS:
                            found[key] = content_hash
        return found

    def remember(self, items: Iterable[tuple[StatKey, str]], hashed_ns: int | None = None) -> None:
        """Record hashes computed at ``hashed_ns`` (now by default)."""
        stamp = time.time_ns() if hashed_ns is None else hashed_ns
        rows = [(dev, ino, size, mtime, h, stamp) for (dev, ino, size, mtime), h in items]
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany("INSERT OR REPLACE INTO stat VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
