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


def verify_folder(folder: Path, view: View, *, skip_hash: bool, on_bytes: Callable[[int], None]) -> list[str]:
    """Sorted dataset paths that differ: content (or only size with ``skip_hash``), missing, or extra."""
    found: dict[str, str] = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            full = os.path.join(dirpath, name)
            found[os.path.relpath(full, folder).replace(os.sep, "/")] = full
    bad = sorted(set(found) ^ set(view))
    for path, entry in view.items():
        local = found.get(path)
        if local is None:
            continue
        try:
            size = os.stat(local).st_size
            # An external link's hash names its source, not its bytes: its content is checked at the source.
            if size != entry.size or (not skip_hash and not entry.link and hash_file(local)[0] != entry.hash):
                bad.append(path)
        except OSError:
            bad.append(path)
        on_bytes(entry.size)
    return sorted(set(bad))


def verify_links(view: View, open_link: LinkOpener) -> list[str]:
    """Sorted dataset paths of external links whose source is gone, unreadable, or no longer matches the size
    and change tag recorded when it was added."""
    bad = []
    for path, entry in view.items():
        if not entry.link:
            continue
        try:
            storage, key = open_link(split_link(entry.link)[0])
            info = storage.stat(key)
        except StorageError:
            bad.append(path)
            continue
        if info is None or not source_matches(entry, info.size, info.tag):
            bad.append(path)
    return sorted(bad)
