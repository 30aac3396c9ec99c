"""The data of every web UI page, as JSON: the pages' twins under ``/api/v1/browse``.

Each function takes the server state, the caller's token and the page's parameters, and returns the JSON body of
one page. The HTML page renders exactly that body (``satchel.ui``), so a page and its twin never disagree and the
UI has no data path of its own. What a token may not see is absent: versions of other projects are left out of
listings and are "not found" by id.

Finalized views are immutable, so views and per-folder listings are memoized (a few versions at a time): the first
request for a version loads its manifests, later pages and sorts of it are answered from memory.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from satchel.catalog.base import STATUS_COMPLETED, STATUS_DRAFT, STATUS_PUBLISHED, VersionRecord
from satchel.catalog.tokens import TokenInfo
from satchel.catalog.wire import record_to_json
from satchel.dataset.listing import Listing, build_listing
from satchel.dataset.view import View, ViewLoader, diff_views, merge_views
from satchel.errors import DatasetNotFoundError, InvalidArgumentError, SatchelError
from satchel.objects import ManifestEntry
from satchel.objects.packs import pack_key
from satchel.server.actions import readable
from satchel.server.auth import require_role, visible
from satchel.server.state import ServerState

REPORT_PREFIX = "satchel.report."
STATUSES = (STATUS_DRAFT, STATUS_COMPLETED, STATUS_PUBLISHED, "archived")
SORT_KEYS = ("path", "size", "hash", "origin")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_FOLDERS_SHOWN = 1000
DELETE_PLAN_MAX_VERSIONS = 200


class Browser:
    """Views and listings of one server process, memoized per finalized version."""

    def __init__(self, state: ServerState, keep: int = 3) -> None:
        self.state = state
        self.views = ViewLoader(state.catalog, state.content_store, keep=keep)
        self.keep = keep
        self._listings: OrderedDict[str, Listing] = OrderedDict()
        self._building: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def view(self, record: VersionRecord) -> View:
        return self.views.view(record)

    def parents_view(self, record: VersionRecord) -> View:
        return merge_views(self.views.view(self.state.catalog.get_version(p)) for p in record.parents)

    def listing(self, record: VersionRecord) -> Listing:
        """The version's folder index (built once per finalized version; a request that arrives while it is being
        built waits for that build instead of starting another)."""
        if not record.is_final:
            return build_listing(self.view(record))
        with self._lock:
            if record.id in self._listings:
                self._listings.move_to_end(record.id)
                return self._listings[record.id]
            building = self._building.setdefault(record.id, threading.Lock())
        with building:
            with self._lock:
                if record.id in self._listings:
                    return self._listings[record.id]
            try:
                built = build_listing(self.view(record))
            finally:
                with self._lock:
                    self._building.pop(record.id, None)
            with self._lock:
                self._listings[record.id] = built
                while len(self._listings) > self.keep:
                    self._listings.popitem(last=False)
        return built

    def prefetch(self, record: VersionRecord) -> None:
        """Load a finalized version's view and folder index in the background (the version page does this, so
        its content page answers at once). At most one prefetch runs at a time; errors surface on the request
        that needs the view."""
        if not record.is_final:
            return
        with self._lock:
            if record.id in self._listings or record.id in self._building or _prefetching.locked():
                return

        def run() -> None:
            if not _prefetching.acquire(blocking=False):
                return
            try:
                with contextlib.suppress(Exception):  # the request that needs the view reports the error
                    self.listing(record)
            finally:
                _prefetching.release()

        threading.Thread(target=run, name=f"prefetch-{record.id[:8]}", daemon=True).start()


_prefetching = threading.Lock()


def browser(state: ServerState) -> Browser:
    found: Browser | None = getattr(state, "browser", None)
    if found is None:
        found = Browser(state)
        state.browser = found  # type: ignore[attr-defined]
    return found


def _visible_records(state: ServerState, token: TokenInfo) -> list[VersionRecord]:
    return [r for r in state.catalog.find_versions() if visible(token, r)]


def _status_of(record: VersionRecord) -> str:
    return "archived" if record.archived else record.status


def _summary(record: VersionRecord) -> dict[str, Any]:
    """The fields every listing shows of a version."""
    stats = record.stats or {}
    return {"id": record.id, "project": record.project, "name": record.name, "version": record.version,
            "status": record.status, "archived": record.archived, "tags": list(record.tags),
            "created_at": record.created_at, "finalized_at": record.finalized_at,
            "file_count": stats.get("file_count"), "total_size": stats.get("total_size"),
            "stored_size": stats.get("stored_size")}


def _updated(record: VersionRecord) -> float:
    return record.finalized_at or record.created_at


# -- projects and datasets --------------------------------------------------------------------------
def projects_page(state: ServerState, token: TokenInfo, search: str = "") -> dict[str, Any]:
    """Projects as a tree (each with its parents, so nesting shows) with their dataset and version counts, last
    update and tags; ``search`` (any case) lists the datasets whose project or name contains it."""
    records = _visible_records(state, token)
    projects: dict[str, dict[str, Any]] = {}
    for record in records:
        parts = record.project.split("/")
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            projects.setdefault(name, {"project": name, "depth": depth - 1, "datasets": set(), "versions": 0,
                                       "updated": None, "tags": set(), "all_datasets": set()})
            projects[name]["all_datasets"].add((record.project, record.name))
        entry = projects[record.project]
        entry["datasets"].add(record.name)
        entry["versions"] += 1
        entry["tags"].update(record.tags)
        entry["updated"] = max(entry["updated"] or 0.0, _updated(record))
    rows = [{"project": p["project"], "depth": p["depth"], "name": p["project"].rpartition("/")[2],
             "datasets": len(p["datasets"]), "datasets_with_subprojects": len(p["all_datasets"]),
             "versions": p["versions"], "updated": p["updated"], "tags": sorted(p["tags"])}
            for _, p in sorted(projects.items(), key=lambda item: item[0].split("/"))]
    needle = search.strip().lower()
    matches: list[dict[str, Any]] = []
    if needle:
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        for record in records:
            if needle in record.project.lower() or needle in record.name.lower():
                key = (record.project, record.name)
                entry = seen.setdefault(key, {"project": record.project, "name": record.name, "versions": 0,
                                              "updated": 0.0})
                entry["versions"] += 1
                entry["updated"] = max(entry["updated"], _updated(record))
        matches = [seen[k] for k in sorted(seen)]
    return {"projects": rows, "search": search, "matches": matches, "total": len(rows)}


def datasets_page(state: ServerState, token: TokenInfo, project: str, tags: Iterable[str] = (),
                  tag_mode: str = "any", statuses: Iterable[str] = ()) -> dict[str, Any]:
    """The datasets of one project (not its sub-projects, which are listed as such) with their version counts,
    latest version, tags and last update, filtered by tag (``tag_mode``: any, all or not) and status (draft,
    completed, published, archived; without a status filter archived versions are left out, as ClearML does)."""
    if tag_mode not in ("any", "all", "not"):
        raise InvalidArgumentError(f"tag_mode={tag_mode!r}: use any, all or not")
    wanted_tags = [t for t in tags if t]
    wanted_statuses = [s for s in statuses if s]
    unknown = sorted(set(wanted_statuses) - set(STATUSES))
    if unknown:
        raise InvalidArgumentError(f"status {unknown}: use {', '.join(STATUSES)}")
    visible_records = _visible_records(state, token)  # one catalog read for both
    records = [r for r in visible_records if r.project == project]
    subprojects = sorted({r.project for r in visible_records if r.project.startswith(project + "/")})
    if not records and not subprojects:
        raise DatasetNotFoundError(f"no project {project!r} (or none this token may see); the projects page lists "
                                   "them")

    def keep(record: VersionRecord) -> bool:
        if wanted_statuses:
            if _status_of(record) not in wanted_statuses and record.status not in wanted_statuses:
                return False
        elif record.archived:
            return False
        if not wanted_tags:
            return True
        have = set(record.tags)
        if tag_mode == "all":
            return set(wanted_tags) <= have
        if tag_mode == "not":
            return not (set(wanted_tags) & have)
        return bool(set(wanted_tags) & have)

    by_name: dict[str, list[VersionRecord]] = {}
    for record in records:
        by_name.setdefault(record.name, [])
        if keep(record):
            by_name[record.name].append(record)
    rows = []
    for name, versions in sorted(by_name.items()):
        if not versions:
            continue
        latest = max(versions, key=lambda r: (r.created_at, r.id))
        rows.append({"name": name, "project": project, "versions": len(versions), "latest": _summary(latest),
                     "tags": sorted({t for r in versions for t in r.tags}),
                     "updated": max(_updated(r) for r in versions)})
    all_tags = sorted({t for r in records for t in r.tags})
    return {"project": project, "datasets": rows, "total": len(rows), "subprojects": subprojects,
            "filters": {"tags": wanted_tags, "tag_mode": tag_mode, "statuses": wanted_statuses},
            "all_tags": all_tags, "all_statuses": list(STATUSES)}


def versions_page(state: ServerState, token: TokenInfo, project: str, name: str) -> dict[str, Any]:
    """Every version of one dataset, newest first."""
    records = [r for r in state.catalog.find_versions(project=project, name=name) if visible(token, r)]
    if not records:
        raise DatasetNotFoundError(f"no dataset {project}/{name} (or none this token may see)")
    records.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return {"project": project, "name": name, "versions": [_summary(r) for r in records], "total": len(records),
            "can_write": token.can("writer")}


# -- one version ---------------------------------------------------------------------------------------
def version_page(state: ServerState, token: TokenInfo, version_id: str) -> dict[str, Any]:
    """Everything the version page shows: record, sizes and counts, changes against its parents with their size,
    metadata and reports decoded, where it is stored, how to get it, and what the token may do with it."""
    record = readable(state, token, version_id)
    stats = dict(record.stats or {})
    changes: dict[str, Any] = {k: stats.get(k) for k in ("added", "modified", "removed", "added_bytes",
                                                          "modified_bytes", "removed_bytes")}
    content_error = None
    if not record.is_final or not stats:
        try:
            found = browser(state)
            view, parents_view = found.view(record), found.parents_view(record)
            added, modified, removed = diff_views(parents_view, view)
            stats.update(file_count=len(view), total_size=sum(e.size for e in view.values()),
                         link_count=sum(1 for e in view.values() if e.link))
            changes = {"added": len(added), "modified": len(modified), "removed": len(removed),
                       "added_bytes": sum(view[p].size for p in added),
                       "modified_bytes": sum(view[p].size for p in modified),
                       "removed_bytes": sum(parents_view[p].size for p in removed)}
        except SatchelError as exc:
            content_error = str(exc)
    changes["size_change"] = _size_change(state, record, stats.get("total_size"))
    parents = [_link_of(state, token, p) for p in record.parents]
    children = [_link_of(state, token, c) for c in state.catalog.children_of(record.id)]
    children = [c for c in children if c["visible"]]
    metadata, reports = _metadata(state, record.id)
    browser(state).prefetch(record)
    writer = token.can("writer")
    return {
        "version": {**record_to_json(record), "status": record.status},
        "stats": {k: stats.get(k) for k in ("file_count", "link_count", "total_size", "stored_size")},
        "changes": changes, "parents": parents, "children": children, "metadata": metadata, "reports": reports,
        "storage_url": record.storage_url or record.output_uri,
        "code": {"python": f'from satchel import Dataset\n\nds = Dataset.get(dataset_id="{record.id}")\n'
                           "folder = ds.get_local_copy()",
                 "cli": f"satchel get --id {record.id}"},
        "actions": {"edit": writer, "publish": writer and record.status == STATUS_COMPLETED,
                    "archive": writer and not record.archived, "unarchive": writer and record.archived,
                    "rename": writer, "delete": writer},
        "content_error": content_error,
    }


def _size_change(state: ServerState, record: VersionRecord, total: int | None) -> int | None:
    """The version's size minus its parents' merged size (None when a size is not known here)."""
    if total is None:
        return None
    if not record.parents:
        return int(total)
    if len(record.parents) == 1:
        parent_total = (state.catalog.get_version(record.parents[0]).stats or {}).get("total_size")
        if parent_total is not None:
            return int(total) - int(parent_total)
    try:
        return int(total) - sum(e.size for e in browser(state).parents_view(record).values())
    except SatchelError:
        return None


def _link_of(state: ServerState, token: TokenInfo, version_id: str) -> dict[str, Any]:
    try:
        record = state.catalog.get_version(version_id)
    except DatasetNotFoundError:
        return {"id": version_id, "visible": False}
    if not visible(token, record):
        return {"id": version_id, "visible": False}
    return {**_summary(record), "visible": True}


def _metadata(state: ServerState, version_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    metadata, reports = [], []
    for name in state.catalog.list_metadata(version_id, ""):
        found = state.catalog.get_metadata(version_id, name)
        if found is None:
            continue
        kind, content = found
        if name.startswith(REPORT_PREFIX):
            reports.append(_report(name, content))
        else:
            metadata.append({"name": name, **_metadata_value(kind, content)})
    reports.sort(key=lambda r: (str(r.get("title")), str(r.get("series")), r.get("iteration") or 0))
    return metadata, reports


def _metadata_value(kind: str, content: bytes) -> dict[str, Any]:
    """A metadata blob as the page shows it: a JSON tree, a table (columns and rows) or an array's shape."""
    try:
        if kind == "json":
            return {"kind": "json", "value": _bounded(json.loads(content))}
        if kind == "pandas":  # pandas' orient="table": {"schema": {"fields": [...]}, "data": [{...}, ...]}
            table = json.loads(content)
            columns = [str(f.get("name")) for f in table.get("schema", {}).get("fields", [])]
            rows = [[row.get(c) for c in columns] for row in table.get("data", [])[:1000]]
            return {"kind": "table", "columns": columns, "rows": rows, "total_rows": len(table.get("data", []))}
        if kind == "numpy":
            return {"kind": "array", **_npy_header(content)}
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        return {"kind": "unreadable", "error": f"cannot decode this {kind} metadata: {exc}"}
    return {"kind": "unknown", "error": f"metadata kind {kind!r} is unknown to this satchel"}


MAX_DEPTH = 24
MAX_ITEMS = 2000


def _bounded(value: Any, depth: int = 0) -> Any:
    """A JSON value cut to what a page shows: at most MAX_DEPTH levels and MAX_ITEMS items per level (deeper or
    further parts are replaced by a note)."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return "… (nested deeper than a page shows)"
        items = list(value.items())
        cut = {str(k): _bounded(v, depth + 1) for k, v in items[:MAX_ITEMS]}
        if len(items) > MAX_ITEMS:
            cut["…"] = f"{len(items) - MAX_ITEMS} more"
        return cut
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return "… (nested deeper than a page shows)"
        return [_bounded(v, depth + 1) for v in value[:MAX_ITEMS]] + \
            ([f"… {len(value) - MAX_ITEMS} more"] if len(value) > MAX_ITEMS else [])
    return value


def _npy_header(content: bytes) -> dict[str, Any]:
    """Shape and dtype from a ``.npy`` header (read as a literal, never executed)."""
    import ast

    if not content.startswith(b"\x93NUMPY") or len(content) < 10:
        raise ValueError("not a .npy array")
    major = content[6]
    header_len = int.from_bytes(content[8:10], "little") if major == 1 else int.from_bytes(content[8:12], "little")
    start = 10 if major == 1 else 12
    header = ast.literal_eval(content[start : start + header_len].decode("latin1"))
    return {"shape": list(header.get("shape", ())), "dtype": str(header.get("descr")), "bytes": len(content)}


def _report(name: str, content: bytes) -> dict[str, Any]:
    try:
        report: dict[str, Any] = _bounded(json.loads(content))
    except (ValueError, RecursionError):
        report = {}
    if not isinstance(report, dict) or not isinstance(report.get("type"), str):
        return {"name": name, "type": "unreadable", "title": "a report satchel cannot read", "details": {}}
    report["name"] = name
    if report.get("type") in ("image", "media") and isinstance(report.get("data"), str):
        media_type = str(report.get("media_type") or "application/octet-stream")
        safe = media_type.startswith(("image/png", "image/jpeg", "image/gif", "image/webp", "audio/", "video/"))
        report["data_url"] = f"data:{media_type};base64,{report['data']}" if safe else None
        report["data"] = None
    shown = ("name", "type", "title", "series", "iteration", "created", "data", "data_url", "media_type",
             "message", "level", "columns", "rows", "file_name")
    report["details"] = {k: v for k, v in report.items() if k not in shown}
    return report


# -- lineage -------------------------------------------------------------------------------------------
def lineage_page(state: ServerState, token: TokenInfo, version_id: str) -> dict[str, Any]:
    """The version's ancestors and its children as a layered DAG: nodes (with their layer and row), edges from
    parent to child. Versions the token may not see appear as hidden nodes, without names."""
    record = readable(state, token, version_id)
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []
    pending = [record.id]
    while pending and len(nodes) < 500:
        current = pending.pop()
        if current in nodes:
            continue
        link = _link_of(state, token, current)
        nodes[current] = link
        if link["visible"]:
            for parent in state.catalog.get_version(current).parents:
                edges.append((parent, current))
                pending.append(parent)
    for child in state.catalog.children_of(record.id):
        link = _link_of(state, token, child)
        if link["visible"]:
            nodes.setdefault(child, link)
            edges.append((record.id, child))
    layers = _layers(list(nodes), edges)
    rows: dict[int, int] = {}
    for node_id in sorted(nodes, key=lambda n: (layers[n], nodes[n].get("created_at") or 0.0, n)):
        nodes[node_id]["layer"] = layers[node_id]
        nodes[node_id]["row"] = rows.get(layers[node_id], 0)
        nodes[node_id]["current"] = node_id == record.id
        rows[layers[node_id]] = nodes[node_id]["row"] + 1
    return {"version": record.id, "nodes": list(nodes.values()),
            "edges": [{"parent": a, "child": b} for a, b in sorted(set(edges))]}


def _layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each node's layer: one more than its deepest parent (roots are 0), found in topological order (Kahn's
    algorithm, no recursion); nodes left in a loop (hostile rows) go after the rest."""
    parents: dict[str, set[str]] = {n: set() for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for parent, child in edges:
        if parent in parents and child in parents and parent != child:
            parents[child].add(parent)
            children[parent].append(child)
    waiting = {n: len(p) for n, p in parents.items()}
    ready = [n for n in nodes if waiting[n] == 0]
    layer: dict[str, int] = {}
    while ready:
        node = ready.pop()
        layer[node] = 1 + max((layer[p] for p in parents[node]), default=-1)
        for child in children[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    deepest = max(layer.values(), default=-1)
    for node in nodes:
        layer.setdefault(node, deepest + 1)
    return layer


# -- content -------------------------------------------------------------------------------------------
def _entry_json(path: str, entry: ManifestEntry, origins: dict[str, str | None]) -> dict[str, Any]:
    return {"path": path, "name": path.rpartition("/")[2], "size": entry.size, "hash": entry.hash,
            "origin": entry.origin, "origin_version": origins.get(entry.origin),
            "link": entry.link.partition("\n")[0] if entry.link else None}


def _origin_versions(state: ServerState, token: TokenInfo, ids: Iterable[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for origin in set(ids):
        link = _link_of(state, token, origin)
        found[origin] = link.get("version") if link["visible"] else None
    return found


def files_page(state: ServerState, token: TokenInfo, version_id: str, folder: str = "", sort: str = "path",
               order: str = "asc", offset: int = 0, limit: int = DEFAULT_LIMIT, search: str = "") -> dict[str, Any]:
    """One page of the files directly in ``folder`` ('' is the root) with its sub-folders, sorted by ``sort``
    (path, size, hash, origin) in ``order``; with ``search``, the files anywhere in the version whose path
    contains it (any case) instead. Paged by the server: ``next_offset`` is null on the last page."""
    if sort not in SORT_KEYS or order not in ("asc", "desc"):
        raise InvalidArgumentError(f"sort must be one of {', '.join(SORT_KEYS)} and order asc or desc")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise InvalidArgumentError(f"limit must be 1 to {MAX_LIMIT} and offset 0 or more")
    folder = folder.strip("/")
    record = readable(state, token, version_id)
    found = browser(state)
    view = found.view(record)
    listing = found.listing(record)
    if search:
        needle = search.lower()
        paths = [p for p in listing.paths if needle in p.lower()]
        folders: list[str] = []
    else:
        if folder and folder not in listing.folders.get(folder.rpartition("/")[0], ()):
            raise DatasetNotFoundError(f"dataset {version_id} has no folder {folder!r}")
        paths = listing.files.get(folder, [])
        folders = listing.folders.get(folder, [])
    ordered = _sorted(listing, view, (folder, search), paths, sort)
    total = len(ordered)
    if order == "desc":
        start = max(total - offset - limit, 0)
        page = list(reversed(ordered[start : total - offset])) if offset < total else []
    else:
        page = ordered[offset : offset + limit]
    origins = _origin_versions(state, token, (view[p].origin for p in page))
    crumbs = [{"name": part, "folder": "/".join(folder.split("/")[: i + 1])}
              for i, part in enumerate(folder.split("/")) if folder]
    return {"version": version_id, "folder": folder, "breadcrumbs": crumbs, "search": search,
            "folders": [{"folder": f, "name": f.rpartition("/")[2]} for f in folders[:MAX_FOLDERS_SHOWN]],
            "folder_count": len(folders),
            "files": [_entry_json(p, view[p], origins) for p in page], "total": total, "offset": offset,
            "limit": limit, "next_offset": offset + limit if offset + limit < total else None, "sort": sort,
            "order": order, "version_file_count": len(view)}


def _sorted(listing: Listing, view: View, scope: tuple[str, str], paths: list[str], sort: str) -> list[str]:
    if sort == "path":
        return paths
    key = (f"{scope[0]}\0{scope[1]}", sort)
    cached = listing.sorted_by.get(key)
    if cached is None:
        field_of = {"size": lambda p: (view[p].size, p), "hash": lambda p: (view[p].hash, p),
                    "origin": lambda p: (view[p].origin, p)}[sort]
        cached = sorted(paths, key=field_of)
        if len(listing.sorted_by) > 16:
            listing.sorted_by.clear()
        listing.sorted_by[key] = cached
    return cached


def entry_of(state: ServerState, token: TokenInfo, version_id: str, path: str
             ) -> tuple[VersionRecord, ManifestEntry]:
    """The version's record and its entry at ``path`` (DatasetNotFoundError when there is none)."""
    record = readable(state, token, version_id)
    view = browser(state).view(record)
    entry = view.get(path.strip("/"))
    if entry is None:
        raise DatasetNotFoundError(f"dataset {version_id} has no file {path!r}; its content page lists them",
                                   dataset_id=version_id)
    return record, entry


# -- compare -------------------------------------------------------------------------------------------
CHANGES = ("added", "modified", "removed")


def compare_page(state: ServerState, token: TokenInfo, a: str, b: str, changes: Iterable[str] = (),
                 search: str = "", offset: int = 0, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The files added, modified and removed going from version ``a`` to version ``b`` (any two versions),
    with both sizes; filtered by kind of change and by a path substring; paged."""
    wanted = [c for c in changes if c] or list(CHANGES)
    if set(wanted) - set(CHANGES):
        raise InvalidArgumentError(f"change must be among {', '.join(CHANGES)}")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise InvalidArgumentError(f"limit must be 1 to {MAX_LIMIT} and offset 0 or more")
    old_record, new_record = readable(state, token, a), readable(state, token, b)
    found = browser(state)
    old, new = found.view(old_record), found.view(new_record)
    added, modified, removed = diff_views(old, new)
    summary = {"added": len(added), "modified": len(modified), "removed": len(removed),
               "added_bytes": sum(new[p].size for p in added),
               "modified_bytes": sum(new[p].size - old[p].size for p in modified),
               "removed_bytes": sum(old[p].size for p in removed),
               "unchanged": len(new) - len(added) - len(modified)}
    rows = []
    needle = search.lower()
    for change, paths in (("added", added), ("modified", modified), ("removed", removed)):
        if change not in wanted:
            continue
        for path in paths:
            if needle and needle not in path.lower():
                continue
            rows.append((path, change))
    rows.sort()
    page = rows[offset : offset + limit]
    items = [{"path": p, "change": c, "size_a": old[p].size if p in old else None,
              "size_b": new[p].size if p in new else None, "hash_a": old[p].hash if p in old else None,
              "hash_b": new[p].hash if p in new else None} for p, c in page]
    return {"a": _summary(old_record), "b": _summary(new_record), "summary": summary, "items": items,
            "total": len(rows), "offset": offset, "limit": limit,
            "next_offset": offset + limit if offset + limit < len(rows) else None,
            "filters": {"changes": wanted, "search": search}}


# -- delete ----------------------------------------------------------------------------------------------
def delete_plan(state: ServerState, token: TokenInfo, version_id: str) -> dict[str, Any]:
    """What deleting the version does (a writer's question): whether it is allowed now (children block it), and
    the stored bytes the next ``satchel gc --free`` frees: the packs holding nothing another version of its store
    uses (gc keeps a pack whole while any entry in it is used). None when too many versions share the store to
    tell here."""
    record = readable(state, token, version_id)
    require_role(token, "writer", "delete datasets")
    children = [_link_of(state, token, c) for c in state.catalog.children_of(version_id)]
    visible_children = [c for c in children if c["visible"]]
    frees: int | None = None
    packs_freed: int | None = None
    note = None
    if record.storage_url and record.is_final:
        others = [r for r in state.catalog.find_versions() if r.storage_url == record.storage_url
                  and r.id != record.id]
        if len(others) > DELETE_PLAN_MAX_VERSIONS:
            note = (f"{len(others)} other versions share its store; `satchel gc --dry-run` tells what the next "
                    "collection frees")
        else:
            try:
                frees, packs_freed = _packs_only_in(state, record, others)
            except SatchelError as exc:
                note = f"cannot tell what it frees: {exc}"
    return {"version": _summary(record), "children": visible_children,
            "hidden_children": len(children) - len(visible_children), "blocked": bool(children),
            "published": record.status == STATUS_PUBLISHED, "frees_bytes": frees, "frees_packs": packs_freed,
            "note": note}


def _packs_only_in(state: ServerState, record: VersionRecord, others: list[VersionRecord]) -> tuple[int, int]:
    """(bytes, count) of the packs of ``record``'s view that no entry of ``others`` uses."""
    found = browser(state)
    candidates = {e.pack for e in found.view(record).values() if e.pack and not e.link}
    for other in others:
        other_view = found.view(other) if other.is_final else _draft_view(found, other)
        candidates -= {e.pack for e in other_view.values() if e.pack}
        if not candidates:
            return 0, 0
    store = state.content_store(str(record.storage_url), record.id)
    sizes = [store.storage.head(pack_key(p)) for p in sorted(candidates)]
    return sum(s or 0 for s in sizes), sum(1 for s in sizes if s is not None)


def _draft_view(found: Browser, record: VersionRecord) -> View:
    try:
        return found.view(record)
    except SatchelError:
        return {}
