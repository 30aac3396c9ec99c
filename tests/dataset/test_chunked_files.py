"""Large files are stored as content-defined chunks shared by every version of a store: a child that edits
a large file stores about what changed, every version reads back byte for byte on a machine that never saw
it, collections keep exactly the chunks live versions need, and a damaged chunk is found and repaired.
Embedded and through a server (the ``home`` fixture)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import satchel
import satchel.dataset.admin as admin
from satchel import Dataset, check_store
from satchel.dataset.context import get_context
from satchel.errors import IntegrityError, ObjectMissingError, PendingUploadError
from satchel.objects.chunks import CDC_MAX
from tests.conftest import make_version, read_tree, store_dir

MiB = 1 << 20


def pack_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in (store_dir(home) / "packs").rglob("*.pack"))


def fresh_machine(home: Path, tmp_path: Path, name: str) -> None:
    satchel.configure(home=home, cache_dir=tmp_path / f"cache-{name}")


def edit(data: bytes, seed: int) -> tuple[bytes, int]:
    """Six scattered 8 KiB overwrites and 512 KiB inserted in the middle; (result, bytes changed)."""
    rng = random.Random(seed)
    out = bytearray(data)
    for at in rng.sample(range(0, len(data) - 8192), 6):
        out[at : at + 8192] = rng.randbytes(8192)
    out[len(out) // 2 : len(out) // 2] = rng.randbytes(512 << 10)
    return bytes(out), 6 * 8192 + (512 << 10)


@pytest.fixture
def family(home: Path, tmp_path: Path) -> tuple[Dataset, Dataset, dict[str, bytes], dict[str, bytes], int]:
    """A parent with a 24 MiB file and a child that edits it; (parent, child, their files, child's new bytes)."""
    big = random.Random(1).randbytes(24 * MiB)
    parent_files = {"model/weights.bin": big, "notes.txt": b"v1"}
    parent = make_version(tmp_path / "v1", parent_files, name="models")
    before = pack_bytes(home)
    edited, changed = edit(big, 2)
    child = make_version(tmp_path / "v2", {"model/weights.bin": edited}, name="models", parents=[parent])
    grown = pack_bytes(home) - before
    assert changed <= grown <= changed + 14 * CDC_MAX + (64 << 10), (changed, grown)
    return parent, child, parent_files, {**parent_files, "model/weights.bin": edited}, grown


def test_an_edited_large_file_costs_its_changed_chunks_and_both_versions_read_back(
        home: Path, tmp_path: Path, family: tuple[Dataset, Dataset, dict[str, bytes], dict[str, bytes], int]) -> None:
    parent, child, parent_files, child_files, _ = family
    assert child.list_modified_files() == ["model/weights.bin"]
    for version in (parent, child):  # the chunks count as stored bytes (not only the recipe), each chunk once
        assert 24 * MiB <= Dataset.get(dataset_id=version.id).stats["stored_size"] < 25 * MiB
    fresh_machine(home, tmp_path, "elsewhere")
    assert read_tree(Path(Dataset.get(dataset_id=child.id).get_local_copy())) == child_files
    assert read_tree(Path(Dataset.get(dataset_id=parent.id).get_local_copy())) == parent_files
    stored = json.loads((store_dir(home) / "satchel-store.json").read_text())
    assert stored["version"] == 2


def test_a_range_of_a_chunked_file_is_read_without_the_rest(
        home: Path, tmp_path: Path, family: tuple[Dataset, Dataset, dict[str, bytes], dict[str, bytes], int]) -> None:
    _, child, _, child_files, _ = family
    fresh_machine(home, tmp_path, "ranges")
    data = child_files["model/weights.bin"]
    with Dataset.get(dataset_id=child.id).open("model/weights.bin") as handle:
        handle.seek(12 * MiB + 5)
        assert handle.read(100_000) == data[12 * MiB + 5 : 12 * MiB + 5 + 100_000]
        handle.seek(len(data) - 10)
        assert handle.read() == data[-10:]
    assert not list((tmp_path / "cache-ranges").rglob("content/*/*"))  # read by range: nothing fetched whole


def test_collections_keep_the_chunks_live_versions_need(
        home: Path, tmp_path: Path, family: tuple[Dataset, Dataset, dict[str, bytes], dict[str, bytes], int]) -> None:
    parent, child, parent_files, child_files, grown = family
    Dataset.delete(dataset_id=child.id, delete_files=False)
    report = admin.collect(get_context())
    assert report.bytes_freed >= grown // 2  # the child's own chunks (packs with some live chunks are kept)
    fresh_machine(home, tmp_path, "after-child-gc")
    assert read_tree(Path(Dataset.get(dataset_id=parent.id).get_local_copy())) == parent_files
    Dataset.delete(dataset_id=parent.id, delete_files=False)
    admin.collect(get_context())
    assert pack_bytes(home) == 0  # nothing live: every chunk and recipe is gone


def test_a_damaged_chunk_is_found_by_check_and_repaired_from_the_cache(home: Path, tmp_path: Path) -> None:
    big = random.Random(3).randbytes(20 * MiB)
    ds = make_version(tmp_path / "v1", {"big.bin": big}, name="damaged")
    assert Path(ds.get_local_copy(), "big.bin").read_bytes() == big  # cached on this machine
    largest = max((store_dir(home) / "packs").rglob("*.pack"), key=lambda p: p.stat().st_size)
    raw = bytearray(largest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    largest.chmod(0o644)
    largest.write_bytes(bytes(raw))
    fresh_machine(home, tmp_path, "sees-damage")
    with pytest.raises(IntegrityError):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    report = check_store(read_data=True)
    kinds = [p.kind for p in report.problems]
    assert kinds.count("damaged content") == 2  # the chunk in its pack, then the file that needs it
    assert (ds.id, "big.bin") in [use for p in report.problems for use in p.affected]
    satchel.configure(home=home)  # back on the machine that has the file cached
    repaired = check_store(read_data=True, repair=True)
    assert repaired.ok, repaired.problems
    fresh_machine(home, tmp_path, "after-repair")
    assert Path(Dataset.get(dataset_id=ds.id).get_local_copy(), "big.bin").read_bytes() == big
    assert check_store(read_data=True).problems == []


def test_a_lost_chunk_pack_is_found_by_a_plain_check_and_its_file_stored_again(home: Path, tmp_path: Path) -> None:
    big = random.Random(4).randbytes(20 * MiB)
    ds = make_version(tmp_path / "v1", {"big.bin": big}, name="lost")
    assert Path(ds.get_local_copy(), "big.bin").read_bytes() == big  # cached on this machine
    max((store_dir(home) / "packs").rglob("*.pack"), key=lambda p: p.stat().st_size).unlink()
    report = check_store()
    assert "missing pack" in [p.kind for p in report.problems] and not report.ok
    assert (ds.id, "big.bin") in [use for p in report.problems for use in p.affected]
    assert check_store(repair=True).ok
    fresh_machine(home, tmp_path, "after-repair")
    assert Path(Dataset.get(dataset_id=ds.id).get_local_copy(), "big.bin").read_bytes() == big
    assert check_store(read_data=True).problems == []


def test_a_squash_is_not_finalized_over_a_lost_chunk_pack_of_a_file_it_inherits(home: Path, tmp_path: Path) -> None:
    """A squash has no parents to keep its chunked files' chunks: it checks them all, including those of a file
    no later version changed (its view is an overlay whose changes do not name that file)."""
    big = random.Random(5).randbytes(20 * MiB)
    first = make_version(tmp_path / "v1", {"big.bin": big, "a.txt": b"a"}, name="squashed")
    second = make_version(tmp_path / "v2", {"a.txt": b"A"}, name="squashed", parents=[first])
    max((store_dir(home) / "packs").rglob("*.pack"), key=lambda p: p.stat().st_size).unlink()  # the chunks
    with pytest.raises(ObjectMissingError, match="is gone from the store"):
        Dataset.squash("flat", dataset_ids=[first.id, second.id])


def test_a_collection_that_cannot_read_a_recipe_deletes_nothing(home: Path, tmp_path: Path) -> None:
    ds = make_version(tmp_path / "v1", {"big.bin": random.Random(5).randbytes(17 * MiB)}, name="recipe")
    dead = make_version(tmp_path / "v2", {"other.bin": b"dead soon"}, name="dead")
    Dataset.delete(dataset_id=dead.id, delete_files=False)
    packs = sorted((store_dir(home) / "packs").rglob("*.pack"))
    recipe_pack = min((p for p in packs if b"dead soon" not in p.read_bytes()), key=lambda p: p.stat().st_size)
    raw = bytearray(recipe_pack.read_bytes())
    raw[20] ^= 0xFF
    recipe_pack.chmod(0o644)
    recipe_pack.write_bytes(bytes(raw))
    fresh_machine(home, tmp_path, "collector")
    with pytest.raises(IntegrityError, match="Nothing was collected"):
        admin.collect(get_context())
    assert sorted((store_dir(home) / "packs").rglob("*.pack")) == packs  # the dead version's pack too
    assert Dataset.get(dataset_id=ds.id).list_files() == ["big.bin"]


def test_the_parent_recipe_a_child_copies_from_outlives_the_parent(
        home: Path, tmp_path: Path, family: tuple[Dataset, Dataset, dict[str, bytes], dict[str, bytes], int]) -> None:
    parent, child, _, child_files, grown = family
    assert grown < 8 * MiB  # the child's recipe copies runs of the parent's: a few KB, not every row again
    Dataset.delete(dataset_id=parent.id, delete_files=False, force=True)  # the child is flattened first
    admin.collect(get_context())
    fresh_machine(home, tmp_path, "after-parent-gc")
    assert read_tree(Path(Dataset.get(dataset_id=child.id).get_local_copy())) == child_files
    assert check_store(read_data=True).problems == []


def test_a_recipe_kept_only_as_a_base_is_not_taken_for_damage(home: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from satchel.objects import chunks

    monkeypatch.setattr(chunks, "PACK_BYTES", 1)  # a pack per chunk: a collection frees exactly the dead chunks
    big = random.Random(8).randbytes(17 * MiB)
    parent = make_version(tmp_path / "v1", {"big.bin": big}, name="based")
    edited, _ = edit(big, 9)
    child = make_version(tmp_path / "v2", {"big.bin": edited}, name="based", parents=[parent])
    Dataset.delete(dataset_id=parent.id, delete_files=False, force=True)
    freed = admin.collect(get_context())
    assert freed.packs_deleted > 0  # the parent's own chunks; its recipe stays, the child copies rows from it
    assert check_store(read_data=True).problems == []
    assert check_store(read_data=True, repair=True).problems == []
    fresh_machine(home, tmp_path, "after")
    assert Path(Dataset.get(dataset_id=child.id).get_local_copy(), "big.bin").read_bytes() == edited


def test_a_damaged_index_hides_no_live_chunks_from_a_collection(home: Path, tmp_path: Path) -> None:
    big = random.Random(10).randbytes(17 * MiB)
    ds = make_version(tmp_path / "v1", {"big.bin": big}, name="hidden")
    recipe_index = min((store_dir(home) / "packs").rglob("*.idx"), key=lambda p: p.stat().st_size)
    recipe_index.chmod(0o644)
    recipe_index.write_bytes(b"not an index")
    fresh_machine(home, tmp_path, "collector")
    admin.collect(get_context())
    fresh_machine(home, tmp_path, "reader")
    assert Path(Dataset.get(dataset_id=ds.id).get_local_copy(), "big.bin").read_bytes() == big


def test_a_draft_whose_reused_chunks_were_collected_is_stored_again(home: Path, tmp_path: Path) -> None:
    big = random.Random(11).randbytes(17 * MiB)
    old = make_version(tmp_path / "v1", {"big.bin": big}, name="old")
    chunk_packs = sorted((store_dir(home) / "packs").rglob("*.pack"), key=lambda p: p.stat().st_size)[1:]
    Dataset.delete(dataset_id=old.id, delete_files=False)
    draft = Dataset.create(dataset_name="again", dataset_project="p")
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "big.bin").write_bytes(big)
    draft.add_files(tmp_path / "v2")
    draft.upload(show_progress=False)  # the file is in the store already: nothing is uploaded
    for pack in chunk_packs:  # what a collection of another catalog sharing the store would do now
        pack.with_suffix(".idx").unlink()
        pack.unlink()
    with pytest.raises(PendingUploadError, match="upload"):  # seen before anything is finalized
        draft.finalize()
    draft.upload(show_progress=False)  # its chunks are gone: it is stored again
    draft.finalize()
    fresh_machine(home, tmp_path, "after")
    assert Path(Dataset.get(dataset_id=draft.id).get_local_copy(), "big.bin").read_bytes() == big
