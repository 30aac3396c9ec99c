"""The HTTP client of a satchel server, shared by its storage adapter (the file server) and its catalog.

One connection pool per (server URL, token). Every request carries ``Authorization: Bearer TOKEN``. Failures are
translated where they enter: 401/403 become :class:`~satchel.errors.AccessDeniedError` (a ``PermissionError``)
naming the URL that refused and what to do; a server that cannot be reached, or answers 5xx, is retried with
backoff and then becomes :class:`~satchel.errors.ServerUnavailableError`; an error the server reports as a
satchel error (JSON ``{"error": {"type", "message", ...}}``) is raised as the same class on this side.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urlparse

import urllib3

from satchel.errors import AccessDeniedError, ConfigError, SatchelError, ServerUnavailableError, rebuild

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"
_TIMEOUT = urllib3.Timeout(connect=10.0, read=300.0)
_RETRIES = 4
_RETRY_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})


class ApiResponse:
    """A response whose body has not been read yet (``stream``) or has (``data``)."""

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self.raw = raw
        self.status = raw.status
        self.headers = raw.headers

    @property
    def data(self) -> bytes:
        return bytes(self.raw.data)

    def json(self) -> Any:
        return json.loads(self.raw.data)

    def stream(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            yield from self.raw.stream(chunk_size)
        finally:
            self.raw.release_conn()

    def close(self) -> None:
        self.raw.drain_conn()
        self.raw.release_conn()


class ApiClient:
    """Requests to one satchel server with one token."""

    def __init__(self, url: str, token: str | None) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"api_url {url!r} is not an http(s) URL; set SATCHEL_API_URL (or `satchel login URL`) "
                              "to the server's address, e.g. http://127.0.0.1:8383")
        self.url = url.rstrip("/")
        self.token = token
        self._pid = os.getpid()
        self._pool = self._new_pool()

    @staticmethod
    def _new_pool() -> urllib3.PoolManager:
        return urllib3.PoolManager(num_pools=4, maxsize=32, retries=False, timeout=_TIMEOUT,
                                   blocksize=1 << 20)  # file bodies go out in 1 MiB writes, not 16 KiB

    def _own_pool(self) -> urllib3.PoolManager:
        """This process's connections (a forked child gets new ones: the parent's sockets are the parent's)."""
        if self._pid != os.getpid():
            self._pool, self._pid = self._new_pool(), os.getpid()
        return self._pool

    def endpoint(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """Full URL of an API path (``/versions/ID``); ``params`` become the query string (None values dropped)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        suffix = "?" + urlencode(query, doseq=True) if query else ""
        return f"{self.url}{API_PREFIX}{path}{suffix}"

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
                body: bytes | BinaryIO | None = None, headers: Mapping[str, str] | None = None,
                stream: bool = False, ok: tuple[int, ...] = (200, 201, 204, 206)) -> ApiResponse:
        """Send a request and return the response when its status is in ``ok``; translate anything else.

        ``body`` may be an open file (sent streamed; it is rewound before a retry). A 404 or another satchel
        error the server reports is raised as its satchel class.
        """
        all_headers = {"User-Agent": "satchel", **(headers or {})}
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        payload: Any = body
        if json_body is not None:
            payload = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        url = self.endpoint(path, params)
        start = payload.tell() if hasattr(payload, "tell") else None
        idempotent = method in _IDEMPOTENT  # a POST or PATCH whose answer was lost may have happened: not re-sent
        for attempt in range(_RETRIES + 1):
            if start is not None:
                payload.seek(start)
            try:
                raw = self._own_pool().request(method, url, body=payload, headers=all_headers,
                                               preload_content=not stream, redirect=False)
            except urllib3.exceptions.HTTPError as exc:
                unsent = isinstance(exc, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError too
                if attempt < _RETRIES and (idempotent or unsent):
                    self._wait(attempt, method, url, str(exc))
                    continue
                raise ServerUnavailableError(
                    f"cannot reach the satchel server at {self.url} ({exc}); check that it runs and that "
                    "SATCHEL_API_URL (or `satchel login`) names it", url=self.url) from exc
            response = ApiResponse(raw)
            if response.status in ok:
                return response
            error = self._error(response, method, path)
            # A gateway's 502/503/504 is retried here; a satchel error the server reports (its storage failed:
            # StorageTransientError) is raised, and the storage layer's RetryingStorage retries it once, not twice.
            if response.status in _RETRY_STATUSES and attempt < _RETRIES and idempotent \
                    and isinstance(error, ServerUnavailableError):
                self._wait(attempt, method, url, f"HTTP {response.status}")
                continue
            raise error
        raise AssertionError("unreachable")

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def send_json(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.request(method, path, params=params, json_body=body if body is not None else {})
        return response.json() if response.data else None

    @staticmethod
    def _wait(attempt: int, method: str, url: str, reason: str) -> None:
        delay = 0.2 * (2.0**attempt) * (0.5 + random.random())
        log.warning("%s %s failed (%s); retry %d/%d in %.1fs", method, url.split("?", 1)[0], reason, attempt + 1,
                    _RETRIES, delay)
        time.sleep(delay)

    def _error(self, response: ApiResponse, method: str, path: str) -> SatchelError:
        """The satchel error for a failed response (its body is read here; bodies of errors are small)."""
        try:
            detail = response.json().get("error", {})
        except (ValueError, AttributeError):
            detail = {}
        finally:
            response.raw.release_conn()
        message = str(detail.get("message") or "") if isinstance(detail, dict) else ""
        where = f"{self.url}{API_PREFIX}{path}"
        if response.status == 401:
            return AccessDeniedError(
                f"the satchel server at {self.url} refused the request ({message or 'no valid token'}); set "
                "SATCHEL_API_TOKEN or run `satchel login URL --token TOKEN` with a valid token", url=self.url,
                status=401)
        if response.status == 403:
            return AccessDeniedError(
                f"the satchel server at {self.url} refused {method} {path}: {message or 'not allowed'}; ask an admin "
                "for a token with that role or project (`satchel token create`)", url=self.url, status=403)
        if isinstance(detail, dict) and detail.get("type"):
            attributes = detail.get("attributes") or {}
            return rebuild(str(detail["type"]), message, attributes if isinstance(attributes, dict) else {})
        if response.status >= 500:
            return ServerUnavailableError(f"the satchel server at {self.url} failed on {method} {path} (HTTP "
                                          f"{response.status}); see the server's log", url=self.url)
        return SatchelError(f"{method} {where} failed with HTTP {response.status}: {message or 'no details'}")


_clients: dict[tuple[str, str | None], ApiClient] = {}
_clients_lock = threading.Lock()


def api_client(url: str, token: str | None) -> ApiClient:
    """The shared client of ``url`` with ``token`` (one connection pool per pair)."""
    key = (url.rstrip("/"), token)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = ApiClient(url, token)
        return _clients[key]


def quote_segment(text: str) -> str:
    """``text`` as one URL path segment."""
    return quote(text, safe="")


def _forget_clients_in_child() -> None:
    """In a forked child: new pools (the parent's sockets are the parent's; sharing one between two processes
    interleaves their responses)."""
    global _clients_lock
    _clients.clear()
    _clients_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_clients_in_child)
