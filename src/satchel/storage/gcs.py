"""Google Cloud Storage through google-cloud-storage (obstore's GCS store cannot talk to GCS emulators).

Create-if-absent is ``if_generation_match=0``; large files go up as resumable uploads in ``PART_SIZE``
chunks; ranges are ranged downloads. Retries are left to RetryingStorage (the library's own are off).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from satchel.errors import StorageError, StorageNotFoundError
from satchel.storage.base import PART_SIZE, Capabilities, ObjectInfo, Storage, check_key, error_for_status, redact
from satchel.storage.extras import require
from satchel.storage.urls import CloudLocation

T = TypeVar("T")
_TIMEOUT = (10, 300)  # connect, read seconds


class GcsStorage(Storage):
    """Bytes by key in one GCS bucket under a prefix."""

    capabilities = Capabilities(range_reads=True, conditional_put=True, local_path=False)

    def __init__(self, client: Any, location: CloudLocation) -> None:
        self._exceptions = require("google.api_core.exceptions", "gcs", location.url)
        self._requests = require("requests", "gcs", location.url)
        self.client = client
        self.bucket = client.bucket(location.bucket)
        self.prefix = f"{location.prefix}/" if location.prefix else ""
        self.url = location.url
        self._bucket_exists = False

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _blob(self, key: str, *, chunked: bool = False) -> Any:
        return self.bucket.blob(self._name(key), chunk_size=PART_SIZE if chunked else None)

    # -- errors ------------------------------------------------------------------------------------
    def _translate(self, exc: Exception, key: str | None, writing: bool = False) -> StorageError:
        where = f"{self.url}/{key}" if key else self.url
        text = redact(str(exc)).split("\n", 1)[0][:400]
        errors = self._exceptions
        if isinstance(exc, errors.NotFound):
            if writing or "bucket" in text.lower():
                return StorageNotFoundError(
                    f"the bucket of {self.url} does not exist: create it first, or fix the URL ({text})",
                    url=self.url, key=key)
            return StorageNotFoundError(f"no object at {where}", url=self.url, key=key)
        if isinstance(exc, self._requests.ConnectionError | self._requests.Timeout):
            code = 503  # no response at all: a connection failure, worth a retry
        else:
            code = int(getattr(exc, "code", None) or 0)
        return error_for_status(code, url=self.url, key=key, detail=text,
                                credentials_hint="gcs_credentials_file setting or GOOGLE_APPLICATION_CREDENTIALS")

    def _call(self, key: str | None, func: Callable[[], T], *, writing: bool = False) -> T:
        try:
            return func()
        except (self._exceptions.GoogleAPICallError, self._requests.RequestException) as exc:
            raise self._translate(exc, key, writing) from exc

    # -- writes ------------------------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        blob = self._blob(key)
        self._call(key, lambda: blob.upload_from_string(bytes(data), timeout=_TIMEOUT, retry=None), writing=True)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        blob = self._blob(key)
        try:
            blob.upload_from_string(bytes(data), if_generation_match=0, timeout=_TIMEOUT, retry=None)
        except self._exceptions.PreconditionFailed:
            return False
        except (self._exceptions.GoogleAPICallError, self._requests.RequestException) as exc:
            raise self._translate(exc, key, writing=True) from exc
        return True

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        """A resumable upload in ``PART_SIZE`` chunks for large files, one request for small ones."""
        size = path.stat().st_size  # FileNotFoundError for a missing source, before any request
        blob = self._blob(key, chunked=size > PART_SIZE)
        self._call(key, lambda: blob.upload_from_filename(str(path), timeout=_TIMEOUT, retry=None), writing=True)
        if consume:
            path.unlink()

    # -- reads -------------------------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        blob = self._blob(key)
        return bytes(self._call(key, lambda: blob.download_as_bytes(timeout=_TIMEOUT, retry=None, checksum=None)))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        blob = self._blob(key)
        if length <= 0:
            return b""
        try:
            return bytes(blob.download_as_bytes(start=start, end=start + length - 1, timeout=_TIMEOUT, retry=None,
                                                checksum=None))
        except self._exceptions.RequestRangeNotSatisfiable:
            return b""
        except (self._exceptions.GoogleAPICallError, self._requests.RequestException) as exc:
            raise self._translate(exc, key) from exc

    def head(self, key: str) -> int | None:
        info = self.stat(key)
        return None if info is None else info.size

    def stat(self, key: str) -> ObjectInfo | None:
        name = self._name(key)
        blob = self._call(key, lambda: self.bucket.get_blob(name, timeout=_TIMEOUT, retry=None))
        if blob is None:
            self._check_bucket()
            return None
        return self._info(key, blob)

    def _check_bucket(self) -> None:
        """Raise StorageNotFoundError when the bucket itself is missing (checked once), so that "absent"
        always means the key."""
        if self._bucket_exists:
            return
        if not self._call(None, lambda: self.bucket.exists(timeout=_TIMEOUT, retry=None)):
            raise StorageNotFoundError(f"the bucket of {self.url} does not exist: create it first, or fix the URL",
                                       url=self.url)
        self._bucket_exists = True

    @staticmethod
    def _info(key: str, blob: Any) -> ObjectInfo:
        modified = blob.updated.timestamp() if blob.updated else None
        return ObjectInfo(key, int(blob.size or 0), modified, str(blob.generation) if blob.generation else None)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        folder = prefix.rpartition("/")[0]
        if folder:
            check_key(folder)
        blobs = self.client.list_blobs(self.bucket, prefix=self.prefix + prefix, timeout=_TIMEOUT, retry=None)
        try:
            for blob in blobs:
                yield self._info(blob.name[len(self.prefix):], blob)
        except self._exceptions.NotFound as exc:
            raise self._translate(exc, None, writing=True) from exc
        except (self._exceptions.GoogleAPICallError, self._requests.RequestException) as exc:
            raise self._translate(exc, None) from exc

    def delete(self, key: str) -> None:
        blob = self._blob(key)
        try:
            blob.delete(timeout=_TIMEOUT, retry=None)
        except self._exceptions.NotFound:
            return
        except (self._exceptions.GoogleAPICallError, self._requests.RequestException) as exc:
            raise self._translate(exc, key) from exc


def open_gcs(location: CloudLocation, options: dict[str, str], *, max_concurrency: int) -> GcsStorage:
    """GCS. Endpoint: ``gcs_endpoint_url`` setting, else ``STORAGE_EMULATOR_HOST`` (emulators: anonymous).
    Credentials: ``gcs_credentials_file``, else Google's default chain (GOOGLE_APPLICATION_CREDENTIALS,
    gcloud, metadata server)."""
    storage_module = require("google.cloud.storage", "gcs", location.url)
    endpoint = options.get("gcs_endpoint_url") or os.environ.get("STORAGE_EMULATOR_HOST")
    if endpoint and "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    project = options.get("gcs_project") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    client_options = {"api_endpoint": endpoint} if endpoint else None
    if endpoint and "gcs_credentials_file" not in options:
        credentials_module = require("google.auth.credentials", "gcs", location.url)
        client = storage_module.Client(project=project or "satchel", credentials=credentials_module.
                                       AnonymousCredentials(), client_options=client_options)
    elif "gcs_credentials_file" in options:
        client = storage_module.Client.from_service_account_json(
            options["gcs_credentials_file"], project=project, client_options=client_options)
    else:
        client = storage_module.Client(project=project, client_options=client_options)
    _widen_pool(client, max_concurrency)
    return GcsStorage(client, location)


def _widen_pool(client: Any, size: int) -> None:
    """Let ``size`` threads share the client's HTTP session without waiting for connections."""
    requests_adapters = require("requests.adapters", "gcs", "GCS")
    adapter = requests_adapters.HTTPAdapter(pool_connections=size, pool_maxsize=size, max_retries=0)
    session = client._http
    session.mount("https://", adapter)
    session.mount("http://", adapter)
