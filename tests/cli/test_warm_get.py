"""The warm path of ``satchel get``: a cached copy answered without loading the catalog engine, and never
for a version that is gone or a copy that was changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli.test_cli import invoke, make_version
from tests.conftest import read_tree

PROBE = """
import json, sys
from satchel.cli.main import main
sys.argv = ["satchel", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"sqlalchemy": "sqlalchemy" in sys.modules, "code": code}), file=sys.stderr)
"""


def get_in_fresh_process(home: Path, *args: str) -> tuple[str, dict[str, object]]:
    """stdout of ``satchel get ARGS`` in a new process, and whether that process loaded SQLAlchemy."""
    done = subprocess.run([sys.executable, "-c", PROBE, "get", *args], env={**os.environ, "SATCHEL_HOME": str(home)},
                          capture_output=True, text=True, timeout=120)
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


def test_a_warm_get_by_id_answers_from_the_cache_alone(home: Path, tmp_path: Path, mode: str) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha", "sub/b.txt": "beta"})
    cold, probe = get_in_fresh_process(home, "--id", version)
    assert probe["code"] == 0
    warm, probe = get_in_fresh_process(home, "--id", version, "--json")
    assert probe["code"] == 0 and json.loads(warm) == {"id": version, "path": cold.strip()}
    assert read_tree(Path(cold.strip())) == {"a.txt": b"alpha", "sub/b.txt": b"beta"}
    assert probe["sqlalchemy"] is False  # neither mode loads the SQL engine for a warm get
    _, probe = get_in_fresh_process(home, "--id", version[:12])  # a prefix needs the catalog: the full path
    assert probe["code"] == 0 and probe["sqlalchemy"] is (mode == "embedded")


def test_the_warm_path_serves_no_deleted_version(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha"})
    assert get_in_fresh_process(home, "--id", version)[1]["code"] == 0
    assert invoke("delete", "--id", version)[0] == 0
    out, probe = get_in_fresh_process(home, "--id", version)
    assert probe["code"] != 0 and out == ""


def test_the_warm_path_hands_out_no_changed_copy(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha"})
    path = Path(get_in_fresh_process(home, "--id", version)[0].strip())
    changed = path / "a.txt"
    changed.chmod(0o644)
    changed.write_text("changed")
    out, probe = get_in_fresh_process(home, "--id", version)
    assert probe["code"] == 0 and Path(out.strip()) == path
    if os.geteuid() == 0:  # root writes read-only files: every hit is checked, and the copy is rebuilt
        assert read_tree(path) == {"a.txt": b"alpha"}
    else:  # nobody else can change them without a chmod (done above): the hit stays one stat, as documented
        assert read_tree(path) == {"a.txt": b"changed"}


def test_a_relative_catalog_url_takes_the_warm_path_too(tmp_path: Path) -> None:
    """``SATCHEL_CATALOG_URL=sqlite:///catalog.db`` is relative to the working folder, for the warm path as for
    SQLAlchemy (it used to fail: a relative path has no file URI)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    env |= {"SATCHEL_HOME": str(tmp_path / "home"), "SATCHEL_CATALOG_URL": "sqlite:///catalog.db"}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("alpha")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    made = cli("sync", "--project", "p", "--name", "n", "--folder", "data", "--json")
    version = json.loads(made.stdout)["id"]
    assert (tmp_path / "catalog.db").is_file()
    first, second = cli("get", "--id", version), cli("get", "--id", version)
    assert first.stdout == second.stdout and read_tree(Path(second.stdout.strip())) == {"a.txt": b"alpha"}
    assert json.loads(second.stderr.strip().splitlines()[-1]) == {"sqlalchemy": False, "code": 0}
