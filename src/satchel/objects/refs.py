"""Refs and leases: what a store says about itself, so that garbage collection is safe across processes and
machines that share only the store (see docs/format.md, "Refs, pins and collections").

* ``refs/<version-id>/<manifest-hash>`` (empty objects): every finalized version stored here, whatever catalog
  it belongs to. A collection keeps every manifest a ref names and every object those manifests point at.
* ``locks/pins/<uuid>``: written by a writer (finalize, squash, flatten) before it checks that the packs its new
  manifest points at exist, deleted after its catalog commit; lists those packs and the manifest. A collection
  keeps what any pin names.
* ``locks/gc/<expires>-<uuid>`` (empty): a collection in progress, renewed (under a new key) while it runs. A
  writer that finds one after writing its pin waits for it to end before checking its packs, so a pack is either
  seen by the collection as pinned or seen missing by the writer, never deleted under a committed version.
  Liveness is judged by renewals seen on each machine's own monotonic clock, not by comparing clocks.

Everything read back is untrusted: malformed keys and bodies are ignored (and logged), never followed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from satchel.errors import ConflictError, SatchelError, StorageNotFoundError
from satchel.objects.hashing import is_content_hash
from satchel.objects.pathnames import is_valid_id
from satchel.storage.base import Storage

log = logging.getLogger(__name__)

REFS = "refs/"
PINS = "locks/pins/"
COLLECTIONS = "locks/gc/"
LEASE_SECONDS = 120.0
CLOCK_SKEW_SECONDS = 30.0
GC_WAIT_SECONDS = 900.0
STALE_PIN_SECONDS = 24 * 3600.0
DEAD_SECONDS = 3600.0  # a lease whose stated expiry is this far past is dead, whatever the clocks say


# -- refs ----------------------------------------------------------------------------------------------
def ref_key(version_id: str, manifest_hash: str) -> str:
    """Key of the ref saying version ``version_id`` is stored here with manifest ``manifest_hash``."""
    return f"{REFS}{version_id}/{manifest_hash}"


def write_ref(storage: Storage, version_id: str, manifest_hash: str) -> None:
    """Record a finalized version (idempotent)."""
    storage.put_if_absent(ref_key(version_id, manifest_hash), b"")


def delete_refs(storage: Storage, version_id: str, keep: str | None = None) -> None:
    """Forget version ``version_id`` (all its refs, or all but the one naming manifest ``keep``)."""
    for info in list(storage.list(f"{REFS}{version_id}/")):
        if info.key != (ref_key(version_id, keep) if keep else None):
            storage.delete(info.key)


def read_refs(storage: Storage) -> dict[str, set[str]]:
    """version id -> manifest hashes named by the store's refs (malformed keys are skipped)."""
    refs: dict[str, set[str]] = {}
    for info in storage.list(REFS):
        parts = info.key[len(REFS):].split("/")
        if len(parts) == 2 and is_valid_id(parts[0]) and is_content_hash(parts[1]):
            refs.setdefault(parts[0], set()).add(parts[1])
        else:
            log.warning("ignoring a malformed ref %r in %s", info.key, storage.url)
    return refs


# -- pins ----------------------------------------------------------------------------------------------
@dataclass
class Pins:
    """What writers in flight protect: pack ids and manifest hashes."""

    packs: set[str] = field(default_factory=set)
    manifests: set[str] = field(default_factory=set)


def read_pins(storage: Storage, *, clean: bool) -> Pins:
    """Union of the pins in the store. Pins older than a day (a writer that crashed) are ignored, and deleted
    with ``clean``."""
    pins = Pins()
    for info in list(storage.list(PINS)):
        if info.modified is not None and info.modified < time.time() - STALE_PIN_SECONDS:
            if clean:
                storage.delete(info.key)
            continue
        try:
            body = json.loads(storage.get(info.key))
        except StorageNotFoundError:
            continue  # the writer finished meanwhile
        except ValueError:
            log.warning("ignoring a malformed pin %r in %s", info.key, storage.url)
            continue
        if isinstance(body, dict):
            pins.packs.update(p for p in body.get("packs", []) if isinstance(p, str) and is_content_hash(p))
            pins.manifests.update(m for m in body.get("manifests", []) if isinstance(m, str) and is_content_hash(m))
    return pins


@contextlib.contextmanager
def pinned(storage: Storage, packs: Iterable[str], manifests: Iterable[str] = (), *,
           wait_seconds: float = GC_WAIT_SECONDS) -> Iterator[None]:
    """Protect ``packs`` and ``manifests`` from collections while the block runs (a writer's check of its
    packs, its manifest and its catalog commit). Waits for collections already running (ConflictError after
    ``wait_seconds``) before the block starts."""
    with GrowingPin(storage, packs, manifests):
        wait_for_collections(storage, wait_seconds)
        yield


class GrowingPin:
    """A pin (written on enter, removed on exit) whose packs may grow while a writer goes: each pack is added
    before it is stored (or, for a pack the writer reuses, as soon as it is chosen), so a collection that lists
    the pack also reads the pin that keeps it. A collection that ran before a reused pack was added may have
    deleted it: the writer checks after ``wait_for_collections``."""

    def __init__(self, storage: Storage, packs: Iterable[str] = (), manifests: Iterable[str] = ()) -> None:
        self.storage = storage
        self.key = f"{PINS}{uuid.uuid4().hex}"
        self.packs: set[str] = set(packs)
        self.manifests = sorted(set(manifests))
        self.created = time.time()

    def __enter__(self) -> GrowingPin:
        self._write()
        return self

    def __exit__(self, *exc: object) -> None:
        self.storage.delete(self.key)

    def add(self, packs: Iterable[str]) -> None:
        """Pin ``packs`` too (one write when any is new)."""
        new = set(packs) - self.packs
        if new:
            self.packs |= new
            self._write()

    def _write(self) -> None:
        body = {"packs": sorted(self.packs), "manifests": self.manifests, "created": self.created}
        self.storage.put(self.key, json.dumps(body).encode())


def wait_for_collections(storage: Storage, wait_seconds: float) -> None:
    """Return once no collection holds a live lease on the store (ConflictError after ``wait_seconds``).

    Liveness is judged without comparing clocks across machines: a live collection renews its lease (a new key)
    every ``LEASE_SECONDS / 4``, so a set of lease keys unchanged for longer than a lease lasts, measured on this
    process's own monotonic clock, belongs to collections that died. A lease whose stated expiry is more than an
    hour past is dead at once.
    """
    started = changed_at = time.monotonic()
    seen: set[str] | None = None
    delay = 0.05
    while True:
        leases = {key: expires for key, expires in _leases(storage) if expires + DEAD_SECONDS > time.time()}
        if not leases:
            return
        if set(leases) != seen:
            seen, changed_at = set(leases), time.monotonic()
        elif time.monotonic() - changed_at > LEASE_SECONDS + CLOCK_SKEW_SECONDS:
            log.warning("ignoring collection leases on %s that were not renewed for %.0f s (a crashed collection): "
                        "%s", storage.url, LEASE_SECONDS + CLOCK_SKEW_SECONDS, sorted(leases))
            return
        if time.monotonic() - started >= wait_seconds:
            raise ConflictError(
                f"a garbage collection is running on {storage.url} ({sorted(leases)[0]}); try again when it has "
                "ended (a crashed one is ignored after a few minutes)")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


# -- collection leases ---------------------------------------------------------------------------------
def _leases(storage: Storage) -> list[tuple[str, float]]:
    found = []
    for info in storage.list(COLLECTIONS):
        stamp = info.key[len(COLLECTIONS):].split("-", 1)[0]
        try:
            found.append((info.key, float(stamp)))
        except ValueError:
            log.warning("ignoring a malformed collection lease %r in %s", info.key, storage.url)
    return found


class CollectionLease:
    """The lease a collection holds while it decides and deletes, renewed by a heartbeat thread (a new key
    every ``LEASE_SECONDS / 4``). ``check`` raises ConflictError once no renewal succeeded for
    ``LEASE_SECONDS - CLOCK_SKEW_SECONDS`` (monotonic): writers stop waiting for an unrenewed lease only after
    ``LEASE_SECONDS + CLOCK_SKEW_SECONDS``, so deleting is never done when they may have gone on."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.name = uuid.uuid4().hex
        self.key = ""
        self.renewed = 0.0
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="satchel-gc-lease", daemon=True)

    def __enter__(self) -> CollectionLease:
        for key, expires in _leases(self.storage):  # leases of collections that died long ago
            if expires + DEAD_SECONDS < time.time():
                self.storage.delete(key)
        self._renew()
        self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._beat.join()
        self.storage.delete(self.key)

    def _renew(self) -> None:
        started = time.monotonic()
        old = self.key
        key = f"{COLLECTIONS}{time.time() + LEASE_SECONDS:.3f}-{self.name}"
        self.storage.put(key, b"")
        self.key, self.renewed = key, started
        if old:
            self.storage.delete(old)

    def _heartbeat(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                self._renew()
            except SatchelError as exc:  # check() stops the collection once the lease runs out
                log.warning("could not renew the collection lease on %s: %s", self.storage.url, exc)

    def check(self) -> None:
        """Call before each deletion."""
        if time.monotonic() - self.renewed > LEASE_SECONDS - CLOCK_SKEW_SECONDS:
            raise ConflictError(f"the garbage collection of {self.storage.url} lost its lease (the store could "
                                "not be written); nothing more was deleted. Run it again")
