"""The file server: objects of a namespace's store, streamed both ways, verified before they become visible.

What a key may hold is fixed by its kind; anything else is refused (400):

* ``packs/xx/<id>.pack``: its BLAKE3 must be ``<id>``;
* ``packs/xx/<id>.idx``: its pack must be stored, and every entry it lists must lie in the pack and decode to
  bytes with that entry's hash and size;
* ``manifests/xx/<hash>``: its BLAKE3 must be ``<hash>`` and it must decode (paths checked);
* ``refs/<version>/<manifest>``: empty; ``locks/pins/<name>``: a JSON pin; ``locks/gc/<name>``: a collection
  lease (admin); ``damaged/...``: what ``satchel check --repair`` sets aside (admin); ``satchel-store.json``: the
  store's format file;
* any other key outside those prefixes: opaque bytes (the storage contract's plain objects), which satchel never
  reads as content.

Content keys are create-if-absent whatever the request says (content is immutable); ``If-None-Match: *`` makes
an existing key a 412. Deleting content, leases and the format file needs an admin token (garbage collection).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import zstandard
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from satchel.catalog.tokens import TokenInfo
from satchel.errors import IntegrityError, InvalidArgumentError, SatchelError
from satchel.objects import codec
from satchel.objects.hashing import new_hasher
from satchel.objects.manifest import decode_manifest
from satchel.objects.packs import Location, decode_index, fits, pack_key
from satchel.objects.pathnames import is_valid_id
from satchel.objects.store import STORE_FORMAT, ObjectStore
from satchel.server.auth import Refused, may_read_store, may_write_store
from satchel.server.state import ServerState
from satchel.storage.base import check_key
from satchel.storage.server import project_of

_HEX = "[0-9a-f]{64}"
PACK = re.compile(rf"packs/([0-9a-f]{{2}})/({_HEX})\.pack")
INDEX = re.compile(rf"packs/([0-9a-f]{{2}})/({_HEX})\.idx")
MANIFEST = re.compile(rf"manifests/([0-9a-f]{{2}})/({_HEX})")
BLOCKS = re.compile(rf"blocks/([0-9a-f]{{2}})/({_HEX})")
REF = re.compile(rf"refs/([A-Za-z0-9_-]{{1,128}})/({_HEX})")
PIN = re.compile(r"locks/pins/[A-Za-z0-9_.-]{1,200}")
LEASE = re.compile(r"locks/gc/[A-Za-z0-9_.-]{1,200}")
DAMAGED = re.compile(r"damaged/[A-Za-z0-9_./-]{1,300}")
FORMAT = "satchel-store.json"
_RESERVED = frozenset({"packs", "manifests", "blocks", "refs", "locks", "damaged"})
_SMALL_LIMIT = 64 << 20  # indexes, manifests are read whole to check them
_META_LIMIT = 1 << 20  # pins, leases, the format file
_READ_BATCH = 16 << 20
_MANIFEST_RATIO = 256  # a real manifest compresses about 5-200x
_MANIFEST_RAW_LIMIT = 4 << 30


class PayloadTooLarge(SatchelError):
    """An upload over the server's size limit (HTTP 413)."""


def key_kind(key: str) -> str:
    """``pack``, ``index``, ``manifest``, ``ref``, ``pin``, ``lease`` or ``format``; InvalidArgumentError else."""
    check_key(key)
    for kind, pattern in (("pack", PACK), ("index", INDEX), ("manifest", MANIFEST), ("blocks", BLOCKS), ("ref", REF),
                          ("pin", PIN), ("lease", LEASE), ("damaged", DAMAGED)):
        match = pattern.fullmatch(key)
        if match:
            if kind in ("pack", "index", "manifest", "blocks") and match.group(1) != match.group(2)[:2]:
                break
            if kind == "ref" and not is_valid_id(match.group(1)):
                break
            return kind
    if key == FORMAT:
        return "format"
    if key.split("/", 1)[0] in _RESERVED:
        raise InvalidArgumentError(f"{key!r} is not a key a satchel store holds under {key.split('/', 1)[0]}/")
    return "other"


def check_namespace(namespace: str) -> str:
    """``namespace`` if it is the canonical namespace of a project (see storage.server.namespace_of)."""
    if project_of(namespace) is None:
        raise InvalidArgumentError(f"{namespace[:100]!r} is not a store namespace (server://<namespace> as satchel "
                                   "writes it for a project)")
    return namespace


def check_prefix(prefix: str) -> str:
    """A listing prefix: relative, no ``.``/``..`` segments, no control characters."""
    if prefix and (prefix.startswith("/") or any(part in (".", "..") for part in prefix.split("/"))
                   or any(ord(c) < 32 for c in prefix) or len(prefix) > 1000):
        raise InvalidArgumentError(f"prefix {prefix[:100]!r} is not a relative key prefix")
    return prefix


def authorize(state: ServerState, token: TokenInfo, namespace: str, method: str, kind: str | None) -> None:
    """Refused(403) unless ``token`` may do ``method`` on a key of ``kind`` in ``namespace``."""
    if method in ("GET", "HEAD"):
        if not may_read_store(token, namespace):
            raise Refused(403, f"token {token.id!r} may not read store {namespace!r}")
        return
    admin_only = kind in ("lease", "damaged") or (method == "DELETE" and kind in ("pack", "index", "manifest",
                                                                                    "blocks", "format"))
    if admin_only:
        if not token.can("admin") or not may_write_store(token, namespace):
            raise Refused(403, f"only an admin token may {'delete content' if method == 'DELETE' else 'collect'} "
                               "in a store (garbage collection: `satchel gc`)")
        return
    if not may_write_store(token, namespace):
        raise Refused(403, f"token {token.id!r} ({token.role}) may not write to store {namespace!r}")


# -- uploads ---------------------------------------------------------------------------------------
async def receive(request: Request, state: ServerState, kind: str) -> tuple[Path, str, int]:
    """Stream the body into a temporary file; return (file, BLAKE3 hex, size). PayloadTooLarge over the limit."""
    limits = {"pack": state.config.max_object_size, "other": state.config.max_object_size, "index": _SMALL_LIMIT,
              "manifest": _SMALL_LIMIT, "blocks": 64 + 32 * (state.config.max_object_size // (1 << 20) + 1)}
    limit = limits.get(kind, _META_LIMIT)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the object is {int(declared)} bytes; this server accepts at most {limit} bytes for "
                              f"a {kind} (satchel server --max-object-size)")
    tmp = state.tmp_dir / f"upload-{uuid.uuid4().hex}"
    hasher = new_hasher()
    size = 0
    try:
        with open(tmp, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the object is over {limit} bytes, the most this server accepts for a "
                                          f"{kind} (satchel server --max-object-size)")
                hasher.update(chunk)
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp, hasher.hexdigest(), size


def verify(store: ObjectStore, key: str, kind: str, path: Path, digest: str, size: int, max_size: int) -> None:
    """IntegrityError / InvalidArgumentError unless the uploaded file is what ``key`` promises."""
    if kind == "pack" and digest != PACK.fullmatch(key).group(2):  # type: ignore[union-attr]
        raise IntegrityError(f"upload of {key}: its bytes hash to {digest}, not to the pack's id; nothing was "
                             "stored", object_key=key, content_hash=digest)
    if kind == "manifest":
        expected = MANIFEST.fullmatch(key).group(2)  # type: ignore[union-attr]
        if digest != expected:
            raise IntegrityError(f"upload of {key}: its bytes hash to {digest}; nothing was stored", object_key=key,
                                 content_hash=digest)
        data = path.read_bytes()
        try:
            declared = zstandard.frame_content_size(data)
        except zstandard.ZstdError:
            declared = -1
        if declared > min(_MANIFEST_RAW_LIMIT, _MANIFEST_RATIO * len(data)):
            raise IntegrityError(f"upload of {key}: the manifest declares {declared} raw bytes for {len(data)} "
                                 "stored; the server decodes at most 256x and 4 GiB", object_key=key,
                                 content_hash=digest)
        try:
            decode_manifest(data)
        except ValueError as exc:
            raise IntegrityError(f"upload of {key}: not a valid manifest ({exc}); nothing was stored", object_key=key,
                                 content_hash=digest) from exc
    if kind == "blocks" and digest != BLOCKS.fullmatch(key).group(2):  # type: ignore[union-attr]
        raise IntegrityError(f"upload of {key}: its bytes hash to {digest}, not to the block table's name; nothing "
                             "was stored", object_key=key, content_hash=digest)
    if kind == "index":
        _verify_index(store, key, path, max_size)
    if kind == "ref" and size:
        raise InvalidArgumentError(f"{key}: a ref is empty")
    if kind in ("pin", "lease", "format") and size:
        try:
            json.loads(path.read_bytes())
        except ValueError as exc:
            raise InvalidArgumentError(f"{key}: not JSON ({exc})") from exc


def _verify_index(store: ObjectStore, key: str, path: Path, max_size: int) -> None:
    pack_id = INDEX.fullmatch(key).group(2)  # type: ignore[union-attr]
    try:
        locations = decode_index(pack_id, path.read_bytes())
    except ValueError as exc:
        raise IntegrityError(f"upload of {key}: not a valid pack index ({exc}); nothing was stored", object_key=key,
                             content_hash=pack_id) from exc
    pack_size = store.storage.head(pack_key(pack_id))
    if pack_size is None:
        raise IntegrityError(f"upload of {key}: its pack is not stored; upload the pack first", object_key=key,
                             content_hash=pack_id)
    bad = next((h for h, loc in locations.items() if not fits(loc, pack_size)), None)
    if bad is not None:
        raise IntegrityError(f"upload of {key}: entry {bad} lies outside its pack", object_key=key, content_hash=bad)
    ranges = sorted((loc.offset, loc.offset + loc.length) for loc in locations.values())
    if any(end > start for (_, end), (start, _) in itertools.pairwise(ranges)):
        raise IntegrityError(f"upload of {key}: entries overlap in the pack; an index lists each stored range once",
                             object_key=key, content_hash=pack_id)
    # Small entries are decoded in memory (bounded by their raw size); larger ones are streamed through a
    # scratch file with the raw size enforced as they decode, so a claimed size never becomes an allocation.
    chunked = {h: loc for h, loc in locations.items() if loc.codec == codec.Codec.CHUNKS}
    claimed = sum(loc.size for h, loc in locations.items() if h not in chunked)
    if claimed > 4 * max_size:
        raise IntegrityError(f"upload of {key}: its entries claim {claimed} raw bytes, over this server's limit of "
                             f"{4 * max_size} per pack", object_key=key, content_hash=pack_id)
    small = [(h, loc) for h, loc in locations.items() if loc.size <= _READ_BATCH and h not in chunked]
    for _ in store.read_batch(small):  # each is checked against its hash as it is read
        pass
    for content_hash, location in locations.items():
        if location.size > _READ_BATCH and content_hash not in chunked:
            _verify_large(store, content_hash, location)
    for content_hash, location in chunked.items():
        # A chunked file's recipe names chunks already stored (their packs were verified); the file is assembled
        # from them and checked against its hash, so no recipe can make a hash stand for other bytes.
        for _ in store.iter_verified(content_hash, location):
            pass


def _verify_large(store: ObjectStore, content_hash: str, location: Location) -> None:
    """Decode one entry as a stream, hashing it, never holding or writing it; stop past its raw size."""
    key = pack_key(location.pack)
    hasher, written = new_hasher(), 0
    chunks = store.storage.iter_range(key, location.offset, location.length, 8 << 20)
    try:
        for data in codec.stream_decode(location.codec, chunks, 8 << 20):
            written += len(data)
            if written > location.size:
                break
            hasher.update(data)
    except (ValueError, zstandard.ZstdError) as exc:
        raise IntegrityError(f"entry {content_hash} of {key} cannot be decoded ({exc})", object_key=key,
                             content_hash=content_hash) from exc
    if written != location.size or hasher.hexdigest() != content_hash:
        raise IntegrityError(f"entry {content_hash} of {key} does not match its hash or size", object_key=key,
                             content_hash=content_hash)


def store_upload(state: ServerState, namespace: str, key: str, kind: str, path: Path, digest: str, size: int,
                 if_none_match: bool) -> int:
    """Verify and store an uploaded file; the HTTP status: 201 stored, 200 already there, 412 refused by
    ``If-None-Match: *``. The temporary file is gone afterwards."""
    store = state.store(namespace)
    try:
        verify(store, key, kind, path, digest, size, state.config.max_object_size)
        if kind in ("pack", "index", "manifest", "blocks"):  # immutable content: the first verified copy stays
            if store.storage.head(key) is not None:
                return 412 if if_none_match else 200
            if kind == "pack":
                store.storage.put_file(key, path, consume=True)
                return 201
            store.storage.put_if_absent(key, path.read_bytes())
            return 201
        if kind == "format":
            return _store_format(store, key, path.read_bytes(), if_none_match)
        if if_none_match or kind == "ref":
            wrote = store.storage.put_if_absent(key, path.read_bytes())
            return 201 if wrote else 412 if if_none_match else 200
        store.storage.put_file(key, path, consume=True)
        return 201
    finally:
        path.unlink(missing_ok=True)


def _store_format(store: ObjectStore, key: str, data: bytes, if_none_match: bool) -> int:
    """The format file is written once and afterwards only raised (a writer storing what older satchels must not
    touch raises it; see docs/format.md); never lowered, never replaced by anything else."""
    version = _format_version(data)
    if version is None or not 1 <= version <= STORE_FORMAT:
        raise InvalidArgumentError(f"{key}: not a satchel format file of a version from 1 to {STORE_FORMAT}")
    if store.storage.put_if_absent(key, data):
        return 201
    current = _format_version(store.storage.get(key))
    if if_none_match or (current is not None and current >= version):
        return 412 if if_none_match else 200
    store.storage.put(key, data)
    return 201


def _format_version(data: bytes) -> int | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    version = document.get("version") if isinstance(document, dict) else None
    ok = isinstance(document, dict) and document.get("format") == "satchel-store" and type(version) is int
    return version if ok else None


def error_response(status: int, kind: str, message: str) -> Response:
    """An error in the API's one error shape."""
    return Response(status_code=status, media_type="application/json",
                    content=json.dumps({"error": {"type": kind, "message": message, "attributes": {}}}))


# -- downloads -------------------------------------------------------------------------------------
def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a ``Range: bytes=...`` header; None for the whole object. ValueError when it is not
    satisfiable (HTTP 416)."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # not a single byte range: ignored, as RFC 9110 allows
    first, last = match.group(1), match.group(2)
    if not first:
        length = min(int(last), size)
        if length == 0:
            raise ValueError("empty suffix range")
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ValueError("range not satisfiable")
    return start, end - start + 1


def download(state: ServerState, namespace: str, key: str, range_header: str | None, head: bool) -> Response:
    storage = state.storage(namespace)
    info = storage.stat(key)
    if info is None:
        return error_response(404, "StorageNotFoundError", f"no object {key}")
    headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
    if info.tag:
        headers["ETag"] = f'"{info.tag}"'
    try:
        wanted = parse_range(range_header, info.size)
    except ValueError:
        response = error_response(416, "InvalidArgumentError", f"range {range_header!r} is outside the object's "
                                                               f"{info.size} bytes")
        response.headers["Content-Range"] = f"bytes */{info.size}"
        return response
    start, length = wanted if wanted is not None else (0, info.size)
    headers["Content-Length"] = str(length)
    status = 200
    if wanted is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{info.size}"
    if head:
        return Response(status_code=status, headers=headers)
    chunks: Iterator[bytes] = storage.iter_range(key, start, length, 4 << 20) if length else iter(())
    return StreamingResponse(iterate_in_threadpool(chunks), status_code=status, headers=headers)


def listing(state: ServerState, namespace: str, prefix: str) -> StreamingResponse:
    """The objects under ``prefix`` as JSON lines (streamed: a store of millions of objects is never held)."""
    check_prefix(prefix)
    storage = state.storage(namespace)

    def lines() -> Iterator[bytes]:
        for info in storage.list(prefix):
            yield (json.dumps({"key": info.key, "size": info.size, "modified": info.modified, "tag": info.tag})
                   + "\n").encode()

    return StreamingResponse(iterate_in_threadpool(lines()), media_type="application/x-ndjson")
