"""Storage: bytes by key on a URL. ``open_storage`` picks the adapter from the URL's scheme."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

from satchel.errors import ConfigError, InvalidArgumentError
from satchel.storage.base import Capabilities, ObjectInfo, Storage
from satchel.storage.local import LocalStorage
from satchel.storage.memory import MemoryStorage
from satchel.storage.retry import RetryingStorage
from satchel.storage.urls import CLOUD_SCHEMES, HTTP_SCHEMES, parse_cloud_url

__all__ = [
    "Capabilities",
    "LocalStorage",
    "MemoryStorage",
    "ObjectInfo",
    "RetryingStorage",
    "Storage",
    "is_read_only",
    "normalize_url",
    "open_storage",
]

def normalize_url(url: str | Path) -> str:
    """Canonical form of a storage location: ``file:///abs/path`` for folders, the URL otherwise."""
    text = str(url)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise InvalidArgumentError(
                f"{text!r} names host {parsed.netloc!r}; a file URL needs an absolute path: file:///{parsed.netloc}"
                f"{parsed.path}, or pass the folder path itself"
            )
        return Path(unquote(parsed.path)).absolute().as_uri()
    if not parsed.scheme or (len(parsed.scheme) == 1 and text[1:3] in (":\\", ":/")):
        return Path(text).expanduser().absolute().as_uri()
    if parsed.scheme == "memory":
        return f"memory://{parsed.netloc}{parsed.path}"
    if parsed.scheme == "server":
        from satchel.storage.server import namespace_from_url

        return f"server://{namespace_from_url(text)}"
    if parsed.scheme.lower() in CLOUD_SCHEMES:
        return parse_cloud_url(text).url
    if parsed.scheme.lower() in HTTP_SCHEMES:
        return text.rstrip("/")
    raise InvalidArgumentError(
        f"unsupported storage URL {text!r}: use a folder path, file://, s3://, gs://, "
        "azure://<account>.blob.core.windows.net/<container>, az://<container>, server://<namespace> (a satchel "
        "server's file server) or memory://"
    )


def is_read_only(url: str | Path) -> bool:
    """True for storage that can only be read (http/https, used for external links)."""
    return urlparse(normalize_url(url)).scheme in HTTP_SCHEMES


def open_storage(url: str | Path, *, retries: int = 3, options: Mapping[str, str] | None = None,
                 max_concurrency: int = 8) -> Storage:
    """Open the storage at ``url``, wrapped with retries.

    ``options`` are the object-storage settings (``s3_endpoint_url``, credentials, ...; see
    :mod:`satchel.config`); ``max_concurrency`` bounds the requests of uploads in flight: S3 and Azure send half of it
    per multipart upload (large files go up two at a time), GCS sizes its connection pool to it.
    Object stores need their extra (``satchel[s3]``, ``[gcs]``, ``[azure]``): MissingExtraError says which.
    """
    canonical = normalize_url(url)
    parsed = urlparse(canonical)
    inner: Storage
    if parsed.scheme == "file":
        inner = LocalStorage(Path(unquote(parsed.path)))
    elif parsed.scheme == "memory":
        inner = MemoryStorage(parsed.netloc + parsed.path)
    elif parsed.scheme in HTTP_SCHEMES:
        from satchel.storage.http import HttpStorage

        inner = HttpStorage(canonical)
    elif parsed.scheme == "server":
        inner = _open_server(canonical, dict(options or {}))
    else:
        inner = _open_cloud(canonical, dict(options or {}), max_concurrency)
    return RetryingStorage(inner, retries=retries)


def _open_server(url: str, options: dict[str, str]) -> Storage:
    from satchel.storage.api import api_client
    from satchel.storage.server import ServerStorage

    if not options.get("api_url"):
        raise ConfigError(f"{url} is a store on a satchel server, but no server is configured: set SATCHEL_API_URL "
                          "and SATCHEL_API_TOKEN, or run `satchel login URL`")
    return ServerStorage(url, api_client(options["api_url"], options.get("api_token")))


def _open_cloud(url: str, options: dict[str, str], max_concurrency: int) -> Storage:
    location = parse_cloud_url(url)
    if location.scheme == "s3":
        from satchel.storage.cloud import open_s3

        return open_s3(location, options, max_concurrency=max_concurrency)
    if location.scheme == "azure":
        from satchel.storage.cloud import open_azure

        return open_azure(location, options, max_concurrency=max_concurrency)
    from satchel.storage.gcs import open_gcs

    return open_gcs(location, options, max_concurrency=max_concurrency)
