"""ClearML's offline mode and `satchel push`: work done with no server is published later, with its lineage
and only the content the target lacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from satchel import Dataset, DatasetNotFoundError
from tests import servers
from tests.conftest import read_tree, write_tree
from tests.server.conftest import make_token


def packs_of(server: servers.SatchelServer) -> set[str]:
    return {p.name for p in (server.data / "storage").rglob("*.pack")}


def test_an_offline_session_is_published_with_its_lineage(server: servers.SatchelServer, as_client: Any,
                                                          tmp_path: Path) -> None:
    as_client(server, make_token(server, "writer"), "laptop")
    write_tree(tmp_path / "v1", {"a.txt": "alpha", "b.txt": "bravo"})
    Dataset.set_offline(True)
    try:
        assert Dataset.is_offline()
        first = Dataset.create(dataset_name="cats", dataset_project="vision")
        first.add_files(tmp_path / "v1")
        first.finalize(auto_upload=True)
        second = Dataset.create(parent_datasets=[first])
        second.remove_files("b.txt")
        write_tree(tmp_path / "v2", {"c.txt": "charlie"})
        second.add_files(tmp_path / "v2")
        second.finalize(auto_upload=True)
        third = Dataset.create(parent_datasets=[second])
        write_tree(tmp_path / "v3", {"d.txt": "delta"})
        third.add_files(tmp_path / "v3")
        folder = third.get_offline_mode_folder()
        assert folder is not None and (folder / "catalog.db").is_file()
        assert packs_of(server) == set()  # nothing reached the server while offline
    finally:
        Dataset.set_offline(False)
    assert not Dataset.is_offline()
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=first.id)
    archive = shutil.make_archive(str(tmp_path / "session"), "zip", folder.parent, folder.name)
    last = Dataset.import_offline_session(archive, upload=True, finalize=False)
    assert last == third.id
    as_client(server, make_token(server, "reader"), "cluster")
    assert Dataset.get(dataset_id=second.id).get_dependency_graph() == {second.id: [first.id], first.id: []}
    assert read_tree(Path(Dataset.get(dataset_id=second.id).get_local_copy())) == {"a.txt": b"alpha",
                                                                                   "c.txt": b"charlie"}
    pending = Dataset.get(dataset_id=third.id)
    assert not pending.is_final() and pending.list_files() == ["a.txt", "c.txt", "d.txt"]
    as_client(server, make_token(server, "writer"), "laptop-again")
    assert Dataset.import_offline_session(folder) == third.id  # again: everything is there already
    finished = Dataset.get(dataset_id=third.id)
    finished.finalize()  # its content was uploaded by the import
    assert read_tree(Path(finished.get_local_copy()))["d.txt"] == b"delta"


def satchel(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SATCHEL_")}
    return subprocess.run([sys.executable, "-m", "satchel", *args], env={**clean, "SATCHEL_HOME": str(home),
                                                                        **(env or {})},
                          capture_output=True, text=True, timeout=180, cwd=home.parent)


def test_push_embedded_to_server_then_server_to_server(server_factory: servers.SatchelServerFactory,
                                                       tmp_path: Path) -> None:
    first_server = server_factory.start(tmp_path / "s1")
    second_server = server_factory.start(tmp_path / "s2")
    try:
        home = tmp_path / "home"
        write_tree(tmp_path / "data", {"a.bin": "A" * 5000, "b.bin": "B" * 5000})
        made = json.loads(satchel(home, "sync", "--project", "p", "--name", "ds", "--folder",
                                  str(tmp_path / "data"), "--json").stdout)
        write_tree(tmp_path / "data", {"c.bin": "C" * 5000})
        grown = json.loads(satchel(home, "sync", "--project", "p", "--name", "ds", "--folder",
                                   str(tmp_path / "data"), "--json").stdout)
        assert satchel(home, "login", first_server.url, "--token", first_server.token).returncode == 0
        pushed = satchel(home, "push", "--id", made["id"], "--json")
        assert pushed.returncode == 0, pushed.stderr
        assert json.loads(pushed.stdout) == {"pushed": [made["id"]], "present": []}
        before = packs_of(first_server)
        again = json.loads(satchel(home, "push", "--id", grown["id"], "--json").stdout)
        assert again == {"pushed": [grown["id"]], "present": [made["id"]]}
        assert len(packs_of(first_server) - before) == 1  # only the child's new content
        onward = satchel(home, "push", "--id", grown["id"], "--to", second_server.url, "--token",
                         second_server.token, "--json")
        assert onward.returncode == 0, onward.stderr
        assert json.loads(onward.stdout)["pushed"] == [made["id"], grown["id"]]
        reader_home = tmp_path / "reader"
        assert satchel(reader_home, "login", second_server.url, "--token", second_server.token).returncode == 0
        got = satchel(reader_home, "get", "--id", grown["id"])
        assert got.returncode == 0, got.stderr
        assert read_tree(Path(got.stdout.strip())) == {"a.bin": b"A" * 5000, "b.bin": b"B" * 5000,
                                                       "c.bin": b"C" * 5000}
    finally:
        first_server.stop()
        second_server.stop()


def test_an_interrupted_import_is_finished_by_the_next_and_carries_descriptions(
        server: servers.SatchelServer, as_client: Any, tmp_path: Path) -> None:
    as_client(server, make_token(server, "writer"), "laptop")
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    Dataset.set_offline(True)
    try:
        done = Dataset.create(dataset_name="d", dataset_project="p")
        done.add_files(tmp_path / "src")
        done.set_metadata({"rows": 1}, metadata_name="meta")
        done.get_logger().report_text("made offline", print_console=False)
        done.finalize(auto_upload=True)
        done.publish()
        draft = Dataset.create(parent_datasets=[done])
        write_tree(tmp_path / "more", {"b.txt": "bravo"})
        draft.add_files(tmp_path / "more")
        draft.upload(show_progress=False)  # its content is in the session's store now
        folder = draft.get_offline_mode_folder()
    finally:
        Dataset.set_offline(False)
    shutil.rmtree(tmp_path / "more")  # the draft's own files are gone: the session's store still has them
    assert Dataset.import_offline_session(folder, upload=False, finalize=True) == draft.id
    pushed = Dataset.get(dataset_id=done.id)
    assert pushed._record.status == "published" and pushed.get_metadata("meta") == {"rows": 1}
    assert [r["message"] for r in pushed.get_reports()] == ["made offline"]
    finished = Dataset.get(dataset_id=draft.id)
    assert finished.is_final() and read_tree(Path(finished.get_local_copy())) == {"a.txt": b"alpha",
                                                                                  "b.txt": b"bravo"}


def test_delete_external_files_needs_a_token_that_sees_every_project(server: servers.SatchelServer,
                                                                     as_client: Any, tmp_path: Path) -> None:
    write_tree(tmp_path / "shared", {"x.txt": "shared"})
    as_client(server, server.token, "admin")
    other = Dataset.create(dataset_name="a", dataset_project="audio")
    other.add_external_files((tmp_path / "shared/x.txt").as_uri())
    other.finalize()
    as_client(server, make_token(server, "writer", ["vision"]), "vision")
    mine = Dataset.create(dataset_name="v", dataset_project="vision")
    mine.add_external_files((tmp_path / "shared/x.txt").as_uri())
    mine.finalize()
    with pytest.raises(PermissionError, match="sees every project"):
        Dataset.delete(dataset_id=mine.id, delete_external_files=True)
    assert (tmp_path / "shared/x.txt").read_text() == "shared"


def test_push_takes_a_short_id_and_needs_the_other_servers_token(server_factory: servers.SatchelServerFactory,
                                                                 tmp_path: Path) -> None:
    node = server_factory.start(tmp_path / "s1")
    try:
        home = tmp_path / "home"
        write_tree(tmp_path / "data", {"a.txt": "alpha"})
        made = json.loads(satchel(home, "sync", "--project", "p", "--name", "ds", "--folder",
                                  str(tmp_path / "data"), "--json").stdout)["id"]
        refused = satchel(home, "push", "--id", made, "--to", node.url)
        assert refused.returncode == 2 and "needs its token" in refused.stderr
        assert satchel(home, "login", node.url, "--token", node.token).returncode == 0
        short = satchel(home, "push", "--id", made[:10], "--json")
        assert short.returncode == 0, short.stderr
        assert json.loads(short.stdout)["pushed"] == [made]
    finally:
        node.stop()
