"""External links (add_external_files) on local files and a real HTTP server: recorded by URL, size and change
tag, downloaded into views with the same caching, refused (or skipped) when the source changed or vanished."""

from __future__ import annotations

import functools
import http.server
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import satchel
from satchel import Dataset, ExternalLinkError
from satchel.catalog.sql import SCHEMA_VERSION
from satchel.errors import InvalidArgumentError, StorageNotFoundError
from tests.conftest import catalog_db, read_tree, write_tree
from tests.httpd import serving


def draft(name: str = "links", **kw: object) -> Dataset:
    return Dataset.create(dataset_name=name, dataset_project="p", **kw)  # type: ignore[arg-type]


def finish(ds: Dataset) -> Dataset:
    ds.upload(show_progress=False)
    ds.finalize()
    return ds


def touch_later(path: Path, content: bytes) -> None:
    """Rewrite ``path`` so that its mtime surely differs."""
    before = path.stat().st_mtime_ns
    path.write_bytes(content)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "remote", {"a.txt": "alpha", "sub/b.bin": os.urandom(3000), "sub/deep/c.csv": "1,2",
                                            "skip.log": "log"})


def test_folder_links_round_trip(home: Path, source: Path, tmp_path: Path) -> None:
    ds = draft()
    assert ds.add_external_files(source.as_uri(), dataset_path="ext") == 4
    write_tree(tmp_path / "local", {"own.txt": "stored"})
    ds.add_files(tmp_path / "local")
    assert ds.list_files() == ["ext/a.txt", "ext/skip.log", "ext/sub/b.bin", "ext/sub/deep/c.csv", "own.txt"]
    finish(ds)
    # Nothing of the links was uploaded: only own.txt is in the store.
    assert Dataset.get(dataset_id=ds.id).get_num_chunks() == 1
    links = ds.link_entries_dict
    assert sorted(links) == ["ext/a.txt", "ext/skip.log", "ext/sub/b.bin", "ext/sub/deep/c.csv"]
    assert links["ext/a.txt"].link == (source / "a.txt").as_uri()
    assert links["ext/a.txt"].size == 5 and links["ext/a.txt"].parent_dataset_id == ds.id
    assert [e.relative_path for e in ds.link_entries] == sorted(links)
    assert set(ds.file_entries_dict) == {"own.txt"}
    copy = Path(Dataset.get(dataset_id=ds.id).get_local_copy())
    expected = {f"ext/{k}": v for k, v in read_tree(source).items()} | {"own.txt": b"stored"}
    assert read_tree(copy) == expected
    assert Dataset.get(dataset_id=ds.id).verify_dataset_hash() == []
    mutable = Path(Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "mine"))
    assert read_tree(mutable) == expected
    # A second get is a cache hit: it works even with the source gone.
    (source / "a.txt").unlink()
    assert Path(Dataset.get(dataset_id=ds.id).get_local_copy()) == copy


def test_changed_and_vanished_sources(home: Path, source: Path, tmp_path: Path) -> None:
    ds = draft()
    ds.add_external_files(source.as_uri())
    finish(ds)
    touch_later(source / "a.txt", b"ALPHA, changed")
    (source / "sub/b.bin").unlink()
    (tmp_path / "empty").mkdir()
    assert Dataset.get(dataset_id=ds.id).verify_dataset_hash(
        local_copy_path=tmp_path / "empty", skip_hash=True) == sorted(
        ["a.txt", "skip.log", "sub/b.bin", "sub/deep/c.csv"])  # all missing locally; two also changed at source
    with pytest.raises(ExternalLinkError) as info:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert info.value.reason in ("changed", "missing")
    assert info.value.dataset_path in ("a.txt", "sub/b.bin")
    assert "add_external_files" in str(info.value)
    assert isinstance(info.value, OSError)
    partial = Path(Dataset.get(dataset_id=ds.id).get_local_copy(raise_on_error=False))
    assert read_tree(partial) == {"skip.log": b"log", "sub/deep/c.csv": b"1,2"}
    target = Path(Dataset.get(dataset_id=ds.id).get_mutable_local_copy(tmp_path / "m", raise_on_error=False))
    assert read_tree(target) == {"skip.log": b"log", "sub/deep/c.csv": b"1,2"}
    with pytest.raises(ExternalLinkError) as vanished:
        Dataset.get(dataset_id=ds.id).get_local_copy(files=["sub/b.bin"])
    assert vanished.value.reason == "missing"
    with pytest.raises(ExternalLinkError) as changed:
        Dataset.get(dataset_id=ds.id).get_local_copy(files=["a.txt"])
    assert changed.value.reason == "changed"
    # verify names exactly the links whose source is no longer what was recorded.
    good = write_tree(tmp_path / "good", {"a.txt": "alpha", "sub/b.bin": b"x" * 3000, "sub/deep/c.csv": "1,2",
                                          "skip.log": "log"})
    assert Dataset.get(dataset_id=ds.id).verify_dataset_hash(local_copy_path=good) == ["a.txt", "sub/b.bin"]


def test_wildcard_recursive_and_single_files(home: Path, source: Path) -> None:
    ds = draft()
    assert ds.add_external_files(source.as_uri(), wildcard=["*.txt", "*.csv"]) == 2
    assert ds.list_files() == ["a.txt", "sub/deep/c.csv"]
    other = draft("flat")
    assert other.add_external_files(str(source), recursive=False) == 2  # a plain local path works too
    assert other.list_files() == ["a.txt", "skip.log"]
    single = draft("single")
    assert single.add_external_files([(source / "sub/b.bin").as_uri(), source / "a.txt"], dataset_path="x") == 2
    assert single.list_files() == ["x/a.txt", "x/b.bin"]
    assert single.add_external_files((source / "a.txt").as_uri(), dataset_path="x") == 0  # unchanged: nothing new
    with pytest.raises(StorageNotFoundError, match="nothing to link"):
        single.add_external_files((source / "nope").as_uri())


def test_file_replaces_link_and_link_replaces_file(home: Path, source: Path, tmp_path: Path) -> None:
    base = draft()
    base.add_external_files((source / "a.txt").as_uri())
    write_tree(tmp_path / "l", {"b.txt": "local b"})
    base.add_files(tmp_path / "l")
    finish(base)
    child = draft(parent_datasets=[base.id])
    write_tree(tmp_path / "l2", {"a.txt": "now a local file"})
    child.add_files(tmp_path / "l2")
    child.add_external_files((source / "skip.log").as_uri())
    renamed = tmp_path / "b-link.txt"
    renamed.write_text("b from a link")
    child.add_external_files(renamed.as_uri())  # lands at b-link.txt
    child.remove_files("b.txt")
    child.add_external_files(renamed.as_uri(), dataset_path="")
    finish(child)
    assert sorted(child.link_entries_dict) == ["b-link.txt", "skip.log"]
    assert child.list_modified_files() == ["a.txt"]
    got = read_tree(Path(Dataset.get(dataset_id=child.id).get_local_copy()))
    assert got == {"a.txt": b"now a local file", "b-link.txt": b"b from a link", "skip.log": b"log"}
    grandchild = draft(parent_datasets=[child.id])
    grandchild.add_external_files((source / "a.txt").as_uri())  # a link again where a file was
    finish(grandchild)
    assert read_tree(Path(grandchild.get_local_copy()))["a.txt"] == b"alpha"
    assert "a.txt" in grandchild.link_entries_dict
    squashed = Dataset.squash("flat", dataset_ids=[base.id, child.id, grandchild.id])
    assert sorted(squashed.link_entries_dict) == ["a.txt", "b-link.txt", "skip.log"]
    assert read_tree(Path(squashed.get_local_copy())) == got | {"a.txt": b"alpha"}


def test_links_only_version_and_draft_rules(home: Path, source: Path) -> None:
    ds = draft()
    ds.add_external_files(source.as_uri(), dataset_path="d")
    with pytest.raises(InvalidArgumentError, match="read-only"):
        ds.upload(show_progress=False, output_url="https://example.invalid/x")
    finish(ds)
    assert ds.get_num_chunks() == 0
    assert read_tree(Path(ds.get_local_copy())) == {f"d/{k}": v for k, v in read_tree(source).items()}
    with pytest.raises(satchel.DatasetFinalizedError):
        ds.add_external_files(source.as_uri())


# -- a real HTTP server -------------------------------------------------------------------------------
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web(source: Path) -> Iterator[str]:
    with serving(functools.partial(QuietHandler, directory=str(source))) as url:
        yield url


def test_http_links(home: Path, source: Path, web: str) -> None:
    ds = draft()
    assert ds.add_external_files([f"{web}/a.txt", f"{web}/sub/b.bin"], dataset_path="web") == 2
    entry = ds.link_entries_dict["web/b.bin"]
    assert entry.link == f"{web}/sub/b.bin" and entry.size == 3000 and entry.tag
    finish(ds)
    copy = read_tree(Path(Dataset.get(dataset_id=ds.id).get_local_copy()))
    assert copy == {"web/a.txt": b"alpha", "web/b.bin": (source / "sub/b.bin").read_bytes()}
    with pytest.raises(StorageNotFoundError, match="cannot be listed"):
        draft("folder").add_external_files(f"{web}/sub/")
    time.sleep(1.1)  # Last-Modified has one-second resolution
    (source / "a.txt").write_text("alpha changed")
    satchel.configure(home=home, cache_dir=home / "other-cache")
    with pytest.raises(ExternalLinkError) as info:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert info.value.reason == "changed" and info.value.url == f"{web}/a.txt"


@pytest.mark.embedded_only("upgrades a local SQLite catalog file in place (a server upgrades its database at start)")
def test_catalog_from_before_links_is_upgraded(home: Path, source: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "f", {"x.txt": "x"})
    ds = draft()
    ds.add_files(tmp_path / "f")
    satchel.dataset.context.get_context().close()
    with sqlite3.connect(catalog_db(home)) as db:  # make it look like a schema-1 catalog
        db.execute("CREATE TABLE old_rows AS SELECT version_id, path, hash, size, source FROM draft_rows")
        db.execute("DROP TABLE draft_rows")
        db.execute("ALTER TABLE old_rows RENAME TO draft_rows")
        db.execute("UPDATE satchel_meta SET value = '1' WHERE key = 'schema'")
    satchel.configure(home=home)
    satchel.dataset.context.get_context().close()
    with sqlite3.connect(catalog_db(home)) as db:  # a crash after the column was added, before the bump
        db.execute("UPDATE satchel_meta SET value = '1' WHERE key = 'schema'")
    satchel.configure(home=home)
    again = Dataset.get(dataset_id=ds.id)
    again.add_external_files(source.as_uri(), dataset_path="ext")
    finish(again)
    assert "ext/a.txt" in again.link_entries_dict and "x.txt" in again.list_files()
    with sqlite3.connect(catalog_db(home)) as db:
        assert db.execute("SELECT value FROM satchel_meta WHERE key = 'schema'").fetchone() == (str(SCHEMA_VERSION),)


# -- sources that change under us, short bodies, presigned URLs (a server we control) ----------------------
class TaggedHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` with an ETag; ``flip_on_get`` rewrites a file (same size, new tag) as its GET starts;
    ``short`` files declare their full length but send half and close."""

    files: dict[str, bytes] = {}  # noqa: RUF012
    tags: dict[str, str] = {}  # noqa: RUF012
    flip_on_get: set[str] = set()  # noqa: RUF012
    short: set[str] = set()  # noqa: RUF012

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _head(self) -> bytes | None:
        path = self.path.split("?", 1)[0].lstrip("/")
        data = self.files.get(path)
        if data is None:
            self.send_error(404)
            return None
        if self.command == "GET" and path in self.flip_on_get:
            self.files[path] = data = bytes(reversed(data))
            self.tags[path] = self.tags[path] + "x"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{self.tags[path]}"')
        self.end_headers()
        return data if path not in self.short else data[: len(data) // 2]

    def do_HEAD(self) -> None:
        self._head()

    def do_GET(self) -> None:
        data = self._head()
        if data is not None:
            self.wfile.write(data)
            self.close_connection = True


@pytest.fixture
def tagged() -> Iterator[tuple[str, type[TaggedHandler]]]:
    handler = type("Handler", (TaggedHandler,), {"files": {}, "tags": {}, "flip_on_get": set(), "short": set()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_source_rewritten_during_download_is_refused(home: Path, tagged: tuple[str, type[TaggedHandler]]) -> None:
    url, handler = tagged
    handler.files["f.bin"], handler.tags["f.bin"] = b"ABCDEF", "v1"
    ds = draft()
    ds.add_external_files(f"{url}/f.bin")
    finish(ds)
    handler.flip_on_get.add("f.bin")  # the HEAD before the download still says v1
    with pytest.raises(ExternalLinkError) as info:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert info.value.reason == "changed" and "while it was downloaded" in str(info.value)
    # nothing was cached under the old identity: after re-linking, the new bytes come back
    handler.flip_on_get.clear()
    fixed = draft("fixed")
    fixed.add_external_files(f"{url}/f.bin")
    finish(fixed)
    assert read_tree(Path(fixed.get_local_copy())) == {"f.bin": handler.files["f.bin"]}


def test_short_body_is_transient_not_a_changed_source(tagged: tuple[str, type[TaggedHandler]]) -> None:
    from satchel.errors import StorageTransientError
    from satchel.storage import open_storage

    url, handler = tagged
    handler.files["half.bin"], handler.tags["half.bin"] = b"x" * 1000, "t"
    handler.short.add("half.bin")
    with pytest.raises(StorageTransientError, match="500 of 1000"):
        b"".join(open_storage(url, retries=1).iter_range("half.bin", 0, 1000))


def test_presigned_query_stays_out_of_paths_and_messages(home: Path, tagged: tuple[str, type[TaggedHandler]]) -> None:
    url, handler = tagged
    handler.files["f.txt"], handler.tags["f.txt"] = b"hello", "v1"
    ds = draft()
    ds.add_external_files(f"{url}/f.txt?X-Amz-Signature=SECRETSIG")
    assert ds.list_files() == ["f.txt"]
    finish(ds)
    handler.tags["f.txt"] = "v2"
    with pytest.raises(ExternalLinkError) as info:
        Dataset.get(dataset_id=ds.id).get_local_copy()
    assert "SECRETSIG" not in str(info.value) and "?<redacted>" in str(info.value)


def test_sync_folder_keeps_links(home: Path, source: Path, tmp_path: Path) -> None:
    ds = draft()
    ds.add_external_files(source.as_uri(), dataset_path="ext", wildcard="*.txt")
    write_tree(tmp_path / "own", {"a.txt": "mine"})
    assert ds.sync_folder(tmp_path / "own") == (0, 1)
    assert ds.list_files() == ["a.txt", "ext/a.txt"]
    assert list(ds.link_entries_dict) == ["ext/a.txt"]
