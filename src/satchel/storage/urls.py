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


def parse_cloud_url(text: str) -> CloudLocation:
    """Parse an object-storage URL; raise InvalidArgumentError with the expected form when it is malformed."""
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme not in CLOUD_SCHEMES:
        raise InvalidArgumentError(f"{text!r} is not an object-storage URL (s3://, gs://, azure://, az://)")
    path = unquote(parsed.path).strip("/")
    if scheme == "azure":
        host = parsed.netloc.lower()
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
    bucket = parsed.netloc
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
    """
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme == "azure":
        location = parse_cloud_url(url)
        return f"azure://{parsed.netloc.lower()}/{location.bucket}", location.prefix
    if scheme in HTTP_SCHEMES:
        query = f"?{parsed.query}" if parsed.query else ""
        return f"{scheme}://{parsed.netloc}", parsed.path.lstrip("/") + query
    if scheme in CLOUD_SCHEMES:
        return f"{scheme}://{parsed.netloc}", unquote(parsed.path).lstrip("/")
    if scheme == "file":
        return "file:///", unquote(parsed.path).lstrip("/")
    raise InvalidArgumentError(f"{url!r} is not an object URL (s3://, gs://, azure://, az://, http(s)://, file://)")
