"""Who is calling, and what they may do. Every check that refuses raises ``Refused`` (HTTP 401 or 403)."""

from __future__ import annotations

import time

from satchel.catalog.base import VersionRecord
from satchel.catalog.tokens import TokenInfo
from satchel.errors import DatasetNotFoundError
from satchel.server.state import ServerState
from satchel.storage import normalize_url
from satchel.storage.server import namespace_from_url, project_of


class Refused(Exception):
    """A request without a valid token (401), or with one that may not do this (403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def authenticate(state: ServerState, authorization: str | None) -> TokenInfo:
    """The token of an ``Authorization: Bearer ...`` header; Refused(401) when it is missing or not active."""
    if not authorization:
        raise Refused(401, "no token: send Authorization: Bearer TOKEN")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "the Authorization header must be 'Bearer TOKEN'")
    info = state.tokens.authenticate(token.strip())
    if info is None or not _origin_active(state, info):
        raise Refused(401, "the token is unknown, expired or revoked")
    return info


SESSION_COOKIE = "satchel_session"
SESSION_SECONDS = 12 * 3600
SESSION_PREFIX = "web session of "


def start_session(state: ServerState, token: str) -> str | None:
    """Log a browser in with ``token``: a new session token with the same role and projects, expiring in 12
    hours (the cookie holds it, never the token itself); None when ``token`` is not active."""
    info = state.tokens.authenticate(token)
    if info is None:
        return None
    parent = info.name[len(SESSION_PREFIX):] if info.name.startswith(SESSION_PREFIX) else info.id
    expires = time.time() + SESSION_SECONDS
    if info.expires_at is not None:
        expires = min(expires, info.expires_at)
    _, secret = state.tokens.create(f"{SESSION_PREFIX}{parent}", info.role, info.projects, expires)
    return secret


def session_of(state: ServerState, cookie: str | None) -> TokenInfo | None:
    """The session a cookie holds, while both it and the token it was started with are active."""
    info = state.tokens.authenticate(cookie) if cookie else None
    if info is None or not info.name.startswith(SESSION_PREFIX) or not _origin_active(state, info):
        return None
    return info


def _origin_active(state: ServerState, info: TokenInfo) -> bool:
    """Is the token a web session was started with still active (True for a token that is not a session)? A
    session ends with its token, whether it comes as a cookie or as a Bearer token."""
    if not info.name.startswith(SESSION_PREFIX):
        return True
    try:
        return state.tokens.get(info.name[len(SESSION_PREFIX):]).active
    except DatasetNotFoundError:
        return False


def end_session(state: ServerState, cookie: str | None) -> None:
    """Log out: the session's token stops working at once."""
    info = session_of(state, cookie)
    if info is not None:
        state.tokens.revoke(info.id)


def authenticate_any(state: ServerState, authorization: str | None, cookie: str | None) -> TokenInfo:
    """The caller of a read: a Bearer token, else a browser session (the web UI's "as JSON" links)."""
    if not authorization:
        session = session_of(state, cookie)
        if session is not None:
            return session
    return authenticate(state, authorization)


def require_role(token: TokenInfo, role: str, action: str) -> None:
    if not token.can(role):
        article = "an" if role == "admin" else "a"
        raise Refused(403, f"token {token.id!r} ({token.role}) cannot {action}; that needs {article} {role} token")


def require_project(token: TokenInfo, project: str, action: str) -> None:
    if not token.grants(project):
        raise Refused(403, f"token {token.id!r} is not granted project {project!r}, so it cannot {action}")


def visible(token: TokenInfo, record: VersionRecord) -> bool:
    return token.grants(record.project)


def not_found(version_id: str) -> DatasetNotFoundError:
    """The error for a version the token may not see: the same as for one that does not exist."""
    return DatasetNotFoundError(f"no dataset version with id {version_id!r}; list versions with Dataset.get(...) "
                                "by project and name", dataset_id=version_id)


def may_read_store(token: TokenInfo, namespace: str) -> bool:
    """A project's store is readable by the tokens granted that project (and nothing else: a dataset moved to
    another project has its content copied to that project's store)."""
    project = project_of(namespace)
    return project is not None and token.grants(project)


def may_write_store(token: TokenInfo, namespace: str) -> bool:
    project = project_of(namespace)
    return project is not None and token.can("writer") and token.grants(project)


def check_storage_url(token: TokenInfo, url: str) -> str:
    """The canonical form of a storage URL a token records for a version: a server store must be one the token
    may write (its own project's); other URLs (S3, GCS, Azure, folders the client writes) are kept as given."""
    canonical = normalize_url(url)
    if canonical.startswith("server://") and not may_write_store(token, namespace_from_url(canonical)):
        raise Refused(403, f"token {token.id!r} may not store versions in {canonical}; use the store of the "
                           "version's project")
    return canonical
