"""A damaged store can be checked and repaired (``satchel check [--read-data] [--repair]``), and one damaged
index never blocks the store."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

import satchel
from satchel import Dataset, IntegrityError, ObjectMissingError, check_store
from satchel.dataset import admin
from satchel.dataset.context import get_context
from satchel.objects.manifest import manifest_key
from satchel.objects.packs import decode_index, encode_index
from tests.cli.test_cli import invoke
from tests.conftest import catalog_db, make_version, read_tree, store_dir, write_tree


def fresh_process(home: Path, tmp_path: Path, name: str = "cache") -> None:
    """Forget everything this process knows, with an empty cache (as a new machine would)."""
    satchel.configure(home=home, cache_dir=tmp_path / f"fresh-{name}")


def packs(home: Path, suffix: str = ".pack") -> list[Path]:
    return sorted((store_dir(home) / "packs").rglob(f"*{suffix}"))


def flip(path: Path, needle: bytes) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0
    data[at + len(needle) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))


def version_of(tmp_path: Path, files: dict[str, bytes], name: str = "ds") -> Dataset:
    ds = Dataset.create(dataset_name=name, dataset_project="p")
    write_tree(tmp_path / name, files)
    ds.add_files(tmp_path / name)
    ds.upload(show_progress=False, compression="none")
    ds.finalize()
    return ds


def test_a_clean_store_checks_clean(home: Path, tmp_path: Path) -> None:
    make_version(tmp_path / "a", {"a.txt": "alpha", "big.bin": os.urandom(17 << 20)})
    report = check_store(read_data=True)
    assert report.ok and report.problems == [] and report.entries == 2 and report.bytes_read > 17 << 20
    code, out, _ = invoke("check", "--read-data", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_a_truncated_index_blocks_nothing_and_is_rebuilt(home: Path, tmp_path: Path) -> None:
    files = {f"f{i}.bin": os.urandom(3000) for i in range(5)}
    old = version_of(tmp_path, files)
    index = packs(home, ".idx")[0]
    index.chmod(0o644)
    index.write_bytes(index.read_bytes()[:30])
    fresh_process(home, tmp_path)
    other = version_of(tmp_path, {"new.txt": b"a fresh client can still upload"}, name="other")  # failed before
    assert read_tree(Path(other.get_local_copy())) == {"new.txt": b"a fresh client can still upload"}
    assert read_tree(Path(Dataset.get(dataset_id=old.id).get_local_copy())) == files  # manifests hold locations
    report = check_store()
    assert [p.kind for p in report.problems] == ["damaged index"] and not report.ok
    assert invoke("check")[0] == 5
    repaired = check_store(repair=True)
    assert repaired.problems[0].resolved and "rebuilt from 5 verified" in repaired.problems[0].actions[0]
    assert check_store(read_data=True).problems == []
    assert list((store_dir(home) / "damaged").rglob("*.idx.*"))  # the old index is kept aside


def test_damaged_content_is_found_and_stored_again_from_the_local_cache(home: Path, tmp_path: Path) -> None:
    good, bad = os.urandom(5000), os.urandom(5000)
    ds = version_of(tmp_path, {"good.bin": good, "dir/bad.bin": bad})
    assert read_tree(Path(ds.get_local_copy())) == {"good.bin": good, "dir/bad.bin": bad}  # now cached here
    flip(packs(home)[0], bad)
    fresh_process(home, tmp_path, "elsewhere")  # a machine without the cached copy sees the damage
    with pytest.raises(IntegrityError, match=r"check_store\(.*repair=True\)") as caught:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert caught.value.dataset_path == "dir/bad.bin"
    assert check_store().ok  # the structure is fine: only reading the data finds it
    report = check_store(read_data=True)
    assert [(p.kind, p.affected) for p in report.problems] == [("damaged content", [(ds.id, "dir/bad.bin")])]
    satchel.configure(home=home)  # back on the machine that has it cached
    repaired = check_store(read_data=True, repair=True)
    assert repaired.ok and any("again from a local copy" in a for a in repaired.problems[0].actions)
    fresh_process(home, tmp_path, "after")
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"good.bin": good, "dir/bad.bin": bad}
    assert check_store(read_data=True).problems == []
    admin.collect(get_context())  # the restored copy is in a pack no manifest names: still live
    fresh_process(home, tmp_path, "after-gc")
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"good.bin": good, "dir/bad.bin": bad}


def test_lost_content_comes_back_with_the_next_upload_after_repair(home: Path, tmp_path: Path) -> None:
    bad = os.urandom(5000)
    ds = version_of(tmp_path, {"a.txt": b"alpha", "bad.bin": bad})
    flip(packs(home)[0], bad)
    fresh_process(home, tmp_path)  # no cached copy anywhere
    report = check_store(read_data=True, repair=True)
    assert not report.ok and "add the file to any new version and upload()" in report.problems[0].detail
    code, out, _ = invoke("check", "--read-data", "--json")  # the loss stays reported until it is uploaded again
    assert code == 5 and [(p["kind"], p["affected"]) for p in json.loads(out)["problems"]] == [
        ("content not stored", [[ds.id, "bad.bin"]])]
    write_tree(tmp_path / "again", {"bad.bin": bad})
    again = Dataset.create(dataset_name="again", dataset_project="p")
    again.add_files(tmp_path / "again")
    again.upload(show_progress=False)  # stores it: the damaged copy is no longer counted as stored
    again.finalize()
    fresh_process(home, tmp_path, "after")
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"a.txt": b"alpha", "bad.bin": bad}
    assert invoke("check", "--read-data")[0] == 0
    Dataset.delete(dataset_id=again.id)  # and collects: the old version still needs the new copy
    fresh_process(home, tmp_path, "after-delete")
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"a.txt": b"alpha", "bad.bin": bad}


def test_a_missing_pack_is_stored_again_by_the_next_upload(home: Path, tmp_path: Path) -> None:
    files = {"a.txt": b"compressible text " * 300}
    ds = version_of(tmp_path, files)  # stored raw
    packs(home)[0].unlink()
    fresh_process(home, tmp_path)
    with pytest.raises(ObjectMissingError, match="satchel check"):
        Dataset.get(dataset_id=ds.id).get_local_copy()
    again = make_version(tmp_path / "again", files, name="again")  # without any repair: it is stored again
    assert again.stats["stored_size"] < len(files["a.txt"])  # (zstd this time: another pack)
    fresh_process(home, tmp_path, "after")
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == files
    report = check_store(repair=True)
    assert [p.kind for p in report.problems] == ["missing pack"] and report.ok


def test_a_missing_manifest_is_put_back_from_the_local_copy(home: Path, tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a.txt": b"alpha"})
    manifest = store_dir(home) / manifest_key(get_context().catalog.get_version(ds.id).manifest or "")
    manifest.unlink()
    report = check_store(repair=True)
    assert [(p.kind, p.resolved) for p in report.problems] == [("missing manifest", True)]
    assert manifest.is_file()
    fresh_process(home, tmp_path)
    assert read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy())) == {"a.txt": b"alpha"}


def test_an_old_pack_without_index_is_deleted_by_repair(home: Path, tmp_path: Path) -> None:
    version_of(tmp_path, {"a.txt": b"alpha"})
    orphan = store_dir(home) / "packs/ab" / ("ab" + "0" * 62 + ".pack")
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"SATCHPK1" + os.urandom(100))
    assert check_store().problems == []  # young: an upload may be writing its index right now
    os.utime(orphan, (0, 0))
    pin = store_dir(home) / "locks/pins/writer"
    pin.parent.mkdir(parents=True, exist_ok=True)
    pin.write_text(json.dumps({"packs": [orphan.name[:-5]], "manifests": []}))  # a retried upload reuses it
    report = check_store(repair=True)
    assert [(p.kind, p.actions) for p in report.problems] == [("pack without index",
                                                               ["kept: an upload is using it again"])]
    assert orphan.exists()
    pin.unlink()
    report = check_store(repair=True)
    assert [(p.kind, p.resolved) for p in report.problems] == [("pack without index", True)]
    assert not orphan.exists()


@pytest.mark.parametrize("where", ["index", "manifest"])
def test_impossible_lengths_are_integrity_errors_not_memory_errors(home: Path, tmp_path: Path, where: str) -> None:
    ds = version_of(tmp_path, {"a.bin": os.urandom(3000)})
    if where == "index":
        index = packs(home, ".idx")[0]
        pack_id = index.name[:-4]
        records = [(h, loc.offset, 10**15, 10**15, loc.codec) for h, loc in decode_index(
            pack_id, index.read_bytes()).items()]
        index.chmod(0o644)
        index.write_bytes(encode_index(records))
        assert check_store().problems[0].kind == "entries outside their pack"
        fresh_process(home, tmp_path)
        assert version_of(tmp_path, {"b.bin": os.urandom(10)}, name="b").is_final()  # the index does not block
        return
    from tests.dataset.test_hostile_paths import forge

    forge(home, ds, {7: (2**62).to_bytes(8, "little"), 3: (2**62).to_bytes(8, "little")})  # length and size
    with pytest.raises(IntegrityError, match="impossible location"):
        Dataset.get(dataset_id=ds.id).get_local_copy()


def test_check_reports_versions_of_other_catalogs_through_refs(home: Path, tmp_path: Path) -> None:
    ds = version_of(tmp_path, {"a.txt": b"alpha"})
    with sqlite3.connect(catalog_db(home)) as db:  # as if another machine's catalog held it
        db.execute("DELETE FROM versions WHERE id = ?", (ds.id,))
    satchel.configure(home=home)
    (store_dir(home) / manifest_key(next((store_dir(home) / "refs" / ds.id).iterdir()).name)).unlink()
    satchel.configure(home=home, cache_dir=tmp_path / "no-local-copies")
    report = check_store()
    assert [(p.kind, p.affected) for p in report.problems] == [("missing manifest", [(ds.id, "")])]
