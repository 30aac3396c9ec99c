"""``satchel://``: dataset versions as a read-only fsspec filesystem, for pandas, PyArrow, DuckDB, Polars and
Hugging Face ``datasets``.

URLs:

- ``satchel://PROJECT/NAME/PATH``: the latest version of dataset NAME in PROJECT, as ``Dataset.get`` picks it;
- ``satchel://PROJECT/NAME@VERSION/PATH``: that version;
- ``satchel://ID/PATH``: the version with that id (32 hex digits).

A project may be nested (``vision/cats/NAME/...``): the longest prefix of the path that names a project
holding a dataset of the next part's name wins. ``satchel://`` lists the top-level projects, a project its
sub-projects and datasets (as folders). The filesystem reads the catalog and stores of the current satchel
configuration (embedded, or a server in team mode). Every byte handed out is verified (see
:mod:`satchel.dataset.reader`).
"""

from __future__ import annotations

import datetime
import re
import threading
import time
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.spec import AbstractBufferedFile

from satchel.catalog import VersionRecord
from satchel.dataset.context import get_context
from satchel.dataset.reader import VersionReader
from satchel.errors import DatasetNotFoundError, InvalidArgumentError, PathNotFoundError

_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_READERS = 8
LATEST_TTL = 5.0
"""How long "the latest version" of a dataset is remembered before it is looked up again (seconds)."""


class SatchelFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """Read-only fsspec filesystem over satchel versions (protocol ``satchel``)."""

    protocol = "satchel"
    root_marker = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._readers: dict[str, VersionReader] = {}
        self._latest: dict[tuple[str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._context: object = None
        self._project_names: tuple[float, dict[str, set[str]]] | None = None

    def _fresh(self) -> None:
        """Forget what was resolved under another configuration (``satchel.configure``, a new SATCHEL_HOME):
        fsspec keeps one instance of the filesystem per process."""
        ctx = get_context()
        if ctx is not self._context:
            with self._lock:
                self._readers.clear()
                self._latest.clear()
                self._project_names = None
                self._context = ctx

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        if text.startswith("satchel://"):
            text = text[len("satchel://"):]
        elif text.startswith("satchel:"):
            text = text[len("satchel:"):]
        return text.strip("/")

    # -- resolution -----------------------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[VersionReader | None, str, str]:
        """(reader of the version, path inside it, the URL's version prefix), or (None, path, "") when ``path``
        names no version (the root or a project)."""
        self._fresh()
        path = self._strip_protocol(path)
        parts = path.split("/") if path else []
        if parts and _ID.match(parts[0]):
            try:
                return self._reader(parts[0]), "/".join(parts[1:]), parts[0]
            except DatasetNotFoundError:
                pass
        for attempt in range(2):  # a miss looks again at once: the dataset may be newer than the remembered list
            projects = self._projects()
            for cut in range(len(parts) - 1, 0, -1):
                project = "/".join(parts[:cut])
                if project not in projects or parts[cut].partition("@")[0] not in projects[project]:
                    continue
                name, _, version = parts[cut].partition("@")
                version_id = self._version_id(project, name, version or None)
                if version_id is not None:
                    return self._reader(version_id), "/".join(parts[cut + 1:]), "/".join(parts[: cut + 1])
            if attempt == 0 and len(parts) > 1:
                with self._lock:
                    self._project_names = None
        return None, path, ""

    def _projects(self) -> dict[str, set[str]]:
        """project -> its dataset names (every project the catalog shows this caller), looked up again after
        LATEST_TTL seconds (through a server, a listing is a few requests: not one per path)."""
        with self._lock:
            cached = self._project_names
        if cached is not None and time.monotonic() - cached[0] < LATEST_TTL:
            return cached[1]
        found: dict[str, set[str]] = {}
        for record in get_context().catalog.find_versions():
            found.setdefault(record.project, set()).add(record.name)
        with self._lock:
            self._project_names = (time.monotonic(), found)
        return found

    def _version_id(self, project: str, name: str, version: str | None) -> str | None:
        from satchel.dataset.dataset import Dataset

        key = (project, f"{name}@{version or ''}")
        with self._lock:
            remembered = self._latest.get(key)
        if remembered is not None and (version is not None or time.monotonic() - remembered[0] < LATEST_TTL):
            return remembered[1]
        try:
            found = Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version,
                                only_completed=True)
        except DatasetNotFoundError:
            return None
        with self._lock:
            self._latest[key] = (time.monotonic(), found.id)
        return found.id

    def _reader(self, version_id: str) -> VersionReader:
        with self._lock:
            found = self._readers.get(version_id)
        if found is None:
            ctx = get_context()
            record: VersionRecord = ctx.catalog.get_version(version_id)
            if not record.is_final:
                raise InvalidArgumentError(f"dataset {version_id} is a draft; satchel:// reads finalized versions")
            found = VersionReader(ctx, record)
            with self._lock:
                self._readers[version_id] = found
                while len(self._readers) > MAX_READERS:  # each holds a version's view: keep a few
                    self._readers.pop(next(iter(self._readers)))
        return found

    # -- listing --------------------------------------------------------------------------------------
    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        reader, inner, prefix = self.resolve(path)
        entries = self._catalog_listing(inner) if reader is None else self._version_listing(reader, inner, prefix)
        return entries if detail else [e["name"] for e in entries]

    def _catalog_listing(self, path: str) -> list[dict[str, Any]]:
        projects = self._projects()
        children: set[str] = set()
        for project, names in projects.items():
            if path and project == path:
                children.update(f"{project}/{n}" for n in names)
            elif not path or project.startswith(path + "/"):
                rest = project[len(path) + 1:] if path else project
                children.add(f"{path}/{rest.split('/')[0]}" if path else rest.split("/")[0])
        if not children and path:
            raise FileNotFoundError(f"satchel://{path}: no project or dataset of that name")
        return [{"name": c, "size": 0, "type": "directory"} for c in sorted(children)]

    def _version_listing(self, reader: VersionReader, inner: str, prefix: str) -> list[dict[str, Any]]:
        listing = reader.listing
        inner = inner.strip("/")
        if inner in reader.view:
            return [self._file_info(reader, inner, prefix)]
        if inner and inner not in listing.folders.get(inner.rpartition("/")[0], ()):
            raise FileNotFoundError(f"satchel://{prefix}/{inner}: no such file or folder in dataset "
                                    f"{reader.record.id}")
        folders = [{"name": f"{prefix}/{f}", "size": 0, "type": "directory"} for f in listing.folders.get(inner, [])]
        files = [self._file_info(reader, p, prefix) for p in listing.files.get(inner, [])]
        return folders + files

    @staticmethod
    def _file_info(reader: VersionReader, path: str, prefix: str) -> dict[str, Any]:
        entry = reader.view[path]
        return {"name": f"{prefix}/{path}", "size": entry.size, "type": "file", "hash": entry.hash,
                "dataset_id": reader.record.id}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        reader, inner, prefix = self.resolve(path)
        if reader is None:
            name = self._strip_protocol(path)
            self._catalog_listing(name)  # FileNotFoundError when it names nothing
            return {"name": name, "size": 0, "type": "directory"}
        inner = inner.strip("/")
        if inner in reader.view:
            return self._file_info(reader, inner, prefix)
        if not inner or inner in reader.listing.folders.get(inner.rpartition("/")[0], ()):
            return {"name": f"{prefix}/{inner}".rstrip("/"), "size": 0, "type": "directory"}
        raise FileNotFoundError(f"satchel://{prefix}/{inner}: no such file or folder in dataset {reader.record.id}")

    def modified(self, path: str) -> datetime.datetime:
        """When the file's version was finalized (files of a version never change after that)."""
        reader, _, _ = self.resolve(path)
        if reader is None:
            raise FileNotFoundError(f"{path}: not in a dataset version")
        when = reader.record.finalized_at or reader.record.created_at
        return datetime.datetime.fromtimestamp(when, datetime.UTC)

    created = modified

    # -- reading ----------------------------------------------------------------------------------------
    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        reader, inner = self._file(path)
        size = reader.entry(inner).size
        begin = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        stop = size if end is None else (end if end >= 0 else max(size + end, 0))
        return reader.read(inner, begin, stop)

    def _file(self, path: str) -> tuple[VersionReader, str]:
        reader, inner, _ = self.resolve(path)
        if reader is None or not inner:
            raise FileNotFoundError(f"{path}: not a file of a dataset version (satchel://PROJECT/NAME/PATH)")
        try:
            reader.entry(inner)
        except PathNotFoundError as exc:
            raise FileNotFoundError(str(exc)) from exc
        return reader, inner

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None, autocommit: bool = True,
              cache_options: dict[str, Any] | None = None, **kwargs: Any) -> SatchelFile:
        if mode != "rb":
            raise PermissionError(f"satchel:// is read-only: open {path!r} with mode 'rb', not {mode!r}; make a new "
                                  "version to change files")
        reader, inner = self._file(path)
        return SatchelFile(self, path, reader, inner, block_size=block_size, cache_options=cache_options)

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("satchel:// is read-only; make a new version to change files")

    mkdir = makedirs = rm = rm_file = rmdir = mv = cp_file = put_file = pipe_file = touch = _refuse


class SatchelFile(AbstractBufferedFile):  # type: ignore[misc]
    """A file of a version, random access (``seek``), read through fsspec's read-ahead buffer."""

    def __init__(self, fs: SatchelFileSystem, path: str, reader: VersionReader, inner: str,
                 block_size: int | None = None, cache_options: dict[str, Any] | None = None) -> None:
        self.reader, self.inner = reader, inner
        entry = reader.entry(inner)
        super().__init__(fs, path, mode="rb", block_size=block_size or 4 << 20, cache_type="readahead",
                         cache_options=cache_options, size=entry.size)

    def _fetch_range(self, start: int, end: int) -> bytes:
        result: bytes = self.reader.read(self.inner, start, end)
        return result
