"""Version metadata: a dict, a pandas DataFrame or a numpy array, round-tripping with its type."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

from satchel.errors import InvalidArgumentError

RESERVED = frozenset({"state", "stats", "manifest", "dataset_content"})


def check_name(name: str) -> None:
    """Refuse empty names and names satchel keeps for itself."""
    if not name or name in RESERVED or name.startswith("satchel"):
        raise InvalidArgumentError(
            f"metadata name {name!r} is reserved by satchel (reserved: {sorted(RESERVED)} and 'satchel*'); "
            "choose another metadata_name"
        )


def encode(value: Any) -> tuple[str, bytes]:
    """(kind, bytes) for a dict, a pandas DataFrame or a numpy array."""
    if isinstance(value, dict):
        try:
            return "json", json.dumps(value).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"metadata dict is not JSON-serializable: {exc}") from exc
    pandas, numpy = sys.modules.get("pandas"), sys.modules.get("numpy")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        buffer = io.StringIO()
        value.to_json(buffer, orient="table", index=True)
        return "pandas", buffer.getvalue().encode()
    if numpy is not None and isinstance(value, numpy.ndarray):
        out = io.BytesIO()
        try:
            numpy.save(out, value, allow_pickle=False)
        except ValueError as exc:
            raise InvalidArgumentError(f"numpy array metadata must not hold Python objects: {exc}") from exc
        return "numpy", out.getvalue()
    raise InvalidArgumentError(
        f"metadata of type {type(value).__name__} is not supported; pass a dict, a pandas DataFrame or a numpy array"
    )


def decode(kind: str, content: bytes) -> Any:
    """The value stored by :func:`encode`."""
    if kind == "json":
        return json.loads(content)
    if kind == "pandas":
        import pandas as pd

        return pd.read_json(io.StringIO(content.decode()), orient="table")
    if kind == "numpy":
        import numpy as np

        return np.load(io.BytesIO(content), allow_pickle=False)
    raise InvalidArgumentError(f"metadata kind {kind!r} is unknown to this satchel; upgrade satchel")
