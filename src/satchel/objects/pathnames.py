"""Dataset paths as untrusted input: what a valid path is, how paths are written to manifests and catalogs,
and fast checks of a whole file table.

A dataset path is relative and ``/``-separated; every component is non-empty and not ``.`` or ``..``; it holds
no NUL. Any other character is allowed and round-trips, including a backslash and the bytes of a file name
that is not UTF-8 (Python's ``surrogateescape`` form, as ``os.listdir`` returns it).

The *wire form* (what a manifest or a catalog row holds) is UTF-8 text in which ``%``, ``\\`` and the bytes of
non-UTF-8 names are written ``%25``, ``%5C`` and ``%80``..``%FF``. So a raw backslash never appears in a
wire-form path (one is refused: on Windows it would be a separator), and no escape can produce ``/``, NUL or
``.``. See docs/format.md.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from itertools import compress, count, islice

_ESCAPE = re.compile("[%\\\\\udc80-\udcff]")
_UNESCAPE = re.compile("%(25|5C|[89A-F][0-9A-F])")
_BAD_ESCAPE = re.compile("%(?!25|5C|[89A-F][0-9A-F])")
_DOT_COMPONENT = re.compile("(?:^|(?<=[/\0]))\\.\\.?(?=[/\0]|\\Z)")  # a '.' or '..' component of NUL-joined paths
_ID = re.compile("[0-9A-Za-z_-]{1,128}")


class PathError(ValueError):
    """A dataset path (or a table of them) is not valid. ``path`` is the offending path."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a valid dataset path, or None when it is one."""
    if not path:
        return "is empty"
    if "\0" in path:
        return "contains a NUL character"
    if path.startswith("/"):
        return "is absolute"
    for component in path.split("/"):
        if component == "":
            return "has an empty component ('//' or a trailing '/')"
        if component in (".", ".."):
            return f"has a {component!r} component (it would climb out of the dataset)"
    return None


def check_path(path: str) -> str:
    """Return ``path`` if it is a valid dataset path, else raise PathError."""
    problem = path_problem(path)
    if problem is not None:
        raise PathError(f"dataset path {path!r} {problem}", path=path)
    return path


def check_joined(joined: str, count: int) -> None:
    """Check ``count`` paths joined by NUL (as a manifest stores them) at C speed; raise PathError naming the
    first invalid one. A raw backslash is invalid here: this is the wire form."""
    if count == 0:
        return
    # an empty path or component, a leading or trailing '/', a backslash: C-speed scans, no copy of the paths
    suspicious = (not joined or joined[0] in "/\0" or joined[-1] in "/\0" or "\\" in joined
                  or any(pair in joined for pair in ("\0\0", "//", "/\0", "\0/")))
    if not suspicious and (joined[0] == "." or "/." in joined or "\0." in joined):  # may be a '.' component
        suspicious = _DOT_COMPONENT.search(joined) is not None
    if not suspicious:
        return
    for path in joined.split("\0"):
        if "\\" in path:
            raise PathError(f"dataset path {path!r} holds a raw backslash (the wire form writes it as %5C)",
                            path=path)
        check_path(path)


def folders_of(paths: Iterable[str]) -> set[str]:
    """Every folder that holds one of ``paths`` (all ancestors; not the root). One pass over the paths plus one
    step per distinct folder."""
    folders: set[str] = set()
    for folder in {p.rpartition("/")[0] for p in paths}:
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    return folders


def find_clash(paths: Collection[str], folders: set[str] | None = None) -> tuple[str, str] | None:
    """A (file, path under it) pair when some path of ``paths`` is also a folder of another, else None.
    ``folders``: ``folders_of(paths)`` when the caller has it already."""
    clashes = (folders_of(paths) if folders is None else folders).intersection(paths)
    if not clashes:
        return None
    file = min(clashes)
    below = min(p for p in paths if p.startswith(file + "/"))
    return file, below


def find_sorted_clash(paths: Sequence[str]) -> tuple[str, str] | None:
    """``find_clash`` for strictly increasing ``paths``, without building their folders: the paths under a path
    sort right after it, past only paths that extend it, so only a path that its successor extends can be the
    folder of another, and one bisection tells. One C-speed pass, plus a bisection per such path."""
    for row in compress(count(), map(str.startswith, islice(paths, 1, None), paths)):
        folder = paths[row] + "/"
        below = bisect_left(paths, folder, row + 1)
        if below < len(paths) and paths[below].startswith(folder):
            return paths[row], paths[below]
    return None


class SortedFolders:
    """The folders of strictly increasing ``paths``, answered by bisection (nothing is built up front: a view of
    millions of paths costs no folder set to load), plus ``extra`` folders. ``folder in folders`` is True when
    some path lies under ``folder`` or it is one of ``extra``; ``folders | more`` adds ``more`` to ``extra``."""

    __slots__ = ("_extra", "_paths")

    def __init__(self, paths: Sequence[str], extra: frozenset[str] = frozenset()) -> None:
        self._paths = paths
        self._extra = extra

    def __contains__(self, folder: object) -> bool:
        if not isinstance(folder, str):
            return False
        if folder in self._extra:
            return True
        prefix = folder + "/"
        below = bisect_left(self._paths, prefix)
        return below < len(self._paths) and self._paths[below].startswith(prefix)

    def __or__(self, more: Collection[str]) -> SortedFolders:
        return SortedFolders(self._paths, self._extra | frozenset(more))


Folders = set[str] | SortedFolders
"""The folders of a view, or a superset of them: built (``folders_of``) or answered from sorted paths."""


def check_clash(paths: Collection[str], folders: set[str] | None = None) -> None:
    """Raise PathError when a path is both a file and a folder."""
    clash = find_clash(paths, folders)
    if clash is not None:
        raise clash_error(*clash)


def clash_error(file: str, below: str) -> PathError:
    """The error for a path that is a file and also the folder of ``below``."""
    return PathError(f"dataset path {file!r} is a file and also a folder (of {below!r})", path=below)


def find_merge_clash(merged: Collection[str], base: Collection[str], base_folders: Folders,
                     puts: Iterable[str]) -> tuple[str, str] | None:
    """A file-and-folder clash in ``merged`` = ``base`` (clash-free, with folders ``base_folders``) with some
    paths removed and ``puts`` (clash-free among themselves) set; costs O(puts x depth), not O(merged), and each
    folder is looked up once however many puts lie in it."""
    cleared: set[str] = set()  # folders of puts already known not to be files of ``merged``
    for path in puts:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if ancestor in cleared:
                continue
            if ancestor in merged:
                return ancestor, path
            cleared.add(ancestor)
        if path not in base and path in base_folders:  # it may be a folder of what is left of the base
            below = next((p for p in merged if p.startswith(path + "/")), None)
            if below is not None:
                return path, below
    return None


def check_unique(paths: Sequence[str], table: Collection[str]) -> None:
    """Raise PathError when ``paths`` (a decoded column) names a path twice (``table`` is its dict/set)."""
    if len(table) == len(paths):
        return
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise PathError(f"dataset path {path!r} is listed twice", path=path)
        seen.add(path)


def needs_escape(text: str) -> bool:
    """Does ``text`` (one path, or NUL-joined paths) hold anything the wire form escapes?"""
    return "%" in text or "\\" in text or not _encodes(text)


def to_wire(text: str) -> str:
    """The wire form of one path, or of NUL-joined paths. PathError for a lone surrogate no file name can hold."""
    escaped = _ESCAPE.sub(_escape_char, text)
    if not _encodes(escaped):
        at = next(i for i, c in enumerate(escaped) if "\ud800" <= c <= "\udfff")
        raise PathError(f"dataset path holds {escaped[at]!r}, a lone surrogate no file name can hold",
                        path=_around(escaped, at))
    return escaped


def to_wire_each(texts: list[str]) -> list[str]:
    """``to_wire`` of each text, in one C-speed scan when none needs escaping (the common case)."""
    if not needs_escape("\0".join(texts)):
        return texts
    return [to_wire(text) for text in texts]


def paths_from_wire(wires: list[str]) -> list[str]:
    """``path_from_wire`` of each, checked in one C-speed scan of them all; PathError if any is invalid (call
    ``path_from_wire`` on each to learn which)."""
    joined = "\0".join(wires)
    if wires and joined.count("\0") != len(wires) - 1:
        raise PathError("a dataset path holds a NUL character", path="")
    check_joined(joined, len(wires))
    return from_wire(joined).split("\0") if "%" in joined else list(wires)


def utf8(data: bytes | bytearray | memoryview) -> str:
    """Paths (one, or NUL-joined) from their UTF-8 bytes; PathError when they are not UTF-8."""
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise PathError(f"dataset paths are not UTF-8 ({exc})",
                        path=repr(bytes(data[exc.start : exc.end + 16]))) from exc


def _encodes(text: str) -> bool:
    """Can ``text`` be written as UTF-8 (it holds no lone surrogate)? ASCII text is answered without encoding it
    (a copy as big as every path of a manifest)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def from_wire(wire: str) -> str:
    """The paths of a wire form (one path, or NUL-joined paths). Raises PathError on an invalid escape."""
    if "%" not in wire:
        return wire
    bad = _BAD_ESCAPE.search(wire)
    if bad is not None:
        path = _around(wire, bad.start())
        raise PathError(f"dataset path {path!r} holds an invalid escape {wire[bad.start():bad.start() + 3]!r} "
                        "(only %25, %5C and %80-%FF exist)", path=path)
    return _UNESCAPE.sub(_unescape_match, wire)


def _around(joined: str, at: int) -> str:
    """The path of NUL-joined paths that holds position ``at``."""
    start = joined.rfind("\0", 0, at) + 1
    end = joined.find("\0", at)
    return joined[start : end if end >= 0 else len(joined)]


def path_from_wire(wire: str) -> str:
    """One path from its wire form, checked: raises PathError when it is not a valid dataset path."""
    if "\\" in wire:
        raise PathError(f"dataset path {wire!r} holds a raw backslash (the wire form writes it as %5C)", path=wire)
    return check_path(from_wire(wire))


def is_valid_id(value: object) -> bool:
    """Is ``value`` a plausible version or object id (letters, digits, ``_`` and ``-``; 1-128 characters)?"""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return f"%{code - 0xDC00 if code >= 0xDC80 else code:02X}"


def _unescape_match(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return chr(code + 0xDC00 if code >= 0x80 else code)
