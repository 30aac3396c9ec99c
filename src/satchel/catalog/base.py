"""The catalog interface: dataset version records, lineage, and the pending changes of drafts.

Implementations: SQLite (embedded default), later PostgreSQL and an HTTP client of the satchel server.
A version is a ``draft`` (mutable; its pending changes live in draft rows) until it is finalized to
``completed``; the switch is a compare-and-set, so two finalizers never both win.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STATUS_DRAFT = "draft"
STATUS_COMPLETED = "completed"
STATUS_PUBLISHED = "published"
FINAL_STATUSES = frozenset({STATUS_COMPLETED, STATUS_PUBLISHED})


@dataclass(frozen=True)
class VersionRecord:
    """One dataset version as the catalog keeps it."""

    id: str
    project: str
    name: str
    version: str
    created_at: float
    parents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    status: str = STATUS_DRAFT
    archived: bool = False
    output_uri: str | None = None
    storage_url: str | None = None
    manifest: str | None = None
    finalized_at: float | None = None
    depth: int = 0
    revision: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        """True once the version is immutable."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class DraftRow:
    """A pending change of a draft relative to its merged parents. ``hash`` None means removed.

    ``source`` is the local file to upload; ``link`` is set instead for an external link (the manifest's
    ``link`` field: URL and change tag).
    """

    path: str
    hash: str | None
    size: int = 0
    source: str | None = None
    link: str | None = None


class Catalog(ABC):
    """Storage of version records. Methods raise DatasetNotFoundError for unknown ids."""

    @abstractmethod
    def create_version(self, record: VersionRecord) -> None:
        """Insert a new version; ConflictError when project/name/version is taken."""

    @abstractmethod
    def get_version(self, version_id: str) -> VersionRecord:
        """The record of ``version_id``."""

    @abstractmethod
    def find_versions(
        self,
        *,
        project: str | None = None,
        name: str | None = None,
        version: str | None = None,
        tags: Sequence[str] | None = None,
        statuses: Iterable[str] | None = None,
        include_archived: bool = True,
    ) -> list[VersionRecord]:
        """Versions matching every given filter (all ``tags`` must be present), oldest first."""

    @abstractmethod
    def children_of(self, version_id: str) -> list[str]:
        """Ids of versions that list ``version_id`` as a parent."""

    @abstractmethod
    def publish_version(self, version_id: str) -> None:
        """completed -> published; DatasetNotFinalizedError for a draft (published again is a no-op)."""

    @abstractmethod
    def rename_dataset(self, project: str, name: str, *, new_project: str, new_name: str) -> int:
        """Move every version of project/name to new_project/new_name; return how many moved.

        DatasetNotFoundError when there is none; ConflictError when the target name is taken.
        """

    @abstractmethod
    def delete_versions(self, version_ids: Sequence[str]) -> None:
        """Remove version records with their lineage rows, draft rows and metadata, all or nothing.

        ConflictError when a version left in the catalog still lists one of them as a parent.
        """

    @abstractmethod
    def replace_manifest(self, version_id: str, *, manifest: str, depth: int, parents: tuple[str, ...]) -> None:
        """Point a finalized version at an equivalent manifest (e.g. flattened) and new lineage."""

    @abstractmethod
    def set_metadata(self, version_id: str, name: str, kind: str, content: bytes) -> None:
        """Store a named metadata blob of a version (``kind`` says how to decode it)."""

    @abstractmethod
    def get_metadata(self, version_id: str, name: str) -> tuple[str, bytes] | None:
        """(kind, content) of a named metadata blob, or None."""

    @abstractmethod
    def list_metadata(self, version_id: str, prefix: str = "") -> list[str]:
        """Names of a version's metadata blobs that start with ``prefix``, sorted."""

    @abstractmethod
    def set_storage(self, version_id: str, storage_url: str) -> None:
        """Record where a draft's content is being stored."""

    @abstractmethod
    def update_fields(self, version_id: str, **fields: Any) -> None:
        """Change descriptive fields (``tags``, ``description``, ``archived``, ``version``); ConflictError when
        the version string is taken."""

    @abstractmethod
    def finalize_version(
        self, version_id: str, *, manifest: str, storage_url: str, depth: int, stats: dict[str, Any],
        revision: int | None = None,
    ) -> None:
        """Switch a draft to completed with its manifest; ConflictError if it is no longer a draft or, with
        ``revision``, if its pending changes moved past that revision (a concurrent add/remove).

        The draft rows are dropped in the same transaction.
        """

    @abstractmethod
    def draft_revision(self, version_id: str) -> int:
        """The draft's revision: it grows with every change of its rows or storage."""

    @abstractmethod
    def change_draft(self, version_id: str, upsert: Iterable[DraftRow], forget: Iterable[str] = ()) -> int:
        """In one transaction: replace the pending changes of ``upsert`` rows, forget those of ``forget``
        paths (the parents' view applies again); return the new revision. DatasetFinalizedError if final."""

    @abstractmethod
    def draft_rows(self, version_id: str) -> dict[str, DraftRow]:
        """All pending changes of a draft, by path."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
