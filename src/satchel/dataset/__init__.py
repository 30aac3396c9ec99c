"""The Dataset API: versions, parents merge, drafts, upload/finalize, squash, local cache."""

from satchel.dataset.admin import check_store, import_clearml
from satchel.dataset.context import configure, get_context
from satchel.dataset.dataset import Dataset
from satchel.dataset.view import FileEntry

__all__ = ["Dataset", "FileEntry", "check_store", "configure", "get_context", "import_clearml"]
