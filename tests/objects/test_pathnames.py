"""File-and-folder clashes found from sorted paths agree with the set-based check they replace on the read path."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from satchel.objects.pathnames import SortedFolders, find_clash, find_sorted_clash, folders_of

# '-' and '.' sort before '/', so "x-y" and "x.y" fall between "x" and "x/..." in path order
components = st.text(alphabet="ab-.\u00e9/", min_size=1, max_size=3).filter(
    lambda c: "/" not in c and c not in (".", ".."))
paths = st.lists(components, min_size=1, max_size=4).map("/".join)


@given(st.sets(paths, max_size=30))
def test_sorted_clash_agrees_with_the_folder_set(chosen: set[str]) -> None:
    assert find_sorted_clash(sorted(chosen)) == find_clash(chosen)


@given(st.sets(paths, max_size=30), st.lists(paths, max_size=10), st.sets(paths, max_size=3))
def test_sorted_folders_answer_as_the_folder_set(chosen: set[str], asked: list[str], extra: set[str]) -> None:
    built = folders_of(chosen) | extra
    answered = SortedFolders(sorted(chosen)) | extra
    candidates = [*asked, *built, *chosen, *(p.rpartition("/")[0] for p in chosen)]
    assert [c in answered for c in candidates] == [c in built for c in candidates]


def test_a_clash_is_found_past_paths_that_sort_between() -> None:
    listed = sorted(["x", "x-1", "x.txt", "x/y", "x/y.z", "xa"])
    assert find_sorted_clash(listed) == ("x", "x/y")
    assert find_sorted_clash(sorted(["x-1", "x.txt", "x0/y", "x/y"])) is None
    assert "x" in SortedFolders(listed) and "x/y" not in SortedFolders(listed) and "x-1" not in SortedFolders(listed)
