"""Chunked large files (objects/chunks.py): content-defined chunks, recipes, dedup, verified reads, hostile
recipes."""

from __future__ import annotations

import json
import random
from array import array
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from satchel.errors import IntegrityError
from satchel.objects.chunks import CDC_MAX, Recipe, assemble, decode_recipe, encode_recipe, read_range
from satchel.objects.codec import Codec
from satchel.objects.hashing import hash_bytes
from satchel.objects.manifest import Manifest, ManifestEntry, decode_manifest, encode_manifest
from satchel.objects.packs import Location, decode_index, index_key, list_packs
from satchel.objects.store import FORMAT_KEY, ObjectStore
from satchel.storage import LocalStorage
from tests.objects.test_store import irregular_chunks, mixed_payload

MiB = 1 << 20


def stored_bytes(storage: LocalStorage) -> int:
    return sum(p.stat().st_size for p in Path(storage.path_of("packs")).rglob("*.pack"))


def edited(data: bytes, seed: int = 9) -> tuple[bytes, int]:
    """``data`` with 4 scattered 4 KiB overwrites and 256 KiB inserted in the middle; (result, changed bytes)."""
    rng = random.Random(seed)
    out = bytearray(data)
    for at in sorted(rng.sample(range(0, len(data) - 4096), 4)):
        out[at : at + 4096] = rng.randbytes(4096)
    middle = len(out) // 2
    out[middle:middle] = rng.randbytes(256 << 10)
    return bytes(out), 4 * 4096 + (256 << 10)


@pytest.mark.parametrize("level", [3, None])
def test_round_trip_and_the_same_cuts_whatever_the_pieces(store: ObjectStore, level: int | None) -> None:
    data = mixed_payload(20 * MiB + 12345)
    content_hash, location, stored = store.write_chunked(irregular_chunks(data), level)
    assert content_hash == hash_bytes(data) and location.codec == Codec.CHUNKS and location.size == len(data)
    assert b"".join(store.iter_verified(content_hash, location)) == data
    assert store.read(content_hash, location) == data
    recipe = store.recipe(content_hash, location)
    assert len(recipe) > 20 * MiB // CDC_MAX and max(recipe.sizes) <= CDC_MAX
    assert [hash_bytes(data[a:b]) for a, b in zip(recipe.starts, recipe.starts[1:], strict=False)] == [
        h for h, _ in recipe.chunks()]
    if level is not None:
        assert stored < len(data) * 0.8  # the compressible half is compressed chunk by chunk
    again = store.write_chunked(irregular_chunks(data, seed=7), level)  # other pieces, the same bytes
    assert again[:2] == (content_hash, location) and again[2] == 0  # nothing new stored, no second recipe


def test_an_edited_copy_stores_about_what_changed(store: ObjectStore, storage: LocalStorage) -> None:
    data = random.Random(1).randbytes(24 * MiB)
    store.write_chunked(iter([data]), 3)
    before = stored_bytes(storage)
    child, changed = edited(data)
    content_hash, location, stored = store.write_chunked(irregular_chunks(child), 3)
    grown = stored_bytes(storage) - before
    assert grown == stored
    # each edit costs at most the chunks around it (a cut moves at most to the next one): 5 places x 2 chunks
    assert changed <= grown <= changed + 10 * CDC_MAX + (64 << 10), (changed, grown)
    assert b"".join(store.iter_verified(content_hash, location)) == child


def test_chunks_are_shared_across_files(store: ObjectStore, storage: LocalStorage) -> None:
    data = random.Random(2).randbytes(16 * MiB)
    store.write_chunked(iter([data]), None)
    before = stored_bytes(storage)
    longer = data + b"appended at the end"
    _, location, stored = store.write_chunked(iter([longer]), None)
    assert stored_bytes(storage) - before == stored < 2 * CDC_MAX + 4096
    assert store.read(hash_bytes(longer), location) == longer


def test_the_store_format_is_raised_only_by_a_chunked_file(store: ObjectStore, storage: LocalStorage) -> None:
    store.write_stream(iter([b"x" * 100]), 3)
    assert json.loads(storage.get(FORMAT_KEY))["version"] == 1  # older satchels keep reading this store
    store.write_chunked(iter([random.Random(3).randbytes(2 * MiB)]), 3)
    assert json.loads(storage.get(FORMAT_KEY))["version"] == 2
    storage.put(FORMAT_KEY, json.dumps({"format": "satchel-store", "version": 3}).encode())
    with pytest.raises(Exception, match="Upgrade satchel"):
        ObjectStore(storage, store.cache_dir).check_format(create=False)


def test_range_reads_match_the_file(store: ObjectStore) -> None:
    data = mixed_payload(18 * MiB)
    content_hash, location, _ = store.write_chunked(iter([data]), 3)
    recipe = store.recipe(content_hash, location, expected=store.block_table_of(content_hash, location))
    rng = random.Random(4)
    for _ in range(40):
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.choice([1, 100, 70_000, 3 * MiB]))
        assert read_range(store, recipe, start, end) == data[start:end]
    assert read_range(store, recipe, 0, len(data)) == data


def test_a_recipe_is_checked_against_the_hash_its_manifest_names(store: ObjectStore) -> None:
    content_hash, location, _ = store.write_chunked(iter([random.Random(5).randbytes(MiB)]), None)
    named = store.block_table_of(content_hash, location)
    assert named and store.recipe(content_hash, location, expected=named)
    with pytest.raises(IntegrityError, match="does not match the hash that names it"):
        store.recipe(content_hash, location, expected="0" * 64)


def test_a_damaged_chunk_is_an_integrity_error_and_no_complete_wrong_file(store: ObjectStore,
                                                                          storage: LocalStorage) -> None:
    data = random.Random(6).randbytes(3 * MiB)
    content_hash, location, _ = store.write_chunked(iter([data]), None)
    _, chunk = store.recipe(content_hash, location).chunk(5)
    path = storage.path_of(f"packs/{chunk.pack[:2]}/{chunk.pack}.pack")
    raw = bytearray(path.read_bytes())
    raw[chunk.offset + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
    fresh = ObjectStore(storage, store.cache_dir)
    got = bytearray()
    with pytest.raises(IntegrityError, match="does not match its hash"):
        for piece in fresh.iter_verified(content_hash, location):
            got += piece
    assert len(got) < chunk.offset  # nothing from the damaged chunk on


def forged(recipe: Recipe, order: list[int]) -> bytes:
    chunks = list(recipe.chunks())
    return encode_recipe(recipe.file_hash, recipe.size, [chunks[i] for i in order])


def test_a_recipe_whose_chunks_assemble_to_other_bytes_is_refused_before_the_last_piece(store: ObjectStore) -> None:
    data = random.Random(7).randbytes(2 * MiB)
    content_hash, location, _ = store.write_chunked(iter([data]), None)
    recipe = store.recipe(content_hash, location)
    order = list(range(len(recipe)))
    order[0], order[1] = order[1], order[0]  # the same chunks (each verifies), in another order
    swapped = [recipe.sizes[i] for i in order]
    payload = forged(recipe, order)
    hostile = decode_recipe(payload, content_hash, len(data)).expand(None)
    assert list(hostile.sizes) == swapped
    got = bytearray()
    with pytest.raises(IntegrityError, match="does not match its hash"):
        for piece in assemble(store, hostile, 1):
            got += piece
    assert len(got) < len(data)


@pytest.mark.parametrize("damage", ["magic", "size", "hash", "pack_number", "codec", "oversized", "sum", "bomb",
                                    "truncated", "location"])
def test_hostile_recipes_are_refused(store: ObjectStore, damage: str) -> None:
    data = random.Random(8).randbytes(MiB)
    content_hash, location, _ = store.write_chunked(iter([data]), None)
    recipe = store.recipe(content_hash, location)
    raw = bytearray(zstandard.ZstdDecompressor().decompress(store.fetch_range(
        location.pack, location.offset, location.length, content_hash)))
    count = len(recipe)
    head = 8 + 8 + 32 + 4 + 4 + 4 + 1 + 32 * len(recipe.packs)  # header (no base), pack ids
    sizes_at = head + 32 * count
    numbers_at = sizes_at + 4 * count
    offsets_at = numbers_at + 4 * count
    lengths_at = offsets_at + 8 * count
    codecs_at = lengths_at + 4 * count
    size, file_hash = len(data), content_hash
    if damage == "magic":
        raw[0:8] = b"NOTARCPE"
    elif damage == "size":
        size += 1
    elif damage == "hash":
        file_hash = "ab" * 32
    elif damage == "pack_number":
        raw[numbers_at : numbers_at + 4] = (7).to_bytes(4, "little")
    elif damage == "codec":
        raw[codecs_at] = Codec.CHUNKS
    elif damage == "oversized":
        raw[sizes_at : sizes_at + 4] = (64 << 20).to_bytes(4, "little")
    elif damage == "sum":
        raw[sizes_at : sizes_at + 4] = (recipe.sizes[0] - 1).to_bytes(4, "little")
    elif damage == "truncated":
        del raw[-3:]
    elif damage == "location":
        raw[offsets_at : offsets_at + 8] = (0).to_bytes(8, "little")
    payload = zstandard.ZstdCompressor().compress(bytes(raw))
    if damage == "bomb":
        payload = zstandard.ZstdCompressor().compress(b"\0" * (64 << 20))  # declares far more than a recipe holds
    with pytest.raises(ValueError):
        decode_recipe(payload, file_hash, size).expand(None)


def test_manifests_with_chunked_files_are_format_5_and_older_formats_refuse_chunks() -> None:
    location = Location("a" * 64, 8, 300, 32 * MiB, Codec.CHUNKS)
    entry = ManifestEntry("b" * 64, 32 * MiB, "v1", location.pack, location.offset, location.length, location.codec,
                          blocks="c" * 64)
    data = encode_manifest(Manifest("full", [], {"big.bin": entry, "small.txt": ManifestEntry("d" * 64, 3, "v1",
                                                                                              "a" * 64, 400, 3, 0)}))
    raw = zstandard.ZstdDecompressor().decompress(data)
    assert b'"format":5' in raw
    assert decode_manifest(data).entries["big.bin"] == entry
    as_four = zstandard.ZstdCompressor().compress(raw.replace(b'"format":5', b'"format":4'))
    with pytest.raises(ValueError, match="unknown codec 2"):
        decode_manifest(as_four)


def test_a_chunked_file_is_one_index_entry_after_its_chunks(store: ObjectStore, storage: LocalStorage) -> None:
    data = random.Random(10).randbytes(40 * MiB)
    content_hash, location, _ = store.write_chunked(iter([data]), None)
    packs, indexes = list_packs(storage)
    assert set(packs) == set(indexes) and len(packs) == 2  # the chunks' pack, then the recipe's
    assert not list((store.cache_dir / "tmp").iterdir())  # the pack was written through a temporary file
    holder = decode_index(location.pack, storage.get(index_key(location.pack)))
    assert list(holder) == [content_hash] and holder[content_hash] == location
    chunk_packs = store.chunk_packs(content_hash, location)
    assert chunk_packs == set(packs) - {location.pack}
    sizes = array("I", store.recipe(content_hash, location).sizes)
    assert sum(sizes) == len(data)


def test_a_recipe_copies_runs_of_its_base_and_reads_back(store: ObjectStore, storage: LocalStorage) -> None:
    data = random.Random(11).randbytes(24 * MiB)
    first = store.write_chunked(iter([data]), None)[:2]
    child, _ = edited(data, seed=12)
    content_hash, location, _ = store.write_chunked(iter([child]), None, base=first)
    flat = encode_recipe(content_hash, len(child), list(store.recipe(content_hash, location).chunks()))
    assert location.length < len(flat) // 10  # runs of the base's rows, not every row again
    recipe = store.recipe(content_hash, location)
    assert recipe.bases == ((first[0], first[1]),) and first[1].pack in recipe.pack_ids()
    fresh = ObjectStore(storage, store.cache_dir)  # nothing remembered: the base is read and applied
    assert b"".join(fresh.iter_verified(content_hash, location)) == child
    assert read_range(fresh, fresh.recipe(content_hash, location), 5 * MiB, 9 * MiB) == child[5 * MiB : 9 * MiB]


def test_a_chain_of_recipes_stops_at_its_longest_and_starts_again_whole(store: ObjectStore) -> None:
    from satchel.objects.chunks import MAX_DEPTH

    data = random.Random(13).randbytes(17 * MiB)
    previous = store.write_chunked(iter([data]), None)[:2]
    depths = []
    for step in range(MAX_DEPTH + 2):
        data, _ = edited(data, seed=100 + step)
        previous = store.write_chunked(iter([data]), None, base=previous)[:2]
        depths.append(len(store.recipe(*previous).bases))
        assert b"".join(store.iter_verified(*previous)) == data
    assert depths == [*range(1, MAX_DEPTH + 1), 0, 1]


def test_a_base_that_is_not_the_recipe_named_is_refused(store: ObjectStore, storage: LocalStorage) -> None:
    data = random.Random(14).randbytes(17 * MiB)
    first = store.write_chunked(iter([data]), None)[:2]
    child, _ = edited(data, seed=15)
    content_hash, location, _ = store.write_chunked(iter([child]), None, base=first)
    path = storage.path_of(f"packs/{first[1].pack[:2]}/{first[1].pack}.pack")  # the base recipe's own pack
    raw = bytearray(path.read_bytes())
    raw[first[1].offset + first[1].length - 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    fresh = ObjectStore(storage, store.cache_dir)
    with pytest.raises(IntegrityError, match="chunk list"):
        fresh.recipe(content_hash, location)


def test_chunks_fill_several_packs_and_an_interrupted_write_leaves_no_temporary_file(
        store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from satchel.objects import chunks

    monkeypatch.setattr(chunks, "PACK_BYTES", 1 * MiB)
    data = random.Random(16).randbytes(12 * MiB)
    content_hash, location, _ = store.write_chunked(irregular_chunks(data), None)
    assert len(store.chunk_packs(content_hash, location)) >= 10
    assert store.read(content_hash, location) == data

    def broken() -> Iterator[bytes]:
        yield random.Random(17).randbytes(20 * MiB)
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="went away"):
        store.write_chunked(broken(), None)
    assert not list((store.cache_dir / "tmp").iterdir())
