"""`clearml-data` command lines as ClearML's docs write them, with only the command name changed to `satchel`
(each line written anew here from the documented flags, not copied)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from satchel.catalog import VersionRecord
from satchel.dataset.context import get_context
from tests.conftest import read_tree, write_tree


def satchel(home: Path, cwd: Path, line: str) -> subprocess.CompletedProcess[str]:
    """Run a command line (split like a shell would, without quotes) as a user would: a fresh process."""
    env = {**os.environ, "SATCHEL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "satchel", *line.split()], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_clearml_data_lines_run_with_the_command_name_changed(home: Path, tmp_path: Path) -> None:
    data = write_tree(tmp_path / "data", {"a.txt": "alpha", "b.csv": "1,2", "skip.bin": "x", "sub/c.txt": "charlie"})
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    first = json.loads(ok(satchel(home, work, "create --project demo --name ds --tags raw v1 --json")))["id"]
    ok(satchel(home, elsewhere, f"add --files {data / 'a.txt'} {data / 'b.csv'} --verbose --max-workers 2"))
    ok(satchel(home, elsewhere, f"add --files {data / 'sub'} --wildcard *.txt *.csv --dataset-folder sub"))
    closed = satchel(home, work, "close --verbose --max-workers 2")
    assert closed.returncode == 0, closed.stderr
    listing = json.loads(ok(satchel(home, work, f"list --id {first} --json")))
    assert sorted(r["path"] for r in listing) == ["a.txt", "b.csv", "sub/c.txt"]
    second = json.loads(ok(satchel(home, work, "create --project demo --name other --output-uri "
                                               f"{tmp_path / 'store'} --json")))["id"]
    ok(satchel(home, work, f"add --files {data / 'skip.bin'}"))
    ok(satchel(home, work, "upload --verbose --max-workers 2"))
    ok(satchel(home, work, "close --disable-upload"))
    merged = json.loads(ok(satchel(home, work, f"create --project demo --name merged --parents {first} {second} "
                                               "--json")))["id"]
    ok(satchel(home, work, "remove --files sub/* --verbose"))
    ok(satchel(home, work, "close"))
    files = json.loads(ok(satchel(home, work, f"list --id {merged} --filter *.txt *.bin --json")))
    assert sorted(r["path"] for r in files) == ["a.txt", "skip.bin"]
    changes = json.loads(ok(satchel(home, work, f"compare --source {first} --target {merged} --verbose --json")))
    assert changes == {"added": ["skip.bin"], "modified": [], "removed": ["sub/c.txt"]}
    flat = json.loads(ok(satchel(home, work, f"squash --name flat --ids {first} {merged} --verbose --json")))
    assert flat["final"]
    found = json.loads(ok(satchel(home, work, "search --project demo --not-only-completed "
                                              "--non-recursive-project-search --json")))
    assert {d["id"] for d in found} >= {first, second, merged}
    assert json.loads(ok(satchel(home, work, "search --tags raw v1 --json")))[0]["id"] == first
    link = tmp_path / "linked"
    got = ok(satchel(home, work, f"get --id {first[:10]} --link {link} --verbose --max-workers 2")).strip()
    assert link.is_symlink() and read_tree(link) == read_tree(Path(got))
    assert read_tree(link) == {"a.txt": b"alpha", "b.csv": b"1,2", "sub/c.txt": b"charlie"}
    verified = satchel(home, work, f"verify --id {first[:8]} --verbose")
    assert verified.returncode == 0, verified.stderr


def test_sync_without_changes_makes_no_version(home: Path, tmp_path: Path) -> None:
    data = write_tree(tmp_path / "data", {"a.txt": "alpha"})
    made = json.loads(ok(satchel(home, tmp_path, f"sync --project p --name ds --folder {data} --version 2.0.0 "
                                                 "--tags nightly raw --verbose --json")))
    first = made["id"]
    again = json.loads(ok(satchel(home, tmp_path, f"sync --project p --name ds --folder {data} --json")))
    assert again["unchanged"] and again["id"] == first
    assert [d["id"] for d in json.loads(ok(satchel(home, tmp_path, "search --project p --not-only-completed "
                                                                   "--json")))] == [first]
    write_tree(data, {"b.txt": "bravo"})
    grown = json.loads(ok(satchel(home, tmp_path, f"sync --project p --name ds --folder {data} --json")))
    assert grown["id"] != first and grown["added_or_modified"] == 1
    listing = json.loads(ok(satchel(home, tmp_path, "search --project p --json")))
    assert {d["version"] for d in listing} == {"2.0.0", "2.0.1"}
    tags = {d["id"]: d["tags"] for d in listing}
    assert tags[first] == ["nightly", "raw"]


def test_short_ids_and_their_errors(home: Path, tmp_path: Path) -> None:
    catalog = get_context().catalog
    for digit in "01":  # two versions whose ids share the prefix "deadbeef"
        catalog.create_version(VersionRecord(id="deadbeef" + digit * 24, project="p", name=f"n{digit}",
                                             version="1.0.0", created_at=time.time()))
    described = satchel(home, tmp_path, "set-description --id deadbeef1 --description found-by-prefix")
    assert described.returncode == 0, described.stderr
    assert get_context().catalog.get_version("deadbeef" + "1" * 24).description == "found-by-prefix"
    ambiguous = satchel(home, tmp_path, "list --id deadbeef")
    assert ambiguous.returncode == 2 and "ambiguous" in ambiguous.stderr and "deadbeef0" in ambiguous.stderr
    missing = satchel(home, tmp_path, "list --id ffffffff0000")
    assert missing.returncode == 3 and "no dataset version" in missing.stderr
    assert satchel(home, tmp_path, "list --id deadbee").returncode == 3  # under 8 characters: not a prefix


def test_nargs_options_negative_values_links_and_skip_close(home: Path, tmp_path: Path) -> None:
    data = write_tree(tmp_path / "data", {"a.txt": "alpha"})
    first = json.loads(ok(satchel(home, tmp_path, f"sync --project p --name d --folder {data} --tags -1 x "
                                                  "--json")))["id"]
    assert json.loads(ok(satchel(home, tmp_path, "search --json")))[0]["tags"] == ["-1", "x"]
    flat = json.loads(ok(satchel(home, tmp_path, "squash --name flat --project-name p d --json")))
    assert flat["final"]
    draft = json.loads(ok(satchel(home, tmp_path, f"sync --project p --name d --folder {data} --skip-close "
                                                  "--json")))
    assert draft["id"] != first and not draft["finalized"]  # kept as the current draft, as clearml-data does
    link = tmp_path / "view"
    for _ in range(2):  # a second get --link replaces its own link
        ok(satchel(home, tmp_path, f"get --id {first} --link {link}"))
    assert link.is_symlink()
