"""One table from exception types to an exit code and the next step to suggest. Documented in docs/cli.md."""

from __future__ import annotations

from dataclasses import dataclass

from satchel.errors import (
    ConfigError,
    ConflictError,
    DatasetNotFoundError,
    DatasetStateError,
    ExternalLinkError,
    IntegrityError,
    InvalidArgumentError,
    MissingExtraError,
    PathTooLongError,
    SatchelError,
    SourceFileError,
    StorageError,
    TargetNotEmptyError,
)


@dataclass(frozen=True)
class ExitCode:
    """An exit code with the label the docs use."""

    code: int
    label: str


OK = ExitCode(0, "success")
FAILURE = ExitCode(1, "other satchel error")
USAGE = ExitCode(2, "usage: bad command line or argument")
NOT_FOUND = ExitCode(3, "not found: no such dataset, version or file")
CONFLICT = ExitCode(4, "conflict: finalized, not finalized, pending upload, name taken, target not empty")
INTEGRITY = ExitCode(5, "integrity: stored or local data does not match its hash")
STORAGE = ExitCode(6, "storage unreachable or refused")
SOURCE = ExitCode(7, "a local source file or an external link's source changed, vanished or cannot be read")
INTERRUPTED = ExitCode(130, "interrupted")

# Checked in order: the first matching type wins.
TABLE: list[tuple[type[BaseException], ExitCode, str]] = [
    (DatasetNotFoundError, NOT_FOUND, "list datasets with `satchel search`"),
    (IntegrityError, INTEGRITY, "run `satchel verify`, then re-upload from a good copy"),
    (TargetNotEmptyError, CONFLICT, "use --overwrite or an empty folder"),
    (DatasetStateError, CONFLICT, "see the version's status with `satchel search --all --ids ID`"),
    (ConflictError, CONFLICT, "retry, or pick another name/version"),
    (SourceFileError, SOURCE, "run the command again once the folder is stable"),
    (ExternalLinkError, SOURCE, "re-link the file with `satchel add --links` in a new version"),
    (StorageError, STORAGE, "check the storage URL, credentials and network"),
    (PathTooLongError, USAGE, "set SATCHEL_CACHE_DIR (or --copy) to a shorter folder, or get only some --files"),
    (InvalidArgumentError, USAGE, "see `satchel COMMAND --help`"),
    (ConfigError, USAGE, "fix the setting (see the README's configuration table)"),
    (MissingExtraError, USAGE, "install the extra the message names"),
    (SatchelError, FAILURE, "run with SATCHEL_DEBUG=1 for details"),
]
ALL_CODES = [OK, FAILURE, USAGE, NOT_FOUND, CONFLICT, INTEGRITY, STORAGE, SOURCE, INTERRUPTED]


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    """Exit code and hint for an exception (FAILURE and a debug hint for anything unknown)."""
    for kind, code, hint in TABLE:
        if isinstance(exc, kind):
            return code, hint
    return FAILURE, "this is a bug in satchel: run with SATCHEL_DEBUG=1 and report the traceback"
