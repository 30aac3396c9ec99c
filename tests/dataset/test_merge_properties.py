"""Property tests: a version's view equals the parents merged in order plus its own changes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import satchel
from satchel import Dataset
from satchel.dataset.context import get_context
from satchel.dataset.view import ViewLoader, diff_views, merge_views
from satchel.objects import ManifestEntry

names = st.sampled_from([f"f{i}.txt" for i in range(6)] + ["sub/a.txt", "sub/b.txt"])
contents = st.sampled_from(["one", "two", "three", ""])
trees = st.dictionaries(names, contents, max_size=6)


def entry(text: str) -> ManifestEntry:
    return ManifestEntry(text.ljust(64, "0")[:64], len(text), "o")


@given(st.lists(st.dictionaries(names, contents), max_size=5))
def test_merge_views_later_wins(views: list[dict[str, str]]) -> None:
    merged = merge_views({p: entry(c) for p, c in v.items()} for v in views)
    expected: dict[str, str] = {}
    for view in views:
        expected.update(view)
    assert {p: e for p, e in merged.items()} == {p: entry(c) for p, c in expected.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parents=st.lists(trees, min_size=1, max_size=3), added=trees, removed=st.sets(names, max_size=3))
def test_child_view_is_merge_plus_changes(parents: list[dict[str, str]], added: dict[str, str],
                                          removed: set[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        satchel.configure(home=root / "home")
        try:
            made = []
            for i, tree in enumerate(parents):
                ds = Dataset.create(dataset_name=f"p{i}", dataset_project="prop")
                _write(root / f"p{i}", tree)
                ds.add_files(root / f"p{i}")
                ds.finalize(auto_upload=True)
                made.append(ds)
            child = Dataset.create(dataset_name="child", dataset_project="prop", parent_datasets=made)
            for path in sorted(removed):
                child.remove_files(path)
            _write(root / "child", added)
            child.add_files(root / "child")
            child.finalize(auto_upload=True)
            expected: dict[str, str] = {}
            for tree in parents:
                expected.update(tree)
            for path in removed:
                expected.pop(path, None)
            expected.update(added)
            folder = Path(child.get_local_copy())
            got = {p.relative_to(folder).as_posix(): p.read_text() for p in folder.rglob("*") if p.is_file()}
            assert got == expected
        finally:
            get_context().close()


def _write(folder: Path, tree: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in tree.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parent=trees, added=trees, removed=st.sets(names, max_size=3))
def test_changes_from_the_delta_equal_the_full_diff(parent: dict[str, str], added: dict[str, str],
                                                   removed: set[str]) -> None:
    """A version's added, modified and removed files, read from its delta manifest, are what comparing the whole
    views gives, and what the trees say."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        satchel.configure(home=root / "home")
        try:
            base = Dataset.create(dataset_name="base", dataset_project="prop")
            _write(root / "base", parent)
            base.add_files(root / "base")
            base.finalize(auto_upload=True)
            child = Dataset.create(dataset_name="child", dataset_project="prop", parent_datasets=[base])
            for path in sorted(removed):
                child.remove_files(path)
            _write(root / "child", added)
            child.add_files(root / "child")
            child.finalize(auto_upload=True)
            expected = {p: c for p, c in parent.items() if p not in removed} | added
            want = (sorted(expected.keys() - parent.keys()),
                    sorted(p for p in expected.keys() & parent.keys() if expected[p] != parent[p]),
                    sorted(parent.keys() - expected.keys()))
            ctx = get_context()
            record = ctx.catalog.get_version(child.id)
            fresh = ViewLoader(ctx.catalog, ctx.store)  # loads the child's delta from its manifest
            assert fresh.changes(record) == diff_views(fresh.parents_view(record), fresh.view(record)) == want
            assert record.id in fresh._deltas  # the answer came from the delta
            assert (child.list_added_files(), child.list_modified_files(), child.list_removed_files()) == want
        finally:
            get_context().close()


def test_changes_after_a_parent_is_deleted_and_the_child_flattened(tmp_path: Path) -> None:
    """A child's change lists, remembered from its delta against two parents, are not reused once deleting one
    parent (force) has flattened the child: its changes are then against the parent left."""
    satchel.configure(home=tmp_path / "home")
    try:
        from tests.conftest import make_version

        left = make_version(tmp_path / "l", {"only-left.txt": "l", "both.txt": "1"}, name="left")
        right = make_version(tmp_path / "r", {"only-right.txt": "r"}, name="right")
        child = make_version(tmp_path / "c", {"new.txt": "n"}, name="child", parents=[left, right])
        assert child.list_added_files() == ["new.txt"]
        Dataset.delete(dataset_id=left.id, force=True)
        again = Dataset.get(dataset_id=child.id)
        assert again.list_added_files() == ["both.txt", "new.txt", "only-left.txt"]
    finally:
        get_context().close()
