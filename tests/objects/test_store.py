"""ObjectStore: streamed writes, index discovery, verified reads, manifests, store format."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from satchel.errors import IntegrityError, ObjectMissingError, StorageFormatError
from satchel.objects import codec
from satchel.objects.codec import Codec
from satchel.objects.hashing import hash_bytes, hash_file, is_content_hash
from satchel.objects.manifest import PATH_CHECKS, Manifest, ManifestEntry, encode_manifest, manifest_key
from satchel.objects.packs import PACK_MAGIC, Location, PackBuilder, decode_index, encode_index, index_key, pack_key
from satchel.objects.store import FORMAT_KEY, ObjectStore
from satchel.storage import LocalStorage, MemoryStorage, RetryingStorage, Storage
from satchel.storage.memory import forget_memory_store

MiB = 1 << 20


def compressible(n: int, seed: int = 0) -> bytes:
    out = b"".join(b"row %08d,%d,0.%04d,label-%d\n" % (i, seed, i % 9973, i % 7) for i in range(n // 30 + 1))
    return out[:n]


def mixed_payload(total: int, seed: int = 1) -> bytes:
    """Alternating 1 MiB blocks of random and compressible bytes."""
    rng = random.Random(seed)
    blocks = [rng.randbytes(MiB) if i % 2 else compressible(MiB, i) for i in range(total // MiB)]
    return b"".join(blocks) + rng.randbytes(total % MiB)


def irregular_chunks(data: bytes, seed: int = 2) -> Iterator[bytes]:
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        step = rng.choice([1, 4096, 65_537, MiB, 3 * MiB + 17])
        yield data[pos : pos + step]
        pos += step


def build(datas: list[bytes], level: int | None) -> PackBuilder:
    builder = PackBuilder()
    for data in datas:
        builder.add(hash_bytes(data), *codec.encode(data, level), len(data))
    return builder


def flip_byte(storage: LocalStorage, key: str, position: int, mask: int = 0xFF) -> None:
    path = storage.path_of(key)
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(bytes(data))


@pytest.fixture
def memory_storage() -> Iterator[MemoryStorage]:
    name = f"store-{uuid.uuid4().hex}"
    yield MemoryStorage(name)
    forget_memory_store(name)


# -- streamed writes -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_payload() -> bytes:
    return mixed_payload(20 * MiB + 12345)


@pytest.mark.parametrize("level", [None, 3])
def test_write_stream_round_trip(
    store: ObjectStore, storage: LocalStorage, tmp_path: Path, big_payload: bytes, level: int | None
) -> None:
    content_hash, location = store.write_stream(irregular_chunks(big_payload), level)
    assert content_hash == hash_bytes(big_payload)
    assert location.size == len(big_payload)
    assert location.offset == len(PACK_MAGIC)
    if level is None:
        assert location.codec == Codec.RAW
        assert location.length == len(big_payload)
    else:
        assert location.codec == Codec.ZSTD
        assert location.length < len(big_payload) * 0.75  # half of it is very compressible
    assert storage.head(pack_key(location.pack)) == len(PACK_MAGIC) + location.length
    assert storage.get_range(pack_key(location.pack), 0, len(PACK_MAGIC)) == PACK_MAGIC

    dest = tmp_path / "out.bin"
    store.read_to_file(content_hash, location, dest)
    assert dest.read_bytes() == big_payload
    assert store.read(content_hash, location) == big_payload

    # The pack id is the hash of the stored pack bytes.
    assert hash_bytes(storage.get(pack_key(location.pack))) == location.pack
    # No temp files left in the cache or in the storage.
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []
    assert list((tmp_path / "storage" / ".tmp").iterdir()) == []


def test_write_stream_same_content_twice_is_one_pack(store: ObjectStore, storage: LocalStorage) -> None:
    data = mixed_payload(2 * MiB + 3)
    first = store.write_stream(irregular_chunks(data, seed=5), 3)
    second = store.write_stream(irregular_chunks(data, seed=6), 3)  # other chunking, same bytes
    assert first == second
    assert sorted(i.key for i in storage.list("packs/")) == sorted(
        [pack_key(first[1].pack), index_key(first[1].pack)]
    )


def test_write_stream_memory_storage(memory_storage: MemoryStorage, tmp_path: Path) -> None:
    store = ObjectStore(RetryingStorage(memory_storage, base_delay=0), tmp_path / "cache")
    data = mixed_payload(3 * MiB + 1, seed=9)
    content_hash, location = store.write_stream(irregular_chunks(data), 3)
    dest = tmp_path / "out"
    store.read_to_file(content_hash, location, dest)
    assert dest.read_bytes() == data
    assert ObjectStore(memory_storage, tmp_path / "other").index()[content_hash] == location
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


@pytest.mark.parametrize("level", [None, 3])
def test_write_stream_empty(store: ObjectStore, tmp_path: Path, level: int | None) -> None:
    content_hash, location = store.write_stream(iter([]), level)
    assert content_hash == hash_bytes(b"")
    assert location.size == 0
    assert store.read(content_hash, location) == b""
    store.read_to_file(content_hash, location, tmp_path / "empty")
    assert (tmp_path / "empty").read_bytes() == b""


# -- index -----------------------------------------------------------------------------------------
def test_fresh_store_rediscovers_every_location(storage: LocalStorage, tmp_path: Path) -> None:
    writer = ObjectStore(storage, tmp_path / "cache-writer")
    expected: dict[str, Location] = {}
    expected.update(writer.write_pack(build([b"a" * 100, b"b" * 5000, b"tiny"], 3)))
    expected.update(writer.write_pack(build([random.Random(3).randbytes(2000), b""], None)))
    big = mixed_payload(MiB + 5)
    content_hash, location = writer.write_stream([big], 3)
    expected[content_hash] = location
    assert writer.index() == expected

    reader = ObjectStore(storage, tmp_path / "cache-reader")
    assert reader.index() == expected
    # The indexes were fetched once and kept locally.
    pack_ids = {loc.pack for loc in expected.values()}
    assert {p.stem for p in (tmp_path / "cache-reader" / "index").iterdir()} == pack_ids
    for content_hash, location in expected.items():
        assert hash_bytes(reader.read(content_hash, location)) == content_hash


def test_index_picks_up_packs_written_later(storage: LocalStorage, tmp_path: Path) -> None:
    writer = ObjectStore(storage, tmp_path / "w")
    reader = ObjectStore(storage, tmp_path / "r")
    first = writer.write_pack(build([b"first"], None))
    assert reader.index() == first
    second = writer.write_pack(build([b"second"], None))
    assert reader.index() == {**first, **second}


def test_damaged_local_index_copy_is_refetched(storage: LocalStorage, tmp_path: Path) -> None:
    locations = ObjectStore(storage, tmp_path / "w").write_pack(build([b"x" * 300, b"y"], 3))
    pack_id = next(iter(locations.values())).pack
    cache = tmp_path / "r"
    assert ObjectStore(storage, cache).index() == locations
    local_copy = cache / "index" / f"{pack_id}.idx"
    local_copy.write_bytes(b"garbage")
    assert ObjectStore(storage, cache).index() == locations
    assert local_copy.read_bytes() == storage.get(index_key(pack_id))


def test_a_damaged_index_is_skipped_so_its_content_counts_as_not_stored(
        storage: LocalStorage, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = ObjectStore(storage, tmp_path / "w")
    damaged = next(iter(writer.write_pack(build([b"x" * 300], 3)).values())).pack
    good = writer.write_pack(build([b"y" * 300], 3))
    storage.put(index_key(damaged), b"SATCHIX1 but then nonsense")
    reader = ObjectStore(storage, tmp_path / "r")
    assert reader.index() == good  # the damaged index does not block the rest
    assert index_key(damaged) in caplog.text and "check --repair" in caplog.text
    again = next(iter(reader.write_pack(build([b"x" * 300], 3)).values()))  # stored again, same pack id
    assert again.pack == damaged and storage.get(index_key(damaged)).startswith(b"SATCHIX1 but")  # not overwritten


def test_index_entries_outside_their_pack_and_indexes_without_pack_are_ignored(
        storage: LocalStorage, tmp_path: Path) -> None:
    writer = ObjectStore(storage, tmp_path / "w")
    first = next(iter(writer.write_pack(build([b"a" * 300, b"b" * 400], None)).items()))
    lost = writer.write_pack(build([b"c" * 300], None))
    pack = first[1].pack
    records = [(h, loc.offset, loc.length, loc.size, loc.codec) for h, loc in decode_index(
        pack, storage.get(index_key(pack))).items()]
    records[0] = (records[0][0], records[0][1], 10**15, 10**15, 0)  # far beyond the pack
    storage.put(index_key(pack), encode_index(records))
    storage.delete(pack_key(next(iter(lost.values())).pack))
    index = ObjectStore(storage, tmp_path / "r").index()
    assert len(index) == 1 and next(iter(index.values())).pack == pack


@pytest.mark.parametrize("kind", ["local", "memory"])  # memory: no local path, so indexes are read concurrently
def test_locate_answers_what_the_index_answers_for_the_hashes_asked(
        kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    """``locate`` scans indexes for the hashes asked instead of decoding them all: it agrees with a fresh
    ``index()`` on every subset, skipping what the index skips (a damaged index, a missing pack, entries outside
    their pack), a content stored in two packs located where ``index()`` locates it."""
    storage = request.getfixturevalue("storage" if kind == "local" else "memory_storage")
    writer = ObjectStore(storage, tmp_path / "w")
    packs = [writer.write_pack(build([bytes([n]) * (300 + k) for k in range(5)], 3 if n % 2 else None))
             for n in range(6)]
    twice = writer.write_pack(build([bytes([0]) * 300, b"only here"], None))  # the first pack's content again
    damaged, missing, outside = (next(iter(packs[n].values())).pack for n in (1, 2, 3))
    storage.put(index_key(damaged), b"SATCHIX1 but then nonsense")
    storage.delete(pack_key(missing))
    records = [(h, loc.offset, loc.length, loc.size, loc.codec) for h, loc in decode_index(
        outside, storage.get(index_key(outside))).items()]
    records[0] = (records[0][0], records[0][1], 10**15, 10**15, 0)
    storage.put(index_key(outside), encode_index(records))
    index = ObjectStore(storage, tmp_path / "indexed").index()
    asked = [h for locations in [*packs, twice] for h in locations] + [hash_bytes(b"never stored")]
    assert len(index) == 3 * 5 + 4 + 1  # three good packs, the fourth without its entry outside, "only here"
    rng = random.Random(7)
    for _ in range(20):
        subset = rng.sample(asked, rng.randint(0, len(asked)))
        located = ObjectStore(storage, tmp_path / f"r{rng.random()}").locate(subset)
        assert located == {h: index[h] for h in subset if h in index}
    assert index_key(damaged) in caplog.text and pack_key(missing) in caplog.text


def test_locate_finds_no_string_that_is_not_a_content_hash_and_what_this_process_wrote(
        storage: LocalStorage, tmp_path: Path) -> None:
    store = ObjectStore(storage, tmp_path / "s")
    other = ObjectStore(storage, tmp_path / "o").write_pack(build([b"listed"], None))
    written = store.write_pack(build([b"written here"], None))
    assert store.locate(["zz", "", "../../x", hash_bytes(b"x").upper(), *written, *other]) == {**written, **other}


def test_locate_answers_from_what_this_process_knows_and_lists_again(storage: LocalStorage, tmp_path: Path) -> None:
    writer = ObjectStore(storage, tmp_path / "w")
    reader = ObjectStore(storage, tmp_path / "r")
    first = writer.write_pack(build([b"first", b"also first"], None))
    assert reader.index() == first
    storage.delete(index_key(next(iter(first.values())).pack))  # known in memory: not read again
    second = writer.write_pack(build([b"second"], None))
    assert reader.locate([*first, *second, hash_bytes(b"nowhere")]) == {**first, **second}


# -- verified reads --------------------------------------------------------------------------------
ENTRIES = [
    compressible(5000, 1),
    random.Random(4).randbytes(3000),
    compressible(7000, 2),
    random.Random(5).randbytes(100),
]


@pytest.fixture(params=[None, 3], ids=["raw", "zstd"])
def written(request: pytest.FixtureRequest, store: ObjectStore) -> dict[str, Location]:
    return store.write_pack(build(ENTRIES, request.param))


def _check_error(error: IntegrityError, location: Location, content_hash: str) -> None:
    assert error.object_key == pack_key(location.pack)
    assert error.content_hash == content_hash


@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_corrupt_byte_is_detected(
    store: ObjectStore, storage: LocalStorage, tmp_path: Path, written: dict[str, Location], where: str
) -> None:
    victim = hash_bytes(ENTRIES[2])
    location = written[victim]
    position = {
        "start": location.offset,
        "middle": location.offset + location.length // 2,
        "end": location.offset + location.length - 1,
    }[where]
    flip_byte(storage, pack_key(location.pack), position)

    with pytest.raises(IntegrityError) as info:
        store.read(victim, location)
    _check_error(info.value, location, victim)
    assert not isinstance(info.value, ObjectMissingError)

    dest = tmp_path / "dest.bin"
    with pytest.raises(IntegrityError) as info:
        store.read_to_file(victim, location, dest)
    _check_error(info.value, location, victim)
    assert not dest.exists()

    # read_batch hands out the intact entries before the damaged one, and never the damaged one.
    items = [(hash_bytes(d), written[hash_bytes(d)]) for d in ENTRIES]
    got: list[tuple[str, bytes]] = []
    with pytest.raises(IntegrityError) as info:
        for item in store.read_batch(items):
            got.append(item)
    _check_error(info.value, location, victim)
    by_hash = {hash_bytes(d): d for d in ENTRIES}
    assert victim not in {h for h, _ in got}
    assert all(by_hash[h] == data for h, data in got)
    assert len(got) == 2  # entries are packed in order; the third is the damaged one

    # The other entries still read fine on their own.
    for data in ENTRIES[:2] + ENTRIES[3:]:
        assert store.read(hash_bytes(data), written[hash_bytes(data)]) == data


def test_wrong_location_is_detected(store: ObjectStore, written: dict[str, Location]) -> None:
    a, b = hash_bytes(ENTRIES[0]), hash_bytes(ENTRIES[1])
    with pytest.raises(IntegrityError):
        store.read(a, written[b])
    with pytest.raises(IntegrityError):
        list(store.read_batch([(a, written[b])]))


@pytest.mark.parametrize("level", [None, 3])
def test_corrupt_streamed_entry_is_detected(
    store: ObjectStore, storage: LocalStorage, tmp_path: Path, level: int | None
) -> None:
    data = mixed_payload(3 * MiB + 99, seed=11)
    content_hash, location = store.write_stream(irregular_chunks(data), level)
    flip_byte(storage, pack_key(location.pack), location.offset + location.length // 2)
    dest = tmp_path / "dest.bin"
    with pytest.raises(IntegrityError) as info:
        store.read_to_file(content_hash, location, dest)
    _check_error(info.value, location, content_hash)
    assert not dest.exists()
    with pytest.raises(IntegrityError):
        store.read(content_hash, location)


def test_truncated_pack_is_detected(
    store: ObjectStore, storage: LocalStorage, tmp_path: Path, written: dict[str, Location]
) -> None:
    last = hash_bytes(ENTRIES[-1])
    location = written[last]
    path = storage.path_of(pack_key(location.pack))
    path.write_bytes(path.read_bytes()[: location.offset + location.length // 2])
    with pytest.raises(IntegrityError) as info:
        store.read(last, location)
    assert not isinstance(info.value, ObjectMissingError)
    with pytest.raises(IntegrityError):
        store.read_to_file(last, location, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    with pytest.raises(IntegrityError):
        list(store.read_batch([(last, location)]))
    first = hash_bytes(ENTRIES[0])
    assert store.read(first, written[first]) == ENTRIES[0]


def test_deleted_pack_raises_object_missing(
    store: ObjectStore, storage: LocalStorage, tmp_path: Path, written: dict[str, Location]
) -> None:
    content_hash = hash_bytes(ENTRIES[1])
    location = written[content_hash]
    storage.delete(pack_key(location.pack))
    for call in (
        lambda: store.read(content_hash, location),
        lambda: list(store.read_batch([(content_hash, location)])),
        lambda: store.read_to_file(content_hash, location, tmp_path / "dest"),
    ):
        with pytest.raises(ObjectMissingError) as info:
            call()
        assert isinstance(info.value, IntegrityError)
        _check_error(info.value, location, content_hash)
    assert not (tmp_path / "dest").exists()


def test_corrupt_frame_header_is_integrity_error(store: ObjectStore, storage: LocalStorage) -> None:
    data = compressible(7400, 3)
    content_hash = hash_bytes(data)
    location = store.write_pack(build([data], 3))[content_hash]
    assert location.codec == Codec.ZSTD
    # Byte 4 of a zstd frame is the frame header descriptor; its top bit sizes the content-size field.
    flip_byte(storage, pack_key(location.pack), location.offset + 4, 0x80)
    payload = storage.get_range(pack_key(location.pack), location.offset, location.length)
    assert zstandard.frame_content_size(payload) > 2**50
    with pytest.raises(IntegrityError):
        store.read(content_hash, location)


# -- manifests -------------------------------------------------------------------------------------
def sample_manifest() -> Manifest:
    return Manifest(
        "delta",
        parents=["a" * 64],
        entries={
            f"dir/{i}.txt": ManifestEntry(f"{i:064x}", i, "v2", "b" * 64, 8 + i, i, i % 2) for i in range(50)
        },
        removed=["old/one.txt"],
    )


def test_manifest_round_trip(store: ObjectStore, storage: LocalStorage, tmp_path: Path) -> None:
    manifest = sample_manifest()
    manifest_hash = store.put_manifest(manifest)
    assert is_content_hash(manifest_hash)
    assert hash_bytes(storage.get(manifest_key(manifest_hash))) == manifest_hash
    assert store.put_manifest(sample_manifest()) == manifest_hash  # content addressed
    assert store.get_manifest(manifest_hash) == manifest
    # A fresh store (empty cache) fetches it from storage and keeps a local copy.
    fresh_cache = tmp_path / "fresh"
    assert ObjectStore(storage, fresh_cache).get_manifest(manifest_hash) == manifest
    assert hash_bytes((fresh_cache / "manifests" / manifest_hash).read_bytes()) == manifest_hash


def test_tampered_local_manifest_is_refetched(store: ObjectStore, tmp_path: Path) -> None:
    manifest_hash = store.put_manifest(sample_manifest())
    local = tmp_path / "cache" / "manifests" / manifest_hash
    assert local.is_file()
    other = Manifest("full", entries={"evil": ManifestEntry("e" * 64, 1, "x")})
    local.write_bytes(encode_manifest(other))  # readable, but not the object asked for
    assert store.get_manifest(manifest_hash) == sample_manifest()
    assert hash_bytes(local.read_bytes()) == manifest_hash  # repaired
    local.write_bytes(b"garbage")
    assert ObjectStore(store.storage, tmp_path / "cache").get_manifest(manifest_hash) == sample_manifest()


def test_tampered_stored_manifest_raises(store: ObjectStore, storage: LocalStorage, tmp_path: Path) -> None:
    manifest_hash = store.put_manifest(sample_manifest())
    flip_byte(storage, manifest_key(manifest_hash), 10, 0x01)
    reader = ObjectStore(storage, tmp_path / "reader")
    with pytest.raises(IntegrityError) as info:
        reader.get_manifest(manifest_hash)
    assert not isinstance(info.value, ObjectMissingError)
    assert info.value.object_key == manifest_key(manifest_hash)
    assert info.value.content_hash == manifest_hash
    assert not (tmp_path / "reader" / "manifests" / manifest_hash).exists()
    # The writer's verified local copy still serves it.
    assert store.get_manifest(manifest_hash) == sample_manifest()


def test_manifest_paths_are_checked_once_per_machine(store: ObjectStore, storage: LocalStorage,
                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path checks are skipped only for bytes of a hash that passed them here (or that this machine
    encoded); a hostile manifest is refused on every read and never marked."""
    from satchel.objects import manifest as manifest_module
    from tests.objects.test_manifest import _raw_blocks, _reassemble
    from tests.objects.test_manifest import entry as manifest_entry

    order_checks: list[int] = []
    check_order = manifest_module._check_order
    monkeypatch.setattr(manifest_module, "_check_order", lambda paths: (order_checks.append(len(paths)),
                                                                       check_order(paths))[1])
    marker = f".paths-checked-{PATH_CHECKS}"
    written = store.put_manifest(sample_manifest())
    assert (tmp_path / "cache" / "manifests" / f"{written}{marker}").is_file()  # the writer encoded it
    reader_cache = tmp_path / "reader"
    assert ObjectStore(storage, reader_cache).get_manifest(written) == sample_manifest()
    assert (reader_cache / "manifests" / f"{written}{marker}").is_file()  # checked on the first read
    assert len(order_checks) == 1
    assert ObjectStore(storage, reader_cache).get_manifest(written) == sample_manifest()
    assert len(order_checks) == 1  # the second read skipped the path checks

    blocks = _raw_blocks(Manifest("full", entries={"a": manifest_entry(1), "b": manifest_entry(2)}))
    blocks[1] = b"x\0x/y"  # a file that is also a folder
    hostile = _reassemble(blocks)
    hostile_hash = hash_bytes(hostile)
    storage.put(manifest_key(hostile_hash), hostile)
    for _ in range(2):
        with pytest.raises(IntegrityError, match="file and also a folder"):
            ObjectStore(storage, reader_cache).get_manifest(hostile_hash)
    assert not (reader_cache / "manifests" / f"{hostile_hash}{marker}").exists()
    # a marker left by other checks (an older satchel's) does not count
    (reader_cache / "manifests" / f"{hostile_hash}.paths-checked-{PATH_CHECKS - 1}").touch()
    with pytest.raises(IntegrityError, match="file and also a folder"):
        ObjectStore(storage, reader_cache).get_manifest(hostile_hash)


def test_missing_manifest(store: ObjectStore) -> None:
    with pytest.raises(ObjectMissingError) as info:
        store.get_manifest("c" * 64)
    assert info.value.object_key == manifest_key("c" * 64)


# -- store format ----------------------------------------------------------------------------------
def test_first_write_creates_format_file(store: ObjectStore, storage: LocalStorage) -> None:
    assert store.index() == {}
    assert storage.head(FORMAT_KEY) is None  # reading never creates it
    store.write_pack(build([b"x"], None))
    document = json.loads(storage.get(FORMAT_KEY))
    assert document == {"format": "satchel-store", "version": 1}


@pytest.mark.parametrize(
    "document",
    [
        json.dumps({"format": "satchel-store", "version": 99}).encode(),
        json.dumps({"format": "satchel-store", "version": "1"}).encode(),
        json.dumps({"format": "satchel-store"}).encode(),
        json.dumps([1]).encode(),
        b"not json at all",
        b"\xff\xfe",
    ],
)
def test_unreadable_format_raises(storage: Storage, tmp_path: Path, document: bytes) -> None:
    storage.put(FORMAT_KEY, document)
    with pytest.raises(StorageFormatError) as info:
        ObjectStore(storage, tmp_path / "a").index()
    assert info.value.key == FORMAT_KEY
    with pytest.raises(StorageFormatError):
        ObjectStore(storage, tmp_path / "b").check_format(create=False)
    with pytest.raises(StorageFormatError):
        ObjectStore(storage, tmp_path / "c").check_format(create=True)
    with pytest.raises(StorageFormatError):
        ObjectStore(storage, tmp_path / "d").write_pack(build([b"x"], None))
    with pytest.raises(StorageFormatError):
        ObjectStore(storage, tmp_path / "e").put_manifest(sample_manifest())
    assert storage.get(FORMAT_KEY) == document  # never overwritten
    assert [i.key for i in storage.list("packs/")] == []


def test_future_version_message(storage: Storage, tmp_path: Path) -> None:
    storage.put(FORMAT_KEY, json.dumps({"format": "satchel-store", "version": 99}).encode())
    with pytest.raises(StorageFormatError, match="99"):
        ObjectStore(storage, tmp_path / "a").index()


# -- hashing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 4 * MiB - 1, 4 * MiB, 5 * MiB + 3, 9 * MiB + 7])
def test_hash_file_matches_hash_bytes(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_file(str(path)) == (hash_bytes(data), size)
    assert is_content_hash(hash_bytes(data))


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.text(alphabet="0123456789abcdefABCDEF\n \u0661\uff10g", min_size=62, max_size=66),
                       st.text(max_size=70)))
def test_a_content_hash_is_exactly_64_lowercase_hex_characters(value: str) -> None:
    assert is_content_hash(value) == (len(value) == 64 and all(c in "0123456789abcdef" for c in value))
