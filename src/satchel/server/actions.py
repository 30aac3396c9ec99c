"""The changes a token may make to the catalog, shared by the JSON API and the web UI's forms.

Each function checks the token first (role, then project), then changes the catalog; a version the token may not
see is "not found". The API routes and the UI's POST handlers call these same functions, so a change the UI
offers is exactly the change the API allows.
"""

from __future__ import annotations

import logging
from typing import Any

from satchel.catalog.base import STATUS_PUBLISHED, VersionRecord
from satchel.catalog.tokens import ROLES, TokenInfo
from satchel.catalog.wire import check_project, record_to_json
from satchel.errors import ConflictError, DatasetNotFoundError, InvalidArgumentError, SatchelError
from satchel.objects.refs import delete_refs
from satchel.server.auth import not_found, require_project, require_role, visible
from satchel.server.move import copy_for_move
from satchel.server.state import ServerState

log = logging.getLogger("satchel.server")
EDITABLE = ("archived", "description", "tags", "version")


def readable(state: ServerState, token: TokenInfo, version_id: str) -> VersionRecord:
    """The version's record, when the token may see it (else the same "not found" as a missing version)."""
    record = state.catalog.get_version(version_id)
    if not visible(token, record):
        raise not_found(version_id)
    return record


def writable(state: ServerState, token: TokenInfo, version_id: str, action: str) -> VersionRecord:
    record = readable(state, token, version_id)
    require_role(token, "writer", action)
    return record


def publish(state: ServerState, token: TokenInfo, version_id: str) -> dict[str, Any]:
    """completed -> published."""
    writable(state, token, version_id, "publish datasets")
    state.catalog.publish_version(version_id)
    return record_to_json(state.catalog.get_version(version_id))


def update(state: ServerState, token: TokenInfo, version_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Change ``tags`` (list of strings), ``description``, ``archived`` (bool) or ``version``."""
    writable(state, token, version_id, "change datasets")
    fields: dict[str, Any] = {}
    if "tags" in body:
        if not isinstance(body["tags"], list) or not all(isinstance(t, str) for t in body["tags"]):
            raise InvalidArgumentError("tags must be a list of strings")
        fields["tags"] = tuple(body["tags"])
    if "description" in body:
        if not isinstance(body["description"], str):
            raise InvalidArgumentError("description must be a string")
        fields["description"] = body["description"]
    if "archived" in body:
        if not isinstance(body["archived"], bool):
            raise InvalidArgumentError("archived must be true or false")
        fields["archived"] = body["archived"]
    if "version" in body:
        if not isinstance(body["version"], str) or not body["version"].strip() or len(body["version"]) > 200:
            raise InvalidArgumentError("version must be a non-empty string such as '1.2.0'")
        fields["version"] = body["version"].strip()
    unknown = set(body) - set(EDITABLE)
    if unknown:
        raise InvalidArgumentError(f"fields {sorted(unknown)} cannot be edited; editable: {', '.join(EDITABLE)}")
    if fields:
        state.catalog.update_fields(version_id, **fields)
    return record_to_json(state.catalog.get_version(version_id))


def rename(state: ServerState, token: TokenInfo, body: dict[str, Any]) -> dict[str, int]:
    """Move every version of project/name to new_project/new_name (rename and move). Content on the server moves
    to the new project's store (see :mod:`satchel.server.move`)."""
    names = {k: body.get(k) for k in ("project", "name", "new_project", "new_name")}
    if not all(isinstance(v, str) and v.strip() for v in names.values()):
        raise InvalidArgumentError("rename needs project, name, new_project and new_name")
    project, name = str(names["project"]), str(names["name"])
    new_project, new_name = check_project(str(names["new_project"]).strip(), "new_project"), \
        str(names["new_name"]).strip()
    require_role(token, "writer", "rename datasets")
    if not token.grants(project):
        raise DatasetNotFoundError(f"no dataset {project}/{name}; check the project and name")
    require_project(token, new_project, "move datasets into it")
    records = state.catalog.find_versions(project=project, name=name)
    relocated = copy_for_move(state, records, new_project) if new_project != project else {}
    moved = state.catalog.rename_dataset(project, name, new_project=new_project, new_name=new_name)
    for version_id, url in relocated.items():
        state.catalog.relocate(version_id, url)
    return {"moved": moved}


def delete(state: ServerState, token: TokenInfo, ids: list[str]) -> dict[str, int]:
    """Delete version records (all or nothing). The API's low-level delete: the client checks children and
    flattens them first (``Dataset.delete``)."""
    for version_id in ids:
        writable(state, token, version_id, "delete datasets")
    state.catalog.delete_versions(ids)
    return {"deleted": len(ids)}


def delete_checked(state: ServerState, token: TokenInfo, version_id: str, *, published_ok: bool) -> dict[str, Any]:
    """Delete one version as the web UI does: refused while other versions use it as a parent (their files come
    from it), and for a published version unless ``published_ok``. Its refs are dropped from its store, so the
    next ``satchel gc --free`` frees the content no other version uses."""
    record = writable(state, token, version_id, "delete datasets")
    children = state.catalog.children_of(version_id)
    if children:
        shown = [c for c in children if visible(token, state.catalog.get_version(c))]
        example = f", e.g. {shown[0]}" if shown else " (in projects this token does not see)"
        raise ConflictError(f"dataset version {version_id} is a parent of {len(children)} other version(s){example}; "
                            f"delete those first, or run `satchel delete --id {version_id} --force` (the children "
                            "are flattened first and stay readable)")
    if record.status == STATUS_PUBLISHED and not published_ok:
        raise ConflictError(f"dataset version {version_id} is published; confirm that a published version may be "
                            "deleted")
    state.catalog.delete_versions([version_id])
    if record.storage_url:  # after the catalog: a failure here only keeps bytes until the next gc
        try:
            delete_refs(state.content_store(record.storage_url, version_id).storage, version_id)
        except SatchelError as exc:
            log.warning("deleted %s; its refs in %s stay until `satchel gc` (%s)", version_id, record.storage_url,
                        exc)
    return {"deleted": 1, "id": version_id, "project": record.project, "name": record.name}


def create_token(state: ServerState, token: TokenInfo, body: dict[str, Any]) -> dict[str, object]:
    """A new token (admin): ``name``, ``role``, ``projects``, ``expires_at``; its text is in ``token``, once."""
    require_role(token, "admin", "manage tokens")
    name, role = body.get("name"), body.get("role")
    projects, expires = body.get("projects") or [], body.get("expires_at")
    if not isinstance(name, str) or role not in ROLES:
        raise InvalidArgumentError(f"a token needs a name and a role ({', '.join(ROLES)})")
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise InvalidArgumentError("projects must be a list of project names")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, (int, float))):
        raise InvalidArgumentError("expires_at must be a Unix time")
    info, secret = state.tokens.create(name, str(role), projects, expires)
    return {**info.to_json(), "token": secret}


def list_tokens(state: ServerState, token: TokenInfo) -> dict[str, object]:
    require_role(token, "admin", "manage tokens")
    return {"tokens": [t.to_json() for t in state.tokens.list()]}


def revoke_token(state: ServerState, token: TokenInfo, token_id: str) -> dict[str, object]:
    require_role(token, "admin", "manage tokens")
    return state.tokens.revoke(token_id).to_json()
