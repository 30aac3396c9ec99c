"""The Dataset API: versions, parents merge, drafts, upload/finalize, squash, local cache.

The names below load on first use, so that importing one module of this package (``satchel.dataset.quick``)
does not load them all."""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from satchel.dataset.admin import check_store, import_clearml
    from satchel.dataset.context import configure, get_context
    from satchel.dataset.dataset import Dataset
    from satchel.dataset.view import FileEntry

_HOMES = {"check_store": "admin", "import_clearml": "admin", "configure": "context", "get_context": "context",
          "Dataset": "dataset", "FileEntry": "view"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Dataset", "FileEntry", "check_store", "configure", "get_context", "import_clearml"]
