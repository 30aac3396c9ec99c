"""Team mode end to end: two machines (two homes) share datasets through one server, with tokens that limit
what each one sees and does; the server checks what it records."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import zstandard

from satchel import Dataset, DatasetNotFoundError, IntegrityError
from satchel.dataset.context import get_context
from satchel.errors import AccessDeniedError, ServerUnavailableError
from satchel.objects.hashing import hash_bytes
from satchel.objects.manifest import MANIFEST_MAGIC, Manifest, manifest_key
from tests import servers
from tests.conftest import read_tree, write_tree
from tests.dataset.test_hostile_paths import manifest_blocks
from tests.server.conftest import call, make_token


def version(folder: Path, files: dict[str, str], project: str = "vision", name: str = "cats",
            parents: list[str] | None = None) -> Dataset:
    write_tree(folder, files)
    ds = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=parents)
    ds.add_files(folder)
    ds.finalize(auto_upload=True)
    return ds


def test_two_machines_share_datasets(server: servers.SatchelServer, as_client: Any, tmp_path: Path) -> None:
    writer, reader = make_token(server, "writer"), make_token(server, "reader")
    as_client(server, writer, "laptop")
    first = version(tmp_path / "v1", {"a.txt": "alpha", "sub/b.txt": "bravo"})
    child = Dataset.create(parent_datasets=[first.id])
    write_tree(tmp_path / "v1", {"c.txt": "charlie"})
    child.sync_folder(tmp_path / "v1")
    child.finalize(auto_upload=True)
    as_client(server, reader, "cluster")
    found = Dataset.get(dataset_project="vision", dataset_name="cats")
    assert (found.id, found.version) == (child.id, "1.0.1")
    assert read_tree(Path(found.get_local_copy())) == {"a.txt": b"alpha", "sub/b.txt": b"bravo", "c.txt": b"charlie"}
    assert read_tree(Path(found.get_local_copy(part=0, num_parts=1))) == read_tree(Path(found.get_local_copy()))
    assert not (tmp_path / "cluster" / "storage").exists()  # nothing of the server's is local but the cache
    with pytest.raises(AccessDeniedError, match=r"refused .*a writer token") as refused:
        Dataset.create(dataset_name="dogs", dataset_project="vision")
    assert isinstance(refused.value, PermissionError) and server.url in str(refused.value)
    with pytest.raises(PermissionError):
        found.publish()
    assert Dataset.get(dataset_id=child.id)._record.status == "completed"


def test_a_project_token_sees_only_its_projects(server: servers.SatchelServer, as_client: Any,
                                                tmp_path: Path) -> None:
    as_client(server, server.token, "admin")
    cats = version(tmp_path / "cats", {"a.txt": "alpha"})
    nested = version(tmp_path / "nested", {"n.txt": "nested"}, project="vision/sub", name="n")
    audio = version(tmp_path / "audio", {"s.wav": "sound"}, project="audio", name="speech")
    as_client(server, make_token(server, "writer", ["vision"]), "vision-team")
    assert sorted(d["id"] for d in Dataset.list_datasets()) == sorted([cats.id, nested.id])
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=audio.id)
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_project="audio", dataset_name="speech")
    with pytest.raises(PermissionError):
        Dataset.create(dataset_name="x", dataset_project="audio")
    with pytest.raises(PermissionError):
        Dataset.create(dataset_name="x", dataset_project="visionary")  # a prefix is not a sub-project
    more = version(tmp_path / "more", {"m.txt": "more"}, project="vision/sub", name="m")
    assert more.is_final()
    Dataset.delete(dataset_id=more.id)  # a writer deletes; freeing the bytes is left to an admin's gc
    with pytest.raises(DatasetNotFoundError):
        Dataset.get(dataset_id=more.id)
    as_client(server, server.token, "admin-again")
    assert Dataset.get(dataset_id=audio.id).is_final()


def test_content_dedup_never_crosses_projects(server: servers.SatchelServer, as_client: Any,
                                              tmp_path: Path) -> None:
    as_client(server, make_token(server, "writer", ["a"]), "team-a")
    secret = version(tmp_path / "a", {"same.bin": "shared bytes" * 1000}, project="a", name="d")
    as_client(server, make_token(server, "writer", ["b"]), "team-b")
    other = version(tmp_path / "b", {"same.bin": "shared bytes" * 1000}, project="b", name="d")
    packs = {p.relative_to(server.data / "storage/projects").parts[0]
             for p in (server.data / "storage/projects").rglob("*.pack")}
    assert packs == {"a", "b"}  # stored once per project: b's upload did not learn a holds it
    store_a = get_context().store("server://a").storage
    with pytest.raises(PermissionError):
        store_a.head("satchel-store.json")
    as_client(server, server.token, "admin")
    assert get_context().server_stores() == ["server://a", "server://b"]
    Dataset.delete(dataset_id=secret.id, force=True)  # and frees its content (admin: gc through the file server)
    assert not list((server.data / "storage/projects/a").rglob("*.pack"))
    assert read_tree(Path(Dataset.get(dataset_id=other.id).get_local_copy())) == {"same.bin": b"shared bytes" * 1000}


def test_the_server_refuses_to_record_what_is_not_stored(server: servers.SatchelServer, as_client: Any,
                                                         tmp_path: Path) -> None:
    as_client(server, make_token(server, "writer"), "writer")
    good = version(tmp_path / "good", {"a.txt": "alpha", "b.txt": "bravo"}, project="p", name="good")
    ctx = get_context()
    record = ctx.catalog.get_version(good.id)
    store = ctx.store(str(record.storage_url))
    entries = store.get_manifest(str(record.manifest)).entries
    draft = Dataset.create(dataset_name="forged", dataset_project="p")

    def finalize_with(manifest_hash: str, stats: dict[str, int] | None = None) -> None:
        ctx.catalog.finalize_version(draft.id, manifest=manifest_hash, storage_url=str(record.storage_url), depth=0,
                                     stats=stats or {})

    lies = {p: e._replace(size=e.size + 1) for p, e in entries.items()}
    with pytest.raises(IntegrityError, match="another size"):
        finalize_with(store.put_manifest(Manifest("full", [], lies, [])))
    missing = {p: e._replace(pack="ab" * 32) for p, e in entries.items()}
    with pytest.raises(IntegrityError, match="not stored"):
        finalize_with(store.put_manifest(Manifest("full", [], missing, [])))
    with pytest.raises(IntegrityError, match="cannot be used"):
        finalize_with("cd" * 32)  # a manifest that was never uploaded
    blocks = manifest_blocks((server.data / "storage/projects/p" / manifest_key(str(record.manifest))).read_bytes())
    blocks[1] = b"a.txt\0../evil.txt"
    forged = zstandard.ZstdCompressor().compress(MANIFEST_MAGIC + b"".join(struct.pack("<Q", len(b)) + b
                                                                           for b in blocks))
    reply = call(f"{server.url}/api/v1/stores/p/objects/{manifest_key(hash_bytes(forged))}", "PUT",
                 ctx.settings.api_token, data=forged)
    assert reply.status == 422 and b"../evil.txt" in reply.body
    with pytest.raises(IntegrityError):
        finalize_with(hash_bytes(forged))
    assert not Dataset.get(dataset_id=draft.id).is_final()
    finalize_with(str(record.manifest), stats={"file_count": 999, "total_size": 1})  # honest files, lying stats
    recorded = Dataset.get(dataset_id=draft.id)
    assert recorded.is_final() and recorded.stats["file_count"] == 2 and recorded.stats["total_size"] == 10


def test_an_unreachable_server_is_a_clear_error(server: servers.SatchelServer, as_client: Any) -> None:
    as_client(server, server.token)
    server.stop()
    with pytest.raises(ServerUnavailableError, match=r"cannot reach the satchel server .* SATCHEL_API_URL"):
        Dataset.list_datasets()


def test_search_is_paginated_and_limited_to_the_tokens_projects(server: servers.SatchelServer, as_client: Any,
                                                                monkeypatch: Any) -> None:
    from satchel.catalog import http

    as_client(server, server.token)
    made = [Dataset.create(dataset_name=f"set{i}", dataset_project="vision" if i % 2 else "audio_100%")
            for i in range(7)]
    limited = make_token(server, "reader", ["vision"])
    pages, offset = [], 0
    while offset is not None:
        page = call(f"{server.url}/api/v1/versions?limit=2&offset={offset}", token=limited).json()
        pages.append([item["id"] for item in page["items"]])
        offset = page["next_offset"]
        assert page["total"] == 3
    assert pages == [[made[1].id, made[3].id], [made[5].id]]
    found = call(f"{server.url}/api/v1/versions?search=IO_1", token=server.token).json()
    assert found["total"] == 4  # "audio_100%": the _ is not a wildcard, case does not matter
    assert call(f"{server.url}/api/v1/versions?search=o_1__", token=server.token).json()["total"] == 0
    monkeypatch.setattr(http, "PAGE", 2)  # the client pages through every listing
    assert sorted(d["id"] for d in Dataset.list_datasets(only_completed=False)) == sorted(d.id for d in made)
