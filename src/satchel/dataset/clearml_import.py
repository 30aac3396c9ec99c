"""Bringing ClearML datasets along: ``satchel import-clearml SOURCE``.

ClearML stores each dataset version under ``<output_uri>/<project>/.datasets/<name>/<name>.<id>/artifacts/``: a
``state/state.json`` (every file's relative path, SHA-256, size, and the version and zip chunk holding it; the
parents in ``dependency_graph``) and ``<chunk>/dataset.<id>.<random>.zip`` chunks. The import reads those
(from a folder or any storage URL satchel knows), parents first, and makes the same versions here under the
same ids and names: each version's changes against its parents are taken from the chunks, every file checked
against ClearML's SHA-256 before it is added, then uploaded (deduplicated as usual) and finalized. A version
already in the catalog is skipped, so re-running imports only what is new.

What ClearML keeps on its server and not with the data (version strings, tags, description, metadata) is not
in SOURCE: versions are numbered per dataset in lineage order (1.0.0, 1.0.1, ...), in ClearML's own way.
External links in ClearML states are not imported (they are reported).
"""

from __future__ import annotations

import hashlib
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

from satchel.catalog import VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.versions import next_version
from satchel.dataset.view import merge_views
from satchel.errors import DatasetNotFoundError, IntegrityError, InvalidArgumentError
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
    links: int = 0


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    links_not_imported: int = 0


def import_clearml(ctx: Context, source: str, project: str | None = None) -> ImportReport:
    """Import every ClearML dataset version stored under ``source`` (only ``project`` and its sub-projects when
    given) into ``ctx``'s catalog; see the module docs."""
    storage = open_storage(source, options=ctx.settings.storage_options)
    found = _scan(storage, project)
    if not found:
        raise InvalidArgumentError(f"no ClearML dataset under {source}" + (f" in project {project!r}" if project
                                   else "") + ": point at the output_uri ClearML uploaded to (the folder that holds "
                                   "<project>/.datasets/)")
    report = ImportReport()
    with tempfile.TemporaryDirectory(prefix="satchel-clearml-") as scratch:
        for version in _parents_first(found):
            if _exists(ctx, version.id):
                report.skipped.append(version.id)
                continue
            _import_one(ctx, storage, found, version, Path(scratch))
            report.imported.append(version.id)
            report.links_not_imported += version.links
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
                                           len(state.get("dataset_link_entries") or []))
    return found


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
    try:
        ctx.catalog.get_version(version_id)
    except DatasetNotFoundError:
        return False
    return True


def _import_one(ctx: Context, storage: Storage, found: dict[str, ClearmlVersion], version: ClearmlVersion,
                scratch: Path) -> None:
    from satchel.dataset.dataset import Dataset

    missing = [p for p in version.parents if not _exists(ctx, p)]
    if missing:
        raise DatasetNotFoundError(f"ClearML dataset {version.id} has parent {missing[0]}, which is neither under "
                                   "SOURCE nor in this catalog; import the parent's store first")
    parents_view = merge_views(ctx.views.view(ctx.catalog.get_version(p)) for p in version.parents)
    parent_hashes = _clearml_hashes(found, version.parents)
    changed = {p: e for p, e in version.files.items() if parent_hashes.get(p) != e["hash"]}
    removed = sorted(set(parents_view) - set(version.files))
    folder = scratch / version.id
    _extract(storage, found, changed, folder)
    existing = [r.version for r in ctx.catalog.find_versions(project=version.project, name=version.name)]
    record = VersionRecord(id=version.id, project=version.project, name=version.name,
                           version=next_version(existing), created_at=time.time(), parents=tuple(version.parents),
                           description=f"imported from ClearML dataset {version.id}")
    ctx.catalog.create_version(record)
    ds = Dataset(ctx.catalog.get_version(version.id), ctx)
    for path in removed:
        ds.remove_files(path)
    if changed:
        ds.add_files(folder)
    ds.upload(show_progress=False)
    ds.finalize()
    log.info("imported ClearML dataset %s/%s %s as v%s: %d file(s) added or changed, %d removed", version.project,
             version.name, version.id, record.version, len(changed), len(removed))


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
