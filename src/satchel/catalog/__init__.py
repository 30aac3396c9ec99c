"""The catalog: dataset version records, lineage, drafts. Embedded default: SQLite."""

from typing import TYPE_CHECKING, Any

from satchel.catalog.base import (
    FINAL_STATUSES,
    STATUS_COMPLETED,
    STATUS_DRAFT,
    STATUS_PUBLISHED,
    Catalog,
    DraftRow,
    VersionRecord,
)

if TYPE_CHECKING:
    from satchel.catalog.sql import SqlCatalog, open_sql_catalog


def __getattr__(name: str) -> Any:
    """The SQL catalog on first use: SQLAlchemy takes longer to import than a warm ``satchel get`` may take."""
    if name in ("SqlCatalog", "open_sql_catalog"):
        from satchel.catalog import sql

        return getattr(sql, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FINAL_STATUSES",
    "STATUS_COMPLETED",
    "STATUS_DRAFT",
    "STATUS_PUBLISHED",
    "Catalog",
    "DraftRow",
    "SqlCatalog",
    "VersionRecord",
    "open_sql_catalog",
]
