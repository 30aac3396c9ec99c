"""What one server process holds: its settings, the catalog and tokens on the database, and its storage.

Nothing here is state of the process's own: every fact lives in the database or the storage, so any number of
server processes on the same database and storage serve the same data.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from satchel.catalog.sql import SqlCatalog, open_sql_catalog, tokens_table
from satchel.catalog.tokens import TokenStore
from satchel.errors import StoredElsewhereError
from satchel.objects import ObjectStore
from satchel.storage import Storage, normalize_url, open_storage
from satchel.storage.server import namespace_from_url
from satchel.units import parse_size

CONFIG_ENV = "SATCHEL_SERVER_CONFIG"
DEFAULT_MAX_OBJECT_SIZE = 64 << 30
DEFAULT_PREVIEW_CACHE = 4 << 30


@dataclass(frozen=True)
class ServerConfig:
    """How a server process is set up (``satchel server`` options)."""

    data_dir: str
    database_url: str
    storage_url: str
    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE
    storage_options: dict[str, str] = field(default_factory=dict, repr=False)
    personal: bool = False
    """``satchel ui``: one person's embedded home. Tokens live in memory (they end with the process), versions
    are read from whatever store they name (the home's storage, S3, ...), and there is no file server."""
    content_cache_bytes: int = DEFAULT_PREVIEW_CACHE

    @classmethod
    def build(cls, data: str | Path, database: str | None = None, storage: str | None = None,
              max_object_size: str | int | None = None, storage_options: dict[str, str] | None = None,
              preview_cache: str | int | None = None) -> ServerConfig:
        """Defaults: SQLite and a storage folder inside ``data``."""
        data_dir = Path(data).expanduser().absolute()
        return cls(
            content_cache_bytes=DEFAULT_PREVIEW_CACHE if preview_cache is None else parse_size(preview_cache,
                                                                                  setting="preview_cache"),
            data_dir=str(data_dir),
            database_url=database or f"sqlite:///{data_dir / 'catalog.db'}",
            storage_url=normalize_url(storage or data_dir / "storage"),
            max_object_size=DEFAULT_MAX_OBJECT_SIZE if max_object_size is None else
            parse_size(max_object_size, setting="max_object_size"),
            storage_options=dict(storage_options or {}),
        )

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServerConfig:
        return cls(**json.loads(os.environ[CONFIG_ENV]))


def memory_token_engine() -> Engine:
    """An in-memory database holding only the tokens table (``satchel ui``: tokens end with the process)."""
    engine = sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    tokens_table.create(engine)
    return engine


class ServerState:
    """The catalog, tokens and per-namespace object stores of one server process."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.data_dir = Path(config.data_dir)
        self.tmp_dir = self.data_dir / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.catalog: SqlCatalog = open_sql_catalog(config.database_url)
        self.tokens = TokenStore(memory_token_engine() if config.personal else self.catalog.engine)
        self.root = open_storage(config.storage_url, options=config.storage_options)
        self._stores: dict[str, ObjectStore] = {}
        self._lock = threading.Lock()
        self.login_codes: dict[str, str] = {}
        """One-time login codes (``satchel ui``): code -> the token the login sets."""

    def storage(self, namespace: str) -> Storage:
        """The server's storage of one namespace (a project's store)."""
        return self.store(namespace).storage

    def store(self, namespace: str) -> ObjectStore:
        with self._lock:
            if namespace not in self._stores:
                storage = open_storage(f"{self.config.storage_url}/projects/{namespace}",
                                       options=self.config.storage_options)
                self._stores[namespace] = ObjectStore(storage, self.data_dir / "cache" / "objects" / namespace)
            return self._stores[namespace]

    def content_store(self, url: str, dataset_id: str = "") -> ObjectStore:
        """The store a version's ``storage_url`` names, to read its manifest and files. A server reads only its own
        stores (``server://``); ``satchel ui`` reads any store of the home. StoredElsewhereError otherwise."""
        if url.startswith("server://"):
            return self.store(namespace_from_url(url))
        if not self.config.personal:
            raise StoredElsewhereError(
                f"dataset {dataset_id or 'version'} is stored in {url}, outside the server, which cannot read it; "
                f"get it with `satchel get --id {dataset_id or 'ID'}` on a machine with access to that storage",
                dataset_id=dataset_id)
        canonical = normalize_url(url)
        with self._lock:
            if canonical not in self._stores:
                storage = open_storage(canonical, options=self.config.storage_options)
                self._stores[canonical] = ObjectStore(storage, self.data_dir / "cache" / "objects" / "personal")
            return self._stores[canonical]

    def namespaces(self) -> list[str]:
        """Every namespace with a store in the server's storage (each has its format file)."""
        found = set()
        for info in self.root.list("projects/"):
            parts = info.key.split("/")
            if len(parts) == 3 and parts[2] == "satchel-store.json":
                found.add(parts[1])
        return sorted(found)

    def close(self) -> None:
        self.catalog.close()
