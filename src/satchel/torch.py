"""PyTorch datasets over a satchel version: ``IterableDataset`` (streamed, sharded) and ``MapDataset``
(indexed). Needs ``pip install 'satchel[torch]'``.

Both yield ``(path, bytes)`` (or ``transform((path, bytes))``) with verified bytes, read through the local
content cache when the content is there and otherwise from the store, a few hundred small files per request
batch, held in memory only until they are yielded. Nothing open is pickled: a DataLoader worker opens its own
reader on first use, so ``num_workers > 0`` works, embedded and through a server.

Sharding (``IterableDataset``): the files are split byte-balanced, as ``get_local_copy(part, num_parts)``
splits them, first across ranks (``rank``/``world_size``, by default ``torch.distributed``'s, looked up when
iterating), then across the DataLoader's workers; every file is read exactly once per epoch. Ranks may get
different numbers of files (the split balances bytes): code that needs equal steps per rank stops at the
shortest, as with any iterable dataset. With ``shuffle``, each shard's order changes per epoch (``set_epoch``,
which reaches workers when they are started for the epoch, not ``persistent_workers``), seeded by ``seed``;
which shard holds a file does not.
"""

from __future__ import annotations

import fnmatch
import os
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch.utils.data as torch_data

from satchel.dataset.context import get_context
from satchel.dataset.parts import split_parts
from satchel.dataset.reader import VersionReader
from satchel.errors import InvalidArgumentError
from satchel.objects import ManifestEntry

BATCH_FILES = 256
BATCH_BYTES = 64 << 20
SMALL = 8 << 20


def _resolve(dataset_id: str | None, dataset_project: str | None, dataset_name: str | None,
             dataset_version: str | None) -> str:
    from satchel.dataset.dataset import Dataset

    found = Dataset.get(dataset_id=dataset_id, dataset_project=dataset_project, dataset_name=dataset_name,
                        dataset_version=dataset_version, only_completed=True)
    return found.id


def _selected(reader: VersionReader, files: Sequence[str] | str | None) -> dict[str, ManifestEntry]:
    view = reader.view
    if files is None:
        return dict(view)
    patterns = [files] if isinstance(files, str) else list(files)
    chosen = {p: e for p, e in view.items() if any(p == f or fnmatch.fnmatchcase(p, f) for f in patterns)}
    if not chosen:
        raise InvalidArgumentError(f"files={patterns!r} selects no file of dataset {reader.record.id}; give paths "
                                   "or wildcards (images/*.jpg) of its files")
    return chosen


def _world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """(rank, world size): as given, else ``torch.distributed``'s when it is initialized, else (0, 1)."""
    if rank is None or world_size is None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
        elif rank is None and world_size is None:
            return 0, 1
        else:
            raise InvalidArgumentError("rank and world_size go together: pass both (e.g. rank=0, world_size=4), or "
                                       "neither to take torch.distributed's")
    if not 0 <= rank < world_size:
        raise InvalidArgumentError(f"rank must be in 0..world_size-1; got rank={rank}, world_size={world_size}")
    return rank, world_size


class _Source:
    """What a dataset keeps: the version's id and its selected paths (picklable); the reader is opened in
    each process on first use."""

    def __init__(self, dataset_id: str | None, dataset_project: str | None, dataset_name: str | None,
                 dataset_version: str | None, files: Sequence[str] | str | None,
                 transform: Callable[[tuple[str, bytes]], Any] | None) -> None:
        self.version_id = _resolve(dataset_id, dataset_project, dataset_name, dataset_version)
        self.transform = transform
        self._reader: VersionReader | None = None
        self._pid = os.getpid()
        self.entries = _selected(self.reader, files)
        self.paths = sorted(self.entries)

    @property
    def reader(self) -> VersionReader:
        """This process's reader (a forked worker opens its own: connections are never shared)."""
        if self._reader is None or self._pid != os.getpid():
            ctx = get_context()
            self._reader = VersionReader(ctx, ctx.catalog.get_version(self.version_id))
            self._pid = os.getpid()
        return self._reader

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"] = None  # nothing open crosses a process boundary
        return state

    def item(self, path: str, data: bytes) -> Any:
        return self.transform((path, data)) if self.transform is not None else (path, data)

    def read_many(self, paths: list[str]) -> Iterator[tuple[str, bytes]]:
        """(path, verified bytes) in ``paths`` order; small files not cached are read a batch at a time."""
        for start in range(0, len(paths), BATCH_FILES):
            batch = paths[start : start + BATCH_FILES]
            fetched = self._batch(batch)
            for path in batch:
                data = fetched.pop(path, None)
                yield path, data if data is not None else self.reader.read(path)

    def _batch(self, paths: list[str]) -> dict[str, bytes]:
        """The small, stored, not cached files of ``paths``, read in coalesced range requests and verified."""
        reader = self.reader
        wanted: dict[str, list[str]] = {}
        items: list[tuple[str, Any]] = []
        budget = BATCH_BYTES
        for path in paths:
            entry = self.entries[path]
            if entry.link or not entry.pack or entry.size > SMALL or entry.size > budget:
                continue
            if reader.ctx.cache.content_looks_intact(entry.hash, entry.size):
                continue
            if entry.hash not in wanted:
                items.append((entry.hash, entry.location))
                budget -= entry.size
            wanted.setdefault(entry.hash, []).append(path)
        if not items or not reader.record.storage_url:
            return {}
        store = reader.ctx.store(reader.record.storage_url)
        out: dict[str, bytes] = {}
        for content_hash, data in store.read_batch(items):
            for path in wanted.get(content_hash, []):
                out[path] = data
        return out


class IterableDataset(torch_data.IterableDataset):  # type: ignore[type-arg]
    """A version's files as a stream of ``(path, bytes)``, sharded by rank and DataLoader worker (see the
    module docs)."""

    def __init__(self, dataset_id: str | None = None, dataset_project: str | None = None,
                 dataset_name: str | None = None, dataset_version: str | None = None,
                 files: Sequence[str] | str | None = None, rank: int | None = None, world_size: int | None = None,
                 shuffle: bool = False, seed: int = 0,
                 transform: Callable[[tuple[str, bytes]], Any] | None = None) -> None:
        super().__init__()
        self.source = _Source(dataset_id, dataset_project, dataset_name, dataset_version, files, transform)
        self._rank, self._world_size = rank, world_size
        if rank is not None and world_size is not None:
            _world(rank, world_size)  # refused at once when it cannot be right
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    @property
    def rank(self) -> int:
        """This process's rank (torch.distributed's, looked up when iterating, unless given)."""
        return _world(self._rank, self._world_size)[0]

    @property
    def world_size(self) -> int:
        return _world(self._rank, self._world_size)[1]

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order to use (with ``shuffle``); call it before each epoch, as with
        ``DistributedSampler``."""
        self.epoch = int(epoch)

    def shard(self, worker: int = 0, num_workers: int = 1) -> list[str]:
        """The paths this rank's ``worker`` reads this epoch, in order."""
        entries = self.source.entries
        rank, world_size = _world(self._rank, self._world_size)
        ranks = split_parts(entries, world_size)
        mine = ranks[rank] if rank < len(ranks) else []
        workers = split_parts({p: entries[p] for p in mine}, num_workers) if mine else []
        paths = list(workers[worker]) if worker < len(workers) else []
        if self.shuffle:
            random.Random(f"{self.seed}/{self.epoch}/{rank}/{worker}").shuffle(paths)
        return paths

    def __iter__(self) -> Iterator[Any]:
        info = torch_data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for path, data in self.source.read_many(self.shard(worker, num_workers)):
            yield self.source.item(path, data)


class MapDataset(torch_data.Dataset):  # type: ignore[type-arg]
    """A version's files by index: ``dataset[i]`` is ``(path, bytes)`` of the i-th path in sorted order."""

    def __init__(self, dataset_id: str | None = None, dataset_project: str | None = None,
                 dataset_name: str | None = None, dataset_version: str | None = None,
                 files: Sequence[str] | str | None = None,
                 transform: Callable[[tuple[str, bytes]], Any] | None = None) -> None:
        super().__init__()
        self.source = _Source(dataset_id, dataset_project, dataset_name, dataset_version, files, transform)

    def __len__(self) -> int:
        return len(self.source.paths)

    def __getitem__(self, index: int) -> Any:
        path = self.source.paths[index]
        return self.source.item(path, self.source.reader.read(path))
