"""A version's files grouped by folder, for listings (the web UI's content pages, ``satchel://`` ``ls``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from satchel.dataset.view import View


@dataclass
class Listing:
    """A version's files grouped by folder: ``files[folder]`` are the paths directly in it, sorted; ``folders``
    the direct sub-folders of each folder, sorted ('' is the root)."""

    files: dict[str, list[str]]
    folders: dict[str, list[str]]
    paths: list[str]
    sorted_by: dict[tuple[str, str], list[str]] = field(default_factory=dict)


def build_listing(view: View) -> Listing:
    files: dict[str, list[str]] = {}
    folders: dict[str, set[str]] = {}
    for path in view:
        folder = path.rpartition("/")[0]
        files.setdefault(folder, []).append(path)
        child = folder
        while child and child not in folders.get(child.rpartition("/")[0], ()):  # each folder once
            folders.setdefault(child.rpartition("/")[0], set()).add(child)
            child = child.rpartition("/")[0]
    for names in files.values():
        names.sort()
    return Listing(files, {k: sorted(v) for k, v in folders.items()}, sorted(view))
