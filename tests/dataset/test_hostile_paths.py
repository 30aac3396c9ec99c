"""Dataset paths are untrusted input: crafted manifests and catalog rows are refused before anything is
written, by every reader; odd but legal file names round-trip."""

from __future__ import annotations

import os
import sqlite3
import struct
from pathlib import Path

import pytest
import zstandard

import satchel
from satchel import Dataset, DatasetNotFoundError, IntegrityError, InvalidArgumentError, InvalidDatasetPathError
from satchel.dataset.context import get_context
from satchel.objects.hashing import hash_bytes
from satchel.objects.manifest import MANIFEST_MAGIC, manifest_key
from tests.conftest import catalog_db, make_version, read_tree, store_dir, write_tree

HOSTILE = ["../victim.txt", "/abs/evil.txt", "a/../../evil.txt", "..", "a//b", "a/./b", "..\\evil.txt", "a\\b"]


def manifest_blocks(data: bytes) -> list[bytes]:
    raw = zstandard.ZstdDecompressor().decompress(data)
    body, blocks, pos = raw[len(MANIFEST_MAGIC):], [], 0
    while pos < len(body):
        (length,) = struct.unpack_from("<Q", body, pos)
        blocks.append(body[pos + 8: pos + 8 + length])
        pos += 8 + length
    return blocks


def forge(home: Path, ds: Dataset, rewrite: dict[int, bytes]) -> str:
    """Rewrite blocks of ``ds``'s stored manifest (as an attacker with write access to the store and the
    catalog would, following docs/format.md), store it under its hash and point the catalog at it."""
    record = get_context().catalog.get_version(ds.id)
    store = store_dir(home)
    blocks = manifest_blocks((store / manifest_key(record.manifest or "")).read_bytes())
    for index, block in rewrite.items():
        blocks[index] = block
    body = MANIFEST_MAGIC + b"".join(struct.pack("<Q", len(b)) + b for b in blocks)
    data = zstandard.ZstdCompressor().compress(body)
    forged = hash_bytes(data)
    target = store / manifest_key(forged)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    with sqlite3.connect(catalog_db(home)) as db:
        db.execute("UPDATE versions SET manifest = ? WHERE id = ?", (forged, ds.id))
    satchel.configure(home=home)  # a fresh process: nothing memoized
    return forged


def two_file_version(tmp_path: Path) -> Dataset:
    return make_version(tmp_path / "src", {"a.txt": "alpha", "b.txt": "bravo"})


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize("path", HOSTILE)
def test_a_forged_path_is_refused_by_every_reader_before_anything_is_written(home: Path, tmp_path: Path,
                                                                              path: str) -> None:
    ds = two_file_version(tmp_path)
    forge(home, ds, {1: f"a.txt\0{path}".encode()})
    victim = tmp_path / "work" / "victim.txt"
    write_tree(tmp_path / "work", {"victim.txt": "precious"})
    before = files_under(tmp_path)
    fresh = Dataset.get(dataset_id=ds.id)
    readers = {
        "cached copy": lambda: fresh.get_local_copy(),
        "soft links": lambda: fresh.get_local_copy(use_soft_links=True),
        "writable copy": lambda: fresh.get_mutable_local_copy(tmp_path / "work" / "copy", overwrite=True),
        "part": lambda: fresh.get_local_copy(part=0, num_parts=2),
        "list": lambda: fresh.list_files(),
        "entries": lambda: fresh.file_entries_dict,
        "verify": lambda: fresh.verify_dataset_hash(),
        "squash": lambda: Dataset.squash("flat", dataset_ids=[ds.id]),
        "child": lambda: Dataset.create(parent_datasets=[ds.id]).list_files(),
    }
    for what, read in readers.items():
        with pytest.raises(IntegrityError) as caught:
            read()
        assert caught.value.dataset_id == ds.id, what
        assert ds.id in str(caught.value), what
    assert victim.read_text() == "precious"
    created = files_under(tmp_path) - before
    # nothing but satchel's own bookkeeping (locks, local manifest copies, empty build folders) appeared
    cache = get_context().settings.cache_dir
    assert all(p.is_relative_to(home) for p in created), sorted(created)
    assert not [p for p in created if p.is_file() and p.is_relative_to(cache / "versions")]
    assert not (tmp_path / "work" / "copy").exists()
    assert not (cache / "content").exists() or not any((cache / "content").rglob("*"))


@pytest.mark.parametrize("pair", [("a.txt", "a.txt"), ("a.txt", "a.txt/b.txt")])
def test_duplicate_or_file_and_folder_paths_are_refused(home: Path, tmp_path: Path, pair: tuple[str, str]) -> None:
    ds = two_file_version(tmp_path)
    forge(home, ds, {1: "\0".join(pair).encode()})
    with pytest.raises(IntegrityError, match=r"twice|file and also a folder"):
        Dataset.get(dataset_id=ds.id).get_local_copy()


def test_a_delta_that_clashes_with_its_parent_is_refused(home: Path, tmp_path: Path) -> None:
    parent = make_version(tmp_path / "p", {"x": "a file named x"})
    child = make_version(tmp_path / "c", {"other.txt": "o"}, parents=[parent])
    forge(home, child, {1: b"x/y"})  # the parent's file x becomes a folder too
    with pytest.raises(IntegrityError, match="file and also a folder") as caught:
        Dataset.get(dataset_id=child.id).get_local_copy()
    assert caught.value.dataset_id == child.id


def test_a_delta_chain_that_loops_is_an_integrity_error(home: Path, tmp_path: Path) -> None:
    parent = make_version(tmp_path / "p", {"a.txt": "a"})
    child = make_version(tmp_path / "c", {"b.txt": "b"}, parents=[parent])
    header = manifest_blocks((store_dir(home) / manifest_key(
        get_context().catalog.get_version(child.id).manifest or "")).read_bytes())[0]
    forge(home, child, {0: header.replace(parent.id.encode(), child.id.encode())})  # its own parent
    with pytest.raises(IntegrityError, match="loops"):
        Dataset.get(dataset_id=child.id).get_local_copy()


def test_a_catalog_lineage_that_loops_is_an_integrity_error(home: Path, tmp_path: Path) -> None:
    parent = make_version(tmp_path / "p", {"a.txt": "a"})
    draft = Dataset.create(parent_datasets=[parent])
    with sqlite3.connect(catalog_db(home)) as db:
        db.execute("UPDATE version_parents SET parent_id = ? WHERE child_id = ?", (draft.id, draft.id))
    satchel.configure(home=home)
    with pytest.raises(IntegrityError, match="loops"):
        Dataset.get(dataset_id=draft.id).list_files()


@pytest.mark.parametrize("path", ["../escape.txt", "a\\b", "%2E%2E/x", "a/./b"])
def test_a_forged_catalog_row_is_refused(home: Path, tmp_path: Path, path: str) -> None:
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    with sqlite3.connect(catalog_db(home)) as db:
        db.execute("UPDATE draft_rows SET path = ? WHERE version_id = ?", (path, ds.id))
    satchel.configure(home=home)
    fresh = Dataset.get(dataset_id=ds.id)
    for action in (fresh.list_files, lambda: fresh.upload(show_progress=False), fresh.finalize):
        with pytest.raises(IntegrityError) as caught:
            action()
        assert caught.value.dataset_id == ds.id and caught.value.dataset_path == path
    assert not Dataset.get(dataset_id=ds.id).is_final()


# -- names that are odd but legal on POSIX round-trip ------------------------------------------------------
ODD = ["back\\slash.txt", "100%.txt", "%41.txt", "new\nline.txt", " lead and trail ", "..dots..", "-dash", "*star?"]


def test_odd_names_round_trip_through_every_reader(home: Path, tmp_path: Path) -> None:
    files = {name: name.encode() for name in ODD}
    files["dir\\with\\backslashes/inner.txt"] = b"inner"
    ds = make_version(tmp_path / "src", files)
    assert ds.list_files() == sorted(files)
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == files
    satchel.configure(home=home)  # a new process reads the stored manifest
    fresh = Dataset.get(dataset_id=ds.id)
    assert read_tree(Path(fresh.get_mutable_local_copy(tmp_path / "copy"))) == files
    assert fresh.verify_dataset_hash() == []
    assert read_tree(Path(fresh.get_local_copy(files=["back\\slash.txt"]))) == {"back\\slash.txt": b"back\\slash.txt"}
    child = Dataset.create(parent_datasets=[fresh])
    assert child.remove_files("back\\slash.txt") == 1 and child.remove_files("%41.txt") == 1
    child.upload(show_progress=False)
    child.finalize()
    assert sorted(read_tree(Path(child.get_local_copy()))) == sorted(set(files) - {"back\\slash.txt", "%41.txt"})
    assert read_tree(Path(Dataset.squash("flat", dataset_ids=[ds.id, child.id]).get_local_copy())) == {
        k: v for k, v in files.items() if k not in ("back\\slash.txt", "%41.txt")}


def test_non_utf8_file_names_round_trip(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    raw_name = b"caf\xe9-latin1.txt"
    with open(os.path.join(os.fsencode(src), raw_name), "wb") as handle:
        handle.write(b"latin-1 named")
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(src)
    ds.upload(show_progress=False)
    ds.finalize()
    satchel.configure(home=home)
    folder = Dataset.get(dataset_id=ds.id).get_local_copy()
    assert os.listdir(os.fsencode(folder)) == [raw_name]
    assert Dataset.get(dataset_id=ds.id).list_files() == [os.fsdecode(raw_name)]


@pytest.mark.parametrize("dataset_path", ["a\0b", "\0"])
def test_a_nul_in_dataset_path_is_refused_at_add(home: Path, tmp_path: Path, dataset_path: str) -> None:
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    with pytest.raises(InvalidDatasetPathError, match="NUL"):
        ds.add_files(tmp_path / "src", dataset_path=dataset_path)
    with pytest.raises(InvalidArgumentError, match="NUL"):
        ds.add_files(str(tmp_path / "src") + "\0")
    assert ds.list_files() == []
    ds.add_files(tmp_path / "src")
    ds.upload(show_progress=False)
    ds.finalize()
    assert ds.list_files() == ["a.txt"]


@pytest.mark.parametrize("files", [{"100%.txt": "pct", "back\\slash": "bs"},
                                   {"a%": "one", "a%25": "two", "b": "three"}],  # two rows that meet once escaped
                         ids=["escapes", "colliding"])
@pytest.mark.embedded_only("upgrades a local SQLite catalog file in place (a server upgrades its database at start)")
def test_a_draft_catalog_from_schema_2_keeps_odd_names(home: Path, tmp_path: Path, files: dict[str, str]) -> None:
    write_tree(tmp_path / "src", files)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    get_context().close()
    with sqlite3.connect(catalog_db(home)) as db:  # as schema 2 stored them: raw
        for column in ("path", "source"):
            db.execute(f"UPDATE draft_rows SET {column} = replace(replace({column}, '%5C', '\\'), '%25', '%')")
        db.execute("UPDATE satchel_meta SET value = '2' WHERE key = 'schema'")
        assert sorted(r[0] for r in db.execute("SELECT path FROM draft_rows")) == sorted(files)
    satchel.configure(home=home)
    again = Dataset.get(dataset_id=ds.id)
    assert again.list_files() == sorted(files)
    again.upload(show_progress=False)
    again.finalize()
    assert read_tree(Path(again.get_local_copy())) == {k: v.encode() for k, v in files.items()}


def test_a_lone_surrogate_in_dataset_path_is_refused_at_add(home: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a.txt": "alpha"})
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    with pytest.raises(InvalidDatasetPathError, match="lone surrogate"):
        ds.add_files(tmp_path / "src", dataset_path="x\ud800")
    assert ds.list_files() == []


def test_a_catalog_row_with_a_hostile_id_is_refused_and_hides_nothing(home: Path, tmp_path: Path, mode: str) -> None:
    ds = make_version(tmp_path / "src", {"a.txt": "alpha"})
    with sqlite3.connect(catalog_db(home)) as db:
        db.execute("INSERT INTO versions (id, project, name, version, description, tags, status, archived, created_at, "
                   "depth, revision, stats) SELECT '../../evil', project, name, '9.9.9', description, tags, status, "
                   "archived, created_at, depth, revision, stats FROM versions WHERE id = ?", (ds.id,))
    satchel.configure(home=home)
    # embedded: the row is read and refused; server: no such id can be asked for (it is not a version id)
    with pytest.raises(IntegrityError if mode == "embedded" else DatasetNotFoundError,
                       match="invalid version id" if mode == "embedded" else "no dataset version"):
        Dataset.get(dataset_id="../../evil")
    assert [d["id"] for d in Dataset.list_datasets()] == [ds.id]
    assert Dataset.get(dataset_project="p", dataset_name="ds").id == ds.id


def test_a_child_does_not_inherit_an_entry_with_no_stored_content(tmp_path: Path) -> None:
    """A parent's manifest naming a file with no pack and no link (damaged or hostile) stops the child's finalize
    with ObjectMissingError naming the path; nothing is finalized."""
    from satchel import ObjectMissingError
    from satchel.objects.manifest import Manifest, ManifestEntry

    satchel.configure(home=tmp_path / "home")
    try:
        ctx = get_context()
        store = ctx.store(ctx.default_storage_url)
        store.check_format(create=True)
        parent = Dataset.create(dataset_name="bad", dataset_project="p")
        bad = Manifest("full", [], {"ghost.bin": ManifestEntry("ab" * 32, 5, parent.id)}, [])
        ctx.catalog.finalize_version(parent.id, manifest=store.put_manifest(bad), storage_url=store.url, depth=0,
                                     stats={"file_count": 1})
        child = Dataset.create(dataset_name="kid", dataset_project="p", parent_datasets=[parent.id])
        write_tree(tmp_path / "more", {"ok.txt": "fine"})
        child.add_files(tmp_path / "more")
        with pytest.raises(ObjectMissingError, match=r"ghost\.bin"):
            child.finalize(auto_upload=True)
        assert not child.is_final()
    finally:
        get_context().close()
