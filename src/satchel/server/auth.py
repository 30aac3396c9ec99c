"""Who is calling, and what they may do. Every check that refuses raises ``Refused`` (HTTP 401 or 403)."""

from __future__ import annotations

from urllib.parse import unquote

from satchel.catalog.base import VersionRecord
from satchel.catalog.tokens import TokenInfo
from satchel.errors import DatasetNotFoundError
from satchel.server.state import ServerState


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
    if info is None:
        raise Refused(401, "the token is unknown, expired or revoked")
    return info


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


def may_read_store(state: ServerState, token: TokenInfo, namespace: str) -> bool:
    """A store is readable by tokens granted its project, or a project with versions stored in it (a dataset
    moved to another project keeps its store)."""
    if token.grants(unquote(namespace)):
        return True
    return any(token.grants(p) for p in state.projects_using(f"server://{namespace}"))


def may_write_store(token: TokenInfo, namespace: str) -> bool:
    return token.can("writer") and token.grants(unquote(namespace))
