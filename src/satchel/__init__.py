"""satchel: versioned datasets for machine-learning teams.

``from satchel import Dataset`` gives the ClearML-Data-compatible API. Nothing is configured or read
at import time (the API itself loads on first use); the first call resolves settings (see :mod:`satchel.config`).
"""

from typing import TYPE_CHECKING

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
from satchel.lazy import lazy_names

if TYPE_CHECKING:
    from satchel.dataset import Dataset, FileEntry, check_store, configure, import_clearml

__version__ = "0.1.0"
# the Dataset API on first use: a CLI call that needs none of it (a warm ``satchel get``) does not pay for it
__getattr__ = lazy_names(__name__, dict.fromkeys(("Dataset", "FileEntry", "check_store", "configure",
                                                   "import_clearml"), "dataset"))

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
