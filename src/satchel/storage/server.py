"""The satchel server's file server as a storage backend: ``server://<namespace>``.

A namespace is one project's store on the server (see :func:`namespace_url`); the server decides where its bytes
live (its own disk or an object store) and checks the token on every call. The URL names no host, so versions
recorded by one client are read by every other client of the same server, whatever address each one uses.
Bodies are streamed both ways; ranges are HTTP Range requests; ``put_if_absent`` is ``If-None-Match: *``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlparse

from satchel.errors import InvalidArgumentError, StorageError, StorageNotFoundError
from satchel.storage.api import ApiClient, quote_segment
from satchel.storage.base import Capabilities, ObjectInfo, Storage, check_key, normalize_tag

SCHEME = "server"


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
NAMESPACE_PATTERN = r"[A-Za-z0-9_~-]{1,900}"


def namespace_of(project: str) -> str:
    """The file-server namespace of a project: one path segment of letters, digits, ``_``, ``-`` and ``~XX``
    escapes of every other UTF-8 byte (``vision/cats`` -> ``vision~2Fcats``). No ``%``, ``.`` or ``/``, so no
    layer below can decode it into another path; one project, one namespace, and back (:func:`project_of`)."""
    return "".join(c if c in _SAFE else "".join(f"~{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
                   for c in project)


def is_project_name(name: str) -> bool:
    """A project name: '/'-separated non-empty parts without surrounding spaces, none '.' or '..', no control
    characters, at most 500 characters (``vision``, ``vision/cats``)."""
    return 0 < len(name) <= 500 and not any(ord(c) < 32 or ord(c) == 127 for c in name) and all(
        part not in ("", ".", "..") and part == part.strip() for part in name.split("/"))


def project_of(namespace: str) -> str | None:
    """The project a namespace names, or None when it is not the canonical namespace of any project."""
    if not re.fullmatch(NAMESPACE_PATTERN, namespace):
        return None
    try:
        raw = bytearray()
        index = 0
        while index < len(namespace):
            if namespace[index] == "~":
                raw.append(int(namespace[index + 1 : index + 3], 16))
                index += 3
            else:
                raw += namespace[index].encode()
                index += 1
        project = raw.decode("utf-8")
    except (ValueError, IndexError):
        return None
    return project if is_project_name(project) and namespace_of(project) == namespace else None


def namespace_url(project: str) -> str:
    """Storage URL of a project's store on the server."""
    return f"{SCHEME}://{namespace_of(project)}"


def namespace_from_url(url: str) -> str:
    """The namespace a ``server://`` URL names; InvalidArgumentError when it is not one."""
    parsed = urlparse(url)
    if parsed.scheme != SCHEME or project_of(parsed.netloc) is None or parsed.path not in ("", "/") \
            or parsed.query or parsed.fragment:
        raise InvalidArgumentError(f"{url!r} is not a satchel server store URL (server://<namespace>, the namespace "
                                   "as satchel writes it for a project)")
    return parsed.netloc


class ServerStorage(Storage):
    """Objects of one namespace of a satchel server's file server."""

    capabilities = Capabilities(range_reads=True, conditional_put=True, local_path=False)

    def __init__(self, url: str, client: ApiClient) -> None:
        self.url = url
        self.namespace = namespace_from_url(url)
        self.client = client
        self._base = f"/stores/{quote_segment(self.namespace)}/objects"

    def _path(self, key: str) -> str:
        return f"{self._base}/{quote(check_key(key), safe='/')}"

    def _not_found(self, key: str) -> StorageNotFoundError:
        return StorageNotFoundError(f"no object {key} in {self.url} on {self.client.url}", url=self.url, key=key)

    def put(self, key: str, data: bytes) -> None:
        self.client.request("PUT", self._path(key), body=bytes(data),
                            headers={"Content-Type": "application/octet-stream"}).close()

    def put_if_absent(self, key: str, data: bytes) -> bool:
        response = self.client.request("PUT", self._path(key), body=bytes(data), ok=(200, 201, 412),
                                       headers={"If-None-Match": "*", "Content-Type": "application/octet-stream"})
        response.close()
        return response.status != 412

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        with open(path, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            self.client.request("PUT", self._path(key), body=source, headers={
                "Content-Length": str(size), "Content-Type": "application/octet-stream"}).close()
        if consume:
            path.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        response = self.client.request("GET", self._path(key), ok=(200, 404))
        if response.status == 404:
            response.close()
            raise self._not_found(key)
        return response.data

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return b"".join(self.iter_range(key, start, length, max(length, 1)))

    def iter_range(self, key: str, start: int, length: int, chunk_size: int = 8 << 20) -> Iterator[bytes]:
        if length <= 0:
            return
        response = self.client.request("GET", self._path(key), stream=True, ok=(200, 206, 404, 416),
                                       headers={"Range": f"bytes={start}-{start + length - 1}"})
        if response.status in (404, 416):
            response.close()
            if response.status == 404:
                raise self._not_found(key)
            return
        if response.status != 206:
            response.close()
            raise StorageError(f"{self.client.url} ignored a Range request for {key}", url=self.url, key=key)
        yield from response.stream(min(chunk_size, 1 << 20))

    def head(self, key: str) -> int | None:
        info = self.stat(key)
        return None if info is None else info.size

    def stat(self, key: str) -> ObjectInfo | None:
        response = self.client.request("HEAD", self._path(key), ok=(200, 404))
        response.close()
        if response.status == 404:
            return None
        return ObjectInfo(key, int(response.headers.get("Content-Length", "0")), None,
                          normalize_tag(response.headers.get("ETag")))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        response = self.client.request("GET", self._base, params={"prefix": prefix}, stream=True)
        pending = b""
        for chunk in response.stream():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    yield _info(json.loads(line))
        if pending.strip():
            yield _info(json.loads(pending))

    def delete(self, key: str) -> None:
        self.client.request("DELETE", self._path(key), ok=(200, 204, 404)).close()


def _info(item: dict[str, object]) -> ObjectInfo:
    modified = item.get("modified")
    return ObjectInfo(str(item["key"]), int(str(item["size"])),
                      float(str(modified)) if modified is not None else None,
                      str(item["tag"]) if item.get("tag") is not None else None)
