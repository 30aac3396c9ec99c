"""File-and-folder clashes found from sorted paths agree with the set-based check they replace on the read path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from satchel.objects.pathnames import (
    PathError,
    SortedFolders,
    check_joined,
    find_clash,
    find_sorted_clash,
    folders_of,
    path_problem,
)

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


@given(joined=st.text(alphabet="a./\\\0", max_size=16))
def test_check_joined_refuses_exactly_the_paths_check_path_refuses(joined: str) -> None:
    """The C-speed scan of NUL-joined paths (no copy of them) agrees with checking each path alone."""
    paths = joined.split("\0")
    invalid = any(path_problem(p) is not None or "\\" in p for p in paths)
    if invalid:
        with pytest.raises(PathError):
            check_joined(joined, len(paths))
    else:
        check_joined(joined, len(paths))


@pytest.mark.parametrize("joined", [".", "..", "../a", "a/..", "a/./b", "a\0..", "..\0a", "a\0.\0b", "a/", "/a",
                                    "a//b", "a\0\0b", "", "a\0"])
def test_check_joined_refuses_dot_and_empty_components_at_either_end(joined: str) -> None:
    with pytest.raises(PathError):
        check_joined(joined, joined.count("\0") + 1)


@pytest.mark.parametrize("joined", [".a", "a/.b", "a\0.b/..c", "a..b", "x/...", "a/b.\0c."])
def test_check_joined_keeps_names_that_only_start_or_end_with_dots(joined: str) -> None:
    check_joined(joined, joined.count("\0") + 1)
