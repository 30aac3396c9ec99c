"""Team mode from Python: who am I, tokens, and logging in to a satchel server.

The ``Dataset`` API needs none of this: with ``SATCHEL_API_URL`` and ``SATCHEL_API_TOKEN`` set (or after
:func:`login`) it works on the server's catalog and file server by itself.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from satchel.config import CONFIG_FILE_NAME, resolve_settings
from satchel.errors import ConfigError, InvalidArgumentError
from satchel.storage.api import ApiClient, api_client, quote_segment
from satchel.units import parse_duration


def _client(url: str | None = None, token: str | None = None) -> ApiClient:
    settings = resolve_settings()
    url = url or settings.api_url
    if not url:
        raise ConfigError("no satchel server is configured: set SATCHEL_API_URL and SATCHEL_API_TOKEN, or run "
                          "`satchel login URL`")
    return api_client(url, token if token is not None else settings.api_token)


def whoami(url: str | None = None, token: str | None = None) -> dict[str, Any]:
    """The server's record of the token in use (id, name, role, projects, expiry) and the server URL."""
    client = _client(url, token)
    return {"url": client.url, **client.get_json("/whoami")}


def create_token(name: str, role: str, projects: list[str] | None = None, expires: str | float | None = None
                 ) -> dict[str, Any]:
    """A new token (needs an admin token). ``expires``: a duration such as ``"30d"``, ``"12h"``, or seconds.
    The answer's ``token`` is the only time the token is shown."""
    expires_at = None if expires is None else time.time() + parse_duration(expires, setting="expires")
    body = {"name": name, "role": role, "projects": list(projects or []), "expires_at": expires_at}
    return dict(_client().send_json("POST", "/tokens", body))


def list_tokens() -> list[dict[str, Any]]:
    """Every token's record (needs an admin token); secrets are never shown."""
    return list(_client().get_json("/tokens")["tokens"])


def revoke_token(token_id: str) -> dict[str, Any]:
    """Revoke a token by id (needs an admin token)."""
    return dict(_client().send_json("DELETE", f"/tokens/{quote_segment(token_id)}"))


def login(url: str, token: str) -> dict[str, Any]:
    """Check ``token`` against the server at ``url``, then store both in ``$SATCHEL_HOME/config.toml``
    (file mode 0600). Returns what :func:`whoami` says."""
    me = whoami(url.rstrip("/"), token)
    _update_config({"api_url": url.rstrip("/"), "api_token": token})
    return me


def logout() -> bool:
    """Forget the server URL and token stored by :func:`login`; True when there was one."""
    return _update_config({"api_url": None, "api_token": None})


def _update_config(changes: dict[str, str | None]) -> bool:
    import tomllib

    home = resolve_settings().home
    path = home / CONFIG_FILE_NAME
    values: dict[str, Any] = {}
    if path.is_file():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"cannot parse {path}: {exc}; fix or remove the file") from exc
    before = dict(values)
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    home.mkdir(parents=True, exist_ok=True)
    _write_toml(path, values)
    return before != values


def _write_toml(path: Path, values: dict[str, Any]) -> None:
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        elif isinstance(value, str):
            lines.append(f"{key} = {json.dumps(value)}")
        else:
            raise InvalidArgumentError(f"{path}: cannot write setting {key!r} of type {type(value).__name__}")
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + ("\n" if lines else ""))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def push(dataset_id: str, to: str | None = None, token: str | None = None) -> dict[str, Any]:
    """Copy a version, and the ancestors the target lacks, from one catalog to another (``satchel push``).

    Without ``to``: from this machine's embedded catalog to the configured server (``SATCHEL_API_URL`` or
    ``satchel login``). With ``to``: from the current catalog (embedded or a server) to the server at ``to``,
    with ``token`` (default: the configured token). Returns ``{"pushed": [ids], "present": [ids]}``."""
    from satchel.dataset.admin import full_id
    from satchel.dataset.context import build_context, get_context
    from satchel.dataset.push import push as push_versions

    settings = resolve_settings()
    if to is None:
        if not settings.api_url:
            raise ConfigError("no server to push to: pass to= (--to URL), or set SATCHEL_API_URL / run "
                              "`satchel login URL`")
        source = build_context(resolve_settings(api_url="", api_token=""))
        target, owned = get_context(), [source]
    else:
        if token is None and to.rstrip("/") != (settings.api_url or "").rstrip("/"):
            raise ConfigError(f"pushing to {to} needs its token: pass token= (--token); the configured token belongs "
                              f"to {settings.api_url or 'no server'} and is not sent elsewhere")
        source = get_context()
        target = build_context(resolve_settings(api_url=to.rstrip("/"), api_token=token or settings.api_token or ""))
        owned = [target]
    try:
        dataset_id = full_id(source, dataset_id)
        report = push_versions(source, target, dataset_id)
    finally:
        for ctx in owned:
            ctx.close()
    return {"pushed": report.pushed, "present": report.present}
