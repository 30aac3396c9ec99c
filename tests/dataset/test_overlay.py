"""An Overlay (a child's view over its parent's, not copied) behaves as the dict it stands for, through any
sequence of changes and any depth of overlays over overlays."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satchel.dataset.lifecycle import packs_of, version_stats
from satchel.dataset.overlay import Overlay, hashes_of, relabeled
from satchel.objects import ManifestEntry
from satchel.objects.manifest import Manifest, decode_manifest, encode_manifest

names = st.sampled_from([f"f{i}" for i in range(10)])
entries = st.builds(
    lambda i, pack, offset, link: ManifestEntry(f"{i:064x}", i, "o", "" if link else pack, offset, 10 + offset, 0,
                                                "https://example.com/x\n" if link else ""),
    st.integers(0, 5), st.sampled_from(["a" * 64, "b" * 64]), st.integers(0, 3), st.booleans())
views = st.dictionaries(names, entries, max_size=8)
steps = st.lists(st.tuples(st.booleans(), names, entries), max_size=12)  # (set it?, path, entry)


def check(overlay: Overlay, model: dict[str, ManifestEntry]) -> None:
    assert len(overlay) == len(model)
    assert sorted(overlay) == sorted(model)
    assert dict(overlay.items()) == model and sorted(overlay.values()) == sorted(model.values())
    for name in (f"f{i}" for i in range(10)):
        assert (name in overlay) == (name in model)
        assert overlay.get(name) == model.get(name)
    asked = [f"f{i}" for i in (3, 0, 9, 3, 5, 1, 2, 4, 6, 7, 8)] + ["nope", "f"]  # any order, a repeat, absent paths
    assert hashes_of(overlay, asked) == [model[p].hash if p in model else None for p in asked]
    stored = {e.pack for e in model.values() if e.pack and not e.link}
    assert packs_of(overlay, exact=True) == stored and packs_of(overlay) >= stored


@settings(max_examples=200, deadline=None)
@given(base=views, levels=st.lists(st.tuples(views, st.sets(names, max_size=4)), min_size=1, max_size=4),
       changes=steps, as_columns=st.booleans())
def test_overlays_over_overlays_and_changes_match_the_dict(base: dict[str, ManifestEntry],
                                                          levels: list[tuple[dict[str, ManifestEntry], set[str]]],
                                                          changes: list[tuple[bool, str, ManifestEntry]],
                                                          as_columns: bool) -> None:
    frozen = dict(base)
    model = dict(base)
    view: Mapping[str, ManifestEntry] = base
    if as_columns:  # the bottom view as a decoded manifest's columns, as finalized versions have it
        view = decode_manifest(encode_manifest(Manifest("full", entries=base))).entries
    for puts, removed in levels:
        view = Overlay(view, puts, removed)
        for path in removed:
            model.pop(path, None)
        model.update(puts)
        check(view, model)
    assert isinstance(view, Overlay)
    for put, path, entry in changes:
        if put:
            view[path] = entry
            model[path] = entry
        else:
            assert view.pop(path, None) == model.pop(path, None)
        check(view, model)
    assert version_stats(frozen, view) == version_stats(frozen, dict(model))  # totals from the columns agree
    relabeled_model = {p: e._replace(origin="new") for p, e in model.items()}
    assert dict(relabeled(view, "new").items()) == relabeled_model
    assert base == frozen  # the bottom view is never changed


@settings(max_examples=100, deadline=None)
@given(base=views, levels=st.lists(st.tuples(views, st.sets(names, max_size=4)), min_size=1, max_size=3),
       as_columns=st.booleans())
def test_an_overlay_with_its_own_entries_replaced_is_the_overlay_built_anew(
        base: dict[str, ManifestEntry], levels: list[tuple[dict[str, ManifestEntry], set[str]]],
        as_columns: bool) -> None:
    view: Mapping[str, ManifestEntry] = base
    if as_columns:
        view = decode_manifest(encode_manifest(Manifest("full", entries=base))).entries
    for puts, removed in levels:
        view = Overlay(view, puts, removed)
    assert isinstance(view, Overlay)
    before = dict(view.items())
    chosen = sorted(view.changed)[::2]  # some of the paths it sets (a draft's rows, over a parent's own puts)
    located = {p: view.changed[p]._replace(pack="c" * 64, offset=view.changed[p].offset + 100, link="")
               for p in chosen}
    replaced = view.with_entries(located)
    check(replaced, {**before, **located})
    assert dict(view.items()) == before  # the overlay it came from is unchanged
    unset = next((f"f{i}" for i in range(10) if f"f{i}" not in view.changed), None)
    if unset is not None:
        with pytest.raises(KeyError):
            view.with_entries({unset: located.get(unset) or ManifestEntry("0" * 64, 1, "o", "a" * 64, 0, 1, 0)})
