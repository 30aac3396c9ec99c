"""One file of a version: its verified bytes, a preview of them, a thumbnail, a download.

A file is read by range from its pack and verified against its hash before any byte of it is used, then kept in
the server's content cache (``DATA/cache/content``, keyed by content hash, trimmed to a size budget, oldest
first), so a download or a player's Range requests read the local copy. A preview reads at most
``PREVIEW_MAX_FILE`` bytes of one file and shows a bounded head of it: ``TEXT_HEAD`` bytes of text, ``TABLE_ROWS``
rows of a CSV or Parquet file, ``HEX_HEAD`` bytes in hex. External links are never fetched by the server.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import mimetypes
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from satchel.catalog.base import VersionRecord
from satchel.errors import DatasetStateError, InvalidArgumentError
from satchel.objects import ManifestEntry, ObjectStore
from satchel.server.state import ServerState

PREVIEW_MAX_FILE = 64 << 20
TEXT_HEAD = 64 << 10
TABLE_ROWS = 50
TABLE_COLUMNS = 100
CELL_CHARS = 200
PARQUET_GROUP_LIMIT = 64 << 20
HEX_HEAD = 512
THUMBNAIL_PIXELS = 320
IMAGE_MAX_PIXELS = 25_000_000
_heavy = threading.BoundedSemaphore(2)  # image and Parquet decoding: at most two at a time per process
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
TEXT_SUFFIXES = {".txt", ".log", ".md", ".markdown", ".rst", ".json", ".jsonl", ".ndjson", ".yaml", ".yml",
                 ".toml", ".ini", ".cfg", ".xml", ".html", ".htm", ".svg", ".py", ".sh", ".js", ".ts", ".c",
                 ".h", ".cpp", ".java", ".go", ".rs", ".sql", ".r", ".css", ".tex"}
AUDIO_SUFFIXES = {".wav", ".mp3", ".ogg", ".oga", ".flac", ".m4a", ".aac", ".opus"}
VIDEO_SUFFIXES = {".mp4", ".webm", ".ogv", ".mov", ".m4v"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
_cache_lock = threading.Lock()


def kind_of(path: str) -> str:
    """How a file is previewed, from its name: image, text, json, markdown, yaml, csv, parquet, audio, video,
    or binary (decided again from the bytes for unknown names)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".parquet":
        return "parquet"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in (".json", ".jsonl", ".ndjson"):
        return "json"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return "binary"


def media_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


def cache_limit(state: ServerState) -> int:
    """The largest file kept in the content cache (a quarter of its budget): bigger ones are streamed."""
    return state.config.content_cache_bytes // 4


def cached_file(state: ServerState, record: VersionRecord, entry: ManifestEntry) -> Path:
    """A local, verified copy of one stored file (read from its pack once; later calls reuse it).

    The copy is kept per store (``cache/content/<store>/<hash>``) and looked for only once the store that holds
    the entry is known, so a version can only ever get bytes its own store holds: a draft row naming the hash
    of another project's file finds nothing."""
    if entry.link:
        raise InvalidArgumentError(f"{entry.link.partition(chr(10))[0]} is an external link: satchel stores no "
                                   "bytes for it and the server does not fetch it")
    store = _store_of(state, record, entry)
    if entry.size > cache_limit(state):
        raise InvalidArgumentError(f"the file is {entry.size} bytes, more than the preview cache keeps "
                                   f"({cache_limit(state)} bytes); download it whole")
    folder = _cache_root(state) / hashlib.sha256(store.url.encode()).hexdigest()[:16] / entry.hash[:2]
    target = folder / entry.hash
    if target.is_file() and target.stat().st_size == entry.size:
        with contextlib.suppress(OSError):
            os.utime(target)
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = state.tmp_dir / f"content-{uuid.uuid4().hex}"
    if entry.size <= 8 << 20:
        data = store.read(entry.hash, entry.location)
        partial.write_bytes(data)
    else:
        store.read_to_file(entry.hash, entry.location, partial)
    os.replace(partial, target)
    _trim(_cache_root(state), state.config.content_cache_bytes, keep=target)
    return target


def _cache_root(state: ServerState) -> Path:
    return Path(state.config.data_dir) / "cache" / "content"


def stream_file(state: ServerState, record: VersionRecord, entry: ManifestEntry) -> Iterator[bytes]:
    """A file too large for the cache, streamed from its pack; its hash is checked as the bytes go out and a
    mismatch ends the transfer with an error (the client sees a broken download, never a complete wrong one)."""
    store = _store_of(state, record, entry)
    return store.iter_verified(entry.hash, entry.location)


def _store_of(state: ServerState, record: VersionRecord, entry: ManifestEntry) -> ObjectStore:
    """The store holding an entry: its version's, or for a draft the store of the version it comes from."""
    holder = record
    if not record.is_final:
        holder = state.catalog.get_version(entry.origin) if entry.pack and entry.origin != record.id else record
    if not entry.pack or not holder.is_final or not holder.storage_url:
        raise DatasetStateError(f"dataset {record.id}: this file is in a draft and not uploaded yet; upload() the "
                                "draft, or finalize it, to read it here", dataset_id=record.id)
    return state.content_store(holder.storage_url, holder.id)


def _trim(root: Path, budget: int, keep: Path) -> None:
    """Drop the least recently used copies until the cache fits ``budget`` (never ``keep``)."""
    with _cache_lock:
        files = []
        total = 0
        for path in root.glob("*/*/*"):
            with contextlib.suppress(OSError):
                info = path.stat()
                files.append((info.st_mtime, info.st_size, path))
                total += info.st_size
        for _, size, path in sorted(files):
            if total <= budget:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size


def preview(state: ServerState, record: VersionRecord, path: str, entry: ManifestEntry) -> dict[str, Any]:
    """What the preview page shows of one file (see the module docs for the bounds)."""
    kind = kind_of(path)
    base: dict[str, Any] = {"version": record.id, "path": path, "name": path.rpartition("/")[2], "size": entry.size,
                            "hash": entry.hash, "origin": entry.origin, "kind": kind, "media_type": media_type(path),
                            "link": entry.link.partition("\n")[0] if entry.link else None, "truncated": False,
                            "note": None}
    if entry.link:
        return {**base, "kind": "link", "note": "an external link: satchel keeps its URL, not its bytes"}
    if kind in ("audio", "video"):
        return base  # played from the download route, which answers Range requests
    if entry.size > PREVIEW_MAX_FILE:
        return {**base, "kind": "too_large", "note": f"{entry.size} bytes: larger than the preview limit "
                                                     f"({PREVIEW_MAX_FILE >> 20} MiB); download it instead"}
    local = cached_file(state, record, entry)
    if kind == "image":
        return {**base, **_image_info(local)}
    if kind == "parquet":
        with _heavy:
            return {**base, **_parquet(local)}
    with open(local, "rb") as source:
        head = source.read(TEXT_HEAD + 1)
    truncated = len(head) > TEXT_HEAD
    head = head[:TEXT_HEAD]
    if kind == "binary" and _looks_textual(head):
        kind = "text"
    if kind == "binary":
        return {**base, "hex": _hex_lines(head[:HEX_HEAD]), "truncated": entry.size > HEX_HEAD}
    text = head.decode("utf-8", errors="replace")
    if truncated:  # do not show half a character or half a line
        text = text[: text.rfind("\n") + 1] or text
    if kind == "csv":
        return {**base, **_csv(text, "\t" if path.lower().endswith(".tsv") else ","), "truncated": truncated}
    if kind == "json" and not truncated:
        with contextlib.suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return {**base, "kind": kind, "text": text, "truncated": truncated}


def _looks_textual(head: bytes) -> bool:
    if not head or b"\0" in head[:4096]:
        return False
    try:
        head[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 4090  # a character cut at the end of the sample
    return True


def _hex_lines(data: bytes) -> list[str]:
    lines = []
    for start in range(0, len(data), 16):
        row = data[start : start + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{start:08x}  {row.hex(' '):<47}  {text}")
    return lines


def _csv(text: str, delimiter: str) -> dict[str, Any]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > TABLE_ROWS:
                break
    except csv.Error as exc:
        return {"kind": "text", "text": text, "note": f"not readable as CSV ({exc}); shown as text"}
    header, body = (rows[0], rows[1:TABLE_ROWS + 1]) if rows else ([], [])
    types = [_column_type([r[i] for r in body if i < len(r)]) for i in range(len(header))]
    return {"table": {"columns": [{"name": n, "type": t} for n, t in zip(header, types, strict=True)],
                      "rows": body}}


def _column_type(values: list[str]) -> str:
    present = [v.strip() for v in values if v.strip()]
    if not present:
        return "empty"
    for name, check in (("integer", int), ("float", float)):
        try:
            for value in present:
                check(value)
            return name
        except ValueError:
            continue
    if all(v.lower() in ("true", "false") for v in present):
        return "boolean"
    return "string"


def _parquet(local: Path) -> dict[str, Any]:
    """Schema, row count and the first rows of a Parquet file, bounded: row groups are read only while their
    columns unpack to PARQUET_GROUP_LIMIT bytes in all, strings and bytes are read dictionary-encoded (a repeated
    huge value is held once) and cut to CELL_CHARS before they become Python values, nested columns are named,
    not read."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        return {"note": "Parquet previews need pyarrow (pip install 'satchel[server]')", "kind": "binary",
                "hex": []}
    try:
        schema = pq.read_schema(local)
        fields = list(schema)[:TABLE_COLUMNS]
        flat = [f.name for f in fields if not pa.types.is_nested(f.type)]
        textual = [f.name for f in fields if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
                   or pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        parquet = pq.ParquetFile(local, read_dictionary=textual)
        meta = parquet.metadata
        table: dict[str, Any] = {"columns": [{"name": f.name, "type": str(f.type)} for f in fields], "rows": []}
        result: dict[str, Any] = {"table": table, "row_count": meta.num_rows, "truncated": meta.num_rows > 0}
        unpacked = 0
        for index in range(meta.num_row_groups):  # the first rows come a row group at a time: check each first
            group = meta.row_group(index)
            unpacked += sum(group.column(i).total_uncompressed_size for i in range(group.num_columns)
                            if group.column(i).path_in_schema.split(".")[0] in flat)
            if unpacked > PARQUET_GROUP_LIMIT:
                result["note"] = (f"its first rows unpack to more than a preview reads ({PARQUET_GROUP_LIMIT >> 20} "
                                  "MiB)" + ("" if table["rows"] else ": the schema only"))
                break
            rows = parquet.read_row_group(index, columns=flat, use_threads=False)
            rows = rows.slice(0, TABLE_ROWS - len(table["rows"]))
            values = {name: _column_values(rows.column(name), pa, pc) for name in flat}
            table["rows"] += [[values[f.name][i] if f.name in values else "(nested)" for f in fields]
                              for i in range(rows.num_rows)]
            if len(table["rows"]) >= TABLE_ROWS:
                break
        result["truncated"] = meta.num_rows > len(table["rows"])
        return result
    except Exception as exc:  # pyarrow raises many kinds for a damaged file
        return {"kind": "binary", "hex": [], "note": f"not readable as Parquet: {exc}"}


def _column_values(column: Any, pa: Any, pc: Any) -> list[Any]:
    """A column's values as short Python values (long strings and bytes cut while still in Arrow)."""
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        words = [_cell(w) for w in _short(array.dictionary, pa, pc).to_pylist()]
        return [None if i is None else words[i] for i in array.indices.to_pylist()]
    return [_cell(v) for v in _short(array, pa, pc).to_pylist()]


def _short(array: Any, pa: Any, pc: Any) -> Any:
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return pc.utf8_slice_codeunits(array, 0, CELL_CHARS)
    if pa.types.is_binary(array.type) or pa.types.is_large_binary(array.type):
        return pc.binary_slice(array, 0, CELL_CHARS // 2)
    return array


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value[:64].hex() + ("..." if len(value) > 64 else "")
    return str(value)[:200]


def _image_info(local: Path) -> dict[str, Any]:
    try:
        from PIL import Image
    except ImportError:
        return {"note": "image details need Pillow (pip install 'satchel[server]')"}
    try:
        with Image.open(local) as picture:
            return {"image": {"width": picture.width, "height": picture.height, "format": picture.format,
                              "mode": picture.mode}}
    except Exception as exc:  # Pillow raises many kinds for a damaged image
        return {"kind": "binary", "hex": _hex_lines(local.read_bytes()[:HEX_HEAD]),
                "note": f"not readable as an image: {exc}"}


def thumbnail(local: Path, pixels: int = THUMBNAIL_PIXELS) -> bytes:
    """A PNG at most ``pixels`` wide and high (InvalidArgumentError for what is not a readable image), made once
    per cached file and kept next to it."""
    done = local.with_name(local.name + f".thumb{pixels}.png")
    if done.is_file():
        return done.read_bytes()
    with _heavy:
        data = _make_thumbnail(local, pixels)
    partial = local.with_name(f"{local.name}.{uuid.uuid4().hex}.tmp")
    partial.write_bytes(data)
    os.replace(partial, done)
    return data


def _make_thumbnail(local: Path, pixels: int) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:
        raise InvalidArgumentError("thumbnails need Pillow (pip install 'satchel[server]')") from exc
    try:
        with Image.open(local) as picture:
            if picture.width * picture.height > IMAGE_MAX_PIXELS:
                raise InvalidArgumentError(f"the image is {picture.width}x{picture.height}: too large for a "
                                           "thumbnail; download it")
            picture.thumbnail((pixels, pixels))
            out = io.BytesIO()
            picture.convert("RGBA" if picture.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
            return out.getvalue()
    except InvalidArgumentError:
        raise
    except Exception as exc:
        raise InvalidArgumentError(f"not readable as an image: {exc}") from exc
