"""Columnar entries (a decoded manifest) behave as the dict of entries they stand for: lookups, iteration,
patches, relabels, totals and re-encoding."""

from __future__ import annotations

import gc
import json
from unittest.mock import patch

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from satchel.dataset.overlay import Overlay
from satchel.objects import columns as columns_module
from satchel.objects.columns import EntryColumns
from satchel.objects.manifest import Manifest, ManifestEntry, decode_manifest, encode_manifest, make_link
from satchel.objects.pathnames import find_clash
from tests.objects.test_manifest import SETTINGS, entries, full_manifests, hex_hashes, paths
from tests.objects.test_manifest import _raw_blocks as raw_blocks
from tests.objects.test_manifest import _reassemble as reassemble
from tests.objects.test_manifest import entry as numbered_entry


def columns_of(manifest: Manifest) -> EntryColumns:
    decoded = decode_manifest(encode_manifest(manifest)).entries
    assert isinstance(decoded, EntryColumns)
    return decoded


@SETTINGS
@given(manifest=full_manifests, probes=st.lists(paths, max_size=10))
def test_columns_answer_as_the_dict_does(manifest: Manifest, probes: list[str]) -> None:
    columns = columns_of(manifest)
    model = manifest.entries
    assert len(columns) == len(model) and list(columns) == sorted(model)
    assert dict(columns.items()) == model and list(columns.values()) == [model[p] for p in sorted(model)]
    for path in [*model, *probes]:
        assert (path in columns) == (path in model)
        assert columns.get(path) == model.get(path)
    with pytest.raises(KeyError):
        columns["\0not a path"]
    asked = [*probes, *model, *probes]
    assert columns.hashes_of(asked) == [model[p].hash if p in model else None for p in asked]


@SETTINGS
@given(manifest=full_manifests, puts=st.dictionaries(paths, entries, max_size=8), dropped=st.sets(paths, max_size=4))
def test_an_overlay_over_columns_encodes_as_the_dict_changed(manifest: Manifest, puts: dict[str, ManifestEntry],
                                                           dropped: set[str]) -> None:
    dropped_too = dropped | set(list(manifest.entries)[:2])  # paths of the columns too
    model = {p: e for p, e in manifest.entries.items() if p not in dropped_too} | puts
    assume(find_clash(model) is None)
    patched = Overlay(columns_of(manifest), puts, dropped_too)  # encoded from the columns, never made flat
    data = encode_manifest(Manifest("full", [], patched, []))
    assert data == encode_manifest(Manifest("full", [], model, []))
    again = decode_manifest(data).entries
    assert list(again) == sorted(model) and dict(again.items()) == model


def test_an_overlay_over_many_columns_encodes_as_its_flat_dict() -> None:
    """Streamed columns cut into many runs and several pieces of paths (more than 1 MiB of them), with puts
    naming new packs, origins, block tables and links that sort between the columns' own: the same bytes as the
    flat dict of entries gives, and they decode to it."""
    base = {f"d{i % 97:02d}/f{i:06d}-{'x' * 12}.bin": numbered_entry(i, pack="b" * 64 if i % 3 else "d" * 64)
            for i in range(60_000)}
    columns = columns_of(Manifest("full", [], base, []))
    paths_sorted = sorted(base)
    puts = {path: numbered_entry(10**6 + n, pack="c" * 64)._replace(origin="o-between", blocks="a" * 64)
            for n, path in enumerate(paths_sorted[5::400])}
    puts |= {f"d50/new{n:04d}.bin": numbered_entry(2 * 10**6 + n)._replace(pack="", link=make_link(f"s3://b/{n}", None))
             for n in range(50)}
    removed = paths_sorted[7::300]
    model = {p: e for p, e in base.items() if p not in removed} | puts
    overlay = Overlay(columns, puts, removed)
    data = encode_manifest(Manifest("full", [], overlay, []))
    assert data == encode_manifest(Manifest("full", [], model, []))
    assert dict(decode_manifest(data).entries.items()) == model


@SETTINGS
@given(manifest=full_manifests)
def test_relabel_and_totals(manifest: Manifest) -> None:
    columns = columns_of(manifest).relabeled("new-origin")
    model = {p: e._replace(origin="new-origin") for p, e in manifest.entries.items()}
    assert dict(columns.items()) == model
    summary = columns.summary()
    assert summary.total_size == sum(e.size for e in model.values())
    assert summary.link_count == sum(1 for e in model.values() if e.link)
    assert summary.packs == {e.pack for e in model.values() if e.pack}
    stored: dict[tuple[str, int], int] = {}
    for _, entry in sorted(model.items()):  # an object is counted once (two rows never share a place with two
        if entry.pack:                      # lengths in real data; generated ones may: the last row's counts)
            stored[(entry.pack, entry.offset)] = entry.length
    assert summary.stored_size == sum(stored.values())


def _located_entry(hash_: str, size: int, place: tuple[str, int] | None, shift: int) -> ManifestEntry:
    if place is None:  # an external link: stored nowhere
        return ManifestEntry(hash_, size, "v1", length=7, link=make_link("s3://bucket/key", "tag"))  # not stored
    pack, offset = place
    return ManifestEntry(hash_, size, "v1", pack, offset + shift, 3 * offset + len(pack), 0)  # one length a place


@SETTINGS
@given(data=st.data(), shift=st.sampled_from([0, (1 << 40) - 60, 1 << 41]), sorted_from=st.sampled_from([0, 10**9]))
def test_stored_size_counts_each_stored_object_once(data: st.DataObject, shift: int, sorted_from: int) -> None:
    """Big views (``sorted_from`` rows or more) with offsets below 2**40 are counted by a sort of packed location
    keys, others with a dict of (pack, offset) pairs; both count what the dict of the changed view would."""
    # few places, so that rows share them (or not, in small views)
    places = st.one_of(st.none(), st.tuples(st.sampled_from(["a" * 64, "b" * 64]), st.integers(0, 5)))
    located = st.builds(_located_entry, hex_hashes, st.integers(0, 2**40), places, st.just(shift))
    base = data.draw(st.dictionaries(paths, located, max_size=25).filter(lambda e: find_clash(e) is None))
    extra = data.draw(st.dictionaries(paths, st.one_of(located, st.builds(
        _located_entry, hex_hashes, st.integers(0, 9), st.tuples(st.just("c" * 64), st.integers(0, 3)),
        st.just(shift))), max_size=8))
    dropped = data.draw(st.sets(st.sampled_from(sorted(base)), max_size=4)) if base else set()
    model = {p: e for p, e in base.items() if p not in dropped} | extra
    with patch.object(columns_module, "SORTED_COUNT_FROM", sorted_from):
        summary = columns_of(Manifest("full", entries=base)).summary(extra, dropped)
    places_kept = {(e.pack, e.offset): e.length for e in model.values() if e.pack and not e.link}
    assert summary.stored_size == sum(places_kept.values())
    assert summary.total_size == sum(e.size for e in model.values())
    assert summary.link_count == sum(1 for e in model.values() if e.link)


@pytest.mark.parametrize(("shift", "sorted_from"), [(0, 0), (0, 10**9), (1 << 41, 0)],
                         ids=["sorted-keys", "pairs", "pairs-for-big-offsets"])
def test_rows_naming_one_object_with_two_lengths_count_the_last_kept_row(shift: int, sorted_from: int,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Only damaged or generated data has them; both ways of counting must agree on it all the same."""
    monkeypatch.setattr(columns_module, "SORTED_COUNT_FROM", sorted_from)
    pack = "a" * 64
    base = {f"f{i}": ManifestEntry(f"{i:064x}", 1, "v1", pack, offset + shift, length, 0)
            for i, (offset, length) in enumerate([(5, 3), (5, 9), (7, 4)])}
    columns = columns_of(Manifest("full", entries=base))
    assert columns.summary().stored_size == 9 + 4
    assert columns.summary(dropped=["f1"]).stored_size == 3 + 4
    assert columns.summary(dropped=["f0", "f1"]).stored_size == 4
    assert columns.summary(dropped=["f0", "f1", "f2"]).stored_size == 0
    shared, new = (ManifestEntry("e" * 64, 1, "v1", pack, offset + shift, 4, 0) for offset in (7, 8))
    assert columns.summary({"g": shared}).stored_size == 9 + 4  # an object a kept row names: counted once
    assert columns.summary({"g": shared, "h": new}).stored_size == 9 + 4 + 4
    assert columns.summary({"g": shared}, dropped=["f2"]).stored_size == 9 + 4  # now only the extra names it


def test_many_lookups_switch_from_bisection_to_a_dict_and_agree() -> None:
    manifest = Manifest("full", entries={f"d{i % 7}/f{i:06d}": numbered_entry(i) for i in range(60_000)})
    columns = columns_of(manifest)
    for path in list(manifest.entries)[::-1]:  # 60,000 lookups: past the bisection budget
        assert columns[path] == manifest.entries[path]
    assert "d0/missing" not in columns


def test_bisected_paths_are_remembered_up_to_a_bound_and_answers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columns_module, "_REMEMBERED_MAX", 100)
    manifest = Manifest("full", entries={f"d{i % 7}/f{i:06d}": numbered_entry(i) for i in range(1000)})
    columns = columns_of(manifest)
    asked = [*list(manifest.entries)[::7], *(f"d{i}/missing" for i in range(50)), "", "d3", "zz"]
    for _ in range(3):  # asked again: answered from what was remembered, or bisected again past the bound
        for path in asked:
            assert (path in columns) == (path in manifest.entries)
            assert columns.get(path) == manifest.entries.get(path)
        assert columns.hashes_of(asked) == [manifest.entries[p].hash if p in manifest.entries else None
                                            for p in asked]
    assert len(columns._remembered) == 100 and columns._index is None
    relabeled = columns.relabeled("new")  # the same paths: what was remembered still holds
    assert [relabeled.get(p) for p in asked] == [manifest.entries[p]._replace(origin="new") if p in manifest.entries
                                                 else None for p in asked]
    columns._build_index()
    assert columns._remembered == {} and [columns.get(p) for p in asked] == [manifest.entries.get(p) for p in asked]
    small = columns_of(Manifest("full", entries={f"f{i}": numbered_entry(i) for i in range(7)}))
    assert "f1" in small and small._remembered == {}  # at most an eighth of the paths: none of 7 is kept


def test_a_decoded_views_paths_leave_the_collectors_passes_after_one() -> None:
    columns = columns_of(Manifest("full", entries={f"f{i:04d}": numbered_entry(i) for i in range(1000)}))
    gc.collect()
    assert not gc.is_tracked(columns._paths)  # strings only: a full collection no longer walks 10M of them


def test_a_big_batch_of_hashes_is_answered_through_the_dict_and_agrees() -> None:
    manifest = Manifest("full", entries={f"d{i % 7}/f{i:06d}": numbered_entry(i) for i in range(60_000)})
    columns = columns_of(manifest)
    asked = [*list(manifest.entries)[::-1], "d0/missing", "", "d3"]  # more than the bisection budget: a dict
    expected = [*(manifest.entries[p].hash for p in asked[:-3]), None, None, None]
    assert columns.hashes_of(asked) == expected
    assert columns._index is not None
    assert columns.hashes_of(asked[:10]) == expected[:10]  # the dict, kept, answers later batches too


def test_paths_out_of_order_are_refused() -> None:
    blocks = raw_blocks(Manifest("full", entries={"a": numbered_entry(1), "b": numbered_entry(2)}))
    blocks[1] = b"b\0a"  # same paths, listed out of order (a hostile or damaged manifest)
    with pytest.raises(ValueError, match="not in order"):
        decode_manifest(reassemble(blocks))


@pytest.mark.parametrize("name", ["origins", "packs"])
def test_a_name_listed_twice_in_the_header_is_refused(name: str) -> None:
    blocks = raw_blocks(Manifest("full", entries={"a": numbered_entry(1), "b": numbered_entry(4)}))
    header = json.loads(blocks[0])
    header[name] = [header[name][0], header[name][0]] if header[name] else header[name]
    blocks[0] = json.dumps(header).encode()
    with pytest.raises(ValueError, match="twice"):
        decode_manifest(reassemble(blocks))


@pytest.mark.parametrize("big", [False, True], ids=["fits", "would-overflow"])
def test_sum_is_exact_over_the_rows_a_mask_selects(big: bool) -> None:
    import numpy as np

    values = np.array([1, 2**63 if big else 5, 2**63 if big else 7, 11], dtype=np.uint64)
    mask = np.array([True, True, True, False])
    expected = 1 + (2**64 if big else 12)
    assert columns_module._sum(values, where=mask) == expected
    assert columns_module._sum(values) == expected + 11
    assert columns_module._sum(values, where=np.zeros(4, dtype=bool)) == 0
