"""The storage contract (satchel.storage.base), checked once and run against every adapter.

A backend joins the suite by subclassing :class:`StorageConformance` and providing a ``storage``
fixture; adapter-specific behaviour (temp folder, error translation, retries, URLs) follows below.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import satchel.storage.local as local_module
import satchel.storage.retry as retry_module
from satchel.errors import (
    InvalidArgumentError,
    StorageError,
    StorageNotFoundError,
    StoragePermissionError,
    StorageTransientError,
)
from satchel.storage import (
    LocalStorage,
    MemoryStorage,
    ObjectInfo,
    RetryingStorage,
    Storage,
    normalize_url,
    open_storage,
)
from satchel.storage.memory import forget_memory_store

INVALID_KEYS = ["../x", "/abs", "a//b", "", "a/../b", "./a", "a/", "a/./b", ".."]

# 1000 bytes, every position distinct enough that an off-by-one in a range shows.
PAYLOAD = bytes((i * 7 + i // 256) % 256 for i in range(1000))


def keys(storage: Storage, prefix: str = "") -> list[str]:
    return sorted(info.key for info in storage.list(prefix))


class StorageConformance:
    """Every adapter must pass these. Subclasses provide the ``storage`` fixture."""

    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        raise NotImplementedError

    # -- put / get ---------------------------------------------------------------------------------
    def test_put_get_round_trip(self, storage: Storage) -> None:
        storage.put("a", b"hello")
        storage.put("nested/deeper/b.bin", PAYLOAD)
        storage.put("empty", b"")
        assert storage.get("a") == b"hello"
        assert storage.get("nested/deeper/b.bin") == PAYLOAD
        assert storage.get("empty") == b""

    def test_put_accepts_bytearray_and_memoryview(self, storage: Storage) -> None:
        buf = bytearray(b"mutable")
        storage.put("ba", buf)  # type: ignore[arg-type]
        buf[:] = b"changed"
        storage.put("mv", memoryview(b"view"))  # type: ignore[arg-type]
        assert storage.get("ba") == b"mutable"
        assert storage.get("mv") == b"view"

    def test_put_replaces(self, storage: Storage) -> None:
        storage.put("k", b"first version, longer")
        storage.put("k", b"second")
        assert storage.get("k") == b"second"
        assert storage.head("k") == len(b"second")
        assert keys(storage) == ["k"]

    def test_put_if_absent_writes_once_and_keeps_first(self, storage: Storage) -> None:
        assert storage.put_if_absent("p/k", b"first") is True
        assert storage.put_if_absent("p/k", b"second") is False
        assert storage.get("p/k") == b"first"
        storage.put("p/k", b"forced")
        assert storage.put_if_absent("p/k", b"third") is False
        assert storage.get("p/k") == b"forced"

    def test_put_if_absent_after_delete_writes_again(self, storage: Storage) -> None:
        assert storage.put_if_absent("k", b"one") is True
        storage.delete("k")
        assert storage.put_if_absent("k", b"two") is True
        assert storage.get("k") == b"two"

    def test_put_file_copies(self, storage: Storage, tmp_path: Path) -> None:
        source = tmp_path / "source.bin"
        source.write_bytes(PAYLOAD)
        storage.put_file("files/copy.bin", source)
        assert storage.get("files/copy.bin") == PAYLOAD
        assert source.read_bytes() == PAYLOAD  # the source is untouched without consume
        source.write_bytes(b"changed later")
        assert storage.get("files/copy.bin") == PAYLOAD  # the stored object does not alias the file

    def test_put_file_consume(self, storage: Storage, tmp_path: Path) -> None:
        source = tmp_path / "consumed.bin"
        source.write_bytes(PAYLOAD)
        storage.put("files/moved.bin", b"old content")
        storage.put_file("files/moved.bin", source, consume=True)
        assert storage.get("files/moved.bin") == PAYLOAD
        assert not source.exists()

    def test_put_file_missing_source(self, storage: Storage, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            storage.put_file("never", tmp_path / "does-not-exist")
        assert storage.head("never") is None

    def test_get_missing_raises_not_found(self, storage: Storage) -> None:
        storage.put("present", b"x")
        with pytest.raises(StorageNotFoundError) as info:
            storage.get("absent/key")
        assert isinstance(info.value, FileNotFoundError)
        assert isinstance(info.value, StorageError)
        assert info.value.key == "absent/key"
        assert info.value.url == storage.url

    # -- ranges ------------------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("start", "length"),
        [(0, 1000), (0, 1), (1, 10), (500, 250), (999, 1), (990, 10), (0, 0), (1000, 0)],
    )
    def test_get_range(self, storage: Storage, start: int, length: int) -> None:
        storage.put("r", PAYLOAD)
        assert storage.get_range("r", start, length) == PAYLOAD[start : start + length]

    def test_get_range_past_end_is_short(self, storage: Storage) -> None:
        # ObjectStore relies on a short read to detect a truncated pack.
        storage.put("r", PAYLOAD)
        assert storage.get_range("r", 990, 50) == PAYLOAD[990:]
        assert storage.get_range("r", 2000, 5) == b""

    def test_get_range_missing(self, storage: Storage) -> None:
        with pytest.raises(StorageNotFoundError):
            storage.get_range("nope", 0, 1)

    @pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000, 4096])
    @pytest.mark.parametrize(("start", "length"), [(0, 1000), (3, 500), (900, 100), (999, 1), (10, 0)])
    def test_iter_range(self, storage: Storage, chunk_size: int, start: int, length: int) -> None:
        storage.put("r", PAYLOAD)
        chunks = list(storage.iter_range("r", start, length, chunk_size))
        assert b"".join(chunks) == PAYLOAD[start : start + length]
        assert all(len(chunk) <= chunk_size for chunk in chunks)
        # Inside the object every chunk but the last is full.
        assert all(len(chunk) == chunk_size for chunk in chunks[:-1])

    def test_iter_range_past_end(self, storage: Storage) -> None:
        storage.put("r", PAYLOAD)
        assert b"".join(storage.iter_range("r", 950, 200, 16)) == PAYLOAD[950:]

    def test_iter_range_default_chunk(self, storage: Storage) -> None:
        storage.put("r", PAYLOAD)
        assert list(storage.iter_range("r", 0, len(PAYLOAD))) == [PAYLOAD]

    def test_iter_range_missing(self, storage: Storage) -> None:
        with pytest.raises(StorageNotFoundError):
            list(storage.iter_range("nope", 0, 10, 4))

    # -- head / list / delete ----------------------------------------------------------------------
    def test_head(self, storage: Storage) -> None:
        storage.put("h/one", PAYLOAD)
        storage.put("h/empty", b"")
        assert storage.head("h/one") == len(PAYLOAD)
        assert storage.head("h/empty") == 0
        assert storage.head("h/missing") is None
        assert storage.head("other") is None

    def test_list(self, storage: Storage) -> None:
        objects = {
            "top": b"1",
            "a/x": b"22",
            "a/y/z": b"333",
            "a/y/w/v": b"4444",
            "ab/c": b"55555",
            "abc": b"",
            "b/x": b"7777777",
        }
        for key, data in objects.items():
            storage.put(key, data)
        listed = list(storage.list())
        assert all(isinstance(info, ObjectInfo) for info in listed)
        assert sorted((i.key, i.size) for i in listed) == sorted((k, len(v)) for k, v in objects.items())
        assert len(listed) == len(objects)  # each object once
        assert keys(storage, "a/") == ["a/x", "a/y/w/v", "a/y/z"]
        assert keys(storage, "a") == ["a/x", "a/y/w/v", "a/y/z", "ab/c", "abc"]
        assert keys(storage, "a/y") == ["a/y/w/v", "a/y/z"]
        assert keys(storage, "a/y/") == ["a/y/w/v", "a/y/z"]
        assert keys(storage, "a/y/w/v") == ["a/y/w/v"]
        assert keys(storage, "ab") == ["ab/c", "abc"]
        assert keys(storage, "t") == ["top"]
        assert keys(storage, "zzz") == []
        assert keys(storage, "zzz/") == []
        assert keys(storage, "a/q/") == []

    def test_list_empty_storage(self, storage: Storage) -> None:
        assert keys(storage) == []
        assert keys(storage, "packs/") == []

    def test_delete(self, storage: Storage) -> None:
        storage.put("d/one", b"1")
        storage.put("d/two", b"2")
        storage.delete("d/one")
        assert storage.head("d/one") is None
        with pytest.raises(StorageNotFoundError):
            storage.get("d/one")
        assert keys(storage) == ["d/two"]
        storage.delete("d/one")  # already gone: fine
        storage.delete("never/existed")
        assert storage.get("d/two") == b"2"

    # -- keys --------------------------------------------------------------------------------------
    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_invalid_keys_rejected(self, storage: Storage, key: str, tmp_path: Path) -> None:
        source = tmp_path / "src"
        source.write_bytes(b"data")
        calls: list[Callable[[], object]] = [
            lambda: storage.put(key, b"x"),
            lambda: storage.put_if_absent(key, b"x"),
            lambda: storage.put_file(key, source),
            lambda: storage.get(key),
            lambda: storage.get_range(key, 0, 1),
            lambda: list(storage.iter_range(key, 0, 1)),
            lambda: storage.head(key),
            lambda: storage.delete(key),
        ]
        for call in calls:
            with pytest.raises(InvalidArgumentError):
                call()
        assert keys(storage) == []
        assert source.read_bytes() == b"data"

    def test_valid_unusual_keys(self, storage: Storage) -> None:
        for key in ("with space", "dots.in.name", "...", "a/..b", "ünïcödé/ключ", "x-y_z=1"):
            storage.put(key, key.encode())
            assert storage.get(key) == key.encode()
        assert len(keys(storage)) == 6

    # -- concurrency -------------------------------------------------------------------------------
    def test_concurrent_put_if_absent_single_winner(self, storage: Storage) -> None:
        for round_no in range(5):
            key = f"race/{round_no}"
            results = race_put_if_absent(storage, key, threads_n=8)
            assert len(results) == 8
            winners = [n for n, won in results.items() if won]
            assert len(winners) == 1
            assert storage.get(key) == payload_of(winners[0])
            assert all(won is False for n, won in results.items() if n != winners[0])


def payload_of(writer: int) -> bytes:
    return f"writer-{writer}".encode() * 100


def race_put_if_absent(storage: Storage, key: str, threads_n: int) -> dict[int, bool]:
    """``threads_n`` threads released together, each calling put_if_absent(key, its own bytes)."""
    barrier = threading.Barrier(threads_n)

    def worker(n: int) -> tuple[int, bool]:
        barrier.wait(timeout=10)
        return n, storage.put_if_absent(key, payload_of(n))

    with ThreadPoolExecutor(max_workers=threads_n) as pool:
        return dict(pool.map(worker, range(threads_n)))


# -- the backends ----------------------------------------------------------------------------------
class TestMemoryStorage(StorageConformance):
    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        name = f"conformance-{uuid.uuid4().hex}"
        yield MemoryStorage(name)
        forget_memory_store(name)

    def test_same_name_same_store(self) -> None:
        name = f"shared-{uuid.uuid4().hex}"
        try:
            MemoryStorage(name).put("k", b"v")
            assert MemoryStorage(name).get("k") == b"v"
            assert MemoryStorage(name).url == f"memory://{name}"
            forget_memory_store(name)
            assert MemoryStorage(name).head("k") is None
        finally:
            forget_memory_store(name)

    def test_stores_are_isolated(self) -> None:
        a, b = f"iso-a-{uuid.uuid4().hex}", f"iso-b-{uuid.uuid4().hex}"
        try:
            MemoryStorage(a).put("k", b"a")
            assert MemoryStorage(b).head("k") is None
        finally:
            forget_memory_store(a)
            forget_memory_store(b)


class TestLocalStorage(StorageConformance):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        yield LocalStorage(tmp_path / "root")

    def test_url_and_paths(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        assert storage.url == (tmp_path / "root").as_uri()
        storage.put("a/b", b"x")
        assert (tmp_path / "root" / "a" / "b").read_bytes() == b"x"
        assert storage.path_of("a/b") == tmp_path / "root" / "a" / "b"

    def test_invalid_key_writes_nothing_outside_root(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        with pytest.raises(InvalidArgumentError):
            storage.put("../escaped", b"x")
        with pytest.raises(InvalidArgumentError):
            storage.put_if_absent("../escaped", b"x")
        assert not (tmp_path / "escaped").exists()

    def test_list_never_shows_internal_tmp_folder(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        storage.put("real/object", b"x")
        # A stray temp file, as left by a crashed writer.
        (tmp_path / "root" / ".tmp").mkdir(exist_ok=True)
        (tmp_path / "root" / ".tmp" / "deadbeef").write_bytes(b"partial")
        assert (tmp_path / "root" / ".tmp").is_dir()
        assert keys(storage) == ["real/object"]
        assert keys(storage, ".") == []
        assert keys(storage, ".t") == []
        # A user folder that happens to be called .tmp deeper down is a normal object.
        storage.put("real/.tmp/kept", b"y")
        assert keys(storage) == ["real/.tmp/kept", "real/object"]

    def test_no_temp_files_left_behind(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        source = tmp_path / "src"
        source.write_bytes(b"file")
        storage.put("a", b"1")
        storage.put("a", b"2")
        assert storage.put_if_absent("b", b"1") is True
        assert storage.put_if_absent("b", b"2") is False
        storage.put_file("c", source)
        storage.put_file("d", source, consume=True)
        assert list((tmp_path / "root" / ".tmp").iterdir()) == []

    def test_put_file_consume_across_devices_falls_back_to_copy(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path / "root")
        source = tmp_path / "src.bin"
        source.write_bytes(PAYLOAD)
        real_replace = os.replace
        moves_refused: list[str] = []

        def replace(src: object, dst: object) -> None:
            if Path(str(src)) == source:
                moves_refused.append(str(src))
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            real_replace(src, dst)  # type: ignore[arg-type]

        monkeypatch.setattr(local_module.os, "replace", replace)
        storage.put_file("x", source, consume=True)
        assert moves_refused == [str(source)]
        assert storage.get("x") == PAYLOAD
        assert list((tmp_path / "root" / ".tmp").iterdir()) == []

    def test_put_file_consume_other_os_error_is_translated(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path / "root")
        source = tmp_path / "src.bin"
        source.write_bytes(PAYLOAD)

        def replace(src: object, dst: object) -> None:
            raise OSError(errno.EBUSY, "busy")

        monkeypatch.setattr(local_module.os, "replace", replace)
        with pytest.raises(StorageTransientError):
            storage.put_file("x", source, consume=True)
        assert source.read_bytes() == PAYLOAD

    def test_error_translation(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        # Tests run as root, so real permission failures cannot be provoked; check the mapping itself.
        denied = storage._error(PermissionError(errno.EACCES, "x"), "k")
        assert type(denied) is StoragePermissionError
        assert isinstance(denied, PermissionError)
        assert denied.key == "k"
        assert denied.url == storage.url
        transient = storage._error(OSError(errno.EAGAIN, "try again"), "k")
        assert type(transient) is StorageTransientError
        for code in (errno.EINTR, errno.ETIMEDOUT, errno.EBUSY):
            assert type(storage._error(OSError(code, "x"), "k")) is StorageTransientError
        missing = storage._error(FileNotFoundError(errno.ENOENT, "x"), "k")
        assert type(missing) is StorageNotFoundError
        other = storage._error(OSError(errno.EIO, "io"), None)
        assert type(other) is StorageError
        assert other.key is None

    def test_permission_error_from_filesystem_is_translated(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        storage = LocalStorage(tmp_path / "root")
        storage.put("k", b"x")

        def deny(self: Path) -> bytes:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))

        monkeypatch.setattr(Path, "read_bytes", deny)
        with pytest.raises(StoragePermissionError) as info:
            storage.get("k")
        assert isinstance(info.value, PermissionError)
        assert isinstance(info.value.__cause__, PermissionError)
        assert not isinstance(info.value, StorageNotFoundError)

    def test_directory_in_place_of_object_is_not_not_found(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        storage.put("dir/x", b"x")
        with pytest.raises(StorageError) as info:
            storage.get("dir")
        assert not isinstance(info.value, StorageNotFoundError)

    def test_list_prefix_cannot_escape_root(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        storage.put("inside", b"x")
        (tmp_path / "outside.txt").write_bytes(b"not part of the storage")
        with pytest.raises(InvalidArgumentError):
            keys(storage, "../")

    def test_key_under_internal_tmp_folder_is_rejected(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        with pytest.raises(InvalidArgumentError, match="reserved"):
            storage.put(".tmp/user-object", b"x")
        with pytest.raises(InvalidArgumentError, match="reserved"):
            storage.get(".tmp/user-object")

    def test_invalid_key_leaves_no_temp_file_and_keeps_source(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        source = tmp_path / "src"
        source.write_bytes(b"precious")
        with pytest.raises(InvalidArgumentError):
            storage.put("../x", b"1")
        with pytest.raises(InvalidArgumentError):
            storage.put_file("../y", source, consume=True)
        assert source.exists()
        assert source.read_bytes() == b"precious"
        tmp_dir = tmp_path / "root" / ".tmp"
        assert not tmp_dir.exists() or list(tmp_dir.iterdir()) == []

    def test_head_of_folder_is_none(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path / "root")
        storage.put("dir/x", b"x")
        assert storage.head("dir") is None


class TestRetryingLocalStorage(StorageConformance):
    """The retry wrapper must not change the contract of what it wraps."""

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[Storage]:
        yield RetryingStorage(LocalStorage(tmp_path / "root"), retries=2, base_delay=0)


# -- RetryingStorage -------------------------------------------------------------------------------
class FlakyStorage(Storage):
    """Fails the first ``failures`` calls of every method with ``error``, then serves from a dict."""

    url = "flaky://test"

    def __init__(self, failures: int, error: type[StorageError] = StorageTransientError) -> None:
        self.failures = failures
        self.error = error
        self.calls: dict[str, int] = {}
        self.objects: dict[str, bytes] = {"k": b"value"}

    def _maybe_fail(self, what: str, key: str | None = None) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1
        if self.calls[what] <= self.failures:
            raise self.error(f"{what} failed", url=self.url, key=key)

    def put(self, key: str, data: bytes) -> None:
        self._maybe_fail("put", key)
        self.objects[key] = data

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._maybe_fail("put_if_absent", key)
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    def put_file(self, key: str, path: Path, *, consume: bool = False) -> None:
        self._maybe_fail("put_file", key)
        self.objects[key] = path.read_bytes()

    def get(self, key: str) -> bytes:
        self._maybe_fail("get", key)
        return self.objects[key]

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self._maybe_fail("get_range", key)
        return self.objects[key][start : start + length]

    def head(self, key: str) -> int | None:
        self._maybe_fail("head", key)
        data = self.objects.get(key)
        return None if data is None else len(data)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._maybe_fail("list")
        return iter([ObjectInfo(k, len(v)) for k, v in self.objects.items() if k.startswith(prefix)])

    def delete(self, key: str) -> None:
        self._maybe_fail("delete", key)
        self.objects.pop(key, None)


class TestRetryingStorage:
    def test_transient_errors_are_retried_until_success(self) -> None:
        inner = FlakyStorage(failures=2)
        storage = RetryingStorage(inner, retries=3, base_delay=0)
        assert storage.get("k") == b"value"
        assert inner.calls["get"] == 3
        assert storage.put_if_absent("new", b"n") is True
        assert inner.calls["put_if_absent"] == 3
        assert storage.head("k") == 5
        assert storage.get_range("k", 1, 3) == b"alu"
        assert [i.key for i in storage.list("n")] == ["new"]
        assert inner.calls["list"] == 3
        storage.delete("new")
        assert "new" not in inner.objects

    def test_exactly_retries_plus_one_attempts(self) -> None:
        inner = FlakyStorage(failures=3)
        assert RetryingStorage(inner, retries=3, base_delay=0).get("k") == b"value"
        assert inner.calls["get"] == 4

    def test_exhausted_retries_propagate_transient_error(self) -> None:
        inner = FlakyStorage(failures=10)
        storage = RetryingStorage(inner, retries=3, base_delay=0)
        with pytest.raises(StorageTransientError):
            storage.get("k")
        assert inner.calls["get"] == 4
        with pytest.raises(StorageTransientError):
            storage.put("x", b"1")
        assert inner.calls["put"] == 4
        assert "x" not in inner.objects

    def test_zero_retries(self) -> None:
        inner = FlakyStorage(failures=1)
        with pytest.raises(StorageTransientError):
            RetryingStorage(inner, retries=0, base_delay=0).get("k")
        assert inner.calls["get"] == 1
        inner2 = FlakyStorage(failures=1)
        with pytest.raises(StorageTransientError):
            RetryingStorage(inner2, retries=-5, base_delay=0).get("k")
        assert inner2.calls["get"] == 1

    @pytest.mark.parametrize("error", [StorageNotFoundError, StoragePermissionError, StorageError])
    def test_non_transient_errors_are_not_retried(self, error: type[StorageError]) -> None:
        inner = FlakyStorage(failures=1, error=error)
        storage = RetryingStorage(inner, retries=5, base_delay=0)
        with pytest.raises(error):
            storage.get("k")
        assert inner.calls["get"] == 1
        assert storage.get("k") == b"value"  # the next call goes through
        assert inner.calls["get"] == 2

    def test_backoff_grows(self, monkeypatch: pytest.MonkeyPatch) -> None:
        delays: list[float] = []
        monkeypatch.setattr(retry_module.time, "sleep", delays.append)
        inner = FlakyStorage(failures=3)
        assert RetryingStorage(inner, retries=3, base_delay=1.0).get("k") == b"value"
        assert len(delays) == 3
        # base * 2**attempt * [0.5, 1.5)
        for attempt, delay in enumerate(delays):
            assert 0.5 * 2**attempt <= delay < 1.5 * 2**attempt

    def test_stream_resumes_where_it_broke(self) -> None:
        data = bytes(range(256)) * 40

        class BreaksMidStream(FlakyStorage):
            starts: list[int] = []  # noqa: RUF012

            def iter_range(self, key: str, start: int, length: int, chunk_size: int = 8 << 20) -> Iterator[bytes]:
                self.starts.append(start)
                end = start + length
                for offset in range(start, end, chunk_size):
                    if len(self.starts) <= 2 and offset >= start + 3 * chunk_size:
                        raise StorageTransientError("connection reset", url=self.url, key=key)
                    yield data[offset : min(offset + chunk_size, end)]

        inner = BreaksMidStream(failures=0)
        got = b"".join(RetryingStorage(inner, retries=2, base_delay=0).iter_range("k", 10, 9000, 1000))
        assert got == data[10:9010]
        assert inner.starts == [10, 3010, 6010]  # each retry resumes after the last byte received
        with pytest.raises(StorageTransientError):
            BreaksMidStream.starts = []
            b"".join(RetryingStorage(BreaksMidStream(failures=0), retries=0, base_delay=0).iter_range("k", 0, 9000,
                                                                                                     1000))

    def test_wrapper_exposes_inner_url_and_capabilities(self, tmp_path: Path) -> None:
        inner = LocalStorage(tmp_path)
        storage = RetryingStorage(inner)
        assert storage.url == inner.url
        assert storage.capabilities == inner.capabilities
        assert storage.capabilities.local_path is True


# -- URLs ------------------------------------------------------------------------------------------
class TestOpenStorage:
    def test_path_and_file_url_normalize_alike(self, tmp_path: Path) -> None:
        folder = tmp_path / "store"
        expected = folder.absolute().as_uri()
        assert normalize_url(str(folder)) == expected
        assert normalize_url(folder) == expected
        assert normalize_url(folder.as_uri()) == expected
        assert expected.startswith("file:///")

    def test_path_with_space_and_percent(self, tmp_path: Path) -> None:
        folder = tmp_path / "a b%20c"
        assert normalize_url(str(folder)) == normalize_url(folder.as_uri())
        storage = open_storage(str(folder))
        storage.put("k", b"v")
        assert (folder / "k").read_bytes() == b"v"
        assert open_storage(folder.as_uri()).get("k") == b"v"

    def test_relative_path_becomes_absolute(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.chdir(tmp_path)
        assert normalize_url("rel/store") == (tmp_path / "rel" / "store").as_uri()

    def test_open_folder(self, tmp_path: Path) -> None:
        storage = open_storage(tmp_path / "s", retries=4)
        assert isinstance(storage, RetryingStorage)
        assert storage.retries == 4
        assert isinstance(storage.inner, LocalStorage)
        assert storage.inner.root == tmp_path / "s"
        assert storage.url == (tmp_path / "s").as_uri()
        storage.put("x/y", b"data")
        assert LocalStorage(tmp_path / "s").get("x/y") == b"data"

    def test_open_memory(self) -> None:
        name = f"open-{uuid.uuid4().hex}"
        try:
            assert normalize_url(f"memory://{name}") == f"memory://{name}"
            storage = open_storage(f"memory://{name}")
            assert isinstance(storage, RetryingStorage)
            assert isinstance(storage.inner, MemoryStorage)
            storage.put("k", b"v")
            assert MemoryStorage(name).get("k") == b"v"
        finally:
            forget_memory_store(name)

    @pytest.mark.parametrize("url", ["ftp://x", "sftp://host/path", "unknown://a"])
    def test_unknown_scheme(self, url: str) -> None:
        with pytest.raises(InvalidArgumentError):
            normalize_url(url)
        with pytest.raises(InvalidArgumentError):
            open_storage(url)
