"""Hashing sources: small files read by one thread with read-ahead hints on local disks, on threads elsewhere;
both give the same hashes, hard links included, and the filesystem type is read from mountinfo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from satchel.dataset import scan
from satchel.dataset.scan import find_sources, hash_sources, mount_type
from satchel.dataset.statcache import StatCache
from satchel.objects import hash_bytes

MOUNTINFO = [
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "30 22 0:26 / /proc rw,nosuid - proc proc rw",
    "40 22 0:40 / /mnt/team\\040share rw,relatime shared:7 master:2 - nfs4 server:/export rw,vers=4.2",
    "41 40 8:2 / /mnt/team\\040share/local rw - xfs /dev/sdb rw",
    "42 22 0:50 / /data rw - fuse.sshfs host:/d rw",
    "bad line",
]


@pytest.mark.parametrize(("path", "kind"), [
    ("/", "ext4"), ("/home/me/data", "ext4"), ("/proc/1", "proc"), ("/mnt/team share", "nfs4"),
    ("/mnt/team share/x/y.bin", "nfs4"), ("/mnt/team share/local/z", "xfs"), ("/mnt/team sharex", "ext4"),
    ("/data/set", "fuse.sshfs"), ("/database", "ext4"),
])
def test_the_longest_mount_point_holding_a_path_names_its_filesystem(path: str, kind: str) -> None:
    assert mount_type(MOUNTINFO, path) == kind
    assert mount_type([], path) == ""


@pytest.mark.skipif(not os.path.exists("/proc/self/mountinfo"), reason="Linux only: read-ahead hints need it")
def test_this_machines_tmp_filesystem_is_known(tmp_path: Path) -> None:
    assert scan.filesystem_type(os.path.realpath(tmp_path)) not in ("", "proc")


@pytest.mark.parametrize("serial", [True, False])
def test_serial_and_threaded_hashing_agree_and_hard_links_both_get_their_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, serial: bool) -> None:
    monkeypatch.setattr(scan, "_serial_small", lambda sources: serial)
    monkeypatch.setattr(scan, "_SMALL", 3000)  # a few "large" files too, on the threads
    files = {f"d{n % 4}/f{n}.bin": os.urandom(n * 37) for n in range(300)}
    for name, data in files.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    os.link(tmp_path / "src/d1/f1.bin", tmp_path / "src/d1/linked.bin")  # the same stat key twice
    files["d1/linked.bin"] = files["d1/f1.bin"]
    sources = find_sources(tmp_path / "src", wildcard=[], local_base_folder=None, dataset_path="", recursive=True)
    seen: list[int] = []
    hashed = hash_sources(sources, StatCache(tmp_path / "stat.db"), max_workers=2, on_bytes=seen.append)
    assert hashed == {name: hash_bytes(data) for name, data in files.items()}
    assert sum(seen) == sum(map(len, files.values()))  # progress counts every byte once
