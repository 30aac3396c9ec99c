"""The command line: the main flow through the real entry point, the rest through click's runner."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from satchel.cli import commands  # noqa: F401 - registers the commands
from satchel.cli.docs import render
from satchel.cli.main import cli
from tests.conftest import read_tree, store_dir, write_tree

ROOT = Path(__file__).resolve().parents[2]


def run_cli(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SATCHEL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "satchel", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_create_add_upload_close_get_compare_through_the_entry_point(home: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_tree(work / "data", {"a.txt": "alpha", "sub/b.txt": "beta"})
    created = run_cli(home, work, "create", "--project", "p", "--name", "cats", "--json")
    assert created.returncode == 0, created.stderr
    first = json.loads(created.stdout)["id"]
    assert (home / "current").read_text().strip() == first
    assert run_cli(home, work, "add", "--files", "data").returncode == 0
    assert run_cli(home, work, "upload", "--quiet").returncode == 0
    closed = run_cli(home, work, "close")
    assert closed.returncode == 0 and "finalized" in closed.stdout
    got = run_cli(home, work, "get", "--project", "p", "--name", "cats")
    assert got.returncode == 0
    assert read_tree(Path(got.stdout.strip())) == {"a.txt": b"alpha", "sub/b.txt": b"beta"}
    second = json.loads(run_cli(home, work, "create", "--project", "p", "--name", "cats", "--parents", first,
                                "--json").stdout)["id"]
    write_tree(work / "more", {"c.txt": "gamma"})
    run_cli(home, work, "add", "--files", "more")
    run_cli(home, work, "remove", "--files", "sub/*")
    assert run_cli(home, work, "close", "--quiet").returncode == 0
    compared = run_cli(home, work, "compare", "--source", first, "--target", second, "--json")
    assert json.loads(compared.stdout) == {"added": ["c.txt"], "modified": [], "removed": ["sub/b.txt"]}


def invoke(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        result = runner.invoke(cli, list(args), catch_exceptions=False)
    except SystemExit as exc:  # our error handler exits
        return int(exc.code or 0), "", ""
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def make_version(tmp_path: Path, files: dict[str, str], *extra: str) -> str:
    folder = tmp_path / f"src{len(list(tmp_path.iterdir()))}"
    write_tree(folder, files)
    code, out, _ = invoke("sync", "--project", "p", "--name", "ds", "--folder", str(folder), "--json", *extra,
                          cwd=tmp_path)
    assert code == 0, out
    return str(json.loads(out)["id"])


def test_sync_list_search_and_json(home: Path, tmp_path: Path) -> None:
    first = make_version(tmp_path, {"a.txt": "1", "b.txt": "2"})
    second = make_version(tmp_path, {"a.txt": "1", "c.txt": "3"})
    code, out, _ = invoke("list", "--id", second, "--json")
    assert code == 0 and [r["path"] for r in json.loads(out)] == ["a.txt", "c.txt"]
    code, out, _ = invoke("list", "--id", second, "--added", "--removed", "--json")
    assert [(r["path"], r["removed"]) for r in json.loads(out)] == [("c.txt", False), ("b.txt", True)]
    code, out, _ = invoke("search", "--project", "p", "--json")
    assert [d["id"] for d in json.loads(out)] == [second, first]
    code, out, _ = invoke("search", "--project", "p")
    assert second in out and "1.0.1" in out


def test_get_copy_parts_files_and_verify(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {f"f{i}.txt": "x" * i for i in range(1, 9)})
    target = tmp_path / "copy"
    assert invoke("get", "--id", version, "--copy", str(target))[0] == 0
    assert len(read_tree(target)) == 8
    assert invoke("get", "--id", version, "--copy", str(target))[0] == 4
    assert invoke("get", "--id", version, "--copy", str(target), "--overwrite")[0] == 0
    code, out, _ = invoke("get", "--id", version, "--part", "0", "--num-parts", "2")
    assert code == 0 and 0 < len(os.listdir(out.strip())) < 8
    code, out, _ = invoke("get", "--id", version, "--files", "f3.txt")
    assert os.listdir(out.strip()) == ["f3.txt"]
    assert invoke("verify", "--id", version, "--folder", str(target))[0] == 0
    (target / "f1.txt").write_text("corrupted")
    assert invoke("verify", "--id", version, "--folder", str(target))[0] == 5
    assert invoke("verify", "--id", version, "--folder", str(target), "--filesize")[0] == 5


def test_verify_finds_a_corrupted_cached_copy(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha"})
    _code, out, _ = invoke("get", "--id", version)
    cached = Path(out.strip()) / "a.txt"
    os.chmod(cached, stat.S_IRUSR | stat.S_IWUSR)
    cached.write_text("evil!")
    assert invoke("verify", "--id", version)[0] == 5


def test_error_paths_have_stable_exit_codes(home: Path, tmp_path: Path) -> None:
    parent = make_version(tmp_path, {"a.txt": "1"})
    make_version(tmp_path, {"a.txt": "2"})
    assert invoke("delete", "--id", parent)[0] == 4
    assert invoke("get", "--id", "no-such-id")[0] == 3
    _code, out, _ = invoke("create", "--project", "p", "--name", "draft", "--json", cwd=tmp_path)
    draft = json.loads(out)["id"]
    assert invoke("publish", "--id", draft)[0] == 4
    assert invoke("remove", "--id", draft, "--files", "../x")[0] == 2
    assert invoke("add", "--id", draft, "--files", str(tmp_path / "missing"))[0] == 2
    assert invoke("close", "--id", parent)[0] == 4


def test_errors_print_message_and_hint(home: Path, tmp_path: Path) -> None:
    result = run_cli(home, tmp_path, "get", "--id", "nope")
    assert result.returncode == 3
    assert "error: no dataset version with id 'nope'" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    debug = subprocess.run([sys.executable, "-m", "satchel", "get", "--id", "nope"], cwd=tmp_path,
                           env={**os.environ, "SATCHEL_HOME": str(home), "SATCHEL_DEBUG": "1"}, capture_output=True,
                           text=True)
    assert "Traceback" in debug.stderr


def test_delete_then_gc_frees_bytes_on_disk(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "big", {"blob.bin": os.urandom(2_000_000)})
    code, out, _ = invoke("sync", "--project", "p", "--name", "big", "--folder", str(tmp_path / "big"), "--json",
                          cwd=tmp_path)
    version = json.loads(out)["id"]
    before = sum(p.stat().st_size for p in (store_dir(home)).rglob("*") if p.is_file())
    assert invoke("delete", "--id", version, "--keep-files")[0] == 0
    code, out, _ = invoke("gc", "--json")
    assert json.loads(out)["bytes_freed"] >= 2_000_000
    assert sum(p.stat().st_size for p in (store_dir(home)).rglob("*") if p.is_file()) == before
    _code, out, _ = invoke("gc", "--free", "--json")
    assert json.loads(out)["bytes_freed"] >= 2_000_000
    after = sum(p.stat().st_size for p in (store_dir(home)).rglob("*") if p.is_file())
    assert before - after >= 2_000_000


def test_management_commands(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "1"})
    assert invoke("set-description", "--id", version, "--description", "hello")[0] == 0
    assert invoke("metadata", "set", "--id", version, "--value", '{"k": [1, 2]}')[0] == 0
    code, out, _ = invoke("metadata", "get", "--id", version)
    assert json.loads(out) == {"k": [1, 2]}
    assert invoke("metadata", "set", "--id", version, "--value", "{not json")[0] == 2
    assert invoke("publish", "--id", version)[0] == 0
    assert invoke("archive", "--id", version)[0] == 0
    code, out, _ = invoke("search", "--json")
    assert json.loads(out)[0]["archived"] is True
    assert invoke("rename", "--project", "p", "--name", "ds", "--new-name", "renamed")[0] == 0
    assert invoke("move", "--project", "p", "--name", "renamed", "--new-project", "q")[0] == 0
    _code, out, _ = invoke("search", "--project", "q", "--json")
    assert json.loads(out)[0]["description"] == "hello"
    assert invoke("squash", "--name", "flat", "--ids", version)[0] == 0


def test_cache_show_and_clear(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "1" * 1000})
    invoke("get", "--id", version)
    code, out, _ = invoke("cache", "show", "--json")
    assert json.loads(out)["content_bytes"] >= 1000
    assert invoke("cache", "clear", "--id", version)[0] == 0
    assert not (home / "cache/versions" / version).exists()
    assert invoke("cache", "clear")[0] == 0
    _code, out, _ = invoke("cache", "--json")
    assert json.loads(out)["content_bytes"] == 0


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example_and_is_documented(name: str) -> None:
    code, out, _ = invoke(name, "--help")
    assert code == 0 and "Example" in out
    assert f"## `satchel {name}`" in (ROOT / "docs/cli.md").read_text()


def test_cli_reference_is_up_to_date() -> None:
    assert (ROOT / "docs/cli.md").read_text() == render(), "run: python -m satchel.cli.docs > docs/cli.md"


def test_options_that_do_not_fit_together_are_usage_errors(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "1"})
    assert invoke("list", "--version", "1.0.0")[0] == 2
    assert invoke("get", "--id", version, "--project", "p", "--name", "ds")[0] == 2
    assert invoke("get", "--id", version, "--copy", str(tmp_path / "c"), "--files", "a.txt")[0] == 2
    assert invoke("sync", "--project", "p", "--folder", str(tmp_path))[0] == 2
    assert invoke("sync", "--id", version, "--parents", version, "--folder", str(tmp_path))[0] == 2


def test_delete_forgets_the_current_dataset(home: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("create", "--project", "p", "--name", "gone", "--json", cwd=tmp_path)
    created = json.loads(out)["id"]
    assert invoke("delete", "--id", created, cwd=tmp_path)[0] == 0
    assert not (home / "current").exists()


def test_add_links_then_get_and_a_changed_source(home: Path, tmp_path: Path) -> None:
    remote = write_tree(tmp_path / "remote", {"x.csv": "1,2", "y/z.csv": "3,4"})
    _code, out, _ = invoke("create", "--project", "p", "--name", "linked", "--json", cwd=tmp_path)
    draft = json.loads(out)["id"]
    code, out, _ = invoke("add", "--id", draft, "--links", remote.as_uri(), "--dataset-folder", "ext", "--json")
    assert code == 0 and json.loads(out)["linked"] == 2
    assert invoke("add", "--id", draft)[0] == 2  # neither --files nor --links
    assert invoke("close", "--id", draft)[0] == 0
    copy = tmp_path / "copy"
    assert invoke("get", "--id", draft, "--copy", str(copy))[0] == 0
    assert read_tree(copy) == {"ext/x.csv": b"1,2", "ext/y/z.csv": b"3,4"}
    (remote / "x.csv").write_text("changed size")
    from satchel import configure

    configure(home=home, cache_dir=tmp_path / "cold")
    assert invoke("get", "--id", draft, "--copy", str(tmp_path / "copy2"))[0] == 7
