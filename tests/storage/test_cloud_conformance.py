"""The storage contract on real object-storage servers: SeaweedFS (S3), Azurite (Azure), fake-gcs-server (GCS),
plus what only object stores have: multipart uploads, credentials, missing buckets, unreachable endpoints,
missing extras, URL forms."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from satchel.errors import (
    InvalidArgumentError,
    MissingExtraError,
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
    StorageTransientError,
)
from satchel.storage import Storage, normalize_url, open_storage
from satchel.storage.urls import parse_cloud_url, split_object_url
from tests import servers
from tests.conftest import Backend, azure_backend, gcs_backend, s3_backend
from tests.storage.test_conformance import StorageConformance, keys


def _fresh_prefix() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


class TestS3Storage(StorageConformance):
    @pytest.fixture
    def storage(self, seaweedfs: servers.Server) -> Iterator[Storage]:
        yield s3_backend(seaweedfs, _fresh_prefix()).storage()


class TestAzureStorage(StorageConformance):
    @pytest.fixture
    def storage(self, azurite: servers.Server) -> Iterator[Storage]:
        yield azure_backend(azurite, _fresh_prefix()).storage()


class TestGcsStorage(StorageConformance):
    @pytest.fixture
    def storage(self, fake_gcs: servers.Server) -> Iterator[Storage]:
        yield gcs_backend(fake_gcs, _fresh_prefix()).storage()


# -- object-store specifics, on every backend --------------------------------------------------------
def test_large_multipart_round_trip(backend: Backend, tmp_path: Path) -> None:
    """A file of several parts goes up as a multipart/resumable upload and reads back whole and by range."""
    storage = backend.storage()
    data = os.urandom(40 << 20)  # 5 parts of 8 MiB (S3, Azure), 3 of 16 MiB (GCS)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    storage.put_file("big/object", source)
    assert storage.head("big/object") == len(data)
    assert storage.get("big/object") == data
    assert storage.get_range("big/object", (20 << 20) - 5, 10) == data[(20 << 20) - 5 : (20 << 20) + 5]
    chunks = list(storage.iter_range("big/object", 1000, len(data) - 2000, 8 << 20))
    assert b"".join(chunks) == data[1000:-1000]
    assert all(len(c) == 8 << 20 for c in chunks[:-1])
    assert keys(storage, "big/") == ["big/object"]


def test_stat_gives_a_change_tag(backend: Backend) -> None:
    storage = backend.storage()
    storage.put("t", b"one")
    first = storage.stat("t")
    assert first is not None and first.size == 3 and first.tag
    storage.put("t", b"two!")
    second = storage.stat("t")
    assert second is not None and second.size == 4 and second.tag and second.tag != first.tag
    assert storage.stat("absent") is None
    listed = list(storage.list("t"))
    assert [(i.key, i.size, i.tag) for i in listed] == [("t", 4, second.tag)]


def test_prefixes_are_isolated(backend: Backend) -> None:
    one = backend.storage()
    other = open_storage(backend.url + "-other", retries=0, options=backend.options)
    one.put("k", b"1")
    assert other.head("k") is None
    assert keys(other) == []


def test_missing_bucket_is_not_found_with_a_hint(backend: Backend) -> None:
    url = backend.url.replace("/satchel/", f"/no-such-bucket-{uuid.uuid4().hex[:6]}/", 1)
    if backend.name == "s3":
        url = "s3://" + url.split("://", 1)[1]
    storage = open_storage(url, retries=0, options=backend.options)
    with pytest.raises(StorageNotFoundError):
        storage.get("k")
    with pytest.raises(StorageNotFoundError, match="create it first"):
        storage.head("k")  # None would claim the key is absent; the bucket is
    with pytest.raises(StorageNotFoundError, match="create it first"):
        list(storage.list())
    if backend.name != "s3":  # SeaweedFS creates a bucket on the first write to it; AWS does not
        with pytest.raises(StorageNotFoundError) as info:
            storage.put("k", b"x")
        assert "create it first" in str(info.value)


def test_unreachable_endpoint_is_transient(backend: Backend) -> None:
    dead = f"http://127.0.0.1:{servers.free_port()}"
    options = dict(backend.options)
    for name in ("s3_endpoint_url", "gcs_endpoint_url"):
        if name in options:
            options[name] = dead
    if "azure_endpoint_url" in options:
        options["azure_endpoint_url"] = f"{dead}/{servers.AZURITE_ACCOUNT}"
    storage = open_storage(backend.url, retries=1, options=options)
    with pytest.raises(StorageTransientError):
        storage.get("k")
    with pytest.raises(StorageTransientError):
        storage.put("k", b"x")


@pytest.mark.parametrize("name", ["s3", "azure"])
def test_wrong_credentials_are_permission_errors_not_missing_files(name: str, request: pytest.FixtureRequest) -> None:
    if name == "s3":
        backend = s3_backend(request.getfixturevalue("seaweedfs"), _fresh_prefix())
        good = backend.storage()
        bad_options = {**backend.options, "s3_secret_access_key": "wrong-secret"}
    else:
        backend = azure_backend(request.getfixturevalue("azurite"), _fresh_prefix())
        good = backend.storage()
        bad_options = {**backend.options, "azure_account_key": servers.AZURITE_KEY[:-8] + "AAAAAAA="}
    good.put("exists", b"data")
    bad = open_storage(backend.url, retries=0, options=bad_options)
    for call in (lambda: bad.get("exists"), lambda: bad.get("absent"), lambda: bad.head("absent"),
                 lambda: bad.put("new", b"x"), lambda: list(bad.list())):
        with pytest.raises(StoragePermissionError) as info:
            call()
        assert not isinstance(info.value, FileNotFoundError)
        assert "credentials" in str(info.value)
        assert "wrong-secret" not in str(info.value) and "AAAAAAA=" not in str(info.value)
    assert good.get("exists") == b"data"


def test_unknown_s3_keys_from_the_environment_are_refused(seaweedfs: servers.Server,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    backend = s3_backend(seaweedfs, _fresh_prefix())
    options = {k: v for k, v in backend.options.items() if "key" not in k}
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nothing")
    with pytest.raises(StoragePermissionError):
        open_storage(backend.url, retries=0, options=options).put("k", b"x")


def test_s3_endpoint_and_keys_from_aws_variables(seaweedfs: servers.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no satchel settings, the standard AWS variables reach an S3-compatible server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", seaweedfs.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", servers.S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", servers.S3_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    storage = open_storage(f"s3://satchel/{_fresh_prefix()}", retries=0)
    storage.put("k", b"via env")
    assert storage.get("k") == b"via env"


def test_az_scheme_with_account_from_environment(azurite: servers.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", servers.AZURITE_ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_KEY", servers.AZURITE_KEY)
    prefix = _fresh_prefix()
    options = {"azure_endpoint_url": f"{azurite.endpoint}/{servers.AZURITE_ACCOUNT}"}
    short = open_storage(f"az://satchel/{prefix}", retries=0, options=options)
    short.put("k", b"same container")
    long = azure_backend(azurite, prefix).storage()
    assert long.get("k") == b"same container"


def test_gcs_endpoint_from_storage_emulator_host(fake_gcs: servers.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"127.0.0.1:{fake_gcs.port}")
    storage = open_storage(f"gs://satchel/{_fresh_prefix()}", retries=0)
    storage.put("k", b"emulated")
    assert storage.get("k") == b"emulated"


# -- no server needed ------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "module", "extra"), [
    ("s3://bucket/prefix", "obstore", "s3"),
    ("azure://acct.blob.core.windows.net/c/p", "obstore", "azure"),
    ("gs://bucket/prefix", "google.cloud.storage", "gcs"),
])
def test_missing_extra_names_the_extra(url: str, module: str, extra: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == module or name.startswith(module + "."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(MissingExtraError) as info:
        open_storage(url, options={"azure_account_key": "a2V5"})
    assert info.value.extra == extra
    assert f"satchel[{extra}]" in str(info.value)
    assert isinstance(info.value, ImportError)


@pytest.mark.parametrize(("url", "canonical"), [
    ("s3://bucket", "s3://bucket"),
    ("s3://bucket/a/b/", "s3://bucket/a/b"),
    ("gs://b/p", "gs://b/p"),
    ("azure://Acct.blob.core.windows.net/cont/pre/fix/", "azure://acct.blob.core.windows.net/cont/pre/fix"),
    ("az://cont/pre", "az://cont/pre"),
    ("https://example.org/data/", "https://example.org/data"),
])
def test_url_forms(url: str, canonical: str) -> None:
    assert normalize_url(url) == canonical


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "gs://", "azure://example.com/c/p",
                                 "azure://acct.blob.core.windows.net/", "az://", "ftp://host/x"])
def test_malformed_urls_say_the_expected_form(url: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        normalize_url(url)
    assert "://" in str(info.value)


def test_parse_and_split() -> None:
    location = parse_cloud_url("azure://acct.blob.core.windows.net/cont/a/b")
    assert (location.scheme, location.account, location.bucket, location.prefix) == ("azure", "acct", "cont", "a/b")
    assert split_object_url("s3://bkt/a/b%20c.bin") == ("s3://bkt", "a/b%20c.bin")  # keys as written
    assert split_object_url("s3://bkt/a/x?y#z") == ("s3://bkt", "a/x?y#z")
    assert split_object_url("file:///data/a%20b") == ("file:///", "data/a b")
    assert split_object_url("https://h:8080/x/y.csv?sig=1") == ("https://h:8080", "x/y.csv?sig=1")
    assert split_object_url("azure://acct.blob.core.windows.net/c/d/e") == ("azure://acct.blob.core.windows.net/c",
                                                                             "d/e")
    with pytest.raises(InvalidArgumentError):
        split_object_url("ftp://h/x")


def test_http_storage_is_read_only() -> None:
    storage = open_storage("https://example.invalid/data", retries=0)
    with pytest.raises(StoragePermissionError) as info:
        storage.put("k", b"x")
    assert "read-only" in str(info.value)
    with pytest.raises(StorageError):
        list(storage.list())


def test_error_messages_drop_query_strings() -> None:
    from satchel.storage.base import redact

    text = "Error performing GET https://acct.blob.core.windows.net/c/k?sv=2024&sig=SECRET%3D in 3ms: 403"
    assert "SECRET" not in redact(text) and "https://acct.blob.core.windows.net/c/k?<redacted> in 3ms" in redact(text)


def test_part_size_keeps_every_upload_within_the_part_limit() -> None:
    """8 MiB parts, larger (whole MiB) for files that would need more than S3's 10,000 parts."""
    from satchel.storage.cloud import MAX_PARTS, MULTIPART_PART, part_size

    assert part_size(0) == part_size(40 << 20) == part_size(MULTIPART_PART * MAX_PARTS) == MULTIPART_PART
    for size in (MULTIPART_PART * MAX_PARTS + 1, 100 << 30, 5 << 40):
        part = part_size(size)
        assert part > MULTIPART_PART and part % (1 << 20) == 0
        assert -(-size // part) <= MAX_PARTS
