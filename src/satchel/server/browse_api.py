"""The JSON twins of the web UI's pages (``/api/v1/browse/...``) and the file routes both serve.

Every route here is a read: the body of one page (:mod:`satchel.server.browse`), or one file of a version
(:func:`file_response`: verified bytes from the content cache, ``Range`` requests answered by the file response).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from satchel.catalog.tokens import TokenInfo
from satchel.errors import InvalidArgumentError
from satchel.server import browse, preview
from satchel.server.auth import SESSION_COOKIE, authenticate_any
from satchel.server.state import ServerState

API = "/api/v1/browse"
# a file of a dataset is data, never a page of this site: it runs no script and is not framed
FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=3600"}


def _token(request: Request, authorization: Annotated[str | None, Header()] = None) -> TokenInfo:
    """A Bearer token, or the web UI's session cookie (these routes only read)."""
    return authenticate_any(request.app.state.satchel, authorization, request.cookies.get(SESSION_COOKIE))


Token = Annotated[TokenInfo, Depends(_token)]
Many = Annotated[list[str] | None, Query()]
Offset = Annotated[int, Query(ge=0, le=2**53)]
Limit = Annotated[int, Query(ge=1, le=browse.MAX_LIMIT)]


def file_response(state: ServerState, token: TokenInfo, version_id: str, path: str, *, download: bool
                  ) -> Response:
    """One file's verified bytes. Images, audio and video are served inline (for previews and players, with
    Range requests); everything else as an attachment, so no file of a dataset is ever rendered as a page."""
    record, entry = browse.entry_of(state, token, version_id, path)
    name = path.rpartition("/")[2]
    if entry.size > preview.cache_limit(state) and not entry.link:  # streamed once, whole, checked as it goes
        return StreamingResponse(preview.stream_file(state, record, entry), media_type="application/octet-stream",
                                 headers={**FILE_HEADERS, "Accept-Ranges": "none", "Content-Length": str(entry.size),
                                          "Content-Disposition": _attachment(name)})
    local = preview.cached_file(state, record, entry)
    kind = preview.media_type(path)
    inline = not download and (kind in preview.INLINE_TYPES or kind.startswith(("audio/", "video/")))
    return FileResponse(local, media_type=kind if inline else "application/octet-stream",
                        filename=name, content_disposition_type="inline" if inline else
                        "attachment", headers=FILE_HEADERS)


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename*=utf-8''{quote(name, safe='')}"


def thumbnail_response(state: ServerState, token: TokenInfo, version_id: str, path: str) -> Response:
    record, entry = browse.entry_of(state, token, version_id, path)
    if entry.size > preview.PREVIEW_MAX_FILE:
        raise InvalidArgumentError(f"{path} is larger than the preview limit; download it")
    data = preview.thumbnail(preview.cached_file(state, record, entry))
    return Response(data, media_type="image/png", headers=FILE_HEADERS)


def preview_page(state: ServerState, token: TokenInfo, version_id: str, path: str) -> dict[str, Any]:
    record, entry = browse.entry_of(state, token, version_id, path)
    return preview.preview(state, record, path.strip("/"), entry)


def add_routes(app: FastAPI, state: ServerState) -> None:
    @app.get(f"{API}/projects", tags=["browse"])
    def projects(token: Token, search: str = "") -> dict[str, Any]:
        """Projects page: nested projects with counts; ``search`` lists matching datasets."""
        return browse.projects_page(state, token, search)

    @app.get(f"{API}/project", tags=["browse"])
    def project(token: Token, name: str, tag: Many = None, tag_mode: str = "any", status: Many = None
                ) -> dict[str, Any]:
        """Datasets page of project ``name``, filtered by ``tag`` (``tag_mode``: any, all, not) and ``status``."""
        return browse.datasets_page(state, token, name, tag or [], tag_mode, status or [])

    @app.get(f"{API}/dataset", tags=["browse"])
    def dataset(token: Token, project: str, name: str) -> dict[str, Any]:
        """A dataset's versions, newest first."""
        return browse.versions_page(state, token, project, name)

    @app.get(f"{API}/versions/{{version_id}}", tags=["browse"])
    def version(token: Token, version_id: str) -> dict[str, Any]:
        """Version page: record, sizes, changes, metadata, reports, how to get it, allowed actions."""
        return browse.version_page(state, token, version_id)

    @app.get(f"{API}/versions/{{version_id}}/lineage", tags=["browse"])
    def lineage(token: Token, version_id: str) -> dict[str, Any]:
        """Lineage page: ancestors and children as layered nodes and edges."""
        return browse.lineage_page(state, token, version_id)

    @app.get(f"{API}/versions/{{version_id}}/files", tags=["browse"])
    def files(token: Token, version_id: str, folder: str = "", sort: str = "path", order: str = "asc",
              offset: Offset = 0, limit: Limit = browse.DEFAULT_LIMIT, search: str = "") -> dict[str, Any]:
        """Content page: one folder's files (paged, sorted) and sub-folders, or a path search."""
        return browse.files_page(state, token, version_id, folder, sort, order, offset, limit, search)

    @app.get(f"{API}/versions/{{version_id}}/preview", tags=["browse"])
    def file_preview(token: Token, version_id: str, path: str) -> dict[str, Any]:
        """Preview page of one file (bounded head, table, image details or hex)."""
        return preview_page(state, token, version_id, path)

    @app.get(f"{API}/versions/{{version_id}}/file", tags=["browse"], response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"},
                        206: {"content": {"application/octet-stream": {}}, "description": "a range"}})
    def file(token: Token, version_id: str, path: str, download: bool = False) -> Response:
        """One file's verified bytes (``Range`` requests answer 206)."""
        return file_response(state, token, version_id, path, download=download)

    @app.get(f"{API}/versions/{{version_id}}/thumbnail", tags=["browse"], response_class=Response,
             responses={200: {"content": {"image/png": {}}, "description": "a PNG thumbnail"}})
    def thumbnail(token: Token, version_id: str, path: str) -> Response:
        """A PNG thumbnail of an image file."""
        return thumbnail_response(state, token, version_id, path)

    @app.get(f"{API}/compare", tags=["browse"])
    def compare(token: Token, a: str, b: str, change: Many = None, search: str = "", offset: Offset = 0,
                limit: Limit = browse.DEFAULT_LIMIT) -> dict[str, Any]:
        """Compare page: files added, modified and removed from version ``a`` to version ``b``."""
        return browse.compare_page(state, token, a, b, change or [], search, offset, limit)

    @app.get(f"{API}/versions/{{version_id}}/delete-plan", tags=["browse"])
    def delete_plan(token: Token, version_id: str) -> dict[str, Any]:
        """What deleting the version does and frees."""
        return browse.delete_plan(state, token, version_id)
