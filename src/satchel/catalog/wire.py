"""Catalog records as JSON, the form the satchel server's API sends and receives them in.

Decoding is validation: whatever comes over HTTP (a request on the server, a response on the client) is checked
here before it becomes a record: ids are version ids, paths are dataset paths in wire form, numbers are numbers.
"""

from __future__ import annotations

import math
from typing import Any

from satchel.catalog.base import FINAL_STATUSES, STATUS_DRAFT, DraftRow, VersionRecord
from satchel.errors import InvalidArgumentError
from satchel.objects.pathnames import PathError, from_wire, is_valid_id, path_from_wire, to_wire
from satchel.storage.server import is_project_name

_STATUSES = FINAL_STATUSES | {STATUS_DRAFT}


def record_to_json(record: VersionRecord) -> dict[str, Any]:
    return {
        "id": record.id, "project": record.project, "name": record.name, "version": record.version,
        "created_at": record.created_at, "parents": list(record.parents), "tags": list(record.tags),
        "description": record.description, "status": record.status, "archived": record.archived,
        "output_uri": record.output_uri, "storage_url": record.storage_url, "manifest": record.manifest,
        "finalized_at": record.finalized_at, "depth": record.depth, "revision": record.revision,
        "stats": record.stats,
    }


def record_from_json(data: Any) -> VersionRecord:
    """A VersionRecord from JSON; InvalidArgumentError naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidArgumentError("a version record must be a JSON object")
    record = VersionRecord(
        id=_id(data.get("id"), "id"),
        project=check_project(data.get("project")),
        name=_text(data.get("name"), "name", empty=False),
        version=_text(data.get("version"), "version", empty=False),
        created_at=_number(data.get("created_at"), "created_at"),
        parents=tuple(_id(p, "parents") for p in _list(data.get("parents"), "parents")),
        tags=tuple(_text(t, "tags") for t in _list(data.get("tags"), "tags")),
        description=_text(data.get("description", ""), "description"),
        status=_text(data.get("status", STATUS_DRAFT), "status"),
        archived=bool(data.get("archived", False)),
        output_uri=_optional_text(data.get("output_uri"), "output_uri"),
        storage_url=_optional_text(data.get("storage_url"), "storage_url"),
        manifest=_optional_hash(data.get("manifest"), "manifest"),
        finalized_at=None if data.get("finalized_at") is None else _number(data["finalized_at"], "finalized_at"),
        depth=int(_number(data.get("depth", 0), "depth")),
        revision=int(_number(data.get("revision", 0), "revision")),
        stats=dict(data["stats"]) if isinstance(data.get("stats"), dict) else {},
    )
    if record.status not in _STATUSES:
        raise InvalidArgumentError(f"status {record.status!r} is not one of {sorted(_STATUSES)}")
    return record


def row_to_json(row: DraftRow) -> dict[str, Any]:
    return {"path": to_wire(row.path), "hash": row.hash, "size": row.size,
            "source": None if row.source is None else to_wire(row.source), "link": row.link}


def row_from_json(data: Any) -> DraftRow:
    """A DraftRow from JSON (path and source in wire form); InvalidArgumentError when a field is bad."""
    if not isinstance(data, dict):
        raise InvalidArgumentError("a pending change must be a JSON object")
    wire = _text(data.get("path"), "path", empty=False)
    try:
        path = path_from_wire(wire)
    except PathError as exc:
        raise InvalidArgumentError(f"pending change path {wire!r}: {exc}") from exc
    source = _optional_text(data.get("source"), "source")
    size = int(_number(data.get("size", 0), "size"))
    if size < 0:
        raise InvalidArgumentError(f"pending change {wire!r}: negative size {size}")
    return DraftRow(path, _optional_hash(data.get("hash"), "hash"), size,
                    None if source is None else from_wire(source), _optional_text(data.get("link"), "link"))


def _id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not is_valid_id(value):
        raise InvalidArgumentError(f"{field}: {value!r} is not a version id (letters, digits, _ and -)")
    return value


def _optional_hash(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InvalidArgumentError(f"{field}: {value!r} is not a content hash (64 lowercase hex digits)")
    return value


def _text(value: Any, field: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value) or "\x00" in value:
        raise InvalidArgumentError(f"{field}: expected {'a non-empty' if not empty else 'a'} string without NUL, "
                                   f"got {value!r}")
    return value


def _optional_text(value: Any, field: str) -> str | None:
    return None if value is None else _text(value, field)


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or abs(value) >= 2**62:
        raise InvalidArgumentError(f"{field}: expected a finite number below 2**62, got {value!r}")
    return float(value)


def check_project(value: Any, field: str = "project") -> str:
    """A project name: '/'-separated non-empty parts, none of them '.' or '..', no control characters."""
    text = _text(value, field, empty=False)
    if not is_project_name(text):
        raise InvalidArgumentError(f"{field} {text[:100]!r} is not a project name: use '/'-separated names such as "
                                   "'vision' or 'vision/cats' (no empty, '.' or '..' parts)")
    return text


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgumentError(f"{field}: expected a list, got {type(value).__name__}")
    return value
