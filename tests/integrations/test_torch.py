"""``satchel.torch`` with a real (CPU) PyTorch: DataLoader workers and a simulated world of ranks see every file
exactly once per epoch, shuffling is seeded per epoch, nothing open is pickled; embedded and through a server."""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from torch.utils.data import DataLoader

from satchel import Dataset, IntegrityError
from satchel.torch import IterableDataset, MapDataset
from tests.conftest import damage_packs


@pytest.fixture
def files(home: Path, tmp_path: Path) -> dict[str, bytes]:
    data = {f"shard{i % 3}/item_{i:03d}.bin": bytes([i % 251]) * (100 + 37 * i) for i in range(60)}
    data["big/blob.bin"] = bytes(range(256)) * 20_000  # 5 MiB: read on its own
    for rel, content in data.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(content)
    ds = Dataset.create(dataset_name="items", dataset_project="train")
    ds.add_files(tmp_path / "src")
    ds.finalize(auto_upload=True)
    return data


def test_workers_and_ranks_see_every_file_exactly_once_per_epoch(files: dict[str, bytes]) -> None:
    seen: Counter[str] = Counter()
    for rank in range(3):
        ranked = IterableDataset(dataset_project="train", dataset_name="items", rank=rank, world_size=3,
                                 shuffle=True, seed=11)
        copy = pickle.loads(pickle.dumps(ranked))  # nothing open inside, and the copy picks the same files
        assert copy.shard() == ranked.shard() and sorted(p for p, _ in copy) == sorted(ranked.shard())
        for path, data in DataLoader(ranked, batch_size=None, num_workers=2):
            assert data == files[path]
            seen[path] += 1
    assert seen == Counter(dict.fromkeys(files, 1))


def test_shuffle_is_seeded_per_epoch_and_the_split_is_byte_balanced(files: dict[str, bytes]) -> None:
    stream = IterableDataset(dataset_project="train", dataset_name="items", shuffle=True, seed=3, rank=0,
                             world_size=1)
    first = stream.shard(1, 2)
    stream.set_epoch(1)
    second = stream.shard(1, 2)
    assert len(first) > 20 and sorted(first) == sorted(second) and first != second
    stream.set_epoch(0)
    assert stream.shard(1, 2) == first
    sizes = [sum(len(files[p]) for p in IterableDataset(dataset_project="train", dataset_name="items", rank=r,
                                                        world_size=2).shard()) for r in range(2)]
    assert abs(sizes[0] - sizes[1]) <= max(len(v) for v in files.values())


def test_map_dataset_indexes_the_files_and_works_with_workers(files: dict[str, bytes]) -> None:
    table = MapDataset(dataset_project="train", dataset_name="items", files=["shard1/*"],
                       transform=lambda item: (item[0], len(item[1])))
    assert len(table) == 20
    loaded = {path: size for batch in DataLoader(table, batch_size=4, num_workers=2)
              for path, size in zip(batch[0], batch[1].tolist(), strict=True)}
    assert loaded == {p: len(v) for p, v in files.items() if p.startswith("shard1/")}
    with pytest.raises(ValueError, match="selects no file"):
        MapDataset(dataset_project="train", dataset_name="items", files=["nothing/*"])


def test_a_damaged_store_is_an_integrity_error_in_a_data_loader(files: dict[str, bytes], home: Path) -> None:
    damage_packs(home, "train")
    with pytest.raises(IntegrityError):
        for _ in IterableDataset(dataset_project="train", dataset_name="items"):
            pass
    with pytest.raises(IntegrityError):  # raised in a worker, re-raised as itself by the DataLoader
        for _ in DataLoader(IterableDataset(dataset_project="train", dataset_name="items"), batch_size=None,
                            num_workers=2):
            pass
    with pytest.raises(IntegrityError):
        MapDataset(dataset_project="train", dataset_name="items", files="big/blob.bin")[0]




@pytest.mark.embedded_only("the store is an object store the client writes directly, in both modes alike")
def test_workers_on_an_object_store_are_spawned_and_a_fork_says_so(home: Path, seaweedfs: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """obstore (the S3 and Azure client) does not survive a fork: forked workers get a clear error naming spawn;
    spawned workers (configured from the environment, as any satchel process) read every file."""
    import satchel
    from tests.conftest import s3_backend

    backend = s3_backend(seaweedfs, f"t-{tmp_path.name}")
    for name, value in backend.options.items():
        monkeypatch.setenv(f"SATCHEL_{name.upper()}", value)
    satchel.configure(home=home)
    data = {f"f{i:02d}.bin": bytes([i]) * (50 + i) for i in range(12)}
    for rel, content in data.items():
        (tmp_path / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / rel).write_bytes(content)
    ds = Dataset.create(dataset_name="cloud", dataset_project="train", output_uri=backend.url)
    ds.add_files(tmp_path / "src")
    ds.finalize(auto_upload=True)
    stream = IterableDataset(dataset_id=ds.id)
    with pytest.raises(Exception, match="multiprocessing_context='spawn'"):
        list(DataLoader(stream, batch_size=None, num_workers=2))
    spawned = DataLoader(stream, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    assert dict(spawned) == data


def test_rank_and_world_size_go_together(files: dict[str, bytes]) -> None:
    with pytest.raises(ValueError, match="rank and world_size go together"):
        list(IterableDataset(dataset_project="train", dataset_name="items", rank=2))
    with pytest.raises(ValueError, match="rank must be in"):
        IterableDataset(dataset_project="train", dataset_name="items", rank=3, world_size=3)
