"""External links: files that stay at their source (s3/gs/azure/http(s)/file URLs) and are recorded by URL,
size and change tag; they are downloaded into views like stored files (see fetch.Fetcher.download_link)."""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from satchel.catalog import DraftRow
from satchel.dataset.context import Context
from satchel.dataset.paths import join_dataset_path, local_file_matches, normalize_dataset_path
from satchel.errors import InvalidArgumentError, StorageNotFoundError
from satchel.objects import ManifestEntry, link_id, make_link, split_link
from satchel.storage import ObjectInfo, Storage
from satchel.storage.base import redact
from satchel.storage.urls import split_object_url


def source_urls(source_url: str | Path | Sequence[str | Path]) -> list[str]:
    """The ``source_url`` argument as a list of URLs; plain local paths become ``file://`` URLs."""
    items = [source_url] if isinstance(source_url, str | Path) else list(source_url)
    if not items:
        raise InvalidArgumentError("add_external_files needs at least one source_url")
    urls = []
    for item in items:
        text = str(item)
        scheme = urlparse(text).scheme
        if not scheme or (len(scheme) == 1 and text[1:3] in (":\\", ":/")):
            folder_like = text.endswith(("/", os.sep))
            text = Path(text).expanduser().absolute().as_uri() + ("/" if folder_like else "")
        urls.append(text)
    return urls


def find_links(ctx: Context, url: str, *, patterns: list[str], dataset_path: str | None,
               recursive: bool) -> list[DraftRow]:
    """Draft rows for the object at ``url``, or for every object under it when it names a folder/prefix."""
    prefix = normalize_dataset_path(dataset_path)
    storage, key = ctx.link_source(url)
    base = split_object_url(url)[0]
    info = storage.stat(key) if key and not key.endswith("/") else None
    if info is not None:
        name = _file_name(url, key)
        if not local_file_matches(name, patterns):
            return []
        return [_row(join_dataset_path(prefix, name), url, info)]
    folder = key.rstrip("/")
    listing = f"{folder}/" if folder else ""
    objects = _listing(storage, listing, url)
    if not objects:
        raise StorageNotFoundError(
            f"nothing to link at {redact(url)}: no object and no folder of that name; check the URL (and the "
            "credentials for that store)", url=url, key=key)
    keys = {obj.key for obj in objects}
    rows = []
    for obj in objects:
        relative = obj.key[len(listing):]
        if not relative or (not recursive and "/" in relative) or not local_file_matches(relative, patterns):
            continue
        if obj.size == 0 and any(k.startswith(obj.key + "/") for k in keys if len(k) > len(obj.key)):
            continue  # an empty "folder marker" object (as consoles create) next to the folder's files
        rows.append(_row(join_dataset_path(prefix, relative), child_url(base, obj.key), obj))
    return rows


def _file_name(url: str, key: str) -> str:
    """The name a single linked file gets: the last path segment, without an HTTP query (which may hold a
    presigned signature); ``file://`` paths decoded, object-store keys as written."""
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        path = parsed.path
    elif parsed.scheme == "file":
        path = unquote(parsed.path)
    else:
        path = key
    return posixpath.basename(path.rstrip("/")) or key


def child_url(base: str, key: str) -> str:
    """The URL of ``key`` under a storage URL: object-store keys as written (as ClearML records them),
    ``file://`` paths percent-encoded (``file:///`` already ends with its separator)."""
    if base.startswith("file:"):
        return f"{base}{quote(key, safe='/')}" if base.endswith("/") else f"{base}/{quote(key, safe='/')}"
    return f"{base}/{key}"


def _listing(storage: Storage, prefix: str, url: str) -> list[ObjectInfo]:
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        raise StorageNotFoundError(
            f"{redact(url)} is not a file, and web servers cannot be listed: link each file by its own URL", url=url)
    return sorted(storage.list(prefix), key=lambda info: info.key)


def _row(path: str, url: str, info: ObjectInfo) -> DraftRow:
    link = make_link(url, info.tag)
    return DraftRow(path, link_id(url, info.tag, info.size), info.size, None, link)


def find_all_links(ctx: Context, urls: list[str], *, patterns: list[str], dataset_path: str | None,
                   recursive: bool, max_workers: int) -> list[DraftRow]:
    """find_links for each URL (concurrently: each is a request or a listing); later URLs win on a path."""
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(urls)))) as pool:
        batches = list(pool.map(lambda u: find_links(ctx, u, patterns=patterns, dataset_path=dataset_path,
                                                     recursive=recursive), urls))
    rows: dict[str, DraftRow] = {}
    for batch in batches:
        rows.update((row.path, row) for row in batch)
    return [rows[p] for p in sorted(rows)]


def paths_linking(view: Mapping[str, ManifestEntry], pattern: str, *, recursive: bool = True) -> list[str]:
    """Dataset paths of the external links whose URL is ``pattern`` or matches it as a wildcard (ClearML's
    ``remove_files("s3://bucket/raw/*")``); without ``recursive`` a ``*`` does not cross ``/``."""
    found = []
    for path, entry in view.items():
        if entry.link:
            url, _ = split_link(entry.link)
            if url == pattern or _url_matches(url, pattern, recursive):
                found.append(path)
    return sorted(found)


def _url_matches(url: str, pattern: str, recursive: bool) -> bool:
    if recursive:
        return fnmatch.fnmatchcase(url, pattern)
    parts, wanted = url.split("/"), pattern.split("/")
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))
