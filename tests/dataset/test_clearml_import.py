"""`satchel import-clearml`: datasets written by the real ClearML SDK (tests/fixtures/clearml) come over with
their lineage, byte for byte; re-running imports nothing; damaged input is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import satchel
from satchel import Dataset, IntegrityError
from satchel.cli import commands  # noqa: F401 - registers the commands
from satchel.cli.main import cli
from tests.conftest import read_tree

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "clearml"
PARENT, CHILD, SQUASH = ("ad1354720fc84c8586e117b6aec08538", "003a29829510445f818d1aca41863948",
                         "ff3e11931d5c4ce89403b41eeba172e7")


def test_a_multi_version_clearml_dataset_round_trips(home: Path, tmp_path: Path) -> None:
    store = shutil.copytree(FIXTURE / "store", tmp_path / "clearml-store")
    done = satchel.import_clearml(store.as_uri())
    assert sorted(done["imported"]) == sorted([PARENT, CHILD, SQUASH]) and done["skipped"] == []
    child = Dataset.get(dataset_id=CHILD)
    assert (child.project, child.name, child.version) == ("p", "d", "1.0.1")
    assert child.get_dependency_graph() == {CHILD: [PARENT], PARENT: []}
    assert sorted(child.list_removed_files()) == ["a/f1.txt"] and child.list_added_files() == ["new_dir/added.txt"]
    for version_id, expected in ((PARENT, "d-1.0.0"), (CHILD, "d-1.0.1"), (SQUASH, "sq")):
        assert read_tree(Path(Dataset.get(dataset_id=version_id).get_local_copy())) == read_tree(
            FIXTURE / "expected" / expected), expected
    assert Dataset.get(dataset_project="p", dataset_name="d").id == CHILD
    again = CliRunner().invoke(cli, ["import-clearml", str(store), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["imported"] == []


def test_a_file_that_does_not_match_clearmls_hash_is_refused(home: Path, tmp_path: Path) -> None:
    store = shutil.copytree(FIXTURE / "store", tmp_path / "clearml-store")
    state = next(store.rglob(f"d.{PARENT}/artifacts/state/state.json"))
    data = json.loads(state.read_text())
    data["dataset_file_entries"][0]["hash"] = "0" * 64
    state.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="SHA-256"):
        satchel.import_clearml(str(store), project="p")
    with pytest.raises(satchel.DatasetNotFoundError):
        Dataset.get(dataset_id=PARENT)
    missing = CliRunner().invoke(cli, ["import-clearml", str(tmp_path / "nothing-here")])
    assert missing.exit_code != 0
