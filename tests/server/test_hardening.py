"""What a hostile client tries against the server, each answered with a clear 4xx and no effect."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from satchel import Dataset
from satchel.dataset.context import get_context
from satchel.objects.hashing import hash_bytes
from satchel.objects.packs import PACK_MAGIC, encode_index, index_key, pack_key
from satchel.storage.server import namespace_of, project_of
from tests import servers
from tests.conftest import read_tree, write_tree
from tests.server.conftest import call, make_token

API = "/api/v1"


def record(project: str, **fields: Any) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "project": project, "name": "ds", "version": "1.0.0", "created_at": 1.0,
            **fields}


@pytest.mark.parametrize("project", ["a/b", "vision cats", "ünï/c", "a.b", "~", "%2F", "..x"])
def test_namespaces_are_one_flat_segment_and_decode_to_their_project(project: str) -> None:
    namespace = namespace_of(project)
    assert "/" not in namespace and "%" not in namespace and "." not in namespace
    assert project_of(namespace) == project
    assert project_of(namespace + "~") is None and project_of(namespace.replace("~", "%")) in (None, project)


def test_namespace_and_project_tricks_are_refused(server: servers.SatchelServer, as_client: Any,
                                                  tmp_path: Path) -> None:
    reader = make_token(server, "reader", ["a"])
    writer = make_token(server, "writer", ["a"])
    as_client(server, server.token)
    write_tree(tmp_path / "src", {"x.txt": "x"})
    ds = Dataset.create(dataset_name="ds", dataset_project="a")
    ds.add_files(tmp_path / "src")
    ds.finalize(auto_upload=True)
    for namespace in ["a%252F%252E%252E%252F%252E%252E", "a%2F..%2F..", "..", "a~2F~2E~2E", "a%2E", "A~2f"]:
        reply = call(f"{server.url}{API}/stores/{namespace}/objects/admin-token", token=reader)
        assert reply.status in (400, 403, 404) and server.token.encode() not in reply.body, (namespace, reply.body)
        listing = call(f"{server.url}{API}/stores/{namespace}/objects", token=reader)
        assert listing.status in (400, 403, 404) and b"catalog.db" not in listing.body
    for project in ["a/../b", "a/./b", "a//b", "/a", "a/", "a/\x01"]:
        reply = call(f"{server.url}{API}/versions", "POST", writer, record(project))
        assert reply.status in (400, 403), (project, reply.body)
    prefix = call(f"{server.url}{API}/stores/a/objects?prefix=../b/", token=reader)
    assert prefix.status == 400
    nul = call(f"{server.url}{API}/stores/a/objects/x%00y", "PUT", writer, data=b"x")
    assert nul.status == 400
    assert not list((server.data / "storage").glob("*/*/x*"))


def test_a_writer_cannot_point_its_versions_at_another_projects_store(server: servers.SatchelServer,
                                                                      tmp_path: Path) -> None:
    writer = make_token(server, "writer", ["a"])
    draft = record("a")
    assert call(f"{server.url}{API}/versions", "POST", writer, draft).status == 201
    for url in ["server://b", "SERVER://b", "server://b/", "server://a~2F~2E~2E~2Fb"]:
        reply = call(f"{server.url}{API}/versions/{draft['id']}/storage", "PUT", writer, {"storage_url": url})
        assert reply.status in (400, 403), (url, reply.body)
        reply = call(f"{server.url}{API}/versions/{draft['id']}/finalize", "POST", writer,
                     {"manifest": "cd" * 32, "storage_url": url, "stats": {"file_count": 10**9}})
        assert reply.status in (400, 403), (url, reply.body)
    other = record("a", output_uri="server://b")
    assert call(f"{server.url}{API}/versions", "POST", writer, other).status == 403
    assert call(f"{server.url}{API}/versions/{draft['id']}", token=writer).json()["status"] == "draft"


def test_admin_tokens_cannot_be_limited_to_projects(server: servers.SatchelServer) -> None:
    reply = call(f"{server.url}{API}/tokens", "POST", server.token, {"name": "x", "role": "admin",
                                                                     "projects": ["a"]})
    assert reply.status == 400 and b"cannot be limited" in reply.body


def test_numbers_out_of_range_are_400_not_500(server: servers.SatchelServer) -> None:
    body = json.dumps(record("a")).replace('"created_at": 1.0', '"created_at": 1.0, "depth": Infinity')
    reply = call(f"{server.url}{API}/versions", "POST", server.token, data=body.encode(),
                 headers={"Content-Type": "application/json"})
    assert reply.status == 400
    draft = record("a")
    assert call(f"{server.url}{API}/versions", "POST", server.token, draft).status == 201
    for size in [2**70, -1, 1.5e300]:
        reply = call(f"{server.url}{API}/versions/{draft['id']}/draft", "POST", server.token,
                     {"upsert": [{"path": "a.txt", "hash": "ab" * 32, "size": size}]})
        assert reply.status == 400, (size, reply.body)
    reply = call(f"{server.url}{API}/versions/{draft['id']}/finalize", "POST", server.token,
                 {"manifest": "cd" * 32, "storage_url": "server://a", "revision": 2**70})
    assert reply.status == 400


def test_an_index_claiming_huge_or_overlapping_entries_is_refused(server_factory: servers.SatchelServerFactory,
                                                                  tmp_path: Path) -> None:
    node = server_factory.start(tmp_path / "node", max_object_size="1MiB")
    try:
        content = b"z" * 1000
        data = PACK_MAGIC + content
        pack_id = hash_bytes(data)
        url = f"{node.url}{API}/stores/p/objects"
        assert call(f"{url}/{pack_key(pack_id)}", "PUT", node.token, data=data).status == 201
        huge = [(hash_bytes(content), len(PACK_MAGIC), len(content), 1 << 40, 0)]
        overlapping = [(hash_bytes(content), len(PACK_MAGIC), 600, 600, 0),
                       (hash_bytes(content[:10]), len(PACK_MAGIC) + 500, 10, 10, 0)]
        for records in (huge, overlapping):
            reply = call(f"{url}/{index_key(pack_id)}", "PUT", node.token, data=encode_index(records))
            assert reply.status == 422, reply.body
        assert call(f"{url}/{index_key(pack_id)}", "HEAD", node.token).status == 404
    finally:
        node.stop()


def test_moving_a_dataset_copies_its_chunked_files_chunks_and_their_bases(server: servers.SatchelServer,
                                                                         as_client: Any, tmp_path: Path) -> None:
    as_client(server, make_token(server, "writer", ["a", "b"]), "mover")
    big = random.Random(7).randbytes(17 << 20)
    write_tree(tmp_path / "v1", {"big.bin": big})
    first = Dataset.create(dataset_name="big", dataset_project="a")
    first.add_files(tmp_path / "v1")
    first.finalize(auto_upload=True)
    edited = big[: 8 << 20] + b"an insertion" + big[8 << 20 :]
    write_tree(tmp_path / "v2", {"big.bin": edited})
    child = Dataset.create(parent_datasets=[first.id])
    child.add_files(tmp_path / "v2")
    child.finalize(auto_upload=True)  # its recipe copies runs of the parent's
    Dataset.move_to_project(new_dataset_project="b", dataset_project="a", dataset_name="big")
    as_client(server, make_token(server, "reader", ["b"]), "b-only")
    assert Path(Dataset.get(dataset_id=child.id).get_local_copy(), "big.bin").read_bytes() == edited
    assert Path(Dataset.get(dataset_id=first.id).get_local_copy(), "big.bin").read_bytes() == big


def test_moving_a_dataset_copies_its_content_to_the_new_projects_store(server: servers.SatchelServer,
                                                                       as_client: Any, tmp_path: Path) -> None:
    as_client(server, make_token(server, "writer", ["a", "b"]), "mover")
    write_tree(tmp_path / "src", {"x.txt": "moved bytes", "y.txt": "why"})
    first = Dataset.create(dataset_name="ds", dataset_project="a")
    first.add_files(tmp_path / "src")
    first.finalize(auto_upload=True)
    child = Dataset.create(parent_datasets=[first.id])
    write_tree(tmp_path / "src", {"z.txt": "zed"})
    child.add_files(tmp_path / "src")
    child.finalize(auto_upload=True)
    Dataset.move_to_project(new_dataset_project="b", dataset_project="a", dataset_name="ds")
    assert get_context().catalog.get_version(child.id).storage_url == "server://b"
    as_client(server, make_token(server, "reader", ["b"]), "b-reader")
    got = Dataset.get(dataset_project="b", dataset_name="ds")
    assert read_tree(Path(got.get_local_copy())) == {"x.txt": b"moved bytes", "y.txt": b"why", "z.txt": b"zed"}
    assert call(f"{server.url}{API}/stores/a/objects", token=get_context().settings.api_token).status == 403
