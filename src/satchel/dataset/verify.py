"""Checking a folder against a version's manifest: content (or size), missing and extra files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from satchel.dataset.fetch import LinkOpener
from satchel.dataset.view import View
from satchel.errors import StorageError
from satchel.objects import source_matches, split_link
from satchel.objects.hashing import hash_file


class Verification(list[str]):
    """What ``verify_dataset_hash`` returns: the sorted dataset paths that differ (a plain list, as in ClearML),
    and in ``problems`` why each differs: ``changed`` (content or, with ``skip_hash``, size), ``missing`` (in the
    version, not in the folder), ``extra`` (in the folder, not in the version), ``link changed`` / ``link
    missing`` (an external link's source no longer matches what was recorded, or is gone)."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__(sorted(problems))
        self.problems = dict(sorted(problems.items()))


def verify_folder(folder: Path, view: View, *, skip_hash: bool, on_bytes: Callable[[int], None]) -> dict[str, str]:
    """Dataset path -> problem for every path that differs: ``changed`` (content, or only size with
    ``skip_hash``), ``missing``, or ``extra``."""
    found: dict[str, str] = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(dirpath, name)
            found[os.path.relpath(full, folder).replace(os.sep, "/")] = full
    problems = {path: "extra" for path in found if path not in view}
    for path, entry in view.items():
        local = found.get(path)
        if local is None:
            problems[path] = "missing"
            continue
        try:
            size = os.stat(local).st_size
            # An external link's hash names its source, not its bytes: its content is checked at the source.
            if size != entry.size or (not skip_hash and not entry.link and hash_file(local)[0] != entry.hash):
                problems[path] = "changed"
        except OSError:
            problems[path] = "missing"
        on_bytes(entry.size)
    return problems


def verify_links(view: View, open_link: LinkOpener) -> dict[str, str]:
    """Dataset path -> ``link missing`` or ``link changed`` for external links whose source is gone or
    unreadable, or no longer matches the size and change tag recorded when it was added."""
    problems = {}
    for path, entry in view.items():
        if not entry.link:
            continue
        try:
            storage, key = open_link(split_link(entry.link)[0])
            info = storage.stat(key)
        except StorageError:
            problems[path] = "link missing"
            continue
        if info is None:
            problems[path] = "link missing"
        elif not source_matches(entry, info.size, info.tag):
            problems[path] = "link changed"
    return problems
