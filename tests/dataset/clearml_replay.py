"""A ClearML API that answers with what a ClearML server recorded (tests/fixtures/clearml/server-tasks.json).

The real clearml-server (MongoDB, Elasticsearch, Redis) cannot run on the test machines. The fixture's task
documents were written by the real ClearML SDK through this workplace's ClearML stand-in server (see the
fixture's make_fixture.py); this server answers ``auth.login`` (HTTP Basic, one key pair) and ``tasks.get_all``
(``id`` filter) with them in ClearML's envelope, on 127.0.0.1, so the importer's client meets a real HTTP server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.httpd import serving

KEY, SECRET = "clearml-key", "clearml-secret"


@contextmanager
def clearml_api(tasks_file: Path) -> Iterator[str]:
    """Serve the recorded tasks; yields the API URL. ``calls`` on the server counts requests by endpoint."""
    tasks = json.loads(tasks_file.read_text())
    token = "replay-token"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            endpoint = self.path.rsplit("/", 1)[-1]
            auth = self.headers.get("Authorization", "")
            if endpoint == "auth.login":
                if auth != "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode():
                    return self._answer(401, None)
                return self._answer(200, {"token": token})
            if auth != f"Bearer {token}":
                return self._answer(401, None)
            if endpoint == "tasks.get_all":
                wanted = set(body.get("id") or [])
                return self._answer(200, {"tasks": [t for t in tasks if not wanted or t["id"] in wanted]})
            return self._answer(404, None)

        def _answer(self, status: int, data: Any) -> None:
            payload = json.dumps({"meta": {"result_code": status, "endpoint": {"name": self.path}},
                                  "data": data}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    with serving(Handler) as url:
        yield url
