"""The web UI: HTML pages at ``/`` of ``satchel server`` and ``satchel ui``.

Each page renders the body of its JSON twin (``/api/v1/browse/...``, linked from the page) with the token of the
session, so a page shows exactly what the API would answer that token, and each form posts to a handler that
calls the same function as the matching API route (:mod:`satchel.server.actions`).

Sessions: ``POST /login`` checks a token and keeps it in an HttpOnly, SameSite=Strict cookie. Every form that
changes something carries a CSRF value derived from the session's token (an HMAC another site cannot compute)
and is refused without it, or when the request's Origin is another site.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.parse
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from satchel.catalog.tokens import TokenInfo
from satchel.errors import InvalidArgumentError, SatchelError
from satchel.server import actions, browse, browse_api
from satchel.server.app import status_of
from satchel.server.auth import SESSION_COOKIE, SESSION_SECONDS, Refused, end_session, session_of, start_session
from satchel.server.state import ServerState
from satchel.ui import lineage
from satchel.ui.render import page, query_string, static_dir

MESSAGES = {"saved": "saved", "published": "published", "archived": "archived", "unarchived": "unarchived",
            "renamed": "renamed", "deleted": "deleted; `satchel gc --free` frees its content", "revoked": "revoked",
            "logged-out": "logged out"}
"""What a page may say after a form: fixed texts chosen by code (a link cannot make a page say anything)."""
MAX_TOKEN_DAYS = 36500
Many = Annotated[list[str] | None, Query()]
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self' data:; "
                                           "style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
                                           "form-action 'self'; base-uri 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"}


class LoginNeeded(Exception):
    """No valid session: the browser is sent to the login page."""


class FormRefused(Refused):
    """A form without its CSRF value, or from another site: answered with an error page."""


def csrf_of(token: str) -> str:
    """The CSRF value of a session: an HMAC of the session's token, which only its holder can compute."""
    return hmac.new(token.encode(), b"satchel-ui-csrf", hashlib.sha256).hexdigest()


def session(request: Request) -> tuple[TokenInfo, str]:
    """(session's token record, session token) of the request's cookie; LoginNeeded without a valid one."""
    found: tuple[TokenInfo, str] | None = getattr(request.state, "satchel_session", None)
    if found is not None:  # looked up once per request (the handler, then the page around it)
        return found
    state: ServerState = request.app.state.satchel
    raw = request.cookies.get(SESSION_COOKIE, "")
    info = session_of(state, raw)
    if info is None:
        raise LoginNeeded()
    request.state.satchel_session = (info, raw)
    return info, raw


def render(request: Request, template: str, title: str, twin: str | None, status: int = 200, **data: Any
           ) -> HTMLResponse:
    """A page: ``data`` rendered with the session (when there is one), its title and the URL of its twin."""
    user: TokenInfo | None = None
    csrf = ""
    try:
        user, raw = session(request)
        csrf = csrf_of(raw)
    except LoginNeeded:
        pass
    state: ServerState = request.app.state.satchel
    html = page(template, title=title, twin=twin, user=user, csrf=csrf,
                message=MESSAGES.get(request.query_params.get("msg", "")),
                personal=state.config.personal, request_path=request.url.path, **data)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def twin_url(route: str, /, **params: Any) -> str:
    """The URL of a JSON twin with its query (lists repeat their key)."""
    query = query_string(**params)
    return f"/api/v1/browse{route}" + (f"?{query}" if query else "")


def same_site(request: Request) -> bool:
    """Does the request come from a page of this site (or say nothing of where it comes from)? The Origin's
    host must be the one the request was sent to (the scheme may differ behind a TLS proxy)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    hosts = {request.headers.get("host", request.url.netloc), request.headers.get("x-forwarded-host")}
    return urllib.parse.urlsplit(origin).netloc in hosts


async def checked_form(request: Request) -> tuple[TokenInfo, dict[str, Any]]:
    """The session and the posted form, after the CSRF and Origin checks (Refused 403 when they fail)."""
    info, raw = session(request)
    if not same_site(request):
        raise FormRefused(403, f"a form from {request.headers.get('origin')} may not change anything here")
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), csrf_of(raw)):
        raise FormRefused(403, "the form's CSRF value is missing or wrong; reload the page and submit it again")
    return info, {k: v for k, v in form.multi_items() if k != "csrf"}


def back_to(url: str, message: str) -> RedirectResponse:
    """Redirect after a form, with one of the fixed MESSAGES (by code)."""
    assert message in MESSAGES
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{urlencode({'msg': message})}", status_code=303)


def version_url(version_id: str, part: str = "", **params: Any) -> str:
    query = urlencode([(k, v) for k, v in params.items() if v not in (None, "")])
    return f"/versions/{quote(version_id, safe='')}{part}" + (f"?{query}" if query else "")


def add_ui(app: FastAPI) -> None:
    """Mount the pages, forms and static files on a satchel server app."""
    state: ServerState = app.state.satchel
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    _errors(app)
    _login_routes(app, state)
    _browse_pages(app, state)
    _content_pages(app, state)
    _forms(app, state)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, _exc: LoginNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)

    @app.exception_handler(FormRefused)
    async def form_refused(request: Request, exc: FormRefused) -> Response:
        return _page_error(request, exc)


def _page_error(request: Request, exc: Exception) -> HTMLResponse:
    status = exc.status if isinstance(exc, Refused) else status_of(exc) if isinstance(exc, SatchelError) else 400
    return render(request, "error.html", "Error", None, status=status, error=str(exc), status_code=status)


def _guarded(request: Request, build: Any) -> Response:
    """Run a page builder; a satchel error or refusal becomes an error page with its message (a missing session
    still redirects to the login page)."""
    try:
        result: Response = build()
        return result
    except LoginNeeded:
        raise
    except (SatchelError, Refused) as exc:
        return _page_error(request, exc)


def _change(request: Request, change: Callable[[], object], target: str, message: str) -> Response:
    """Make a change, then go to ``target`` saying ``message``; an error page when the change is refused."""

    def run() -> Response:
        change()
        return back_to(target, message)
    return _guarded(request, run)


def _safe_next(target: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_routes(app: FastAPI, state: ServerState) -> None:
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/", code: str = "") -> Response:
        if code:  # satchel ui's one-time login link
            token = state.login_codes.pop(code, None)
            if token is not None:
                return _start_session(request, state, token, _safe_next(next))
            return render(request, "login.html", "Log in", None, status=401, next=_safe_next(next),
                          error="this login link was used already or is unknown; log in with a token, or restart "
                                "`satchel ui` for a new link")
        return render(request, "login.html", "Log in", None, next=_safe_next(next), error=None)

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        target = _safe_next(str(form.get("next", "/")))
        if not same_site(request):
            return render(request, "login.html", "Log in", None, status=403, next=target,
                          error="a login form from another site is refused")
        token = str(form.get("token", "")).strip()
        if state.tokens.authenticate(token) is None:
            return render(request, "login.html", "Log in", None, status=401, next=target,
                          error="that token is unknown, expired or revoked; check it (satchel token list) and try "
                                "again")
        return _start_session(request, state, token, target)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        await checked_form(request)
        end_session(state, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login?msg=logged-out", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _start_session(request: Request, state: ServerState, token: str, target: str) -> Response:
    """A session token (12 hours, revoked at logout, ends with the token it came from) in the cookie."""
    session_token = start_session(state, token)
    if session_token is None:
        return render(request, "login.html", "Log in", None, status=401, next=target,
                      error="that token is unknown, expired or revoked")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/", max_age=SESSION_SECONDS)
    return response


def _browse_pages(app: FastAPI, state: ServerState) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def projects(request: Request, search: str = "") -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: render(
            request, "projects.html", "Projects", twin_url("/projects", search=search),
            data=browse.projects_page(state, token, search)))

    @app.get("/project", response_class=HTMLResponse, include_in_schema=False)
    def project(request: Request, name: str, tag: Many = None, tag_mode: str = "any", status: Many = None
                ) -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: render(
            request, "project.html", f"{name}: datasets",
            twin_url("/project", name=name, tag=tag or [], tag_mode=tag_mode, status=status or []),
            data=browse.datasets_page(state, token, name, tag or [], tag_mode, status or [])))

    @app.get("/dataset", response_class=HTMLResponse, include_in_schema=False)
    def dataset(request: Request, project: str, name: str) -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: render(
            request, "dataset.html", f"{project}/{name}", twin_url("/dataset", project=project, name=name),
            data=browse.versions_page(state, token, project, name)))

    @app.get("/versions/{version_id}", response_class=HTMLResponse, include_in_schema=False)
    def version(request: Request, version_id: str) -> Response:
        token, _ = session(request)

        def build() -> Response:
            data = browse.version_page(state, token, version_id)
            record = data["version"]
            return render(request, "version.html", f"{record['project']}/{record['name']} v{record['version']}",
                          twin_url(f"/versions/{quote(version_id, safe='')}"), data=data)
        return _guarded(request, build)

    @app.get("/versions/{version_id}/lineage", response_class=HTMLResponse, include_in_schema=False)
    def version_lineage(request: Request, version_id: str) -> Response:
        token, _ = session(request)

        def build() -> Response:
            data = browse.lineage_page(state, token, version_id)
            return render(request, "lineage.html", f"Lineage of {version_id[:12]}",
                          twin_url(f"/versions/{quote(version_id, safe='')}/lineage"), data=data,
                          svg=lineage.draw(data))
        return _guarded(request, build)

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare(request: Request, a: str = "", b: str = "", change: Many = None, search: str = "",
                offset: int = 0) -> Response:
        token, _ = session(request)
        if not a or not b:
            return render(request, "compare.html", "Compare versions", None, data=None, a=a, b=b)
        return _guarded(request, lambda: render(
            request, "compare.html", "Compare versions",
            twin_url("/compare", a=a, b=b, change=change or [], search=search, offset=offset or None),
            data=browse.compare_page(state, token, a, b, change or [], search, max(offset, 0)), a=a, b=b))


def _content_pages(app: FastAPI, state: ServerState) -> None:
    @app.get("/versions/{version_id}/files", response_class=HTMLResponse, include_in_schema=False)
    def files(request: Request, version_id: str, folder: str = "", sort: str = "path", order: str = "asc",
              offset: int = 0, search: str = "") -> Response:
        token, _ = session(request)

        def build() -> Response:
            data = browse.files_page(state, token, version_id, folder, sort, order, max(offset, 0),
                                     browse.DEFAULT_LIMIT, search)
            return render(request, "files.html", f"Content of {version_id[:12]}" + (f": {folder}" if folder else ""),
                          twin_url(f"/versions/{quote(version_id, safe='')}/files", folder=folder,
                                   sort=None if sort == "path" else sort, order=None if order == "asc" else order,
                                   offset=offset or None, search=search), data=data)
        return _guarded(request, build)

    @app.get("/versions/{version_id}/preview", response_class=HTMLResponse, include_in_schema=False)
    def file_preview(request: Request, version_id: str, path: str) -> Response:
        token, _ = session(request)

        def build() -> Response:
            data = browse_api.preview_page(state, token, version_id, path)
            return render(request, "preview.html", f"{data['name']} ({version_id[:12]})",
                          twin_url(f"/versions/{quote(version_id, safe='')}/preview", path=path), data=data)
        return _guarded(request, build)

    @app.get("/versions/{version_id}/file", include_in_schema=False)
    def file(request: Request, version_id: str, path: str, download: bool = False) -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: browse_api.file_response(state, token, version_id, path,
                                                                  download=download))

    @app.get("/versions/{version_id}/thumbnail", include_in_schema=False)
    def thumbnail(request: Request, version_id: str, path: str) -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: browse_api.thumbnail_response(state, token, version_id, path))


def _forms(app: FastAPI, state: ServerState) -> None:
    @app.post("/versions/{version_id}/edit", include_in_schema=False)
    async def edit(request: Request, version_id: str) -> Response:
        token, form = await checked_form(request)
        tags = [t.strip() for t in str(form.get("tags", "")).split(",") if t.strip()]
        body = {"description": str(form.get("description", "")), "tags": list(dict.fromkeys(tags))}
        return _change(request, lambda: actions.update(state, token, version_id, body), version_url(version_id),
                       "saved")

    @app.post("/versions/{version_id}/publish", include_in_schema=False)
    async def publish(request: Request, version_id: str) -> Response:
        token, _ = await checked_form(request)
        return _change(request, lambda: actions.publish(state, token, version_id), version_url(version_id),
                       "published")

    @app.post("/versions/{version_id}/archive", include_in_schema=False)
    async def archive(request: Request, version_id: str) -> Response:
        token, form = await checked_form(request)
        archived = form.get("archived") == "true"
        return _change(request, lambda: actions.update(state, token, version_id, {"archived": archived}),
                       version_url(version_id), "archived" if archived else "unarchived")

    @app.post("/datasets/rename", include_in_schema=False)
    async def rename(request: Request) -> Response:
        token, form = await checked_form(request)
        body = {k: str(form.get(k, "")) for k in ("project", "name", "new_project", "new_name")}
        target = f"/dataset?{urlencode({'project': body['new_project'].strip(), 'name': body['new_name'].strip()})}"
        return _change(request, lambda: actions.rename(state, token, body), target, "renamed")

    @app.get("/versions/{version_id}/delete", response_class=HTMLResponse, include_in_schema=False)
    def delete_form(request: Request, version_id: str) -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: render(
            request, "delete.html", f"Delete {version_id[:12]}?",
            twin_url(f"/versions/{quote(version_id, safe='')}/delete-plan"),
            data=browse.delete_plan(state, token, version_id)))

    @app.post("/versions/{version_id}/delete", include_in_schema=False)
    async def delete(request: Request, version_id: str) -> Response:
        token, form = await checked_form(request)

        def run() -> Response:
            done = actions.delete_checked(state, token, version_id, published_ok=form.get("published_ok") == "yes")
            target = f"/dataset?{urlencode({'project': done['project'], 'name': done['name']})}"
            if not state.catalog.find_versions(project=done["project"], name=done["name"]):
                target = f"/project?{urlencode({'name': done['project']})}"
                if not state.catalog.find_versions(project=done["project"]):
                    target = "/"
            return back_to(target, "deleted")
        return _guarded(request, run)

    @app.get("/tokens", response_class=HTMLResponse, include_in_schema=False)
    def tokens(request: Request) -> Response:
        token, _ = session(request)
        return _guarded(request, lambda: render(request, "tokens.html", "Tokens", "/api/v1/tokens",
                                                data=actions.list_tokens(state, token), created=None))

    @app.post("/tokens", response_class=HTMLResponse, include_in_schema=False)
    async def create_token(request: Request) -> Response:
        token, form = await checked_form(request)

        def run() -> Response:
            days = str(form.get("expires_days", "")).strip()
            if days and (not days.isdigit() or not 1 <= int(days) <= MAX_TOKEN_DAYS):
                raise InvalidArgumentError(f"expires in days must be a whole number of days from 1 to "
                                           f"{MAX_TOKEN_DAYS}, or empty for never")
            projects = [p.strip() for p in str(form.get("projects", "")).split(",") if p.strip()]
            body = {"name": str(form.get("name", "")).strip(), "role": str(form.get("role", "")),
                    "projects": projects, "expires_at": time.time() + int(days) * 86400 if days else None}
            created = actions.create_token(state, token, body)
            return render(request, "tokens.html", "Tokens", "/api/v1/tokens", data=actions.list_tokens(state, token),
                          created=created)
        return _guarded(request, run)

    @app.post("/tokens/{token_id}/revoke", include_in_schema=False)
    async def revoke(request: Request, token_id: str) -> Response:
        token, _ = await checked_form(request)
        return _change(request, lambda: actions.revoke_token(state, token, token_id), "/tokens", "revoked")


def new_login_code(state: ServerState, token: str) -> str:
    """A one-time code that logs a browser in with ``token`` (``satchel ui`` prints a link with it)."""
    code = secrets.token_urlsafe(24)
    state.login_codes[code] = token
    return code
