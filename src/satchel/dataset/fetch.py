"""Bringing a version's content into the local cache, verified, fetching only what is missing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from satchel.dataset.cache import LocalCache
from satchel.errors import IntegrityError, SatchelError
from satchel.objects import Location, ManifestEntry, ObjectStore

log = logging.getLogger(__name__)
_LARGE = 16 << 20
_GROUP = 256


@dataclass(frozen=True)
class FetchFailure:
    """A file that could not be fetched (only collected when errors are not raised)."""

    dataset_path: str
    error: SatchelError


def _location(entry: ManifestEntry) -> Location:
    return Location(entry.pack, entry.offset, entry.length, entry.size, entry.codec)


def with_context(exc: IntegrityError, dataset_id: str, dataset_path: str) -> IntegrityError:
    """The same integrity error, naming the dataset version and the file."""
    return type(exc)(
        f"dataset {dataset_id}, file {dataset_path!r}: {exc}. The stored copy is damaged or gone; "
        "upload the file again from a good copy (a new version), or restore the storage from backup",
        object_key=exc.object_key,
        content_hash=exc.content_hash,
        dataset_id=dataset_id,
        dataset_path=dataset_path,
    )


def fetch_content(
    cache: LocalCache,
    store: ObjectStore,
    entries: dict[str, ManifestEntry],
    *,
    dataset_id: str,
    max_workers: int,
    raise_on_error: bool,
    on_bytes: Callable[[int], None],
) -> list[FetchFailure]:
    """Cache the content of ``entries`` that is not cached yet; return failures (if not raised)."""
    wanted: dict[str, tuple[str, ManifestEntry]] = {}
    for path, entry in entries.items():
        if entry.hash not in wanted and not cache.has_content(entry.hash):
            wanted[entry.hash] = (path, entry)
    on_bytes(sum(e.size for e in entries.values()) - sum(e.size for _, e in wanted.values()))
    groups = _groups(list(wanted.values()))
    failures: list[FetchFailure] = []

    def run(group: list[tuple[str, ManifestEntry]]) -> list[FetchFailure]:
        try:
            _fetch_group(cache, store, group)
        except IntegrityError as exc:
            path = next((p for p, e in group if e.hash == exc.content_hash), group[0][0])
            error = with_context(exc, dataset_id, path)
            if raise_on_error:
                raise error from exc
            log.warning("%s", error)
            return [FetchFailure(p, error) for p, e in group if not cache.has_content(e.hash)]
        finally:
            on_bytes(sum(e.size for _, e in group))
        return []

    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="satchel-fetch") as pool:
        for result in pool.map(run, groups):
            failures.extend(result)
    return failures


def _groups(items: list[tuple[str, ManifestEntry]]) -> list[list[tuple[str, ManifestEntry]]]:
    """Large entries alone; small ones by pack, in offset order, a few hundred at a time."""
    groups: list[list[tuple[str, ManifestEntry]]] = []
    by_pack: dict[str, list[tuple[str, ManifestEntry]]] = {}
    for path, entry in items:
        if entry.size >= _LARGE:
            groups.append([(path, entry)])
        else:
            by_pack.setdefault(entry.pack, []).append((path, entry))
    for members in by_pack.values():
        members.sort(key=lambda item: item[1].offset)
        groups.extend(members[i : i + _GROUP] for i in range(0, len(members), _GROUP))
    return groups


def _fetch_group(cache: LocalCache, store: ObjectStore, group: list[tuple[str, ManifestEntry]]) -> None:
    if len(group) == 1 and group[0][1].size >= _LARGE:
        entry = group[0][1]
        temp = cache.temp_path("fetch")
        store.read_to_file(entry.hash, _location(entry), temp)
        cache.adopt_content(entry.hash, temp)
        return
    batch = [(entry.hash, _location(entry)) for _, entry in group]
    for content_hash, data in store.read_batch(batch):
        cache.add_content(content_hash, data)
