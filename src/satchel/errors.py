"""Every error satchel raises.

One root, specific leaves; each leaf also subclasses the built-in a caller would catch::

    SatchelError
    ├── ConfigError (ValueError)                 a setting cannot be parsed
    ├── MissingExtraError (ImportError)          a storage backend's optional dependencies are not installed
    ├── InvalidArgumentError (ValueError)        a bad argument to the public API
    │   └── InvalidDatasetPathError              a dataset path escapes the dataset (``../x``, absolute)
    ├── DatasetNotFoundError (LookupError, ValueError)   no dataset version matches an id or a query
    ├── DatasetStateError (RuntimeError, ValueError)     the operation does not fit the version's state
    │   ├── DatasetFinalizedError                changing a finalized (immutable) version
    │   ├── DatasetNotFinalizedError             reading / parenting a version that is not finalized
    │   └── PendingUploadError                   finalize while content is not stored yet
    ├── ConflictError (RuntimeError)             a name/version already taken, a concurrent finalize
    ├── SourceFileError (OSError)                a local file vanished or changed while satchel read it
    ├── TargetNotEmptyError (FileExistsError, ValueError)   a writable copy into a non-empty folder
    ├── PathTooLongError (OSError)               a dataset path does not fit under the local folder
    ├── IntegrityError                           stored bytes do not match their hash
    │   └── ObjectMissingError                   a stored object the catalog refers to is gone
    ├── ExternalLinkError (OSError)              an external link's source changed or vanished
    ├── AccessDeniedError (PermissionError)      the satchel server refused the token (401/403)
    ├── ServerUnavailableError (ConnectionError) the satchel server cannot be reached (after retries)
    └── StorageError (OSError)                   the storage backend failed
        ├── StorageNotFoundError (FileNotFoundError)
        ├── StoragePermissionError (PermissionError)
        ├── StorageTransientError                worth a retry (timeouts, 5xx, throttling)
        └── StorageFormatError                   the store was written by an incompatible format

Messages always say what went wrong and what to do next. ``DatasetNotFoundError`` and
``DatasetStateError`` are also ``ValueError``s because ClearML Data raises ``ValueError`` in those cases,
so code written for it keeps catching them.
"""

from __future__ import annotations

import errno


class SatchelError(Exception):
    """Root of every error raised by satchel."""


class ConfigError(SatchelError, ValueError):
    """A configuration value (argument, ``SATCHEL_*`` variable or config file) is invalid."""


class MissingExtraError(SatchelError, ImportError):
    """A storage backend needs optional dependencies: ``pip install 'satchel[<extra>]'``."""

    def __init__(self, message: str, *, extra: str) -> None:
        super().__init__(message)
        self.extra = extra


class InvalidArgumentError(SatchelError, ValueError):
    """An argument to the public API is invalid."""


class InvalidDatasetPathError(InvalidArgumentError):
    """A dataset path is absolute or escapes the dataset root."""

    def __init__(self, message: str, *, dataset_path: str) -> None:
        super().__init__(message)
        self.dataset_path = dataset_path


class DatasetNotFoundError(SatchelError, LookupError, ValueError):
    """No dataset version matches the given id or query."""

    def __init__(self, message: str, *, dataset_id: str | None = None) -> None:
        super().__init__(message)
        self.dataset_id = dataset_id


class DatasetStateError(SatchelError, RuntimeError, ValueError):
    """The requested operation does not fit the dataset version's state."""

    def __init__(self, message: str, *, dataset_id: str) -> None:
        super().__init__(message)
        self.dataset_id = dataset_id


class StoredElsewhereError(DatasetStateError):
    """A satchel server was asked for the files of a version stored outside it (an ``output_uri`` on S3, say),
    which it cannot read."""


class DatasetFinalizedError(DatasetStateError):
    """The version is finalized, hence immutable."""


class DatasetNotFinalizedError(DatasetStateError):
    """The version must be finalized first."""


class PendingUploadError(DatasetStateError):
    """Finalize was asked while some content is not stored yet."""

    def __init__(self, message: str, *, dataset_id: str, pending_files: int, pending_bytes: int) -> None:
        super().__init__(message, dataset_id=dataset_id)
        self.pending_files = pending_files
        self.pending_bytes = pending_bytes


class ConflictError(SatchelError, RuntimeError):
    """The operation conflicts with existing state (a taken version, a concurrent writer)."""


class SourceFileError(SatchelError, OSError):
    """A local source file vanished or changed while satchel was reading it."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class TargetNotEmptyError(SatchelError, FileExistsError, ValueError):
    """A writable copy was asked into a folder that is not empty."""

    def __init__(self, message: str, *, target: str) -> None:
        super().__init__(message)
        self.target = target


class PathTooLongError(SatchelError, OSError):
    """A dataset path is too long for the local folder it would be written under (the filesystem's limits on a
    path and on one name)."""

    def __init__(self, message: str, *, dataset_path: str, folder: str) -> None:
        super().__init__(errno.ENAMETOOLONG, message)
        self.dataset_path = dataset_path
        self.folder = folder

    def __str__(self) -> str:
        return str(self.strerror)


class IntegrityError(SatchelError):
    """Stored bytes do not match their content hash; the file is never handed out."""

    def __init__(
        self,
        message: str,
        *,
        object_key: str = "",
        content_hash: str = "",
        dataset_id: str | None = None,
        dataset_path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.object_key = object_key
        self.content_hash = content_hash
        self.dataset_id = dataset_id
        self.dataset_path = dataset_path


class ObjectMissingError(IntegrityError):
    """An object that a finalized version refers to is missing from storage."""


class ExternalLinkError(SatchelError, OSError):
    """An external link's source is gone (``reason="missing"``) or differs from what was recorded
    (``reason="changed"``: another size or change tag)."""

    def __init__(self, message: str, *, url: str, dataset_path: str, reason: str,
                 dataset_id: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.dataset_path = dataset_path
        self.reason = reason
        self.dataset_id = dataset_id


class AccessDeniedError(SatchelError, PermissionError):
    """The satchel server refused the request: no token, a wrong, expired or revoked one, or a role or project
    the token was not granted. ``url`` is the server that refused."""

    def __init__(self, message: str, *, url: str = "", status: int = 403) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ServerUnavailableError(SatchelError, ConnectionError):
    """The satchel server could not be reached, or kept failing, after retries."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StorageError(SatchelError, OSError):
    """The storage backend failed. ``key`` names the object when there is one."""

    def __init__(self, message: str, *, url: str, key: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.key = key


class PathNotFoundError(SatchelError, FileNotFoundError):
    """A dataset version has no file at that path."""

    def __init__(self, message: str, *, dataset_id: str, dataset_path: str) -> None:
        super().__init__(message)
        self.dataset_id = dataset_id
        self.dataset_path = dataset_path

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StorageNotFoundError(StorageError, FileNotFoundError):
    """The key does not exist in the storage."""


class StoragePermissionError(StorageError, PermissionError):
    """The storage refused access (credentials or permissions)."""


class StorageTransientError(StorageError):
    """A failure worth retrying: timeout, throttling, server error."""


class StorageFormatError(StorageError):
    """The store holds a format this version of satchel cannot read."""


def rebuild(type_name: str, message: str, attributes: dict[str, object]) -> SatchelError:
    """The SatchelError a satchel server reported (its class name, message and attributes), rebuilt on the
    client so callers catch the same class in both modes. Unknown names become a plain SatchelError."""
    cls = _ERROR_CLASSES.get(type_name, SatchelError)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    if isinstance(error, OSError):  # OSError keeps its message in args; strerror makes str() show it alone
        error.strerror = message
    for name in ("dataset_id", "dataset_path", "url", "key", "object_key", "content_hash", "target", "path",
                 "extra", "reason", "folder", "pending_files", "pending_bytes", "status"):
        if name in attributes:
            setattr(error, name, attributes[name])
    for name, default in (("url", ""), ("key", None), ("dataset_id", None), ("dataset_path", None),
                          ("object_key", ""), ("content_hash", "")):
        if not hasattr(error, name):
            setattr(error, name, default)
    return error


def _subclasses(root: type[SatchelError]) -> dict[str, type[SatchelError]]:
    found = {root.__name__: root}
    for sub in root.__subclasses__():
        found.update(_subclasses(sub))
    return found


_ERROR_CLASSES: dict[str, type[SatchelError]] = _subclasses(SatchelError)
