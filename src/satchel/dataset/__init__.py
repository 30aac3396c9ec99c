"""The Dataset API: versions, parents merge, drafts, upload/finalize, squash, local cache.

The names below load on first use, so that importing one module of this package (``satchel.dataset.quick``)
does not load them all."""

from typing import TYPE_CHECKING

from satchel.lazy import lazy_names

if TYPE_CHECKING:
    from satchel.dataset.admin import check_store, import_clearml
    from satchel.dataset.context import configure, get_context
    from satchel.dataset.dataset import Dataset
    from satchel.dataset.view import FileEntry

__getattr__ = lazy_names(__name__, {"check_store": "admin", "import_clearml": "admin", "configure": "context",
                                     "get_context": "context", "Dataset": "dataset", "FileEntry": "view"})


__all__ = ["Dataset", "FileEntry", "check_store", "configure", "get_context", "import_clearml"]
