"""``satchel://`` through fsspec and the libraries that read it (pandas, PyArrow, DuckDB, Polars), embedded and
through a server: exact bytes, ranges that read only what they need, damage that is an error, never data."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from satchel import Dataset, IntegrityError
from satchel.dataset.context import get_context
from tests.conftest import damage_packs, store_dir


def _png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20 + seed, 10), (seed * 20, 80, 160)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def sample(home: Path, tmp_path: Path) -> dict[str, Any]:
    """vision/cats 1.0.0 and 1.0.1 (one file changed), and team/vision/dogs (a nested project)."""
    files = {"labels.csv": b"file,label\na.png,0\nb.png,1\n", "images/a.png": _png(1), "images/b.png": _png(2),
             "deep/x/y/z.txt": b"deep\n"}
    rng = np.random.default_rng(7)
    rows = 300_000
    table = pa.table({"id": np.arange(rows), "noise": rng.random(rows), "tag": rng.integers(0, 1 << 40, rows)})
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=30_000)  # ~7 MiB of Parquet: stored raw, with a block table
    files["big.parquet"] = out.getvalue()
    source = tmp_path / "src"
    for rel, data in files.items():
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        (source / rel).write_bytes(data)
    v1 = Dataset.create(dataset_name="cats", dataset_project="vision")
    v1.add_files(source)
    v1.finalize(auto_upload=True)
    (source / "labels.csv").write_bytes(b"file,label\na.png,1\n")
    v2 = Dataset.create(dataset_name="cats", dataset_project="vision", parent_datasets=[v1.id])
    v2.sync_folder(source)
    v2.finalize(auto_upload=True)
    dogs = Dataset.create(dataset_name="dogs", dataset_project="team/vision")
    dogs.add_files(source / "images")
    dogs.finalize(auto_upload=True)
    return {"v1": v1.id, "v2": v2.id, "dogs": dogs.id, "files": files, "table": table}


def test_the_filesystem_lists_reads_and_resolves_like_dataset_get(sample: dict[str, Any]) -> None:
    fs = fsspec.filesystem("satchel")
    assert fs.ls("", detail=False) == ["team", "vision"]
    assert fs.ls("team/vision", detail=False) == ["team/vision/dogs"]
    assert fs.ls("vision/cats", detail=False) == ["vision/cats/deep", "vision/cats/images", "vision/cats/big.parquet",
                                                  "vision/cats/labels.csv"]
    assert fs.cat("satchel://vision/cats/labels.csv") == b"file,label\na.png,1\n"  # the latest
    assert fs.cat("satchel://vision/cats@1.0.0/labels.csv") == sample["files"]["labels.csv"]
    assert fs.cat(f"satchel://{sample['v1']}/labels.csv") == sample["files"]["labels.csv"]
    assert fs.cat("satchel://team/vision/dogs/a.png") == sample["files"]["images/a.png"]  # nested project
    info = fs.info("satchel://vision/cats/images/b.png")
    assert (info["type"], info["size"]) == ("file", len(sample["files"]["images/b.png"]))
    assert fs.info("vision/cats/deep/x")["type"] == "directory"
    assert fs.exists("vision/cats/deep/x/y/z.txt") and not fs.exists("vision/cats/nothing.txt")
    assert fs.find("vision/cats/deep") == ["vision/cats/deep/x/y/z.txt"]
    assert fs.glob("vision/cats/images/*.png") == ["vision/cats/images/a.png", "vision/cats/images/b.png"]
    assert fs.cat_file("vision/cats/labels.csv", start=5, end=10) == b"file,label\na.png,1\n"[5:10]
    assert fs.cat_file("vision/cats/labels.csv", start=-3) == b",1\n"
    with fs.open("vision/cats/images/a.png") as handle:
        handle.seek(10)
        assert handle.read(6) == sample["files"]["images/a.png"][10:16]
        handle.seek(0)
        assert Image.open(handle).size == (21, 10)
    with pytest.raises(FileNotFoundError):
        fs.cat("vision/cats/nothing.txt")
    with pytest.raises(FileNotFoundError):
        fs.ls("nowhere/at/all")
    with pytest.raises(PermissionError, match="read-only"):
        fs.open("vision/cats/new.txt", "wb")
    with pytest.raises(PermissionError, match="read-only"):
        fs.rm("vision/cats/labels.csv")


def test_get_copies_files_out(sample: dict[str, Any], tmp_path: Path) -> None:
    fs = fsspec.filesystem("satchel")
    fs.get("vision/cats/images", str(tmp_path / "out"), recursive=True)
    got = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*.png")}
    assert got == {"a.png": sample["files"]["images/a.png"], "b.png": sample["files"]["images/b.png"]}


def test_pandas_pyarrow_duckdb_and_polars_read_the_exact_data(sample: dict[str, Any]) -> None:
    import duckdb
    import polars as pl
    import pyarrow.dataset as pads

    assert pd.read_csv("satchel://vision/cats@1.0.0/labels.csv").to_dict("list") == \
        {"file": ["a.png", "b.png"], "label": [0, 1]}
    frame = pd.read_parquet("satchel://vision/cats/big.parquet")
    assert frame["noise"].to_numpy().tobytes() == sample["table"]["noise"].to_numpy().tobytes()
    fs = fsspec.filesystem("satchel")
    table = pads.dataset("vision/cats/big.parquet", filesystem=fs, format="parquet").to_table()
    assert table.equals(sample["table"])
    con = duckdb.connect()
    con.register_filesystem(fs)
    total = con.execute("SELECT sum(id), count(*) FROM read_parquet('satchel://vision/cats/big.parquet')").fetchone()
    assert total == (int(np.arange(300_000).sum()), 300_000)
    with fsspec.open("satchel://vision/cats/big.parquet") as handle:  # Polars takes file objects for other URLs
        polar = pl.read_parquet(handle)
    assert polar["tag"].to_list() == sample["table"]["tag"].to_pylist()
    with fsspec.open("satchel://vision/cats/labels.csv") as handle:
        assert pl.read_csv(handle).shape == (1, 2)


def test_a_footer_read_of_a_large_parquet_file_fetches_only_its_end(sample: dict[str, Any]) -> None:
    """The file (about 7 MiB, stored raw) has a block table: reading its metadata fetches a block or two."""
    record = get_context().catalog.get_version(sample["v2"])
    assert get_context().views.view(record)["big.parquet"].blocks  # the range path is the one under test
    store = get_context().store(str(record.storage_url))
    read: list[int] = []
    original = store.storage.get_range

    def counting(key: str, start: int, length: int) -> bytes:
        read.append(length)
        return original(key, start, length)

    store.storage.get_range = counting  # type: ignore[method-assign]
    try:
        fs = fsspec.filesystem("satchel", skip_instance_cache=True)
        with fs.open("vision/cats/big.parquet", block_size=64 << 10) as handle:
            meta = pq.read_metadata(handle)
        footer = sum(read)
        with fs.open("vision/cats/big.parquet", block_size=64 << 10) as handle:  # ten rows: one row group
            first = pq.ParquetFile(handle).read_row_group(0).slice(0, 10)
    finally:
        store.storage.get_range = original  # type: ignore[method-assign]
    size = len(sample["files"]["big.parquet"])
    assert meta.num_rows == 300_000 and size > 6 << 20
    assert 0 < footer <= 2 << 20, (read, size)  # at most two 1 MiB blocks of a ~7 MiB file
    assert first.column("id").to_pylist() == list(range(10))
    assert sum(read) <= 4 << 20, (read, size)  # the footer and the first row group's blocks, not the file


def test_a_damaged_pack_is_an_integrity_error_never_data(sample: dict[str, Any], home: Path) -> None:
    damage_packs(home, "vision")
    fs = fsspec.filesystem("satchel", skip_instance_cache=True)
    with pytest.raises(IntegrityError):
        fs.cat("vision/cats/big.parquet")
    with pytest.raises(IntegrityError):
        fs.cat("vision/cats/images/a.png")
    cats = Dataset.get(dataset_project="vision", dataset_name="cats")
    with pytest.raises(IntegrityError):
        cats.read_bytes("big.parquet")
    with pytest.raises(IntegrityError), cats.open("images/b.png") as handle:
        handle.read()


def test_hugging_face_datasets_reads_the_exact_rows(sample: dict[str, Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import load_dataset

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    loaded = load_dataset("parquet", data_files="satchel://vision/cats/big.parquet", split="train",
                          cache_dir=str(tmp_path / "hf-cache"))
    assert loaded.num_rows == 300_000
    assert loaded.data.table.column("noise").to_pylist() == sample["table"].column("noise").to_pylist()
    streamed = load_dataset("parquet", data_files="satchel://vision/cats/big.parquet", split="train",
                            streaming=True)
    first = [row["tag"] for _, row in zip(range(5), streamed, strict=False)]
    assert first == sample["table"].column("tag").to_pylist()[:5]


def test_a_streamed_file_that_does_not_match_never_arrives_whole(sample: dict[str, Any], home: Path) -> None:
    record = get_context().catalog.get_version(sample["v1"])
    store = get_context().store(str(record.storage_url))
    entry = get_context().views.view(record)["big.parquet"]
    pack = next(p for p in store_dir(home, "vision").rglob(f"{entry.pack}.pack"))
    data = bytearray(pack.read_bytes())
    data[len(data) - 10] ^= 0x01  # in the last piece
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    handed_out = 0
    with pytest.raises(IntegrityError):
        for piece in store.iter_verified(entry.hash, entry.location):
            handed_out += len(piece)
    assert handed_out < entry.size
