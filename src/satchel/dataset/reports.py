"""What a data script reports about a version, through ClearML's ``Logger`` methods: text, scalars, tables,
histograms, images, plotly and matplotlib figures. Each report is stored with the version (a catalog metadata
entry ``satchel.report.<time>-<id>``, JSON), listed by ``Dataset.get_reports()`` and ``satchel reports``.

Bounded: a table keeps at most ``MAX_TABLE_ROWS`` rows, an image at most ``MAX_IMAGE_BYTES``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import mimetypes
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from satchel.errors import InvalidArgumentError

PREFIX = "satchel.report."
KIND = "report"
MAX_TABLE_ROWS = 10_000
MAX_IMAGE_BYTES = 16 << 20
log = logging.getLogger("satchel")


class DatasetLogger:
    """ClearML's ``Logger`` reporting methods, storing each report with one dataset version."""

    def __init__(self, store: Callable[[str, bytes], None]) -> None:
        self._store = store

    def _save(self, report: dict[str, Any]) -> None:
        report = {**report, "created": time.time()}
        name = f"{PREFIX}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self._store(name, json.dumps(report, default=_plain, allow_nan=False).encode())

    def report_text(self, msg: Any, level: int = logging.INFO, print_console: bool = True) -> None:
        """A line of text (also logged when ``print_console``)."""
        if print_console:
            log.log(level, "%s", msg)
        self._save({"type": "text", "message": str(msg), "level": logging.getLevelName(level)})

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """One point of a scalar series."""
        self._save({"type": "scalar", "title": str(title), "series": str(series), "value": _finite(value),
                    "iteration": int(iteration)})

    def report_single_value(self, name: str, value: float) -> None:
        """A single named value (ClearML shows it in a summary table)."""
        self._save({"type": "single_value", "title": str(name), "value": _finite(value)})

    def report_table(self, title: str, series: str, iteration: int | None = None, table_plot: Any = None,
                     csv: str | Path | None = None, url: str | None = None, extra_layout: Any = None,
                     extra_data: Any = None) -> None:
        """A table: ``table_plot`` a pandas DataFrame (its index becomes the first column) or a list of rows
        (the first one the header), or ``csv`` a local CSV file. ``url`` (a remote CSV) is not read."""
        if url is not None and csv is None and table_plot is None:
            raise InvalidArgumentError("report_table(url=...) is not supported: pass table_plot (a DataFrame or rows) "
                                       "or csv (a local file)")
        columns, rows = _table(table_plot, csv)
        truncated = len(rows) > MAX_TABLE_ROWS
        self._save({"type": "table", "title": str(title), "series": str(series), "iteration": iteration,
                    "columns": columns, "rows": rows[:MAX_TABLE_ROWS], "truncated": truncated})

    def report_histogram(self, title: str, series: str, values: Any, iteration: int | None = None,
                         labels: list[str] | None = None, xlabels: list[str] | None = None,
                         xaxis: str | None = None, yaxis: str | None = None, mode: str | None = None,
                         data_args: Any = None, extra_layout: Any = None) -> None:
        """A histogram (bar heights ``values``, with optional ``labels``/``xlabels``)."""
        flat = [_finite(v) for v in _sequence(values)]
        self._save({"type": "histogram", "title": str(title), "series": str(series), "iteration": iteration,
                    "values": flat, "labels": labels, "xlabels": xlabels, "xaxis": xaxis, "yaxis": yaxis,
                    "mode": mode})

    def report_vector(self, title: str, series: str, values: Any, iteration: int | None = None,
                      labels: list[str] | None = None, xlabels: list[str] | None = None,
                      xaxis: str | None = None, yaxis: str | None = None, mode: str | None = None,
                      extra_layout: Any = None) -> None:
        """ClearML's alias of :meth:`report_histogram`."""
        self.report_histogram(title, series, values, iteration, labels, xlabels, xaxis, yaxis, mode)

    def report_image(self, title: str, series: str, iteration: int | None = None, local_path: str | Path | None = None,
                     image: Any = None, matrix: Any = None, max_image_history: int | None = None,
                     delete_after_upload: bool = False, url: str | None = None) -> None:
        """An image from ``local_path`` (any image file), or ``image``/``matrix`` (a numpy array or a PIL image,
        stored as PNG; needs Pillow)."""
        if local_path is not None:
            data, media = Path(local_path).read_bytes(), _media_type(Path(local_path).suffix)
        elif image is not None or matrix is not None:
            data, media = _png(image if image is not None else matrix), "image/png"
        else:
            raise InvalidArgumentError("report_image needs local_path, image or matrix (url is not read)")
        self._save_bytes("image", title, series, iteration, data, media,
                         Path(local_path) if delete_after_upload and local_path is not None else None)

    def report_media(self, title: str, series: str, iteration: int | None = None, local_path: str | Path | None = None,
                     stream: Any = None, file_extension: str | None = None, max_history: int | None = None,
                     delete_after_upload: bool = False, url: str | None = None) -> None:
        """A media file (audio, video, HTML...) from ``local_path`` or a binary ``stream``."""
        if local_path is not None:
            data, suffix = Path(local_path).read_bytes(), Path(local_path).suffix
        elif stream is not None:
            data, suffix = bytes(stream.read(MAX_IMAGE_BYTES + 1)), file_extension or ""
        else:
            raise InvalidArgumentError("report_media needs local_path or stream (url is not read)")
        self._save_bytes("media", title, series, iteration, data, _media_type(suffix),
                         Path(local_path) if delete_after_upload and local_path is not None else None)

    def _save_bytes(self, kind: str, title: str, series: str, iteration: int | None, data: bytes, media_type: str,
                    delete: Path | None) -> None:
        """Store an image or media report (at most ``MAX_IMAGE_BYTES``); ``delete`` the source file only once
        the report is stored."""
        if len(data) > MAX_IMAGE_BYTES:
            raise InvalidArgumentError(f"the {kind} is {len(data)} bytes; reports keep {kind} up to "
                                       f"{MAX_IMAGE_BYTES} bytes: report a smaller one")
        self._save({"type": kind, "title": str(title), "series": str(series), "iteration": iteration,
                    "media_type": media_type, "data": base64.b64encode(data).decode()})
        if delete is not None:
            delete.unlink(missing_ok=True)

    def report_plotly(self, title: str, series: str, figure: Any, iteration: int | None = None) -> None:
        """A plotly figure (a ``plotly`` Figure or its dict), kept as its JSON."""
        spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
        if not isinstance(spec, dict):
            raise InvalidArgumentError("report_plotly needs a plotly Figure or a dict")
        self._save({"type": "plotly", "title": str(title), "series": str(series), "iteration": iteration,
                    "figure": json.loads(json.dumps(spec, default=_plain))})

    def report_matplotlib_figure(self, title: str, series: str, figure: Any, iteration: int | None = None,
                                 report_image: bool = False, report_interactive: bool = True) -> None:
        """A matplotlib figure, kept as a PNG image."""
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        self._save_bytes("image", title, series, iteration, buffer.getvalue(), "image/png", None)

    def flush(self, wait: bool = False) -> None:
        """Reports are stored as they are made: nothing to flush."""


def decode(content: bytes) -> dict[str, Any]:
    """A stored report; images come back as bytes under ``data``."""
    report: dict[str, Any] = json.loads(content)
    if report.get("type") in ("image", "media") and isinstance(report.get("data"), str):
        report["data"] = base64.b64decode(report["data"])
    return report


def _table(table_plot: Any, csv_path: str | Path | None) -> tuple[list[str], list[list[Any]]]:
    if csv_path is not None:
        with open(csv_path, newline="", encoding="utf-8") as source:
            rows = list(csv.reader(source))
        return (rows[0] if rows else []), rows[1:]
    if table_plot is None:
        raise InvalidArgumentError("report_table needs table_plot (a DataFrame or a list of rows) or csv")
    if hasattr(table_plot, "to_dict") and hasattr(table_plot, "columns"):  # a pandas DataFrame
        frame = table_plot.reset_index()
        return [str(c) for c in frame.columns], [[_plain(v) for v in row] for row in frame.itertuples(index=False)]
    rows = [list(row) for row in table_plot]
    if not rows:
        return [], []
    return [str(c) for c in rows[0]], [[_plain(v) for v in row] for row in rows[1:]]


def _png(array_or_image: Any) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:
        raise InvalidArgumentError("report_image(image=...) needs Pillow (pip install pillow), or pass local_path "
                                   "to an image file") from exc
    picture = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _media_type(suffix: str) -> str:
    return mimetypes.guess_type(f"x{suffix.lower()}")[0] or "application/octet-stream"


def _sequence(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    return [x for row in values for x in (row if isinstance(row, list | tuple) else [row])]


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise InvalidArgumentError(f"a reported value must be a finite number, not {value!r}")
    return number


def _plain(value: Any) -> Any:
    """A JSON-able form of numpy scalars, timestamps and other values."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
