"""Bringing ClearML datasets along: ``satchel import-clearml SOURCE``.

ClearML stores each dataset version under ``<output_uri>/<project>/.datasets/<name>/<name>.<id>/artifacts/``: a
``state/state.json`` (every file's relative path, SHA-256, size, and the version and zip chunk holding it; the
parents in ``dependency_graph``) and ``<chunk>/dataset.<id>.<random>.zip`` chunks. The import reads those
(from a folder or any storage URL satchel knows), parents first, and makes the same versions here under the
same ids and names: each version's changes against its parents are taken from the chunks, every file checked
against ClearML's SHA-256 before it is added, then uploaded (deduplicated as usual) and finalized. A version
already in the catalog is skipped, so re-running imports only what is new.

Also taken from SOURCE: the version's metadata (``set_metadata`` artifacts next to the chunks: a dict's
``.json``, a DataFrame's ``.csv.gz`` (needs pandas), an array's ``.npz``; pickles are never loaded, only
reported), and its external links, recorded as satchel links after their source was found where ClearML
linked it (``skip_links`` leaves them out; an unreachable source is an error that says so).

What ClearML keeps on its server and not with the data (version strings, tags, description) comes from the
ClearML server when ``clearml_api`` names it (:mod:`satchel.dataset.clearml_server`). Without it, versions are
numbered per dataset in lineage order (1.0.0, 1.0.1, ...), in ClearML's own way, and the description says where
the version came from. A version string already taken by another version of the dataset gets the next free one.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import logging
import posixpath
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from satchel.catalog import DraftRow, VersionRecord
from satchel.dataset.clearml_server import ClearmlFacts, read_facts
from satchel.dataset.context import Context
from satchel.dataset.draft import record_links
from satchel.dataset.links import find_links
from satchel.dataset.versions import check_version_string, next_version
from satchel.dataset.view import merge_views
from satchel.errors import (
    DatasetNotFoundError,
    IntegrityError,
    InvalidArgumentError,
    SatchelError,
    StorageNotFoundError,
)
from satchel.objects.pathnames import is_valid_id
from satchel.storage import Storage, open_storage

log = logging.getLogger("satchel")
_STATE = re.compile(r"^(?:(?P<project>.+)/)?\.datasets/(?P<name>[^/]+)/(?P=name)\.(?P<id>[0-9a-f]{32})/artifacts/state/"
                    r"state\.json$")


@dataclass
class ClearmlVersion:
    """One ClearML dataset version as its state file describes it."""

    id: str
    project: str
    name: str
    folder: str  # storage prefix of the version: <project>/.datasets/<name>/<name>.<id>
    parents: list[str]
    files: dict[str, dict[str, Any]]  # relative path -> {hash (SHA-256), size, parent_dataset_id, artifact_name}
    links: dict[str, str] = field(default_factory=dict)  # relative path -> source URL


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    links_not_imported: int = 0
    links_imported: int = 0
    metadata_imported: int = 0
    metadata_not_imported: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportOptions:
    """How to import: which project, whether links come along, where the ClearML server is."""

    project: str | None = None
    skip_links: bool = False
    clearml_api: str | None = None
    access_key: str | None = None
    secret_key: str | None = None


def import_clearml(ctx: Context, source: str, options: ImportOptions | None = None) -> ImportReport:
    """Import every ClearML dataset version stored under ``source`` (only ``options.project`` and its
    sub-projects when given) into ``ctx``'s catalog; see the module docs."""
    options = options or ImportOptions()
    storage = open_storage(source, options=ctx.settings.storage_options)
    found = _scan(storage, options.project)
    if not found:
        raise InvalidArgumentError(f"no ClearML dataset under {source}" + (f" in project {options.project!r}"
                                   if options.project else "") + ": point at the output_uri ClearML uploaded to "
                                   "(the folder that holds <project>/.datasets/)")
    report = ImportReport()
    todo = [v for v in _parents_first(found) if not _exists(ctx, v.id)]
    report.skipped = [v.id for v in found.values() if v not in todo]
    facts: dict[str, ClearmlFacts] = {}
    if options.clearml_api and todo:
        facts = read_facts(options.clearml_api, [v.id for v in todo], options.access_key, options.secret_key)
    with tempfile.TemporaryDirectory(prefix="satchel-clearml-") as scratch:
        for version in todo:
            _import_one(ctx, storage, found, version, Path(scratch), facts.get(version.id), options, report)
            report.imported.append(version.id)
    return report


def _scan(storage: Storage, project: str | None) -> dict[str, ClearmlVersion]:
    found: dict[str, ClearmlVersion] = {}
    for info in storage.list(""):
        match = _STATE.match(info.key)
        if not match:
            continue
        name, version_id, where = match.group("name"), match.group("id"), match.group("project") or ""
        if project and not (where == project or where.startswith(project.rstrip("/") + "/")):
            continue
        state = _load_state(storage, info.key, version_id)
        graph = state.get("dependency_graph") or {}
        parents = graph.get(version_id, []) if isinstance(graph, dict) else []
        if not isinstance(parents, list) or not all(isinstance(p, str) and is_valid_id(p) for p in parents):
            raise IntegrityError(f"{info.key}: its dependency_graph is not a list of dataset ids; not imported",
                                 object_key=info.key, content_hash="")
        files = {}
        for entry in state.get("dataset_file_entries") or []:
            path = entry.get("relative_path") if isinstance(entry, dict) else None
            if not isinstance(path, str) or not isinstance(entry.get("hash"), str):
                raise IntegrityError(f"{info.key}: a file entry without relative_path or hash", object_key=info.key,
                                     content_hash="")
            files[path] = entry
        folder = info.key[: -len("/artifacts/state/state.json")]
        found[version_id] = ClearmlVersion(version_id, where or "clearml", name, folder, parents, files,
                                           _links(info.key, state))
    return found


def _links(key: str, state: dict[str, Any]) -> dict[str, str]:
    """relative path -> URL of the state's external links (checked: strings, a URL with a scheme)."""
    links = {}
    for entry in state.get("dataset_link_entries") or []:
        path = entry.get("relative_path") if isinstance(entry, dict) else None
        url = entry.get("link") if isinstance(entry, dict) else None
        if not isinstance(path, str) or not isinstance(url, str) or "://" not in url:
            raise IntegrityError(f"{key}: an external link without relative_path or URL", object_key=key,
                                 content_hash="")
        links[_safe(path)] = url
    return links


def _load_state(storage: Storage, key: str, version_id: str) -> dict[str, Any]:
    try:
        state = json.loads(storage.get(key))
    except ValueError as exc:
        raise IntegrityError(f"{key} is not ClearML's state JSON ({exc}); not imported", object_key=key,
                             content_hash="") from exc
    if not isinstance(state, dict) or state.get("id", version_id) != version_id:
        raise IntegrityError(f"{key} does not describe dataset {version_id}; not imported", object_key=key,
                             content_hash="")
    return state


def _parents_first(found: dict[str, ClearmlVersion]) -> list[ClearmlVersion]:
    ordered: list[ClearmlVersion] = []
    seen: set[str] = set()

    def visit(version: ClearmlVersion, chain: tuple[str, ...]) -> None:
        if version.id in seen:
            return
        if version.id in chain:
            raise IntegrityError(f"ClearML dataset {version.id}: its lineage loops; not imported", object_key="",
                                 content_hash="")
        for parent in version.parents:
            if parent in found:
                visit(found[parent], (*chain, version.id))
        seen.add(version.id)
        ordered.append(version)

    for version in sorted(found.values(), key=lambda v: (v.project, v.name, v.id)):
        visit(version, ())
    return ordered


def _exists(ctx: Context, version_id: str) -> bool:
    """Is the version imported already? A draft under its id is what an interrupted import left: it is dropped
    (it holds nothing but the import's own pending changes) and the version imported again."""
    try:
        record = ctx.catalog.get_version(version_id)
    except DatasetNotFoundError:
        return False
    if record.is_final:
        return True
    log.warning("ClearML dataset %s: a draft left by an interrupted import is dropped and imported again",
                version_id)
    ctx.catalog.delete_versions([version_id])
    return False


def _import_one(ctx: Context, storage: Storage, found: dict[str, ClearmlVersion], version: ClearmlVersion,
                scratch: Path, facts: ClearmlFacts | None, options: ImportOptions, report: ImportReport) -> None:
    from satchel.dataset.dataset import Dataset

    missing = [p for p in version.parents if not _exists(ctx, p)]
    if missing:
        raise DatasetNotFoundError(f"ClearML dataset {version.id} has parent {missing[0]}, which is neither under "
                                   "SOURCE nor in this catalog; import the parent's store first")
    parents_view = merge_views(ctx.views.view(ctx.catalog.get_version(p)) for p in version.parents)
    parent_hashes = _clearml_hashes(found, version.parents)
    changed = {p: e for p, e in version.files.items() if parent_hashes.get(p) != e["hash"]}
    parent_links = _clearml_links(found, version.parents)
    links = {} if options.skip_links else {p: u for p, u in version.links.items() if parent_links.get(p) != u}
    kept = set(version.files) | (set() if options.skip_links else set(version.links))
    removed = sorted(set(parents_view) - kept)
    folder = scratch / version.id
    _extract(storage, found, changed, folder)
    metadata = _metadata_artifacts(storage, version, report)
    link_rows = _link_rows(ctx, version, links)  # before anything is recorded: a missing source stops it here
    ctx.catalog.create_version(_record(ctx, version, facts))
    ds = Dataset(ctx.catalog.get_version(version.id), ctx)
    for path in removed:
        ds.remove_files(path)
    if changed:
        ds.add_files(folder)
    if link_rows:
        record_links(ctx, ds._draft_state(ds._record), link_rows)
    for name, value in metadata.items():
        ds.set_metadata(value, metadata_name=name)
    ds.upload(show_progress=False)
    ds.finalize()
    report.links_imported += len(links)
    report.links_not_imported += len(version.links) if options.skip_links else 0
    report.metadata_imported += len(metadata)
    log.info("imported ClearML dataset %s/%s %s as v%s: %d file(s) added or changed, %d link(s), %d removed",
             version.project, version.name, version.id, ds.version, len(changed), len(links), len(removed))


def _record(ctx: Context, version: ClearmlVersion, facts: ClearmlFacts | None) -> VersionRecord:
    """The new version's record: ClearML's version string, tags and description when its server told them."""
    existing = [r.version for r in ctx.catalog.find_versions(project=version.project, name=version.name)]
    number = next_version(existing)
    if facts is not None and facts.version:
        try:
            wanted = check_version_string(facts.version)
        except InvalidArgumentError:
            wanted = None
        if wanted is not None and wanted not in existing:
            number = wanted
        elif wanted is not None:
            log.warning("ClearML dataset %s is version %s, which another version of %s/%s has here; it becomes %s",
                        version.id, wanted, version.project, version.name, number)
    description = facts.description if facts is not None and facts.description is not None else \
        f"imported from ClearML dataset {version.id}"
    return VersionRecord(id=version.id, project=version.project, name=version.name, version=number,
                         created_at=time.time(), parents=tuple(version.parents),
                         tags=facts.tags if facts is not None else (), description=description)


def _link_rows(ctx: Context, version: ClearmlVersion, links: dict[str, str]) -> list[DraftRow]:
    """Draft rows for ClearML's external links at their ClearML paths (each source is looked up: its size and
    change tag are recorded, as for ``add_external_files``)."""
    rows = []
    for path, url in sorted(links.items()):
        try:
            found = find_links(ctx, url, patterns=[], dataset_path=None, recursive=False)
        except SatchelError as exc:
            raise StorageNotFoundError(
                f"ClearML dataset {version.id} links {url} at {path}, which cannot be read here ({exc}); make it "
                "reachable (credentials for its store) and import again, or import without links (--skip-links)",
                url=url, key=path) from exc
        if len(found) != 1:
            raise StorageNotFoundError(f"ClearML dataset {version.id} links {url} at {path}, which is not one file "
                                       "here; import without links (--skip-links)", url=url, key=path)
        rows.append(dataclasses.replace(found[0], path=path))
    return rows


def _clearml_links(found: dict[str, ClearmlVersion], parents: list[str]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for parent in parents:
        if parent in found:
            merged.update(found[parent].links)
    return merged


def _metadata_artifacts(storage: Storage, version: ClearmlVersion, report: ImportReport) -> dict[str, Any]:
    """The version's ``set_metadata`` artifacts (name -> value): every artifact folder that is neither the state
    nor a chunk, holding ``<name>.json`` (a dict), ``<name>.csv.gz`` (a DataFrame) or ``<name>.npz`` (an array)."""
    chunks = {str(e.get("artifact_name") or "data") for e in version.files.values()} | {"state", "data"}
    prefix = f"{version.folder}/artifacts/"
    values: dict[str, Any] = {}
    for info in storage.list(prefix):
        name, _, file_name = info.key[len(prefix):].partition("/")
        if name in chunks or name.startswith("data_") or "/" in file_name:
            continue
        where = f"{version.id}: {name}/{file_name}"
        if info.size > 64 << 20:
            report.metadata_not_imported.append(f"{where} (larger than 64 MiB)")
            continue
        try:
            value = _decode_artifact(file_name, name, storage.get(info.key))
        except (ValueError, OSError, ImportError) as exc:
            report.metadata_not_imported.append(f"{where} ({exc})")
            continue
        if value is None:
            report.metadata_not_imported.append(f"{where} (not a dict, DataFrame or array satchel reads)")
            continue
        values[name] = value
    return values


def _decode_artifact(file_name: str, name: str, data: bytes) -> Any:
    if file_name == f"{name}.json":
        value = json.loads(data)
        return value if isinstance(value, dict) else None
    if file_name == f"{name}.csv.gz":
        import pandas as pd

        return pd.read_csv(io.BytesIO(gzip.decompress(data)), index_col=0)
    if file_name == f"{name}.npz":
        import numpy as np

        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            keys = list(arrays.keys())
            return arrays[keys[0]] if len(keys) == 1 else None
    return None


def _clearml_hashes(found: dict[str, ClearmlVersion], parents: list[str]) -> dict[str, str]:
    """path -> SHA-256 of the parents' files, merged as ClearML merges parents (a later one wins)."""
    merged: dict[str, str] = {}
    for parent in parents:
        if parent in found:
            merged.update({p: e["hash"] for p, e in found[parent].files.items()})
    return merged


def _extract(storage: Storage, found: dict[str, ClearmlVersion], entries: dict[str, dict[str, Any]],
             folder: Path) -> None:
    """Write ``entries`` under ``folder`` from their zip chunks, each checked against ClearML's SHA-256."""
    by_chunk: dict[tuple[str, str], list[str]] = {}
    for path, entry in entries.items():
        holder = str(entry.get("parent_dataset_id") or "")
        by_chunk.setdefault((holder, str(entry.get("artifact_name") or "data")), []).append(path)
    for (holder, artifact), paths in sorted(by_chunk.items()):
        if holder not in found:
            raise DatasetNotFoundError(f"the files {paths[:3]} are in a chunk of ClearML dataset {holder}, which is "
                                       "not under SOURCE; import from the store that holds it")
        chunk = _chunk(storage, found[holder], artifact)
        with zipfile.ZipFile(chunk) as archive:
            names = set(archive.namelist())
            for path in paths:
                if path not in names:
                    raise IntegrityError(f"{path} is not in ClearML chunk {artifact} of {holder}", object_key=artifact,
                                         content_hash=entries[path]["hash"])
                target = folder / _safe(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(path) as source, open(target, "wb") as out:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        out.write(block)
                if digest.hexdigest() != entries[path]["hash"]:
                    raise IntegrityError(f"{path} in ClearML chunk {artifact} of {holder} does not match the SHA-256 "
                                         "ClearML recorded; not imported", object_key=artifact,
                                         content_hash=entries[path]["hash"], dataset_path=path)
        chunk.unlink()


def _chunk(storage: Storage, version: ClearmlVersion, artifact: str) -> Path:
    prefix = f"{version.folder}/artifacts/{artifact}/"
    zips = sorted(info.key for info in storage.list(prefix) if info.key.endswith(".zip"))
    if len(zips) != 1:
        raise IntegrityError(f"ClearML dataset {version.id}: expected one zip under {prefix}, found {len(zips)}",
                             object_key=prefix, content_hash="")
    local = Path(tempfile.mkstemp(prefix="clearml-chunk-", suffix=".zip")[1])
    with open(local, "wb") as out:
        size = storage.head(zips[0]) or 0
        for block in storage.iter_range(zips[0], 0, size):
            out.write(block)
    return local


def _safe(path: str) -> str:
    """A ClearML relative path as a relative local path; anything that climbs out is refused."""
    normal = posixpath.normpath(path.lstrip("/"))
    if normal.startswith("../") or normal == ".." or "\0" in normal:
        raise IntegrityError(f"ClearML path {path!r} climbs out of the dataset; not imported", object_key="",
                             content_hash="", dataset_path=path)
    return normal
