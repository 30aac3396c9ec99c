"""Optional dependencies of the object-storage backends, imported on first use."""

from __future__ import annotations

import importlib
from types import ModuleType

from satchel.errors import MissingExtraError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``; when it is missing, raise MissingExtraError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{what} needs the optional package {module.split('.')[0]!r}, which is not installed: "
            f"pip install 'satchel[{extra}]' (or 'satchel[all]' for every backend)",
            extra=extra,
        ) from exc
