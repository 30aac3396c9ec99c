"""Version strings: bumping the latest, choosing the latest among records."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from packaging.version import InvalidVersion, Version

from satchel.catalog import VersionRecord
from satchel.errors import InvalidArgumentError

log = logging.getLogger("satchel")

FIRST_VERSION = "1.0.0"
_LAST_NUMBER = re.compile(r"(\d+)(\D*)$")


def parse_version(text: str) -> Version | None:
    """The semantic version in ``text``, or None when it is not one."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


def check_version_string(text: str) -> str:
    """A version string as ClearML accepts it: any non-empty text (surrounding spaces dropped) of at most 200
    characters without control characters; a non-semantic one (``nightly``) is kept, with a warning, as ClearML
    does, and ranks below every semantic version when the latest is chosen."""
    cleaned = text.strip()
    if not cleaned or len(cleaned) > 200 or any(ord(c) < 32 for c in cleaned):
        raise InvalidArgumentError(f"dataset version {text!r} is refused: use a non-empty string of at most 200 "
                                   "characters without control characters, preferably semantic (1.2.0)")
    if parse_version(cleaned) is None:
        log.warning("dataset version %r is not semantic (like 1.2.0): versions are bumped and the latest chosen "
                    "by semantic version", cleaned)
    return cleaned


def bump(text: str) -> str:
    """Increment the last number: ``1.0.0`` -> ``1.0.1``, ``v2`` -> ``v3``; no number: append ``.1``."""
    match = _LAST_NUMBER.search(text)
    if not match:
        return f"{text}.1"
    number = match.group(1)
    bumped = str(int(number) + 1).zfill(len(number))
    return text[: match.start(1)] + bumped + match.group(2)


def next_version(existing: Iterable[str]) -> str:
    """The version after the highest semantic version in ``existing`` (``1.0.0`` when there is none)."""
    taken = set(existing)
    parsed = [(v, t) for t in taken if (v := parse_version(t)) is not None]
    candidate = bump(max(parsed)[1]) if parsed else FIRST_VERSION
    while candidate in taken:
        candidate = bump(candidate)
    return candidate


def latest(records: Sequence[VersionRecord]) -> VersionRecord:
    """Highest semantic version (newest first among equals), else the most recently created."""
    semantic = [(v, r.created_at, r) for r in records if (v := parse_version(r.version)) is not None]
    if semantic:
        return max(semantic, key=lambda item: (item[0], item[1]))[2]
    return max(records, key=lambda r: r.created_at)
