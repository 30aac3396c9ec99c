"""Read-only HTTP(S) storage, for external links: GET, ranged GET, HEAD. Writes and listing are refused.

Uses the standard library (no extra needed). The change tag is the ETag, else Last-Modified.
"""

from __future__ import annotations

import email.utils
import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from satchel.errors import (
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
    StorageTransientError,
)
from satchel.storage.base import Capabilities, ObjectInfo, Storage, error_for_status, normalize_tag, redact

_TIMEOUT = 60
_USER_AGENT = "satchel"


class HttpStorage(Storage):
    """Objects are ``<url>/<key>`` on a web server. Read-only."""

    capabilities = Capabilities(range_reads=True, conditional_put=False, local_path=False)

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _request(self, key: str, method: str = "GET", headers: dict[str, str] | None = None) -> Any:
        request = urllib.request.Request(f"{self.url}/{key}", method=method,
                                         headers={"User-Agent": _USER_AGENT, **(headers or {})})
        try:
            return urllib.request.urlopen(request, timeout=_TIMEOUT)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise self._translate(exc.code, key, str(exc.reason)) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise StorageTransientError(f"cannot reach {redact(f'{self.url}/{key}')}: {exc}; retrying may help",
                                        url=self.url, key=key) from exc

    def _translate(self, code: int, key: str, reason: str) -> StorageError:
        return error_for_status(code, url=self.url, key=key, detail=f"HTTP {code} {reason}")

    def _read_only(self, key: str) -> NoReturn:
        raise StoragePermissionError(
            f"{self.url} is HTTP storage, which is read-only: use it for external links "
            "(add_external_files), and an s3://, gs://, azure:// URL or a folder for output",
            url=self.url, key=key)

    def put(self, key: str, data: bytes) -> None:
        self._read_only(key)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._read_only(key)

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        self._read_only(key)

    def delete(self, key: str) -> None:
        self._read_only(key)

    def get(self, key: str) -> bytes:
        with self._request(key) as response:
            return bytes(response.read())

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(key, start, length, max(length, 1)))

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = 8 << 20) -> Iterator[bytes]:
        """One ranged GET; a server that ignores ``Range`` (200) is skipped forward to ``start``."""
        if length <= 0:
            return
        try:
            response = self._request(key, headers={"Range": f"bytes={start}-{start + length - 1}"})
        except StorageError as exc:
            if "HTTP 416" in str(exc):
                return
            raise
        with response:
            declared = response.headers.get("Content-Length")
            expected = int(declared) if declared is not None and declared.isdigit() else None
            received = 0
            try:
                skip = start if response.status == 200 else 0
                remaining = length
                while skip:
                    skipped = len(response.read(min(skip, chunk_size)))
                    received += skipped
                    if not skipped:
                        break
                    skip -= skipped
                while remaining > 0 and not skip:
                    chunk = _read_full(response, min(chunk_size, remaining))
                    if not chunk:
                        break
                    received += len(chunk)
                    remaining -= len(chunk)
                    yield chunk
            except (http.client.HTTPException, OSError) as exc:
                raise StorageTransientError(f"reading {redact(f'{self.url}/{key}')} failed: {exc}",
                                            url=self.url, key=key) from exc
            if remaining > 0 and expected is not None and received < expected:
                raise StorageTransientError(
                    f"the connection to {redact(f'{self.url}/{key}')} closed after {received} of {expected} bytes",
                    url=self.url, key=key)

    def head(self, key: str) -> int | None:
        info = self.stat(key)
        return None if info is None else info.size

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            response = self._request(key, method="HEAD")
        except StorageNotFoundError:
            return None
        with response:
            length = response.headers.get("Content-Length")
            etag = response.headers.get("ETag")
            modified = response.headers.get("Last-Modified")
        if length is None:
            raise StorageError(f"{self.url}/{key} gives no Content-Length; satchel cannot link a file of "
                               "unknown size", url=self.url, key=key)
        stamp = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
        return ObjectInfo(key, int(length), stamp, normalize_tag(etag) or modified)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        raise StorageError(
            f"{self.url} is HTTP storage, which cannot be listed: link each file by its full URL",
            url=self.url)


def _read_full(response: Any, size: int) -> bytes:
    """Read exactly ``size`` bytes unless the body ends first."""
    parts, got = [], 0
    while got < size:
        part = response.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)
