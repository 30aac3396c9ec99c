"""satchel: versioned datasets for machine-learning teams.

``from satchel import Dataset`` gives the ClearML-Data-compatible API. Nothing is configured or read
at import time; the first call resolves settings (see :mod:`satchel.config`).
"""

from satchel.dataset import Dataset, FileEntry, check_store, configure, import_clearml
from satchel.errors import (
    ConflictError,
    DatasetFinalizedError,
    DatasetNotFinalizedError,
    DatasetNotFoundError,
    ExternalLinkError,
    IntegrityError,
    InvalidArgumentError,
    InvalidDatasetPathError,
    MissingExtraError,
    ObjectMissingError,
    PathTooLongError,
    PendingUploadError,
    SatchelError,
    SourceFileError,
    StorageError,
    TargetNotEmptyError,
)

__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "Dataset",
    "DatasetFinalizedError",
    "DatasetNotFinalizedError",
    "DatasetNotFoundError",
    "ExternalLinkError",
    "FileEntry",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidDatasetPathError",
    "MissingExtraError",
    "ObjectMissingError",
    "PathTooLongError",
    "PendingUploadError",
    "SatchelError",
    "SourceFileError",
    "StorageError",
    "TargetNotEmptyError",
    "__version__",
    "check_store",
    "import_clearml",
    "configure",
]
