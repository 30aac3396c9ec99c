"""Team mode at scale: the catalog on a real PostgreSQL, two stateless servers on one database and one object
store (SeaweedFS), schema migrations under a lock, and a server killed with SIGKILL in the middle of an upload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from satchel import Dataset
from satchel.catalog.sql import SCHEMA_VERSION, open_sql_catalog
from satchel.errors import ConflictError
from tests import servers
from tests.conftest import random_tree, read_tree, s3_backend, write_tree
from tests.dataset.test_races_and_leaks import ADD_IN_ANOTHER_PROCESS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.Postgres]:
    started = servers.start_postgres(tmp_path_factory.mktemp("postgres"))
    yield started
    started.stop()


@pytest.fixture
def database(postgres: servers.Postgres) -> str:
    return postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pair(server_factory: servers.SatchelServerFactory, database: str, seaweedfs: servers.Server,
         tmp_path: Path) -> Iterator[list[servers.SatchelServer]]:
    """Two servers started at the same moment on one fresh PostgreSQL database and one S3 prefix."""
    backend = s3_backend(seaweedfs, f"scale-{uuid.uuid4().hex[:8]}")
    launched = [server_factory.launch(tmp_path / f"node{i}", database=database, storage=backend.url,
                                      options=backend.options) for i in range(2)]
    ready = [server_factory.wait(s) for s in launched]
    yield ready
    for s in ready:
        s.stop()


def admin_token(nodes: list[servers.SatchelServer]) -> str:
    tokens = [s.token for s in nodes if s.token]
    assert len(tokens) == 1  # the migration lock let exactly one of them create it
    return tokens[0]


def test_the_catalog_on_postgresql_passes_a_whole_lifecycle(pair: list[servers.SatchelServer], as_client: Any,
                                                            tmp_path: Path, database: str) -> None:
    token = admin_token(pair)
    as_client(pair[0], token, "writer-machine")
    files = random_tree(tmp_path / "src", 30, max_size=5000)
    ds = Dataset.create(dataset_name="cats", dataset_project="vision", dataset_tags=["raw"])
    ds.add_files(tmp_path / "src")
    ds.set_metadata({"rows": 30}, metadata_name="info")
    ds.finalize(auto_upload=True)
    child = Dataset.create(parent_datasets=[ds.id])
    child.remove_files("d0/*")
    child.finalize(auto_upload=True)
    as_client(pair[1], token, "reader-machine")  # through the other server
    found = Dataset.get(dataset_project="vision", dataset_name="cats")
    assert found.id == child.id and found.version == "1.0.1"
    assert read_tree(Path(found.get_local_copy())) == {k: v for k, v in files.items() if not k.startswith("d0/")}
    assert Dataset.get(dataset_id=ds.id).get_metadata("info") == {"rows": 30}
    assert [d["id"] for d in Dataset.list_datasets(tags=["raw"])] == [ds.id]
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:  # the rows are in PostgreSQL
        rows = conn.execute(sa.text("SELECT id, status FROM versions ORDER BY created_at")).all()
        schema = conn.execute(sa.text("SELECT value FROM satchel_meta WHERE key = 'schema'")).scalar()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(ds.id, "completed"), (child.id, "completed")]
    assert schema == str(SCHEMA_VERSION)


CREATOR = textwrap.dedent("""
    import json, os, sys
    from satchel import Dataset
    made = []
    for _ in range(int(sys.argv[1])):
        made.append(Dataset.create(dataset_name="bumps", dataset_project="p").version)
    print(json.dumps(made))
""")

FINALIZER = textwrap.dedent("""
    import sys
    from satchel import Dataset
    try:
        Dataset.get(dataset_id=sys.argv[1]).finalize()
        print("won")
    except Exception as exc:
        print(type(exc).__name__)
""")


def run_clients(script: str, server_of: list[servers.SatchelServer], token: str, args: list[list[str]],
                tmp_path: Path) -> list[str]:
    """One client process per entry, each through its server, all at once; their outputs."""
    processes = []
    for i, (node, argv) in enumerate(zip(server_of, args, strict=True)):
        env = {"SATCHEL_HOME": str(tmp_path / f"client{i}"), "SATCHEL_API_URL": node.url,
               "SATCHEL_API_TOKEN": token, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
        processes.append(subprocess.Popen([sys.executable, "-c", script, *argv], env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def test_version_bumps_through_two_servers_are_unique(pair: list[servers.SatchelServer],
                                                      tmp_path: Path) -> None:
    token = admin_token(pair)
    outputs = run_clients(CREATOR, [pair[0], pair[1], pair[0], pair[1]], token, [["5"]] * 4, tmp_path)
    versions = [v for out in outputs for v in json.loads(out)]
    assert len(versions) == 20 and len(set(versions)) == 20
    assert sorted(versions, key=lambda v: tuple(map(int, v.split(".")))) == [f"1.0.{i}" for i in range(20)]


def test_concurrent_finalizes_through_two_servers_have_one_winner(pair: list[servers.SatchelServer],
                                                                  as_client: Any, tmp_path: Path) -> None:
    token = admin_token(pair)
    as_client(pair[0], token)
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    ds = Dataset.create(dataset_name="race", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False)
    outputs = run_clients(FINALIZER, [pair[0], pair[1], pair[0], pair[1]], token, [[ds.id]] * 4, tmp_path)
    assert outputs.count("won") >= 1
    assert set(outputs) <= {"won", "ConflictError", "DatasetFinalizedError"}
    final = Dataset.get(dataset_id=ds.id)
    assert final.is_final() and read_tree(Path(final.get_local_copy())) == {"a.txt": b"alpha"}


def test_a_newer_schema_is_refused_with_a_clear_message(database: str) -> None:
    catalog = open_sql_catalog(database)
    with catalog.engine.begin() as conn:
        conn.execute(sa.text("UPDATE satchel_meta SET value = '99' WHERE key = 'schema'"))
    catalog.close()
    with pytest.raises(ConflictError, match=r"schema 99, newer than this satchel .* upgrade satchel"):
        open_sql_catalog(database)


UPLOADER = textwrap.dedent("""
    import sys
    from satchel import Dataset
    Dataset.get(dataset_id=sys.argv[1]).upload(show_progress=False, chunk_size=1, compression="none")
    print("finished")
""")


def test_a_server_killed_during_an_upload_loses_nothing(server_factory: servers.SatchelServerFactory,
                                                        as_client: Any, tmp_path: Path) -> None:
    node = server_factory.start(tmp_path / "node")
    try:
        as_client(node, node.token)
        write_tree(tmp_path / "old", {"old.txt": "finalized before"})
        old = Dataset.create(dataset_name="old", dataset_project="p")
        old.add_files(tmp_path / "old")
        old.finalize(auto_upload=True)
        files = random_tree(tmp_path / "src", 60, max_size=400_000)
        ds = Dataset.create(dataset_name="big", dataset_project="p")
        ds.add_files(tmp_path / "src")
        env = {"SATCHEL_HOME": str(tmp_path / "uploader"), "SATCHEL_API_URL": node.url,
               "SATCHEL_API_TOKEN": node.token, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
        uploader = subprocess.Popen([sys.executable, "-c", UPLOADER, ds.id], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        packs = node.data / "storage/projects/p/packs"
        deadline = time.monotonic() + 60
        while len(list(packs.rglob("*.idx"))) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        node.stop(signal.SIGKILL)
        out, err = uploader.communicate(timeout=120)
        assert "finished" not in out and "cannot reach the satchel server" in err
        before = {p: p.stat().st_ino for p in packs.rglob("*.pack")}
        assert before
        node = server_factory.start(node.data, port=node.port)  # restarted on the same folder and address
        assert read_tree(Path(Dataset.get(dataset_id=old.id).get_local_copy())) == {"old.txt": b"finalized before"}
        fresh = Dataset.get(dataset_id=ds.id)
        fresh.upload(show_progress=False, chunk_size=1, compression="none")
        after = {p: p.stat().st_ino for p in packs.rglob("*.pack")}
        assert all(after.get(p) == inode for p, inode in before.items())  # only what was missing was sent
        fresh.finalize()
        assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == files
    finally:
        node.stop()


def test_a_restart_drops_what_killed_uploads_left_behind(server_factory: servers.SatchelServerFactory,
                                                         tmp_path: Path) -> None:
    node = server_factory.start(tmp_path / "node")
    node.stop(signal.SIGKILL)
    stale, fresh = node.data / "tmp" / "upload-stale", node.data / "tmp" / "upload-fresh"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"maybe in flight")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    node = server_factory.start(node.data, port=node.port)
    node.stop()
    assert not stale.exists() and fresh.exists()


def test_a_finalize_racing_an_add_through_the_other_server_is_a_conflict(
        pair: list[servers.SatchelServer], as_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import satchel.dataset.lifecycle as lifecycle

    token = admin_token(pair)
    as_client(pair[0], token)
    write_tree(tmp_path / "first", {"a.txt": "alpha"})
    write_tree(tmp_path / "late", {"late.txt": "added through the other server"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "first")
    original = lifecycle.upload

    def upload_then_another_machine_adds(*args: object, **kwargs: object) -> object:
        report = original(*args, **kwargs)  # type: ignore[arg-type]
        env = {"SATCHEL_HOME": str(tmp_path / "other"), "SATCHEL_API_URL": pair[1].url, "SATCHEL_API_TOKEN": token,
               "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
        subprocess.run([sys.executable, "-c", ADD_IN_ANOTHER_PROCESS, ds.id, str(tmp_path / "late")], check=True,
                       env=env, timeout=120)
        return report

    with monkeypatch.context() as patched:
        patched.setattr(lifecycle, "upload", upload_then_another_machine_adds)
        with pytest.raises(ConflictError, match=r"call finalize\(\) again"):
            ds.finalize(auto_upload=True)
    assert not ds.is_final()
    assert ds.finalize(auto_upload=True)
    assert read_tree(Path(ds.get_local_copy())) == {"a.txt": b"alpha", "late.txt": b"added through the other server"}


def test_gc_through_one_server_keeps_what_a_finalize_through_the_other_needs(
        pair: list[servers.SatchelServer], as_client: Any, tmp_path: Path) -> None:
    from satchel.dataset import admin
    from satchel.dataset.context import get_context

    token = admin_token(pair)
    as_client(pair[0], token, "collector")
    write_tree(tmp_path / "old", {"x.bin": "reused content" * 100})
    gone = Dataset.create(dataset_name="gone", dataset_project="p")
    gone.add_files(tmp_path / "old")
    gone.finalize(auto_upload=True)
    Dataset.delete(dataset_id=gone.id, delete_files=False)  # its pack is now dead, still stored
    draft = Dataset.create(dataset_name="reuse", dataset_project="p")
    draft.add_files(tmp_path / "old")  # a draft that needs the dead pack's content
    admin.collect(get_context())  # through server 0: the draft's hashes are live
    as_client(pair[1], token, "finisher")
    again = Dataset.get(dataset_id=draft.id)
    again.finalize(auto_upload=True)  # through server 1
    as_client(pair[0], token, "reader")
    assert read_tree(Path(Dataset.get(dataset_id=draft.id).get_local_copy())) == {"x.bin": b"reused content" * 100}
