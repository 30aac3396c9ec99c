"""The warm path of ``satchel get``: a version's cached copy found without loading the catalog engine,
the object store or the view code, so a fresh process answers in about the time Python takes to start.

Only a plain cached copy of a finalized version named by its full id, in embedded mode, is served here; a
cache hit is the same one the full path (``satchel.dataset.retrieve.local_copy``) returns, checked the same
way. Anything else (team mode, whose server decides what a token may see; a selection; a miss; a copy that
was written to) returns None and the caller takes the full path.
"""

from __future__ import annotations

from pathlib import Path

from satchel.catalog.base import FINAL_STATUSES
from satchel.catalog.peek import version_status
from satchel.config import resolve_settings
from satchel.dataset.cache import SOFT_SUFFIX, LocalCache, can_write_read_only_files
from satchel.objects.pathnames import is_valid_id


def cached_copy(dataset_id: str, *, soft: bool = False) -> Path | None:
    """The cached read-only copy of version ``dataset_id`` when it is already built and unchanged, else None."""
    if not is_valid_id(dataset_id):
        return None
    settings = resolve_settings()
    if settings.api_url or version_status(settings.catalog_url, dataset_id) not in FINAL_STATUSES:
        return None
    cache = LocalCache(settings.cache_dir, settings.cache_limit)
    key = dataset_id + (SOFT_SUFFIX if soft else "")
    found = cache.hit(key)
    if found is None or (can_write_read_only_files() and not cache.untouched(found, key)):
        return None
    return found
