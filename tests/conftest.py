"""Shared fixtures: every test gets its own SATCHEL_HOME (catalog, default storage, cache)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import satchel
from satchel import Dataset
from satchel.dataset.context import get_context
from satchel.storage import Storage, open_storage
from tests import servers

MODES = ("embedded", "server")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "embedded_only(reason): the test is about embedded mode alone (the local "
                                       "catalog file or storage folder); it is not run through a server")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked embedded_only run in embedded mode only (their server variant is deselected)."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("mode") == "server" and item.get_closest_marker("embedded_only") is not None:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def server_factory() -> Iterator[servers.SatchelServerFactory]:
    """Starts real satchel server processes (each on 127.0.0.1 and a free port)."""
    factory = servers.SatchelServerFactory()
    yield factory
    factory.close()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """embedded (SQLite catalog, local storage) or server (a satchel server process started for the test)."""
    return str(request.param)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str,
         request: pytest.FixtureRequest) -> Iterator[Path]:
    """A fresh satchel home, configured for this process and exported for subprocesses. In server mode the
    catalog and the default storage are those of a fresh satchel server (SATCHEL_API_URL / SATCHEL_API_TOKEN)."""
    home = tmp_path / "satchel-home"
    for name in list(os.environ):
        if name.startswith("SATCHEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SATCHEL_HOME", str(home))
    server = None
    if mode == "server":
        server = request.getfixturevalue("server_factory").start(tmp_path / "satchel-server")
        monkeypatch.setenv("SATCHEL_API_URL", server.url)
        monkeypatch.setenv("SATCHEL_API_TOKEN", server.token)
    satchel.configure(home=home)
    yield home
    get_context().close()
    if server is not None:
        server.stop()


def store_dir(home: Path, project: str | None = None) -> Path:
    """The folder holding the default store of ``project``'s content: the home's storage folder in embedded mode,
    the project's store in the test server's storage folder in server mode (without ``project``: the one project
    stored there, else "p")."""
    from satchel.storage.server import namespace_of

    if not os.environ.get("SATCHEL_API_URL"):
        return home / "storage"
    projects = home.parent / "satchel-server" / "storage" / "projects"
    if project is None:
        found = sorted(projects.iterdir()) if projects.is_dir() else []
        return found[0] if len(found) == 1 else projects / "p"
    return projects / namespace_of(project)


def damage_packs(home: Path, project: str) -> None:
    """Flip bytes all through every pack of ``project``'s store, so that every entry in them is damaged."""
    for pack in store_dir(home, project).rglob("*.pack"):
        data = bytearray(pack.read_bytes())
        for at in range(16, len(data), 40):
            data[at] ^= 0x55
        pack.chmod(0o644)
        pack.write_bytes(bytes(data))


def catalog_db(home: Path) -> Path:
    """The SQLite file of the catalog: the home's in embedded mode, the test server's in server mode."""
    if os.environ.get("SATCHEL_API_URL"):
        return home.parent / "satchel-server" / "catalog.db"
    return home / "catalog.db"


def write_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    """Create ``files`` (relative path -> content) under ``root``."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def random_tree(root: Path, count: int, seed: int = 0, max_size: int = 4096) -> dict[str, bytes]:
    """``count`` files of random bytes in a few folders; returns relative path -> content."""
    rng = random.Random(seed)
    files = {f"d{i % 7}/f{i}.bin": rng.randbytes(rng.randint(0, max_size)) for i in range(count)}
    write_tree(root, files)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    """relative path -> bytes of every file under ``root``."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def make_version(folder: Path, files: dict[str, str | bytes], *, name: str = "ds", project: str = "p",
            parents: list[Dataset] | None = None, remove: list[str] | None = None, **create: object) -> Dataset:
    """A finalized version: ``remove`` patterns first, then ``files`` written to ``folder`` and added."""
    ds = Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=parents, **create)  # type: ignore[arg-type]
    for pattern in remove or []:
        ds.remove_files(pattern)
    if files:
        write_tree(folder, files)
        ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


# -- real object-storage servers (started once per test session, on 127.0.0.1) -----------------------
@dataclass(frozen=True)
class Backend:
    """One object-storage backend under test: a URL to a fresh prefix and the settings that reach it."""

    name: str
    url: str
    options: dict[str, str]

    def storage(self, retries: int = 0) -> Storage:
        return open_storage(self.url, retries=retries, options=self.options)


@pytest.fixture(scope="session")
def server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


def _serving(server: servers.Server, create_bucket: Callable[[servers.Server], None]) -> Iterator[servers.Server]:
    """Yield a started server with the tests' bucket "satchel" created; stop it by PID at the end."""
    try:
        create_bucket(server)
        yield server
    finally:
        server.stop()


def _s3_bucket(server: servers.Server) -> None:
    import boto3

    boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=servers.S3_ACCESS_KEY,
                 aws_secret_access_key=servers.S3_SECRET_KEY).create_bucket(Bucket="satchel")


def _azure_container(server: servers.Server) -> None:
    from azure.storage.blob import BlobServiceClient

    credential = {"account_name": servers.AZURITE_ACCOUNT, "account_key": servers.AZURITE_KEY}
    BlobServiceClient(f"{server.endpoint}/{servers.AZURITE_ACCOUNT}", credential=credential).create_container("satchel")


def _gcs_bucket(server: servers.Server) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    storage.Client(project="satchel", credentials=AnonymousCredentials(),
                   client_options={"api_endpoint": server.endpoint}).create_bucket("satchel")


@pytest.fixture(scope="session")
def seaweedfs(server_root: Path) -> Iterator[servers.Server]:
    yield from _serving(servers.start_seaweedfs(server_root / "seaweedfs"), _s3_bucket)


@pytest.fixture(scope="session")
def azurite(server_root: Path) -> Iterator[servers.Server]:
    yield from _serving(servers.start_azurite(server_root / "azurite"), _azure_container)


@pytest.fixture(scope="session")
def fake_gcs(server_root: Path) -> Iterator[servers.Server]:
    yield from _serving(servers.start_fake_gcs(server_root / "fake-gcs"), _gcs_bucket)


def s3_backend(server: servers.Server, prefix: str) -> Backend:
    options = {"s3_endpoint_url": server.endpoint, "s3_access_key_id": servers.S3_ACCESS_KEY,
               "s3_secret_access_key": servers.S3_SECRET_KEY, "s3_region": "us-east-1"}
    return Backend("s3", f"s3://satchel/{prefix}", options)


def azure_backend(server: servers.Server, prefix: str) -> Backend:
    options = {"azure_endpoint_url": f"{server.endpoint}/{servers.AZURITE_ACCOUNT}",
               "azure_account_key": servers.AZURITE_KEY}
    url = f"azure://{servers.AZURITE_ACCOUNT}.blob.core.windows.net/satchel/{prefix}"
    return Backend("azure", url, options)


def gcs_backend(server: servers.Server, prefix: str) -> Backend:
    return Backend("gcs", f"gs://satchel/{prefix}", {"gcs_endpoint_url": server.endpoint})


@pytest.fixture(params=["s3", "azure", "gcs"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each real object-storage backend in turn, at a fresh prefix."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    if request.param == "s3":
        return s3_backend(request.getfixturevalue("seaweedfs"), prefix)
    if request.param == "azure":
        return azure_backend(request.getfixturevalue("azurite"), prefix)
    return gcs_backend(request.getfixturevalue("fake_gcs"), prefix)


@pytest.fixture
def cloud_home(home: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """A satchel home whose settings reach ``backend`` (through SATCHEL_* variables, as a user would set them)."""
    for name, value in backend.options.items():
        monkeypatch.setenv(f"SATCHEL_{name.upper()}", value)
    satchel.configure(home=home)
    return backend
