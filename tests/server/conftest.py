"""Fixtures for the team-mode tests: satchel servers, tokens, a real PostgreSQL."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import satchel
from satchel.dataset.context import get_context
from tests import servers


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def call(url: str, method: str = "GET", token: str | None = None, body: Any = None, data: bytes | None = None,
         headers: dict[str, str] | None = None, opener: urllib.request.OpenerDirector | None = None) -> Reply:
    """One raw HTTP request (no satchel client in between); ``opener`` to change how it is sent (redirects)."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with (opener.open(request, timeout=60) if opener else urllib.request.urlopen(request, timeout=60)) as response:
            return Reply(response.status, response.read(), {k.lower(): v for k, v in response.headers.items()})
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()})


@pytest.fixture
def server(server_factory: servers.SatchelServerFactory, tmp_path: Path) -> Iterator[servers.SatchelServer]:
    """A fresh satchel server (SQLite catalog, storage folder in its data folder)."""
    started = server_factory.start(tmp_path / "server")
    yield started
    started.stop()


def make_token(server: servers.SatchelServer, role: str, projects: list[str] | None = None,
               expires_at: float | None = None, name: str = "t") -> str:
    reply = call(f"{server.url}/api/v1/tokens", "POST", server.token,
                 {"name": name, "role": role, "projects": projects or [], "expires_at": expires_at})
    assert reply.status == 201, reply.body
    return str(reply.json()["token"])


@pytest.fixture
def as_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``as_client(server, token, name)`` points this process's satchel at ``server`` with ``token``, with its own
    home (a machine of its own: cache and stat cache are local)."""

    def switch(server: servers.SatchelServer, token: str, name: str = "machine") -> Path:
        home = tmp_path / name
        for key in list(os.environ):
            if key.startswith("SATCHEL_"):
                monkeypatch.delenv(key)
        monkeypatch.setenv("SATCHEL_HOME", str(home))
        monkeypatch.setenv("SATCHEL_API_URL", server.url)
        monkeypatch.setenv("SATCHEL_API_TOKEN", token)
        satchel.configure(home=home)
        return home

    yield switch
    get_context().close()
