"""What a ClearML server keeps of a dataset and its storage does not: version string, tags, description.

``satchel import-clearml SOURCE --clearml-api URL`` reads them through ClearML's REST API: ``auth.login`` with
the access and secret key (HTTP Basic, as the ClearML SDK does; ``CLEARML_API_ACCESS_KEY`` and
``CLEARML_API_SECRET_KEY`` are read when no key is given), then ``tasks.get_all`` for the dataset ids found in
SOURCE. Every answer is validated where it enters: a field of the wrong type is ignored, never trusted.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

import urllib3

from satchel.errors import AccessDeniedError, ConfigError, ServerUnavailableError

CLEARML_BOOKKEEPING_TAGS = {"external files"}  # a tag ClearML adds itself to datasets with links
_BATCH = 100


@dataclass(frozen=True)
class ClearmlFacts:
    """The server's record of one dataset version (None where the server has nothing usable)."""

    version: str | None
    tags: tuple[str, ...]
    description: str | None


def read_facts(api_url: str, ids: list[str], access_key: str | None = None, secret_key: str | None = None
               ) -> dict[str, ClearmlFacts]:
    """Version, tags and description of each dataset id the ClearML server at ``api_url`` knows."""
    access = access_key or os.environ.get("CLEARML_API_ACCESS_KEY")
    secret = secret_key or os.environ.get("CLEARML_API_SECRET_KEY")
    if not access or not secret:
        raise ConfigError("reading a ClearML server needs its credentials: pass --clearml-access-key and "
                          "--clearml-secret-key, or set CLEARML_API_ACCESS_KEY and CLEARML_API_SECRET_KEY")
    base = api_url.rstrip("/")
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=10, read=60), retries=urllib3.Retry(3))
    basic = base64.b64encode(f"{access}:{secret}".encode()).decode()
    login = _call(pool, f"{base}/auth.login", {}, {"Authorization": f"Basic {basic}"})
    token = login.get("token")
    if not isinstance(token, str) or not token:
        raise AccessDeniedError(f"the ClearML server at {api_url} gave no token; check the access and secret key")
    found: dict[str, ClearmlFacts] = {}
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        reply = _call(pool, f"{base}/tasks.get_all", {"id": batch, "only_fields": ["id", "tags", "comment", "runtime",
                                                                                   "hyperparams"]},
                      {"Authorization": f"Bearer {token}"})
        tasks = reply.get("tasks")
        for task in tasks if isinstance(tasks, list) else []:
            if isinstance(task, dict) and task.get("id") in batch:
                found[str(task["id"])] = _facts(task)
    return found


def _call(pool: urllib3.PoolManager, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    try:
        response = pool.request("POST", url, body=json.dumps(body).encode(),
                                headers={"Content-Type": "application/json", **headers})
    except urllib3.exceptions.HTTPError as exc:
        raise ServerUnavailableError(f"cannot reach the ClearML server at {url} ({exc}); check --clearml-api",
                                     url=url) from exc
    if response.status in (401, 403):
        raise AccessDeniedError(f"the ClearML server refused {url.rpartition('/')[2]} (HTTP {response.status}); "
                                "check the access and secret key")
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    data = answer.get("data") if isinstance(answer, dict) else None
    if response.status != 200 or not isinstance(data, dict):
        raise ServerUnavailableError(f"the ClearML server at {url} answered HTTP {response.status} without data; "
                                     "is --clearml-api its API address (port 8008 by default)?", url=url)
    return data


def _facts(task: dict[str, Any]) -> ClearmlFacts:
    runtime = task.get("runtime") if isinstance(task.get("runtime"), dict) else {}
    version = runtime.get("version") if isinstance(runtime, dict) else None
    if not isinstance(version, str):
        properties = (task.get("hyperparams") or {}).get("properties") if isinstance(task.get("hyperparams"),
                                                                                       dict) else None
        entry = properties.get("version") if isinstance(properties, dict) else None
        version = entry.get("value") if isinstance(entry, dict) else None
    tags: list[Any] = task["tags"] if isinstance(task.get("tags"), list) else []
    comment = task.get("comment")
    return ClearmlFacts(
        version=version.strip() if isinstance(version, str) and version.strip() else None,
        tags=tuple(t for t in tags if isinstance(t, str) and t and t not in CLEARML_BOOKKEEPING_TAGS),
        description=comment if isinstance(comment, str) else None)
