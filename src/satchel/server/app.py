"""The HTTP API: ``/healthz``, and under ``/api/v1`` the catalog, tokens and the file server.

Each route is a thin map from HTTP to the same catalog and object-store calls embedded mode makes, plus the
token checks of :mod:`satchel.server.auth`. A version a token may not see answers exactly as a missing one (404).
Errors are JSON ``{"error": {"type", "message", "attributes"}}``; satchel errors keep their class name so the
client raises the same class.
"""

import base64
import logging
import time
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from satchel.catalog.base import VersionRecord
from satchel.catalog.tokens import TokenInfo
from satchel.catalog.wire import record_from_json, record_to_json, row_from_json, row_to_json
from satchel.errors import (
    AccessDeniedError,
    ConflictError,
    DatasetNotFoundError,
    DatasetStateError,
    IntegrityError,
    InvalidArgumentError,
    SatchelError,
    StorageError,
    StorageNotFoundError,
    StorageTransientError,
)
from satchel.objects.pathnames import PathError, path_from_wire
from satchel.server import actions, browse_api, files
from satchel.server.auth import (
    Refused,
    authenticate,
    check_storage_url,
    may_read_store,
    require_project,
    require_role,
    visible,
)
from satchel.server.finalize import checked_stats
from satchel.server.state import ServerConfig, ServerState

log = logging.getLogger("satchel.server")


class ErrorDetail(BaseModel):
    type: str
    message: str
    attributes: dict[str, Any] = {}


class ErrorBody(BaseModel):
    """What every refused request answers."""

    error: ErrorDetail


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in [
        (400, "invalid argument"), (401, "no valid token"), (403, "the token may not do this"),
        (404, "not found, or not visible to the token"), (409, "conflict with the version's state"),
        (413, "over the size limit"), (416, "range not satisfiable"), (422, "not verified (hash, manifest, index)"),
        (502, "the server's storage failed"), (503, "the server's storage failed; retrying may help")]}
API = "/api/v1"
MAX_PAGE = 1000


def _token(request: Request, authorization: Annotated[str | None, Header()] = None) -> TokenInfo:
    """The caller's token (401 when missing or not active)."""
    return authenticate(request.app.state.satchel, authorization)


Token = Annotated[TokenInfo, Depends(_token)]


def create_app(config: ServerConfig) -> FastAPI:
    """The ASGI app of one server process on ``config``'s database and storage."""
    state = ServerState(config)
    app = FastAPI(title="satchel", version="1", openapi_url=f"{API}/openapi.json", docs_url=None,
                  redoc_url=None, description="Versioned datasets: catalog, tokens and file server.",
                  responses=_ERROR_RESPONSES)
    app.state.satchel = state
    _errors(app, state)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: answers without a token."""
        return {"status": "ok"}

    _catalog_routes(app, state)
    _token_routes(app, state)
    if not config.personal:  # satchel ui reads the home's own stores; it serves no file server
        _file_routes(app, state)
    browse_api.add_routes(app, state)
    return app


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62


_record = actions.readable
_writable = actions.writable


def _catalog_routes(app: FastAPI, state: ServerState) -> None:
    catalog = state.catalog

    @app.post(f"{API}/versions", status_code=201, tags=["versions"])
    def create_version(token: Token, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Create a draft version (the record's id, project, name, version, parents, tags, ...)."""
        record = record_from_json(body)
        require_role(token, "writer", "create datasets")
        require_project(token, record.project, "create datasets in it")
        for parent in record.parents:
            parent_record = _record(state, token, parent)
            if not parent_record.is_final:
                raise DatasetStateError(f"parent {parent} is not finalized", dataset_id=parent)
        output_uri = check_storage_url(token, record.output_uri) if record.output_uri else None
        fresh = VersionRecord(id=record.id, project=record.project, name=record.name, version=record.version,
                              created_at=time.time(), parents=record.parents, tags=record.tags,
                              description=record.description, output_uri=output_uri)
        try:
            catalog.create_version(fresh)
        except ConflictError:
            taken = catalog.find_versions(project=record.project, name=record.name, version=record.version)
            if taken:  # the caller may see that project: say which version is taken
                raise
            raise ConflictError("this version id is taken; create the version again (a new id is drawn)") from None
        return record_to_json(fresh)

    @app.get(f"{API}/versions/{{version_id}}", tags=["versions"])
    def get_version(token: Token, version_id: str) -> dict[str, Any]:
        """One version's record."""
        return record_to_json(_record(state, token, version_id))

    @app.get(f"{API}/versions", tags=["versions"])
    def find_versions(token: Token, project: str | None = None, name: str | None = None,
                      version: str | None = None, tag: Annotated[list[str] | None, Query()] = None,
                      status: Annotated[list[str] | None, Query()] = None, include_archived: bool = True,
                      search: str | None = None, offset: Annotated[int, Query(ge=0, le=2**53)] = 0,
                      limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100) -> dict[str, Any]:
        """Versions matching every filter (all ``tag``s, any ``status``; ``search``: a substring of project or
        name), oldest first, one page at a time: ``next_offset`` is null on the last page."""
        statuses = [s for s in status if s] if status is not None else None
        within = list(token.projects) if token.projects else None
        if tag:  # tags are filtered here (a JSON column); everything else by the database, a page at a time
            records = [r for r in catalog.find_versions(project=project, name=name, version=version, tags=tag,
                                                        statuses=statuses, include_archived=include_archived)
                       if visible(token, r) and (not search or search.lower() in f"{r.project}\0{r.name}".lower())]
            page, total = records[offset : offset + limit], len(records)
        else:
            page, total = catalog.find_page(project=project, name=name, version=version, statuses=statuses,
                                            include_archived=include_archived, within=within, search=search,
                                            offset=offset, limit=limit)
        more = offset + limit < total
        return {"items": [record_to_json(r) for r in page], "total": total,
                "next_offset": offset + limit if more else None}

    @app.get(f"{API}/versions/{{version_id}}/children", tags=["versions"])
    def children(token: Token, version_id: str) -> dict[str, Any]:
        """Ids of the versions that list this one as a parent (those the token may see)."""
        _record(state, token, version_id)
        ids = [c for c in catalog.children_of(version_id) if visible(token, catalog.get_version(c))]
        return {"ids": ids}

    @app.post(f"{API}/versions/{{version_id}}/publish", tags=["versions"])
    def publish(token: Token, version_id: str) -> dict[str, Any]:
        """completed -> published."""
        return actions.publish(state, token, version_id)

    @app.post(f"{API}/datasets/rename", tags=["datasets"])
    def rename(token: Token, body: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
        """Move every version of project/name to new_project/new_name (rename and move)."""
        return actions.rename(state, token, body)

    @app.post(f"{API}/versions/delete", tags=["versions"])
    def delete(token: Token, body: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
        """Delete version records (all or nothing)."""
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidArgumentError("delete needs ids: a list of version ids")
        return actions.delete(state, token, ids)

    @app.post(f"{API}/versions/{{version_id}}/delete", tags=["versions"])
    def delete_one(token: Token, version_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Delete one version as the web UI does: refused (409) while other versions use it as a parent, and for a
        published version unless ``published_ok`` is true; its content is freed by the next ``satchel gc``."""
        return actions.delete_checked(state, token, version_id, published_ok=body.get("published_ok") is True)

    @app.put(f"{API}/versions/{{version_id}}/manifest", tags=["versions"])
    def replace_manifest(token: Token, version_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Point a finalized version at an equivalent manifest (flatten); checked like a finalize."""
        record = _writable(state, token, version_id, "change datasets")
        parents = tuple(str(p) for p in body.get("parents") or [])
        for parent in parents:
            _record(state, token, parent)
        manifest = str(body.get("manifest") or "")
        depth = body.get("depth")
        if not _whole(depth):
            raise InvalidArgumentError("depth must be a whole number from 0 to 2**62")
        depth = int(str(depth))
        if not record.is_final:
            raise DatasetStateError(f"dataset version {version_id} is a draft; finalize it first",
                                    dataset_id=version_id)
        checked_stats(state, record, manifest, str(record.storage_url), parents)
        catalog.replace_manifest(version_id, manifest=manifest, depth=depth, parents=parents)
        return record_to_json(catalog.get_version(version_id))

    @app.put(f"{API}/versions/{{version_id}}/metadata/{{name}}", tags=["metadata"])
    def set_metadata(token: Token, version_id: str, name: str, body: Annotated[dict[str, Any], Body()]
                     ) -> dict[str, str]:
        """Store a named metadata blob (base64 ``content``, ``kind`` says how to decode it)."""
        _writable(state, token, version_id, "change datasets")
        kind, content = body.get("kind"), body.get("content")
        if not isinstance(kind, str) or not isinstance(content, str):
            raise InvalidArgumentError("metadata needs kind and content (base64)")
        try:
            raw = base64.b64decode(content, validate=True)
        except ValueError as exc:
            raise InvalidArgumentError("metadata content must be base64") from exc
        catalog.set_metadata(version_id, name, kind, raw)
        return {"name": name}

    @app.get(f"{API}/versions/{{version_id}}/metadata", tags=["metadata"])
    def list_metadata(token: Token, version_id: str, prefix: str = "") -> dict[str, Any]:
        """Names of the version's metadata blobs starting with ``prefix`` (reports: ``satchel.report.``)."""
        _record(state, token, version_id)
        return {"names": catalog.list_metadata(version_id, prefix)}

    @app.get(f"{API}/versions/{{version_id}}/metadata/{{name}}", tags=["metadata"])
    def get_metadata(token: Token, version_id: str, name: str) -> dict[str, Any]:
        """A named metadata blob (``kind`` null when there is none)."""
        _record(state, token, version_id)
        found = catalog.get_metadata(version_id, name)
        if found is None:
            return {"kind": None, "content": None}
        return {"kind": found[0], "content": base64.b64encode(found[1]).decode()}

    @app.put(f"{API}/versions/{{version_id}}/storage", tags=["drafts"])
    def set_storage(token: Token, version_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Record where a draft's content is being stored."""
        _writable(state, token, version_id, "change datasets")
        url = body.get("storage_url")
        if not isinstance(url, str) or not url:
            raise InvalidArgumentError("storage_url must be a storage URL")
        url = check_storage_url(token, url)
        catalog.set_storage(version_id, url)
        return {"storage_url": url}

    @app.patch(f"{API}/versions/{{version_id}}", tags=["versions"])
    def update(token: Token, version_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Change ``tags`` (list of strings), ``description`` (string), ``archived`` (boolean) or ``version``."""
        return actions.update(state, token, version_id, body)

    @app.post(f"{API}/versions/{{version_id}}/finalize", tags=["drafts"])
    def finalize(token: Token, version_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """draft -> completed with its manifest. The server reads the manifest from its store and refuses it when
        a path is unsafe, an object it names is not stored, or a size is wrong; the statistics are its own."""
        record = _writable(state, token, version_id, "finalize datasets")
        manifest, storage_url = body.get("manifest"), body.get("storage_url")
        depth, revision = body.get("depth", 0), body.get("revision")
        if not isinstance(manifest, str) or not isinstance(storage_url, str):
            raise InvalidArgumentError("finalize needs manifest and storage_url")
        if not _whole(depth) or (revision is not None and not _whole(revision)):
            raise InvalidArgumentError("depth and revision must be whole numbers from 0 to 2**62")
        storage_url = check_storage_url(token, storage_url)
        if record.is_final:
            raise ConflictError(f"dataset version {version_id} is finalized already")
        stats: dict[str, Any] = dict(body["stats"]) if isinstance(body.get("stats"), dict) else {}
        checked = checked_stats(state, record, manifest, storage_url, record.parents)
        catalog.finalize_version(version_id, manifest=manifest, storage_url=storage_url, depth=depth,
                                 stats=checked if checked is not None else stats, revision=revision)
        return record_to_json(catalog.get_version(version_id))

    @app.get(f"{API}/versions/{{version_id}}/draft/revision", tags=["drafts"])
    def draft_revision(token: Token, version_id: str) -> dict[str, int]:
        """The draft's revision (grows with every change)."""
        _record(state, token, version_id)
        return {"revision": catalog.draft_revision(version_id)}

    @app.post(f"{API}/versions/{{version_id}}/draft", tags=["drafts"])
    def change_draft(token: Token, version_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, int]:
        """In one transaction: ``upsert`` pending changes, ``forget`` paths (wire form)."""
        _writable(state, token, version_id, "change datasets")
        upsert, forget = body.get("upsert") or [], body.get("forget") or []
        if not isinstance(upsert, list) or not isinstance(forget, list):
            raise InvalidArgumentError("upsert and forget must be lists")
        rows = [row_from_json(item) for item in upsert]
        try:
            paths = [path_from_wire(str(p)) for p in forget]
        except PathError as exc:
            raise InvalidArgumentError(f"forget: {exc}") from exc
        return {"revision": catalog.change_draft(version_id, rows, paths)}

    @app.get(f"{API}/versions/{{version_id}}/draft", tags=["drafts"])
    def draft_rows(token: Token, version_id: str) -> dict[str, Any]:
        """All pending changes of a draft (paths in wire form)."""
        _record(state, token, version_id)
        return {"rows": [row_to_json(r) for r in catalog.draft_rows(version_id).values()]}

    @app.get(f"{API}/projects", tags=["datasets"])
    def projects(token: Token) -> dict[str, Any]:
        """Projects with their datasets and version counts (those the token may see)."""
        found: dict[str, dict[str, int]] = {}
        for record in catalog.find_versions():
            if visible(token, record):
                found.setdefault(record.project, {}).setdefault(record.name, 0)
                found[record.project][record.name] += 1
        return {"projects": [{"project": p, "datasets": [{"name": n, "versions": c} for n, c in sorted(d.items())]}
                             for p, d in sorted(found.items())]}

    @app.get(f"{API}/stores", tags=["files"])
    def stores(token: Token) -> dict[str, Any]:
        """The stores on the server the token may read (``server://<namespace>`` URLs), found in the storage
        itself, so stores whose versions were all deleted are listed too (gc frees them)."""
        found = {f"server://{ns}" for ns in state.namespaces() if may_read_store(token, ns)}
        return {"stores": sorted(found)}


def _token_routes(app: FastAPI, state: ServerState) -> None:
    @app.get(f"{API}/whoami", tags=["tokens"])
    def whoami(token: Token) -> dict[str, object]:
        """The calling token's record."""
        return dict(token.to_json())

    @app.post(f"{API}/tokens", status_code=201, tags=["tokens"])
    def create_token(token: Token, body: Annotated[dict[str, Any], Body()]) -> dict[str, object]:
        """A new token (admin): ``name``, ``role`` (reader, writer, admin), ``projects``, ``expires_at``. The
        answer's ``token`` is shown this once."""
        return actions.create_token(state, token, body)

    @app.get(f"{API}/tokens", tags=["tokens"])
    def list_tokens(token: Token) -> dict[str, object]:
        """Every token's record (admin); secrets are never shown."""
        return actions.list_tokens(state, token)

    @app.delete(f"{API}/tokens/{{token_id}}", tags=["tokens"])
    def revoke_token(token: Token, token_id: str) -> dict[str, object]:
        """Revoke a token (admin); it stops working at once."""
        return actions.revoke_token(state, token, token_id)


def _file_routes(app: FastAPI, state: ServerState) -> None:
    objects = f"{API}/stores/{{namespace}}/objects"

    @app.get(objects, tags=["files"], response_class=Response,
             responses={200: {"content": {"application/x-ndjson": {}}, "description": "one JSON object per line"}})
    def list_objects(token: Token, namespace: str, prefix: str = "") -> Response:
        """The store's objects under ``prefix``, as JSON lines (key, size, modified, tag)."""
        files.check_namespace(namespace)
        files.authorize(state, token, namespace, "GET", None)
        return files.listing(state, namespace, prefix)

    @app.get(objects + "/{key:path}", tags=["files"], response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}, "description": "the bytes"},
                        206: {"content": {"application/octet-stream": {}}, "description": "the range asked for"}})
    def get_object(token: Token, namespace: str, key: str, range: Annotated[str | None, Header()] = None
                   ) -> Response:
        """An object's bytes, streamed; a ``Range: bytes=a-b`` request answers 206 with that range."""
        kind = files.key_kind(key)
        files.check_namespace(namespace)
        files.authorize(state, token, namespace, "GET", kind)
        return files.download(state, namespace, key, range, head=False)

    @app.head(objects + "/{key:path}", tags=["files"], response_class=Response,
              responses={200: {"content": {"application/octet-stream": {}}, "description": "size and ETag"},
                         206: {"content": {"application/octet-stream": {}}, "description": "size of the range"}})
    def head_object(token: Token, namespace: str, key: str, range: Annotated[str | None, Header()] = None
                    ) -> Response:
        """An object's size (Content-Length) and change tag (ETag); 404 when absent."""
        kind = files.key_kind(key)
        files.check_namespace(namespace)
        files.authorize(state, token, namespace, "HEAD", kind)
        return files.download(state, namespace, key, range, head=True)

    @app.put(objects + "/{key:path}", tags=["files"], status_code=201, response_class=Response,
             responses={200: {"description": "already stored"}, 412: {"model": ErrorBody,
                                                                      "description": "exists (If-None-Match: *)"}})
    async def put_object(token: Token, namespace: str, key: str, request: Request,
                         if_none_match: Annotated[str | None, Header()] = None) -> Response:
        """Store an object (body streamed). Verified before it becomes visible (see the module docs); 201 stored,
        200 already stored, 412 already stored and ``If-None-Match: *`` was sent, 413 over the size limit."""
        from starlette.concurrency import run_in_threadpool

        kind = files.key_kind(key)
        files.check_namespace(namespace)
        files.authorize(state, token, namespace, "PUT", kind)
        path, digest, size = await files.receive(request, state, kind)
        status = await run_in_threadpool(files.store_upload, state, namespace, key, kind, path, digest, size,
                                         (if_none_match or "").strip() == "*")
        return Response(status_code=status)

    @app.delete(objects + "/{key:path}", tags=["files"], status_code=204, response_class=Response)
    def delete_object(token: Token, namespace: str, key: str) -> Response:
        """Delete an object (content, leases and the format file: admin only); absent is not an error."""
        kind = files.key_kind(key)
        files.check_namespace(namespace)
        files.authorize(state, token, namespace, "DELETE", kind)
        state.storage(namespace).delete(key)
        return Response(status_code=204)


_STATUS: list[tuple[type[Exception], int]] = [
    (DatasetNotFoundError, 404), (StorageNotFoundError, 404), (AccessDeniedError, 403),
    (files.PayloadTooLarge, 413), (InvalidArgumentError, 400), (ConflictError, 409), (DatasetStateError, 409),
    (IntegrityError, 422), (StorageTransientError, 503), (StorageError, 502),
]


def status_of(exc: SatchelError) -> int:
    """The HTTP status a satchel error answers with."""
    return next((status for cls, status in _STATUS if isinstance(exc, cls)), 400)


def _errors(app: FastAPI, state: ServerState) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        return JSONResponse({"error": {"type": "InvalidArgumentError", "message": f"invalid request: {problems}",
                                       "attributes": {}}}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "DatasetNotFoundError" if exc.status_code == 404 else "InvalidArgumentError"
        return JSONResponse({"error": {"type": kind, "message": str(exc.detail), "attributes": {}}},
                            status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": {"type": "AccessDeniedError", "message": str(exc), "attributes": {}}},
                            status_code=exc.status,
                            headers=headers)

    @app.exception_handler(SatchelError)
    async def satchel_error(_request: Request, exc: SatchelError) -> JSONResponse:
        status = status_of(exc)
        if isinstance(exc, StorageError) and not isinstance(exc, StorageNotFoundError):
            log.warning("storage failure: %s", exc)  # the server's storage URLs stay in its log
            return JSONResponse({"error": {"type": "StorageTransientError",
                                           "message": "the server's storage failed; retrying may help (see the "
                                                      "server's log)", "attributes": {"url": "", "key": exc.key}}},
                                status_code=503)
        attributes = {k: v for k, v in vars(exc).items() if isinstance(v, (str, int, float, type(None)))
                      and k in ("dataset_id", "dataset_path", "object_key", "content_hash", "key", "target")}
        message = f"no object {exc.key}" if isinstance(exc, StorageNotFoundError) else str(exc)
        message = message.replace(f"{state.config.storage_url}/projects/", "server://")  # no server paths out
        return JSONResponse({"error": {"type": type(exc).__name__, "message": message, "attributes": attributes}},
                            status_code=status)
