"""Object-storage URLs: ``s3://``, ``gs://``, ``azure://<account>.blob.core.windows.net/...``, ``az://``.

Parsing only; no network and no optional dependency is touched here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from satchel.errors import InvalidArgumentError

CLOUD_SCHEMES = ("s3", "gs", "azure", "az")
HTTP_SCHEMES = ("http", "https")
_AZURE_HOST_SUFFIX = ".blob.core.windows.net"


@dataclass(frozen=True)
class CloudLocation:
    """A bucket (or Azure container) and a key prefix inside it.

    ``scheme`` is ``s3``, ``gs`` or ``azure`` (``az://`` URLs parse to ``azure`` with ``account`` None:
    the account then comes from settings or the environment).
    """

    scheme: str
    bucket: str
    prefix: str
    account: str | None
    url: str

    def key_url(self, key: str) -> str:
        """The URL of ``key`` inside this location."""
        return f"{self.url}/{key}"


def _split_raw(text: str) -> tuple[str, str, str]:
    """(scheme, host, path) of an object-storage URL, split by hand: object keys are used as written (no
    percent-decoding; ``?`` and ``#`` are part of the key), as ClearML and the clouds' own tools do."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return "", "", text
    host, _, path = rest.partition("/")
    return scheme.lower(), host, path


def parse_cloud_url(text: str) -> CloudLocation:
    """Parse an object-storage URL; raise InvalidArgumentError with the expected form when it is malformed."""
    scheme, netloc, raw_path = _split_raw(text)
    if scheme not in CLOUD_SCHEMES:
        raise InvalidArgumentError(f"{text!r} is not an object-storage URL (s3://, gs://, azure://, az://)")
    path = raw_path.strip("/")
    if scheme == "azure":
        host = netloc.lower()
        if not host.endswith(_AZURE_HOST_SUFFIX) or host == _AZURE_HOST_SUFFIX[1:]:
            raise InvalidArgumentError(
                f"{text!r}: an azure:// URL names the account host, as in "
                "azure://<account>.blob.core.windows.net/<container>/<prefix> (or use az://<container>/<prefix>)"
            )
        account = host[: -len(_AZURE_HOST_SUFFIX)]
        container, _, prefix = path.partition("/")
        if not container:
            raise InvalidArgumentError(f"{text!r} names no container: azure://{host}/<container>/<prefix>")
        return CloudLocation("azure", container, prefix, account, _join(f"azure://{host}/{container}", prefix))
    bucket = netloc
    if not bucket:
        raise InvalidArgumentError(f"{text!r} names no bucket: {scheme}://<bucket>/<prefix>")
    if scheme == "az":
        return CloudLocation("azure", bucket, path, None, _join(f"az://{bucket}", path))
    return CloudLocation(scheme, bucket, path, None, _join(f"{scheme}://{bucket}", path))


def _join(base: str, prefix: str) -> str:
    return f"{base}/{prefix}" if prefix else base


def split_object_url(url: str) -> tuple[str, str]:
    """Split the URL of one object into (storage URL of its folder, key), for external links.

    ``s3://bucket/a/b.bin`` -> (``s3://bucket``, ``a/b.bin``); ``https://host/x/y.csv`` ->
    (``https://host``, ``x/y.csv``); ``file:///data/x.csv`` -> (``file:///``, ``data/x.csv``).
    Object-store keys are taken as written; ``file://`` paths are percent-decoded (they are URIs).
    """
    scheme, host, path = _split_raw(url)
    if scheme in CLOUD_SCHEMES:
        location = parse_cloud_url(url)  # validates the form
        if scheme == "azure":
            return f"azure://{host.lower()}/{location.bucket}", path.partition("/")[2].lstrip("/")
        return f"{scheme}://{host}", path.lstrip("/")
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in HTTP_SCHEMES:
        query = f"?{parsed.query}" if parsed.query else ""
        return f"{scheme}://{parsed.netloc}", parsed.path.lstrip("/") + query
    if scheme == "file":
        return "file:///", unquote(parsed.path).lstrip("/")
    raise InvalidArgumentError(f"{url!r} is not an object URL (s3://, gs://, azure://, az://, http(s)://, file://)")
