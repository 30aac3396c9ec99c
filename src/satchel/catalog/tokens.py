"""API tokens of a satchel server, kept in the catalog database.

A token is ``sat_<id>_<secret>``: the id finds the row, the secret is checked against its SHA-256 (the secret is
256 random bits, so a fast hash is enough and a stolen database reveals no usable token). Tokens are shown once,
at creation. Roles: ``admin`` (everything, tokens included), ``writer`` (create and change datasets), ``reader``
(get, list, download). ``projects`` limits a token to those projects and their sub-projects (empty: all).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from satchel.catalog.sql import tokens_table
from satchel.errors import DatasetNotFoundError, InvalidArgumentError

ROLES = ("reader", "writer", "admin")
PREFIX = "sat_"


@dataclass(frozen=True)
class TokenInfo:
    """A token's public record (never its secret)."""

    id: str
    name: str
    role: str
    projects: tuple[str, ...]
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > time.time())

    def can(self, role: str) -> bool:
        """Does this token's role include ``role``?"""
        return ROLES.index(self.role) >= ROLES.index(role)

    def grants(self, project: str) -> bool:
        """May this token see ``project``? A project grants its sub-projects."""
        return not self.projects or any(project == p or project.startswith(p + "/") for p in self.projects)

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role, "projects": list(self.projects),
                "created_at": self.created_at, "expires_at": self.expires_at, "revoked_at": self.revoked_at,
                "active": self.active}


class TokenStore:
    """Create, list, revoke and check tokens."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, role: str, projects: list[str] | tuple[str, ...] = (),
               expires_at: float | None = None, *, token_id: str | None = None) -> tuple[TokenInfo, str]:
        """A new token: (its record, the token text, which is never shown again)."""
        if role not in ROLES:
            raise InvalidArgumentError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if not name or len(name) > 200:
            raise InvalidArgumentError("a token needs a name of 1 to 200 characters")
        if any(not p or p.startswith("/") or p.endswith("/") for p in projects):
            raise InvalidArgumentError(f"projects {list(projects)!r}: each must be a project name such as 'vision' "
                                       "or 'vision/cats'")
        if role == "admin" and projects:
            raise InvalidArgumentError("an admin token manages tokens and collects garbage for every project, so it "
                                       "cannot be limited to projects; give a writer token the projects instead")
        if expires_at is not None and expires_at <= time.time():
            raise InvalidArgumentError("expires must lie in the future")
        info = TokenInfo(token_id or secrets.token_hex(8), name, role, tuple(projects), time.time(), expires_at)
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(tokens_table).values(
                id=info.id, name=name, role=role, projects=json.dumps(list(projects)), secret_hash=_digest(secret),
                created_at=info.created_at, expires_at=expires_at))
        return info, f"{PREFIX}{info.id}_{secret}"

    def list(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(tokens_table).order_by(tokens_table.c.created_at)).mappings().all()
        return [_info(row) for row in rows]

    def get(self, token_id: str) -> TokenInfo:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens_table).where(tokens_table.c.id == token_id)).mappings().first()
        if row is None:
            raise DatasetNotFoundError(f"no token with id {token_id!r}; `satchel token list` shows them")
        return _info(row)

    def revoke(self, token_id: str) -> TokenInfo:
        with self.engine.begin() as conn:
            conn.execute(sa.update(tokens_table).where(tokens_table.c.id == token_id,
                                                       tokens_table.c.revoked_at.is_(None))
                         .values(revoked_at=time.time()))
        return self.get(token_id)

    def authenticate(self, token: str) -> TokenInfo | None:
        """The active token ``token`` names, else None (unknown, wrong secret, expired or revoked)."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        token_id, _, secret = token[len(PREFIX):].partition("_")
        if not token_id or not secret:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tokens_table).where(tokens_table.c.id == token_id)).mappings().first()
        if row is None or not hmac.compare_digest(row["secret_hash"], _digest(secret)):
            return None
        info = _info(row)
        return info if info.active else None

    def has_admin(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(tokens_table.c.id).where(tokens_table.c.role == "admin",
                                                                   tokens_table.c.revoked_at.is_(None))).first() \
                is not None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: sa.RowMapping) -> TokenInfo:
    return TokenInfo(row["id"], row["name"], row["role"], tuple(json.loads(row["projects"])), row["created_at"],
                     row["expires_at"], row["revoked_at"])
