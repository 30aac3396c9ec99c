"""The file server: the storage contract through HTTP, and what it verifies before anything becomes visible."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from satchel.objects.hashing import hash_bytes
from satchel.objects.packs import PACK_MAGIC, encode_index, index_key, pack_key
from satchel.storage import Storage, open_storage
from satchel.storage.api import api_client
from tests import servers
from tests.server.conftest import call, make_token
from tests.storage.test_conformance import StorageConformance


def server_storage(server: servers.SatchelServer, token: str, namespace: str) -> Storage:
    return open_storage(f"server://{namespace}", retries=0, options={"api_url": server.url, "api_token": token})


@pytest.fixture(scope="module")
def shared_server(server_factory: servers.SatchelServerFactory,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.SatchelServer]:
    started = server_factory.start(tmp_path_factory.mktemp("file-server"), max_object_size="1MiB")
    yield started
    started.stop()


class TestServerStorage(StorageConformance):
    """The file server passes the same conformance suite as every other backend."""

    @pytest.fixture
    def storage(self, shared_server: servers.SatchelServer) -> Iterator[Storage]:
        yield server_storage(shared_server, shared_server.token, f"t{uuid.uuid4().hex[:12]}")


def objects_url(server: servers.SatchelServer, namespace: str, key: str = "") -> str:
    return f"{server.url}/api/v1/stores/{namespace}/objects" + (f"/{key}" if key else "")


def a_pack(payload: bytes) -> tuple[str, bytes]:
    data = PACK_MAGIC + payload
    return hash_bytes(data), data


def test_a_pack_whose_bytes_do_not_match_its_name_is_refused(shared_server: servers.SatchelServer) -> None:
    pack_id, data = a_pack(b"honest bytes")
    key = pack_key(pack_id)
    reply = call(objects_url(shared_server, "verify", key), "PUT", shared_server.token, data=data + b"!")
    assert reply.status == 422 and b"hash" in reply.body
    assert call(objects_url(shared_server, "verify", key), "HEAD", shared_server.token).status == 404
    assert call(objects_url(shared_server, "verify", key), "PUT", shared_server.token, data=data).status == 201
    again = call(objects_url(shared_server, "verify", key), "PUT", shared_server.token, data=data,
                 headers={"If-None-Match": "*"})
    assert again.status == 412


def test_an_index_that_lies_about_its_pack_is_refused(shared_server: servers.SatchelServer) -> None:
    content = b"the real content"
    pack_id, data = a_pack(content)
    storage = server_storage(shared_server, shared_server.token, "lies")
    storage.put_if_absent(pack_key(pack_id), data)
    honest = (hash_bytes(content), len(PACK_MAGIC), len(content), len(content), 0)
    claims_other = (hash_bytes(b"someone else's content"), len(PACK_MAGIC), len(content), len(content), 0)
    outside = (hash_bytes(content), len(PACK_MAGIC), len(content) + 100, len(content), 0)
    for records in ([claims_other], [outside]):
        reply = call(objects_url(shared_server, "lies", index_key(pack_id)), "PUT", shared_server.token,
                     data=encode_index(records))
        assert reply.status == 422, reply.body
        assert storage.head(index_key(pack_id)) is None
    assert storage.put_if_absent(index_key(pack_id), encode_index([honest]))
    unknown_pack = "ab" * 32
    reply = call(objects_url(shared_server, "lies", index_key(unknown_pack)), "PUT", shared_server.token,
                 data=encode_index([honest]))
    assert reply.status == 422 and b"upload the pack first" in reply.body


def test_a_manifest_must_hash_to_its_name_and_decode(shared_server: servers.SatchelServer) -> None:
    garbage = b"not a manifest at all"
    key = f"manifests/{hash_bytes(garbage)[:2]}/{hash_bytes(garbage)}"
    reply = call(objects_url(shared_server, "m", key), "PUT", shared_server.token, data=garbage)
    assert reply.status == 422 and b"not a valid manifest" in reply.body
    assert call(objects_url(shared_server, "m", f"manifests/cd/{'cd' * 32}"), "PUT", shared_server.token,
                data=garbage).status == 422  # another name than its hash
    assert call(objects_url(shared_server, "m", "packs/zz/nothing"), "PUT", shared_server.token,
                data=b"x").status == 400


def test_uploads_over_the_limit_get_413_and_leave_nothing(shared_server: servers.SatchelServer) -> None:
    pack_id, data = a_pack(os.urandom(2 << 20))
    reply = call(objects_url(shared_server, "big", pack_key(pack_id)), "PUT", shared_server.token, data=data)
    assert reply.status == 413 and b"max-object-size" in reply.body
    assert call(objects_url(shared_server, "big", pack_key(pack_id)), "HEAD", shared_server.token).status == 404
    assert not any((shared_server.data / "tmp").iterdir())


def test_range_requests(shared_server: servers.SatchelServer) -> None:
    storage = server_storage(shared_server, shared_server.token, "ranges")
    storage.put("blob", bytes(range(256)) * 4)
    url = objects_url(shared_server, "ranges", "blob")
    part = call(url, token=shared_server.token, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == bytes(range(10, 20))
    assert part.headers["content-range"] == "bytes 10-19/1024"
    tail = call(url, token=shared_server.token, headers={"Range": "bytes=-4"})
    assert tail.status == 206 and tail.body == bytes(range(252, 256))
    assert call(url, token=shared_server.token, headers={"Range": "bytes=5000-"}).status == 416
    whole = call(url, token=shared_server.token)
    assert whole.status == 200 and len(whole.body) == 1024 and whole.headers["accept-ranges"] == "bytes"


def test_readers_and_other_projects_cannot_touch_a_store(shared_server: servers.SatchelServer) -> None:
    storage = server_storage(shared_server, shared_server.token, "secret")
    pack_id, data = a_pack(b"private")
    storage.put_if_absent(pack_key(pack_id), data)
    reader = make_token(shared_server, "reader", ["secret"])
    other = make_token(shared_server, "writer", ["public"])
    url = objects_url(shared_server, "secret", pack_key(pack_id))
    assert call(url, token=reader).body == data
    for token in (other,):  # another project learns nothing: not the bytes, not whether they exist
        assert call(url, token=token).status == 403
        assert call(url, "HEAD", token=token).status == 403
        assert call(objects_url(shared_server, "secret", pack_key("ef" * 32)), "HEAD", token=token).status == 403
        assert call(objects_url(shared_server, "secret"), token=token).status == 403
    for token in (reader, other):
        assert call(url, "DELETE", token=token).status == 403
        assert call(objects_url(shared_server, "secret", "x.bin"), "PUT", token, data=b"x").status == 403
    writer = make_token(shared_server, "writer", ["secret"])
    assert call(url, "DELETE", token=writer).status == 403  # content is deleted by gc (admin) only
    assert storage.get(pack_key(pack_id)) == data


def test_streams_a_large_object_both_ways(server_factory: servers.SatchelServerFactory, tmp_path: Path) -> None:
    started = server_factory.start(tmp_path / "server")
    try:
        source = tmp_path / "big.bin"
        with open(source, "wb") as out:
            for _ in range(64):
                out.write(os.urandom(1 << 20))
        storage = server_storage(started, started.token, "stream")
        storage.put_file("big.bin", source)
        assert storage.head("big.bin") == 64 << 20
        client = api_client(started.url, started.token)
        response = client.request("GET", "/stores/stream/objects/big.bin", stream=True)
        received = sum(len(chunk) for chunk in response.stream())
        assert received == 64 << 20
        assert (started.data / "storage/projects/stream/big.bin").read_bytes() == source.read_bytes()
    finally:
        started.stop()


def test_a_recipe_that_makes_a_hash_stand_for_other_bytes_is_refused(shared_server: servers.SatchelServer,
                                                                     tmp_path: Path) -> None:
    from satchel.objects.chunks import encode_recipe
    from satchel.objects.codec import Codec
    from satchel.objects.store import ObjectStore

    storage = server_storage(shared_server, shared_server.token, "poison")
    store = ObjectStore(storage, tmp_path / "cache")
    data = os.urandom(600 << 10)
    content_hash, location, _ = store.write_chunked(iter([data]), None)  # honest: verified and stored
    assert store.read(content_hash, location) == data
    victim = hash_bytes(b"another user's file")  # its owner would skip uploading it if this hash were "stored"
    recipe = encode_recipe(victim, len(data), list(store.recipe(content_hash, location).chunks()))
    pack_id, pack = a_pack(recipe)
    storage.put_if_absent(pack_key(pack_id), pack)
    reply = call(objects_url(shared_server, "poison", index_key(pack_id)), "PUT", shared_server.token,
                 data=encode_index([(victim, len(PACK_MAGIC), len(recipe), len(data), int(Codec.CHUNKS))]))
    assert reply.status == 422 and b"does not match its hash" in reply.body
    assert storage.head(index_key(pack_id)) is None
    assert store.read(content_hash, location) == data


def test_the_format_file_is_only_raised(shared_server: servers.SatchelServer) -> None:
    url = objects_url(shared_server, "fmt", "satchel-store.json")

    def put(version: object) -> int:
        body = b'{"format": "satchel-store", "version": %s}' % str(version).encode()
        return call(url, "PUT", shared_server.token, data=body).status

    def current() -> bytes:
        return call(url, "GET", shared_server.token).body

    assert put(1) == 201 and b'"version": 1' in current()
    assert put(2) == 201 and b'"version": 2' in current()
    assert put(1) == 200 and b'"version": 2' in current()  # never lowered
    assert put(99) == 400 and put('"2"') == 400
    assert call(url, "PUT", shared_server.token, data=b"[]").status == 400
    assert b'"version": 2' in current()
