"""The catalog: dataset version records, lineage, drafts. Embedded default: SQLite."""

from typing import TYPE_CHECKING

from satchel.catalog.base import (
    FINAL_STATUSES,
    STATUS_COMPLETED,
    STATUS_DRAFT,
    STATUS_PUBLISHED,
    Catalog,
    DraftRow,
    VersionRecord,
)
from satchel.lazy import lazy_names

if TYPE_CHECKING:
    from satchel.catalog.sql import SqlCatalog, open_sql_catalog


# the SQL catalog on first use: SQLAlchemy takes longer to import than a warm ``satchel get`` may take
__getattr__ = lazy_names(__name__, {"SqlCatalog": "sql", "open_sql_catalog": "sql"})


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
