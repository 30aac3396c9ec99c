"""Team mode on the command line: `satchel server` as a real process, tokens, login, logout, whoami."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests import servers
from tests.server.conftest import call

ROOT = Path(__file__).resolve().parents[2]


def satchel(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    return subprocess.run([sys.executable, "-m", "satchel", *args], env={**clean, "SATCHEL_HOME": str(home),
                                                                        **(env or {})},
                          capture_output=True, text=True, timeout=120, cwd=home.parent)


def test_satchel_server_command_first_start(tmp_path: Path) -> None:
    port = servers.free_port()
    log = (tmp_path / "server.log").open("w")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SATCHEL_")}
    process = subprocess.Popen([sys.executable, "-m", "satchel", "server", "--port", str(port)],
                               env={**env, "SATCHEL_HOME": str(tmp_path / "home")}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if call(f"http://127.0.0.1:{port}/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        token_file = tmp_path / "home/server/admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        text = (tmp_path / "server.log").read_text()
        assert str(token_file) in text and token not in text  # the path is logged, never the token
        assert call(f"http://127.0.0.1:{port}/api/v1/whoami", token=token).json()["role"] == "admin"
        assert call(f"http://127.0.0.1:{port}/api/v1/whoami").status == 401
        assert f"http://127.0.0.1:{port}" in text  # bound to the loopback address unless told otherwise
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal


def test_tokens_login_whoami_logout(server: servers.SatchelServer, tmp_path: Path) -> None:
    admin_home = tmp_path / "admin"
    logged = satchel(admin_home, "login", server.url, "--token", server.token)
    assert logged.returncode == 0, logged.stderr
    config = admin_home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and server.token in config.read_text()
    me = json.loads(satchel(admin_home, "whoami", "--json").stdout)
    assert me["role"] == "admin" and me["url"] == server.url
    made = satchel(admin_home, "token", "create", "--name", "ci", "--role", "reader", "--project", "vision",
                   "--expires", "30d", "--json")
    assert made.returncode == 0, made.stderr
    created = json.loads(made.stdout)
    assert created["projects"] == ["vision"] and created["expires_at"] > time.time() + 29 * 86400
    listed = satchel(admin_home, "token", "list", "--json")
    assert created["token"] not in listed.stdout and "ci" in listed.stdout
    reader_home = tmp_path / "reader"
    assert satchel(reader_home, "login", server.url, "--token", created["token"]).returncode == 0
    refused = satchel(reader_home, "create", "--project", "vision", "--name", "x")
    assert refused.returncode == 6 and "refused" in refused.stderr and "Traceback" not in refused.stderr
    assert "hint:" in refused.stderr
    assert satchel(admin_home, "token", "revoke", created["id"]).returncode == 0
    revoked = satchel(reader_home, "whoami")
    assert revoked.returncode == 6 and "SATCHEL_API_TOKEN" in revoked.stderr
    assert satchel(reader_home, "logout").returncode == 0
    assert "api_token" not in (reader_home / "config.toml").read_text()
    embedded = satchel(reader_home, "search", "--json")  # back to the local catalog
    assert embedded.returncode == 0 and json.loads(embedded.stdout) == []
    bad = satchel(tmp_path / "x", "login", server.url, "--token", "sat_nope_nope")
    assert bad.returncode == 6 and not (tmp_path / "x/config.toml").exists()


def test_a_server_that_is_down_is_a_clear_cli_error(tmp_path: Path) -> None:
    port = servers.free_port()
    result = satchel(tmp_path / "home", "search", env={"SATCHEL_API_URL": f"http://127.0.0.1:{port}",
                                                       "SATCHEL_API_TOKEN": "sat_x_y"})
    assert result.returncode == 6 and "cannot reach the satchel server" in result.stderr
    assert "Traceback" not in result.stderr
