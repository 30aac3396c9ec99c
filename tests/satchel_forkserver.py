"""A helper process that starts real satchel server processes fast, for the tests.

Importing FastAPI, uvicorn and satchel costs about half a second; the dataset tests start one server per test in
server mode, so this process imports them once and forks a server per request. Each child is a real
``satchel server`` process (``satchel.server.main.run``: migrations, admin token, uvicorn on 127.0.0.1), in its own
session, stopped by the tests by PID. Protocol: one JSON line in ({"data", "port", "database", "storage",
"log"}), one line out (the child's PID).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

import fastapi  # noqa: F401 - imported once here, shared by every forked server
import uvicorn  # noqa: F401

import satchel.server.app
import satchel.ui.web  # noqa: F401
from satchel.server.main import run
from satchel.server.state import ServerConfig


def serve(request: dict[str, str]) -> None:
    """In the child: log to a file, then run a server until SIGTERM."""
    os.setsid()
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True)
    config = ServerConfig.build(request["data"], request.get("database"), request.get("storage"),
                                request.get("max_object_size"), request.get("options") or {},
                                request.get("preview_cache"))
    run(config, host="127.0.0.1", port=int(request["port"]), log_level="warning")


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                serve(request)
            finally:
                os._exit(0)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
