"""The process-wide context: settings resolved once, plus the catalog, stores and caches they imply.

Created on first use (never at import), and again when the ``SATCHEL_*`` environment changes (a test suite that
sets ``SATCHEL_HOME`` per test gets isolated homes). ``configure(**settings)`` replaces it with arguments that
win over the environment.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satchel.catalog import Catalog
from satchel.config import Settings, resolve_settings
from satchel.dataset.cache import LocalCache
from satchel.dataset.statcache import StatCache
from satchel.dataset.view import ViewLoader
from satchel.errors import InvalidArgumentError
from satchel.objects import ObjectStore
from satchel.storage import Storage, normalize_url, open_storage
from satchel.storage.urls import split_object_url


@dataclass
class Context:
    """Everything the Dataset API needs, built from one Settings."""

    settings: Settings
    catalog: Catalog
    cache: LocalCache
    stat_cache: StatCache
    views: ViewLoader = field(init=False)
    _stores: dict[tuple[str, int], ObjectStore] = field(default_factory=dict)
    _link_storages: dict[str, Storage] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.views = ViewLoader(self.catalog, self.store)

    @property
    def team_mode(self) -> bool:
        """True when the catalog is a satchel server's (``api_url`` is set)."""
        return self.settings.api_url is not None

    @property
    def default_storage_url(self) -> str:
        """Canonical URL of the default storage (embedded mode: one for every project)."""
        if self.team_mode:
            raise InvalidArgumentError(
                "in team mode each project has its own store on the server (server://<project>); name one with "
                "storage_url (--storage on the command line), or use storage_for(project)")
        return normalize_url(self.settings.default_storage)

    def storage_for(self, project: str) -> str:
        """Where a project's content goes by default: the server's file server (its store for ``project``) in
        team mode, else the default storage."""
        if self.team_mode:
            from satchel.storage.server import namespace_url

            return namespace_url(project)
        return normalize_url(self.settings.default_storage)

    def server_stores(self) -> list[str]:
        """The stores on the server (``server://...``) this token may read, sorted (team mode)."""
        from satchel.catalog.http import HttpCatalog

        if not isinstance(self.catalog, HttpCatalog):
            return []
        return self.catalog.server_stores()

    def store(self, url: str, *, retries: int = 3) -> ObjectStore:
        """The object store at ``url`` (one instance per URL and retry count, so its index is reused)."""
        canonical = normalize_url(url)
        with self._lock:
            key = (canonical, retries)
            if key not in self._stores:
                storage = open_storage(canonical, retries=retries, options=self.settings.storage_options,
                                       max_concurrency=self.settings.max_workers)
                self._stores[key] = ObjectStore(storage, self.settings.cache_dir / "objects")
            return self._stores[key]

    def link_source(self, url: str) -> tuple[Storage, str]:
        """(storage, key) to read the external link ``url`` from (storages are shared per location)."""
        base, key = split_object_url(url)
        with self._lock:
            if base not in self._link_storages:
                self._link_storages[base] = open_storage(base, options=self.settings.storage_options,
                                                         max_concurrency=self.settings.max_workers)
            return self._link_storages[base], key

    def close(self) -> None:
        """Release the catalog and the stat cache."""
        self.catalog.close()
        self.stat_cache.close()


_context: Context | None = None
_context_environment: tuple[tuple[str, str], ...] = ()
_configured: dict[str, Any] = {}
_context_lock = threading.Lock()


def _environment() -> tuple[tuple[str, str], ...]:
    """The variables settings depend on: every ``SATCHEL_*`` one, and ``HOME`` (the default home is under it)."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SATCHEL_") or k == "HOME"))


def build_context(settings: Settings) -> Context:
    """A fresh Context for ``settings``."""
    settings.home.mkdir(parents=True, exist_ok=True)
    catalog: Catalog
    if settings.api_url:
        from satchel.catalog.http import HttpCatalog
        from satchel.storage.api import api_client

        catalog = HttpCatalog(api_client(settings.api_url, settings.api_token))
    else:
        from satchel.catalog.sql import open_sql_catalog

        catalog = open_sql_catalog(settings.catalog_url)
    return Context(
        settings=settings,
        catalog=catalog,
        cache=LocalCache(settings.cache_dir, settings.cache_limit),
        stat_cache=StatCache(settings.stat_cache_path),
    )


_offline: Context | None = None
_offline_after_fork: Settings | None = None


def offline_settings(folder: Path, cache_dir: Path | None = None) -> Settings:
    """Settings of an offline session kept in ``folder``: its own SQLite catalog and storage folder, no server
    (whatever the environment says); the cache may be shared with the online settings."""
    return resolve_settings(home=folder, api_url="", api_token="", default_storage=str(folder / "storage"),
                            catalog_url=f"sqlite:///{folder / 'catalog.db'}",
                            **({"cache_dir": str(cache_dir)} if cache_dir else {}))


def set_offline(enabled: bool) -> Path | None:
    """Switch offline mode (ClearML's ``Dataset.set_offline``): on, every call works in a new session folder
    ``$SATCHEL_HOME/offline/session-<time>-<id>`` with no server; off, back to the settings. Returns the folder."""
    global _offline
    with _context_lock:
        if enabled and _offline is None:
            online = resolve_settings(**_configured)
            folder = online.home / "offline" / f"session-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
            _offline = build_context(offline_settings(folder, online.cache_dir))
        elif not enabled and _offline is not None:
            _offline.close()
            _offline = None
        return None if _offline is None else _offline.settings.home


def offline_folder() -> Path | None:
    """The session folder while offline mode is on, else None."""
    return None if _offline is None else _offline.settings.home


def get_context() -> Context:
    """The process-wide Context: created on first use, and again whenever a ``SATCHEL_*`` variable (or ``HOME``)
    changed since (as ``monkeypatch.setenv`` in a test or a notebook cell does). Arguments given to
    :func:`configure` keep winning over the environment. A ``Dataset`` keeps the context it was made with.
    In offline mode, the offline session's context."""
    global _context, _context_environment, _offline, _offline_after_fork
    if _offline_after_fork is not None:  # a forked child of an offline process stays offline, on its own handles
        with _context_lock:
            if _offline_after_fork is not None:
                _offline, _offline_after_fork = build_context(_offline_after_fork), None
    if _offline is not None:
        return _offline
    environment = _environment()
    with _context_lock:
        if _context is None or environment != _context_environment:
            _context = build_context(resolve_settings(**_configured))
            _context_environment = environment
        return _context


def configure(**settings: Any) -> Settings:
    """Re-resolve settings with ``settings`` as arguments (highest priority, also after later changes of the
    environment) and use them from now on; ``configure()`` with no arguments goes back to the environment.

    Keys: ``home``, ``cache_dir``, ``cache_limit``, ``default_storage``, ``catalog_url``, ``max_workers`` and the
    object-storage settings (see :mod:`satchel.config`).
    """
    global _context, _context_environment, _configured
    new = build_context(resolve_settings(**settings))
    with _context_lock:
        old, _context = _context, new
        _context_environment, _configured = _environment(), dict(settings)
    if old is not None:
        old.close()
    return new.settings


def _forget_in_child() -> None:
    """In a forked child (a DataLoader worker, a multiprocessing pool): drop the parent's context without
    closing it. Its HTTP connections, database connections and open files belong to the parent; sharing them
    would interleave two processes' reads on one socket. The child builds its own on first use."""
    global _context, _offline, _offline_after_fork, _context_lock
    _context_lock = threading.Lock()  # another thread may have held it at the fork
    _offline_after_fork = _offline.settings if _offline is not None else None
    _context = None
    _offline = None


os.register_at_fork(after_in_child=_forget_in_child)
