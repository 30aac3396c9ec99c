"""`satchel import-clearml`: datasets written by the real ClearML SDK (tests/fixtures/clearml) come over with
their lineage, metadata and external links, byte for byte, and with their version strings, tags and
descriptions when the ClearML server is named; re-running imports nothing; damaged input is refused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import satchel
from satchel import Dataset, IntegrityError
from satchel.cli import commands  # noqa: F401 - registers the commands
from satchel.cli.main import cli
from satchel.errors import ConfigError, StorageNotFoundError
from tests.conftest import read_tree
from tests.dataset.clearml_replay import KEY, SECRET, clearml_api

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "clearml"
IDS = json.loads((FIXTURE / "ids.json").read_text())
PARENT, CHILD, SQUASH = IDS["parent"], IDS["child"], IDS["squash"]
LINKS = Path("/tmp/satchel-clearml-fixture/links")  # where the fixture's external links point


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Path]:
    """A copy of the ClearML store, and the sources of its external links where ClearML linked them."""
    LINKS.mkdir(parents=True, exist_ok=True)
    for name in ("l1.txt", "l2.txt"):
        (LINKS / name).write_bytes((FIXTURE / "expected" / "d-1.1.0" / "ext" / name).read_bytes())
    yield shutil.copytree(FIXTURE / "store", tmp_path / "clearml-store")


def _trees_match(links: bool = True) -> None:
    for version_id, expected in ((PARENT, "d-1.0.0"), (CHILD, "d-1.1.0"), (SQUASH, "sq")):
        tree = read_tree(FIXTURE / "expected" / expected)
        if version_id == SQUASH and links:
            # ClearML's squash lists the child's links in its state, but ClearML's own get_local_copy() of it
            # leaves them out (it only fetches links of versions in the squash's lineage, which is empty): the
            # import keeps what the state lists
            tree |= {f"ext/{name}": data for name, data in read_tree(LINKS).items()}
        if not links:
            tree = {path: data for path, data in tree.items() if not path.startswith("ext/")}
        assert read_tree(Path(Dataset.get(dataset_id=version_id).get_local_copy())) == tree, expected


def test_a_multi_version_clearml_dataset_round_trips(home: Path, store: Path) -> None:
    done = satchel.import_clearml(store.as_uri())
    assert sorted(done["imported"]) == sorted([PARENT, CHILD, SQUASH]) and done["skipped"] == []
    assert (done["links_imported"], done["metadata_imported"], done["metadata_not_imported"]) == (4, 2, [])
    child = Dataset.get(dataset_id=CHILD)
    assert (child.project, child.name, child.version) == ("p", "d", "1.0.1")  # no server: lineage order
    assert child.get_dependency_graph() == {CHILD: [PARENT], PARENT: []}
    assert sorted(child.list_removed_files()) == ["a/f1.txt"]
    assert sorted(child.list_added_files()) == ["ext/l1.txt", "ext/l2.txt", "new_dir/added.txt"]
    assert sorted(link.link for link in child.link_entries) == [(LINKS / "l1.txt").as_uri(),
                                                                (LINKS / "l2.txt").as_uri()]
    _trees_match()
    parent = Dataset.get(dataset_id=PARENT)
    assert parent.get_metadata("capture") == {"camera": "x100", "sites": [1, 2]}
    pd.testing.assert_frame_equal(parent.get_metadata("balance"), pd.DataFrame({"label": ["cat", "dog"], "n": [3, 4]}))
    assert Dataset.get(dataset_project="p", dataset_name="d").id == CHILD
    again = CliRunner().invoke(cli, ["import-clearml", str(store), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["imported"] == []


def test_the_clearml_server_brings_versions_tags_and_descriptions(home: Path, store: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    with clearml_api(FIXTURE / "server-tasks.json") as api:
        refused = CliRunner().invoke(cli, ["import-clearml", str(store), "--clearml-api", api,
                                           "--clearml-access-key", KEY, "--clearml-secret-key", "wrong"])
        assert refused.exit_code != 0 and "check the access and secret key" in refused.output
        with pytest.raises(satchel.DatasetNotFoundError):
            Dataset.get(dataset_id=PARENT)  # nothing was imported
        monkeypatch.setenv("CLEARML_API_ACCESS_KEY", KEY)
        monkeypatch.setenv("CLEARML_API_SECRET_KEY", SECRET)
        done = CliRunner().invoke(cli, ["import-clearml", str(store), "--clearml-api", api, "--json"])
    assert done.exit_code == 0, done.output
    parent, child, squash = (Dataset.get(dataset_id=i) for i in (PARENT, CHILD, SQUASH))
    assert (parent.version, parent.tags, parent.description) == ("1.0.0", ["raw", "camera-x"], "first cut")
    assert (child.version, child.tags, child.description) == ("1.1.0", ["clean"], "cleaned")  # no "external files"
    assert squash.version == "1.0.0" and squash.description.startswith("Auto-generated")
    _trees_match()


def test_links_can_be_left_out_and_an_unreachable_source_stops_the_import_clearly(home: Path, store: Path) -> None:
    (LINKS / "l2.txt").unlink()
    with pytest.raises(StorageNotFoundError, match="--skip-links"):
        satchel.import_clearml(str(store))
    with pytest.raises(satchel.DatasetNotFoundError):
        Dataset.get(dataset_id=CHILD)  # nothing of the child was recorded
    done = satchel.import_clearml(str(store), skip_links=True)
    assert CHILD in done["imported"] and done["links_not_imported"] == 4 and done["links_imported"] == 0
    assert not any(p.startswith("ext/") for p in Dataset.get(dataset_id=CHILD).list_files())
    (LINKS / "l2.txt").write_bytes((FIXTURE / "expected" / "d-1.1.0" / "ext" / "l2.txt").read_bytes())
    _trees_match(links=False)


def test_an_unreachable_clearml_server_is_a_clear_error(home: Path, store: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLEARML_API_ACCESS_KEY", raising=False)
    monkeypatch.delenv("CLEARML_API_SECRET_KEY", raising=False)
    from satchel.errors import ServerUnavailableError

    with pytest.raises(ServerUnavailableError, match="--clearml-api"):
        satchel.import_clearml(str(store), clearml_api="http://127.0.0.1:9", clearml_access_key=KEY,
                               clearml_secret_key=SECRET)
    with pytest.raises(ConfigError, match="CLEARML_API_ACCESS_KEY"):
        satchel.import_clearml(str(store), clearml_api="http://127.0.0.1:9")


def test_a_file_that_does_not_match_clearmls_hash_is_refused(home: Path, store: Path, tmp_path: Path) -> None:
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


def test_pickled_metadata_is_never_loaded(home: Path, store: Path) -> None:
    folder = next(store.rglob(f"d.{PARENT}/artifacts"))
    (folder / "evil").mkdir()
    (folder / "evil" / "evil.pkl").write_bytes(b"cos\nsystem\n(S'touch /tmp/pwned-by-satchel'\ntR.")
    done = satchel.import_clearml(str(store))
    assert any("evil/evil.pkl" in item for item in done["metadata_not_imported"])
    assert not Path("/tmp/pwned-by-satchel").exists()
    assert Dataset.get(dataset_id=PARENT).get_metadata("evil") is None
