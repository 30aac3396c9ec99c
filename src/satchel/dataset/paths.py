"""Dataset paths (POSIX, relative, inside the dataset) and wildcard matching."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
from collections.abc import Iterable

from satchel.errors import InvalidDatasetPathError


def posix(text: str) -> str:
    """``text`` with the platform's separator as '/'. On POSIX a backslash is an ordinary character of a file
    name, so it is kept (and round-trips); on Windows it is the separator."""
    return text if os.sep == "/" else text.replace(os.sep, "/")


def normalize_dataset_path(path: str | None, *, allow_root: bool = True) -> str:
    """Return ``path`` as a clean relative POSIX path ('' is the dataset root).

    A leading ``/`` means the dataset root (``/images`` is ``images``), as in ClearML. Raises
    InvalidDatasetPathError for a drive path or a path that climbs out with ``..``.
    """
    text = posix(path or "")
    if "\0" in text:
        raise InvalidDatasetPathError(f"dataset path {path!r} holds a NUL character, which no file name can hold",
                                      dataset_path=text)
    try:
        text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise InvalidDatasetPathError(f"dataset path {path!r} holds {text[exc.start]!r}, a lone surrogate that no file "
                                      "name can hold; pass text, or bytes decoded with os.fsdecode",
                                      dataset_path=text) from None
    text = text.lstrip("/")  # a leading '/' means the dataset root, as in ClearML
    if re.match(r"^[A-Za-z]:/", text):
        raise InvalidDatasetPathError(
            f"dataset path {path!r} is a Windows path; dataset paths are relative to the dataset root, "
            "e.g. 'images/train' (a leading '/' also means the root)",
            dataset_path=text,
        )
    parts: list[str] = []
    for part in text.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise InvalidDatasetPathError(
                f"dataset path {path!r} escapes the dataset with '..'; use a path inside the dataset",
                dataset_path=text,
            )
        parts.append(part)
    if not parts and not allow_root:
        raise InvalidDatasetPathError(f"dataset path {path!r} names no file", dataset_path=text)
    return "/".join(parts)


def join_dataset_path(prefix: str, relative: str) -> str:
    """``prefix/relative`` for normalized parts."""
    return posixpath.join(prefix, relative) if prefix else relative


def as_patterns(wildcard: str | Iterable[str] | None) -> list[str]:
    """A wildcard argument (None, a pattern, or several) as a list of patterns."""
    if wildcard is None:
        return []
    if isinstance(wildcard, str):
        return [wildcard]
    return list(wildcard)


def local_file_matches(relative_path: str, patterns: list[str]) -> bool:
    """Does a local file (path relative to the added folder) match any pattern?

    A pattern without '/' is matched against the file name (``*.jpg``), one with '/' against the
    relative path (``train/*.jpg``). No patterns match everything.
    """
    if not patterns:
        return True
    name = relative_path.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = relative_path if "/" in pattern else name
        if fnmatch.fnmatchcase(target, pattern):
            return True
    return False


def select_dataset_paths(paths: Iterable[str], pattern: str, *, recursive: bool = True) -> list[str]:
    """Dataset paths matching ``pattern``: a wildcard, a file, or a folder (whose files all match).

    A pattern that names an existing path or folder literally is taken literally (``img[1].png``);
    otherwise it is a wildcard. With ``recursive`` a ``*`` also crosses folders (``*.jpg`` matches
    ``a/b/c.jpg`` via the file name); without it, the pattern is matched segment by segment.
    """
    cleaned = posix(pattern).strip("/")
    if cleaned in ("", "*", "**") and recursive:
        return sorted(paths)
    literal = normalize_dataset_path(cleaned)
    exact = [p for p in paths if _dataset_path_matches(p, cleaned, literal, recursive)]
    if exact or not _has_magic(cleaned):
        return sorted(exact)
    return sorted(p for p in paths if _dataset_path_matches(p, cleaned, None, recursive))


def _dataset_path_matches(path: str, pattern: str, folder: str | None, recursive: bool) -> bool:
    if folder is not None:
        if path == folder:
            return True
        if path.startswith(folder + "/"):
            return recursive or "/" not in path[len(folder) + 1 :]
        return False
    if recursive:
        if fnmatch.fnmatchcase(path, pattern):
            return True
        return "/" not in pattern and fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    parts, pattern_parts = path.split("/"), pattern.split("/")
    return len(parts) == len(pattern_parts) and all(
        fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern_parts, strict=True)
    )


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
