"""Every endpoint of the OpenAPI document, with every kind of token that must be refused: nothing leaks and
nothing changes (rows in the database, files in the storage)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from satchel import Dataset
from tests import servers
from tests.conftest import write_tree
from tests.server.conftest import call, make_token

NOT_A_TOKEN = ["", "Bearer", "Basic YWRtaW46YWRtaW4=", "Bearer sat_admin_wrong", "Bearer sat_x", "Bearer " + "A" * 300]


def operations(server: servers.SatchelServer) -> list[tuple[str, str]]:
    document = call(f"{server.url}/api/v1/openapi.json").json()
    found = [(method.upper(), path) for path, item in document["paths"].items() for method in item
             if method in ("get", "put", "post", "patch", "delete", "head") and path.startswith("/api/v1/")]
    assert len(found) >= 25  # catalog, drafts, metadata, tokens, files
    return found


def snapshot(server: servers.SatchelServer) -> tuple[Any, ...]:
    with sqlite3.connect(server.data / "catalog.db") as db:
        tables = tuple(tuple(sorted(map(repr, db.execute(f"SELECT * FROM {t}"))))
                       for t in ("versions", "version_parents", "draft_rows", "version_metadata", "tokens"))
    files = {}
    for path in sorted((server.data / "storage").rglob("*")):
        if path.is_file() and "/.tmp/" not in path.as_posix():
            files[path.relative_to(server.data).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return tables, tuple(files.items())


@pytest.fixture
def world(server: servers.SatchelServer, as_client: Any, tmp_path: Path) -> dict[str, str]:
    """A finalized version and a draft in project "secret", and the values to fill every path with."""
    as_client(server, server.token)
    write_tree(tmp_path / "src", {"a.txt": "alpha", "b.txt": "bravo"})
    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "src" / "pic.png")
    done = Dataset.create(dataset_name="ds", dataset_project="secret")
    done.add_files(tmp_path / "src")
    done.set_metadata({"k": 1}, metadata_name="meta")
    done.finalize(auto_upload=True)
    draft = Dataset.create(dataset_name="ds", dataset_project="secret", parent_datasets=[done.id])
    draft.add_files(tmp_path / "src")
    pack = next((server.data / "storage/projects/secret/packs").rglob("*.pack"))
    return {"version_id": draft.id, "name": "meta", "namespace": "secret",
            "key": pack.relative_to(server.data / "storage/projects/secret").as_posix(), "token_id": "admin",
            "final": done.id}


# the required query of the routes that take one (the web UI's JSON twins); values are filled like paths
QUERIES = {"/api/v1/browse/project": "name=secret", "/api/v1/browse/dataset": "project=secret&name=ds",
           "/api/v1/browse/compare": "a={final}&b={version_id}",
           "/api/v1/browse/versions/{version_id}/preview": "path=a.txt",
           "/api/v1/browse/versions/{version_id}/file": "path=a.txt",
           "/api/v1/browse/versions/{version_id}/thumbnail": "path=pic.png"}
NAMING_A_PROJECT = ("/api/v1/browse/project", "/api/v1/browse/dataset", "/api/v1/browse/compare")
WRITERS_READS = ("/api/v1/browse/versions/{version_id}/delete-plan",)  # what a delete would free: a writer's


def fill(path: str, values: dict[str, str]) -> str:
    query = QUERIES.get(path)
    if query:
        path = f"{path}?{query}"
    for name, value in values.items():
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    return path


def body_for(method: str, path: str, values: dict[str, str]) -> dict[str, Any] | bytes | None:
    if method in ("GET", "HEAD", "DELETE"):
        return None
    if "/objects/" in path:
        return b"x"
    if path.endswith("/versions"):
        return {"id": uuid.uuid4().hex, "project": "secret", "name": "ds", "version": "9.0.0", "created_at": 1.0}
    if path.endswith("/rename"):
        return {"project": "secret", "name": "ds", "new_project": "public", "new_name": "stolen"}
    if path.endswith("/delete"):
        return {"ids": [values["final"]]}
    if path.endswith("/tokens"):
        return {"name": "evil", "role": "admin"}
    return {"tags": ["x"], "kind": "json", "content": "e30=", "storage_url": "server://secret", "manifest": "0" * 64,
            "depth": 0, "parents": [], "upsert": [], "forget": []}


def send(server: servers.SatchelServer, method: str, path: str, values: dict[str, str], auth: str | None):
    body = body_for(method, path, values)
    headers = {"Authorization": auth} if auth else {}
    url = server.url + fill(path, values)
    if isinstance(body, bytes):
        return call(url, method, data=body, headers=headers)
    return call(url, method, body=body, headers=headers)


def test_every_endpoint_refuses_requests_without_a_valid_token(server: servers.SatchelServer,
                                                                world: dict[str, str]) -> None:
    expired = make_token(server, "admin", expires_at=time.time() + 1, name="expired")
    revoked = make_token(server, "admin", name="revoked")
    revoked_id = revoked.split("_")[1]
    assert call(f"{server.url}/api/v1/tokens/{revoked_id}", "DELETE", server.token).status == 200
    time.sleep(1.2)
    before = snapshot(server)
    for method, path in operations(server):
        for auth in [None, *NOT_A_TOKEN, f"Bearer {expired}", f"Bearer {revoked}"]:
            reply = send(server, method, path, world, auth)
            assert reply.status == 401, (method, path, auth, reply.status, reply.body)
            assert b"secret" not in reply.body and b"alpha" not in reply.body
    assert snapshot(server) == before
    assert call(f"{server.url}/healthz").status == 200


def test_a_reader_reads_and_changes_nothing(server: servers.SatchelServer, world: dict[str, str]) -> None:
    reader = make_token(server, "reader", ["secret"])
    before = snapshot(server)
    for method, path in operations(server):
        reply = send(server, method, path, world, f"Bearer {reader}")
        if method in ("GET", "HEAD") and not path.startswith("/api/v1/tokens") and path not in WRITERS_READS:
            assert reply.status in (200, 206), (method, path, reply.status, reply.body)
        else:
            assert reply.status == 403, (method, path, reply.status, reply.body)
    assert snapshot(server) == before


def test_a_token_of_another_project_sees_and_changes_nothing(server: servers.SatchelServer,
                                                             world: dict[str, str]) -> None:
    other = make_token(server, "writer", ["public"])
    before = snapshot(server)
    secrets = [world["version_id"].encode(), world["final"].encode(), b"secret", b"alpha"]
    for method, path in operations(server):
        reply = send(server, method, path, world, f"Bearer {other}")
        if path in NAMING_A_PROJECT:  # the twin of a page of that project: as if it did not exist
            assert reply.status == 404, (method, path, reply.status, reply.body)
        elif "{" not in path and method == "GET" and path != "/api/v1/tokens":  # listings: answered, no secrets
            assert reply.status == 200, (path, reply.body)
            assert not any(s in reply.body for s in secrets), (path, reply.body)
        elif "/versions/{version_id}" in path or path.endswith(("/rename", "/versions/delete")):
            assert reply.status == 404, (method, path, reply.status, reply.body)  # as if it did not exist
        else:
            assert reply.status == 403, (method, path, reply.status, reply.body)
        assert b"alpha" not in reply.body and b"bravo" not in reply.body, (method, path, reply.body)
    assert snapshot(server) == before
