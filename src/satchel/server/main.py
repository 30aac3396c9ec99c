"""Start a server: prepare the database (migrations under a lock) and the admin token, then run uvicorn."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from satchel.catalog.sql import open_sql_catalog
from satchel.catalog.tokens import TokenStore
from satchel.errors import ConfigError
from satchel.server.state import CONFIG_ENV, ServerConfig

log = logging.getLogger("satchel.server")
ADMIN_TOKEN_FILE = "admin-token"


def prepare(config: ServerConfig) -> Path | None:
    """Create or upgrade the catalog schema, and on first start an admin token written to
    ``DATA/admin-token`` (mode 0600). Returns the file's path when this call wrote it."""
    data_dir = Path(config.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    _drop_stale_uploads(data_dir / "tmp")
    catalog = open_sql_catalog(config.database_url)
    try:
        tokens = TokenStore(catalog.engine)
        path = data_dir / ADMIN_TOKEN_FILE
        if tokens.has_admin():
            return None
        try:
            _, secret = tokens.create("admin (first start)", "admin", token_id="admin")
        except Exception as exc:  # another server created it first
            if tokens.has_admin():
                log.info("another server created the admin token first; %s", exc.__class__.__name__)
                return None
            raise
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secret + "\n")
        os.chmod(path, 0o600)
        return path
    finally:
        catalog.close()


def _drop_stale_uploads(tmp_dir: Path, older_than: float = 3600.0) -> None:
    """Remove what uploads killed midway left in the temporary folder (an hour old: never one in flight)."""
    if not tmp_dir.is_dir():
        return
    limit = time.time() - older_than
    for path in tmp_dir.iterdir():
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()


def build_app(config: ServerConfig) -> Any:
    """The ASGI app: the API, and the web UI at ``/``."""
    from satchel.server.app import create_app
    from satchel.ui.web import add_ui

    app = create_app(config)
    add_ui(app)
    return app


def app_from_env():  # type: ignore[no-untyped-def]
    """The ASGI app for uvicorn's workers (the config travels in ``SATCHEL_SERVER_CONFIG``)."""
    return build_app(ServerConfig.from_env())


def bind(host: str, port: int, tries: int = 1) -> socket.socket:
    """A listening socket on ``host``: ``port``, or the next free one of ``tries`` ports (0: any free port)."""
    last: OSError | None = None
    for candidate in range(port, port + tries) if port else [0]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((host, candidate))
            sock.listen(128)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise ConfigError(f"cannot listen on {host}:{port} ({last}); choose another port with --port (0: any free "
                      "port)")


def run_personal(config: ServerConfig, sock: socket.socket, announce: Callable[[str], None],
                 log_level: str = "warning") -> None:
    """Serve one person's embedded home (``satchel ui``) on ``sock`` until stopped. ``announce`` gets the URL
    with a one-time login code; the admin token behind it lives in memory and ends with the process."""
    import uvicorn

    from satchel.ui.web import new_login_code

    app = build_app(config)
    state = app.state.satchel
    _, token = state.tokens.create("satchel ui", "admin")
    host, port = sock.getsockname()[:2]
    announce(f"http://{host}:{port}/login?code={new_login_code(state, token)}")
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))
    server.run(sockets=[sock])


def run(config: ServerConfig, *, host: str = "127.0.0.1", port: int = 8383, workers: int = 1,
        log_level: str = "info") -> None:
    """Prepare, then serve until stopped (SIGTERM/SIGINT end it cleanly)."""
    import uvicorn

    written = prepare(config)
    if written is not None:
        log.warning("created the admin token: it is in %s (mode 0600); create other tokens with "
                    "`satchel token create`", written)
    os.environ[CONFIG_ENV] = config.to_env()
    log.warning("satchel server on http://%s:%d (catalog %s, storage %s)", host, port,
                _safe_url(config.database_url), config.storage_url)
    uvicorn.run("satchel.server.main:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)
