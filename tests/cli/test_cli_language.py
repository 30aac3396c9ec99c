"""Errors speak the caller's language: every message the library can raise reads in CLI terms on the command
line (options, commands), and the CLI says what verify and remove found."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import satchel
from satchel.cli.errors import cli_message
from tests.cli.test_cli import invoke, make_version

SOURCE = Path(satchel.__file__).parent
# Python-only arguments whose errors the command line cannot trigger (it has no option that sets them).
PYTHON_ONLY = re.compile(r"local_base_folder|source_url|new_dataset_(name|project)|metadata_name|\bmetadata\b|"
                         r"use_current_task|dataset_ids|Dataset\.squash|zipfile|upload_as_external_links|"
                         r"positional order is ClearML|import_offline_session|report_[a-z]+|reported value|"
                         r"reports keep|get_offline_mode_folder|pass upload=True")
PYTHON_IDIOMS = re.compile(r"\b[a-z_]+\(\)|\b[a-z_]+=(True|False|\[)|\bDataset\.|satchel\.check_store|"
                           r"\braise_on_error\b|\bdataset_(id|version|project|name|path|tags)\b|auto_create|"
                           r"\btarget_folder\b|\blocal_copy_path\b|only_published|parent_datasets")


def library_messages() -> list[tuple[str, str]]:
    """(where, message text with formatted values as X) of every error the library raises."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        if "cli" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if not name.endswith("Error"):
                continue
            parts = []
            for sub in ast.walk(node.args[0]):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    parts.append(sub.value)
                elif isinstance(sub, ast.FormattedValue):
                    parts.append("X")
            text = "".join(parts)
            if text:
                found.append((f"{path.relative_to(SOURCE)}:{node.lineno}", text))
    return found


def test_the_scan_finds_the_messages() -> None:
    messages = dict(library_messages())
    assert len(messages) > 80
    assert any("overwrite=True" in m for m in messages.values())


@pytest.mark.parametrize(("where", "message"), [m for m in library_messages() if not PYTHON_ONLY.search(m[1])],
                         ids=lambda v: v if ":" in str(v) else "")
def test_every_library_message_reads_in_cli_terms(where: str, message: str) -> None:
    translated = cli_message(message)
    leftover = PYTHON_IDIOMS.search(translated)
    assert leftover is None, f"{where}: {translated!r} still says {leftover.group()!r}"


def test_cli_errors_name_options_and_commands(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha"})
    child = make_version(tmp_path, {"b.txt": "bravo"}, "--parents", version)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cases = [
        (["get", "--id", version, "--copy", str(tmp_path / "full")], "--overwrite"),
        (["delete", "--id", version], "--force"),
        (["get", "--id", version, "--part", "3", "--num-parts", "2"], "--num-parts"),
        (["add", "--id", child, "--files", str(tmp_path)], "satchel create --parents"),
    ]
    for args, expected in cases:
        code, _, err = invoke(*args)
        assert code != 0 and expected in err, (args, err)
        assert PYTHON_IDIOMS.search(err) is None, err


def test_verify_says_why_each_file_differs(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha", "b.txt": "bravo", "c.txt": "charlie"})
    folder = tmp_path / "copy"
    assert invoke("get", "--id", version, "--copy", str(folder))[0] == 0
    (folder / "a.txt").write_text("changed")
    (folder / "b.txt").unlink()
    (folder / "extra.txt").write_text("extra")
    code, out, _ = invoke("verify", "--id", version, "--folder", str(folder))
    assert code == 5
    assert out.splitlines()[:3] == ["changed       a.txt", "missing       b.txt", "extra         extra.txt"]
    code, out, _ = invoke("verify", "--id", version, "--folder", str(folder), "--json")
    assert json.loads(out)["problems"] == {"a.txt": "changed", "b.txt": "missing", "extra.txt": "extra"}


def test_remove_of_nothing_says_so(home: Path, tmp_path: Path) -> None:
    version = make_version(tmp_path, {"a.txt": "alpha"})
    code, out, _ = invoke("create", "--project", "p", "--name", "draft", "--parents", version, "--json", cwd=tmp_path)
    draft = json.loads(out)["id"]
    code, out, err = invoke("remove", "--id", draft, "--files", "no-such/*", "--files", "a.txt")
    assert code == 0 and "1 file(s) removed" in out
    assert "nothing in" in err and "'no-such/*'" in err and "a.txt" not in err
