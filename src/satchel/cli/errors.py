"""One table from exception types to an exit code and the next step to suggest, and one table that turns the
Python API's advice in a message into the command line's (``overwrite=True`` -> ``--overwrite``). Documented in
docs/cli.md."""

from __future__ import annotations

import re
from dataclasses import dataclass

from satchel.errors import (
    AccessDeniedError,
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
    ServerUnavailableError,
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
STORAGE = ExitCode(6, "storage or server unreachable or refused")
SOURCE = ExitCode(7, "a local source file or an external link's source changed, vanished or cannot be read")
INTERRUPTED = ExitCode(130, "interrupted")

# Checked in order: the first matching type wins.
TABLE: list[tuple[type[BaseException], ExitCode, str]] = [
    (DatasetNotFoundError, NOT_FOUND, "list datasets with `satchel search`"),
    (IntegrityError, INTEGRITY, "run `satchel check --read-data --repair`; upload again what it reports lost"),
    (TargetNotEmptyError, CONFLICT, "use --overwrite or an empty folder"),
    (DatasetStateError, CONFLICT, "see the version's status with `satchel search --all --ids ID`"),
    (ConflictError, CONFLICT, "retry, or pick another name/version"),
    (SourceFileError, SOURCE, "run the command again once the folder is stable"),
    (ExternalLinkError, SOURCE, "re-link the file with `satchel add --links` in a new version"),
    (StorageError, STORAGE, "check the storage URL, credentials and network"),
    (AccessDeniedError, STORAGE, "check the token: `satchel whoami`; `satchel login URL --token TOKEN` to change it"),
    (ServerUnavailableError, STORAGE, "check that the server runs and the URL (`satchel whoami`)"),
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


# The Python API's words in error messages -> the command line's. Order matters: longer phrases first.
PHRASES: list[tuple[str, str]] = [
    (r"satchel\.check_store\([^)]*\) \(CLI: (satchel check[^)]*)\)", r"`\1`"),
    (r", or pass raise_on_error=False to skip it", ""),
    (r"pass raise_on_error=False", "run the command again later"),
    (r"finalize\(auto_upload=True\)", "`satchel close` (it uploads first)"),
    (r" \(with auto_upload=True it is uploaded first\)", ""),
    (r"call upload\(\) and finalize\(\) first", "run `satchel close` first"),
    (r"upload\(\) and finalize\(\) it before publish\(\)", "run `satchel close` on it before `satchel publish`"),
    (r"call upload\(\) before finalize\(\), or ", "run `satchel upload` first, or "),
    (r"call upload\(\) again to store the missing content, then finalize\(\)",
     "run `satchel upload` again to store the missing content, then `satchel close`"),
    (r"Dataset\.create\(parent_datasets=\[\.\.\.\]\)", "`satchel create --parents ID`"),
    (r"Dataset\.get\(\.\.\.\) by project and name", "`satchel search`"),
    (r"Dataset\.get needs dataset_id, or dataset_project / dataset_name / dataset_tags / dataset_version",
     "pass --id, or --project and --name (and --version)"),
    (r"Dataset\.create needs dataset_name and dataset_project \(or parent_datasets to take them from\)",
     "`satchel create` needs --project and --name"),
    (r"pass dataset_version, dataset_id, or entire_dataset=True", "pass --version, --id, or --entire-dataset --force"),
    (r"entire_dataset=True deletes every version: pass force=True",
     "--entire-dataset deletes every version: pass --force"),
    (r"pass auto_create=True to create it", "create it with `satchel create`"),
    (r"drop only_published", "search without it"),
    (r"part=(\d+), num_parts=(\d+)", r"--part \1 --num-parts \2"),
    (r"\bnum_parts-1\b", "--num-parts minus 1"),
    (r"\bnum_parts\b", "--num-parts"),
    (r"\bpart\b(?= must| and)", "--part"),
    (r"remove_files\(('[^']*')\)", r"`satchel remove --files \1`"),
    (r"remove_files\(\)", "`satchel remove`"),
    (r"add_external_files\(\)", "`satchel add --links`"),
    (r"run add_files\(\) \(or sync_folder\(\)\) again for it, then upload\(\)",
     "run `satchel add` (or `satchel sync`) again for it, then `satchel upload`"),
    (r"add them again with add_files\(\)", "add them again with `satchel add --files`"),
    (r"add the file to any new version and upload\(\) it", "add the file to any new version (`satchel add`, "
                                                          "`satchel upload`)"),
    (r"see list_files\(\)", "see `satchel list`"),
    (r"finalize\(\) it before (using it as a parent|squashing)", r"run `satchel close` on it before \1"),
    (r"call finalize\(\) again", "run `satchel close` again"),
    (r"publish\(\) a finalized version first", "`satchel publish` a finalized version first"),
    (r"\bupload\(\)", "`satchel upload`"),
    (r"\bfinalize\(\)", "`satchel close`"),
    (r"overwrite=True", "--overwrite"),
    (r"force=True", "--force"),
    (r"files=\[\.\.\.\]", "--files"),
    (r"target_folder for writable ones", "--copy for writable ones"),
    (r"target_folder", "--copy"),
    (r"local_copy_path", "--folder"),
    (r"\bdataset_path\b", "--dataset-folder"),
    (r"\bchunk_size\b", "--chunk-size"),
    (r"use None or 'zstd' \(default\), 'zstd:<level>' \(-7\.\.22\), 'none', zipfile\.ZIP_STORED or "
     r"zipfile\.ZIP_DEFLATED", "use zstd (the default), zstd:<level> (-7..22) or none"),
    (r"\bcompression=", "--compression "),
    (r"\bmax_workers\b", "SATCHEL_MAX_WORKERS"),
    (r"\bdataset_version\b", "--version"),
    (r"\bdataset_id\b", "--id"),
    (r"\bdataset_project\b", "--project"),
    (r"\bdataset_name\b", "--name"),
    (r"\bdataset_tags\b", "--tags"),
]
_COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in PHRASES]


def cli_message(message: str) -> str:
    """``message`` (written for the Python API) in the command line's terms."""
    for pattern, replacement in _COMPILED:
        message = pattern.sub(replacement, message)
    return message
