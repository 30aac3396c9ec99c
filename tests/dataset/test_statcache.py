"""The stat cache answers a batch of stat keys in order: a hash only for a file whose every stat field matches
and whose entry was settled (hashed at least RACY_WINDOW_NS after its last change)."""

from __future__ import annotations

from pathlib import Path

from satchel.dataset.statcache import RACY_WINDOW_NS, StatCache

SECOND = 1_000_000_000


def test_a_batch_is_answered_in_order_and_only_exact_settled_keys_hit(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "stat.db")
    changed = 10 * SECOND
    settled = changed + RACY_WINDOW_NS
    cache.remember([
        (1, 100, 5, changed, changed, "a" * 64, settled),
        (1, 101, 5, changed, changed - SECOND, "b" * 64, settled),
        (1, 102, 5, changed, changed, "c" * 64, settled - 1),  # read too soon after the write: not trusted
        (2, 100, 7, changed, changed, "d" * 64, settled),  # the same inode number on another device
    ])
    keys = [
        (1, 101, 5, changed, changed - SECOND),
        (1, 100, 5, changed, changed),
        (1, 100, 6, changed, changed),  # another size
        (1, 100, 5, changed + 1, changed),  # another mtime
        (1, 100, 5, changed, changed + 1),  # another ctime (an mtime restored after a write)
        (1, 102, 5, changed, changed),
        (1, 999, 5, changed, changed),  # unknown
        (2, 100, 7, changed, changed),
        (1, 100, 5, changed, changed),  # asked twice (two hard links to one file)
    ]
    assert cache.lookup(keys) == ["b" * 64, "a" * 64, None, None, None, None, None, "d" * 64, "a" * 64]
    assert cache.lookup(keys[:2]) == ["b" * 64, "a" * 64]  # a second batch is not mixed with the first
    assert cache.lookup([]) == []
    cache.remember([(1, 102, 5, changed, changed, "e" * 64, settled)])  # re-hashed later: now trusted
    assert cache.lookup([keys[5]]) == ["e" * 64]
    cache.close()
    assert StatCache(tmp_path / "stat.db").lookup(keys[:1]) == ["b" * 64]  # kept on disk
