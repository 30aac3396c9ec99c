"""The catalog: dataset version records, lineage, drafts. Embedded default: SQLite."""

from satchel.catalog.base import (
    FINAL_STATUSES,
    STATUS_COMPLETED,
    STATUS_DRAFT,
    STATUS_PUBLISHED,
    Catalog,
    DraftRow,
    VersionRecord,
)
from satchel.catalog.sql import SqlCatalog, open_sql_catalog

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
