"""Managing versions: listing, deleting (with garbage collection), renaming, moving, flattening."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from satchel.catalog import FINAL_STATUSES, STATUS_PUBLISHED, VersionRecord
from satchel.dataset.context import Context, get_context
from satchel.dataset.lifecycle import publish_manifest
from satchel.dataset.versions import latest
from satchel.errors import AccessDeniedError, ConflictError, DatasetNotFoundError, InvalidArgumentError
from satchel.objects import Manifest, ObjectStore, split_link
from satchel.objects import check as store_check
from satchel.objects.check import CheckReport
from satchel.objects.gc import GcReport, LiveSet, collect_garbage
from satchel.objects.refs import delete_refs, read_refs, write_ref
from satchel.storage import is_read_only, normalize_url

log = logging.getLogger(__name__)


def in_project(record: VersionRecord, project: str | None, recursive: bool) -> bool:
    """Does ``record`` belong to ``project`` (or, with ``recursive``, to one of its sub-projects)?"""
    if project is None:
        return True
    return record.project == project or (recursive and record.project.startswith(project.rstrip("/") + "/"))


def list_datasets(ctx: Context, *, project: str | None, partial_name: str | None, tags: Sequence[str] | None,
                  ids: Sequence[str] | None, only_completed: bool, recursive: bool,
                  include_archived: bool) -> list[dict[str, Any]]:
    """Matching versions as dicts, newest first; ``latest`` marks, per dataset, the version ``Dataset.get`` picks
    among them (the highest semantic version, as ClearML; see versions.latest)."""
    records = ctx.catalog.find_versions(tags=list(tags or []), include_archived=include_archived,
                                        statuses=FINAL_STATUSES if only_completed else None)
    pattern = re.compile(re.escape(partial_name), re.IGNORECASE) if partial_name else None
    chosen = [
        r for r in records
        if in_project(r, project, recursive) and (pattern is None or pattern.search(r.name))
        and (ids is None or r.id in ids)
    ]
    groups: dict[tuple[str, str], list[VersionRecord]] = {}
    for record in chosen:
        groups.setdefault((record.project, record.name), []).append(record)
    latest_ids = {latest(group).id for group in groups.values()}
    return [{**describe(r), "latest": r.id in latest_ids}
            for r in sorted(chosen, key=lambda r: r.created_at, reverse=True)]


def describe(record: VersionRecord) -> dict[str, Any]:
    """A version as a plain dict (what listings and ``--json`` show)."""
    return {
        "id": record.id,
        "name": record.name,
        "project": record.project,
        "version": record.version,
        "tags": list(record.tags),
        "status": record.status,
        "archived": record.archived,
        "created": record.created_at,
        "parents": list(record.parents),
        "storage": record.storage_url,
        "file_count": record.stats.get("file_count"),
        "total_size": record.stats.get("total_size"),
        "stored_size": record.stats.get("stored_size"),
        "description": record.description,
    }


def flatten(ctx: Context, record: VersionRecord, drop_parents: Iterable[str]) -> None:
    """Give a finalized version a full manifest (same view) and drop ``drop_parents`` from its lineage."""
    view = ctx.views.view(record)
    assert record.storage_url is not None
    store = ctx.store(record.storage_url)
    parents = tuple(p for p in record.parents if p not in set(drop_parents))
    manifest_hash = publish_manifest(ctx, store, record.id, Manifest("full", [], dict(view), []), view, lambda h: (
        ctx.catalog.replace_manifest(record.id, manifest=h, depth=0, parents=parents)))
    delete_refs(store.storage, record.id, keep=manifest_hash)


def delete_versions(ctx: Context, targets: list[VersionRecord], *, force: bool, delete_files: bool,
                    grace_seconds: float = 0.0) -> dict[str, GcReport]:
    """Delete ``targets``; children outside them block it unless ``force`` (then they are flattened first,
    so they stay readable). With ``delete_files``, unreferenced content of the affected stores is freed."""
    doomed = {r.id for r in targets}
    blockers = {r.id: [c for c in ctx.catalog.children_of(r.id) if c not in doomed] for r in targets}
    for record in targets:
        drafts = [c for c in blockers[record.id] if not ctx.catalog.get_version(c).is_final]
        if drafts:
            raise ConflictError(
                f"dataset version {record.id} is the parent of draft {drafts[0]}; finalize or delete the draft first "
                "(a draft's files come from its parents)"
            )
        if blockers[record.id] and not force:
            raise ConflictError(
                f"dataset {record.project}/{record.name} v{record.version} ({record.id}) is a parent of "
                f"{len(blockers[record.id])} other version(s), e.g. {blockers[record.id][0]}; delete those first, or "
                "pass force=True (the children are flattened first and stay readable)"
            )
        if record.status == STATUS_PUBLISHED and not force:
            raise ConflictError(f"dataset version {record.id} is published; pass force=True to delete it anyway")
    for child_id in sorted({c for children in blockers.values() for c in children}):
        child = ctx.catalog.get_version(child_id)
        if child.is_final:
            flatten(ctx, child, doomed)
    ctx.catalog.delete_versions([r.id for r in targets])
    for record in targets:
        if record.storage_url:  # after the catalog: a crash in between leaves a ref, which only keeps bytes
            delete_refs(ctx.store(record.storage_url).storage, record.id)
        log.info("deleted dataset %s/%s v%s (%s)", record.project, record.name, record.version, record.id)
    stores = {r.storage_url for r in targets if r.storage_url}
    if not delete_files:
        return {}
    reports = {}
    for url in sorted(stores):
        try:
            reports[url] = collect(ctx, url, grace_seconds=grace_seconds)
        except AccessDeniedError:  # team mode: only an admin token collects; the versions are deleted already
            log.warning("the versions are deleted; their content in %s is freed by the next `satchel gc --free` "
                        "run with an admin token", url)
    return reports


def live_set(ctx: Context, storage_url: str, refs: dict[str, set[str]]) -> LiveSet:
    """What the catalog says must survive in ``storage_url``: the manifests of its finalized versions there, and
    every hash any draft needs (drafts may be uploading to this store right now); and which of the store's
    ``refs`` are stale (a version of this catalog that is a draft, or final with another manifest)."""
    live = LiveSet()
    records = {r.id: r for r in ctx.catalog.find_versions()}
    for record in records.values():
        if record.is_final and record.storage_url == storage_url:
            assert record.manifest is not None
            live.manifests.add(record.manifest)
        elif not record.is_final:
            live.hashes.update(e.hash for e in ctx.views.view(record).values())
    for version_id, manifests in refs.items():
        known = records.get(version_id)
        if known is not None:  # another catalog's versions (or a crash after a delete) are left alone
            live.stale_refs.update((version_id, m) for m in manifests if m != known.manifest or not known.is_final)
    return live


def write_missing_refs(ctx: Context, store: ObjectStore, refs: dict[str, set[str]]) -> None:
    """Give every finalized version of the catalog stored in ``store`` its ref (versions finalized before refs
    existed have none); ``refs`` (the store's, as ``read_refs`` gives them) is updated."""
    for record in ctx.catalog.find_versions(statuses=FINAL_STATUSES):
        if record.storage_url == store.url and record.manifest and record.manifest not in refs.get(record.id, ()):
            write_ref(store.storage, record.id, record.manifest)
            refs.setdefault(record.id, set()).add(record.manifest)


def default_stores(ctx: Context) -> list[str]:
    """The stores gc and check look at when none is named: the default storage, or in team mode every store on
    the server that the catalog's versions name."""
    return ctx.server_stores() if ctx.team_mode else [ctx.default_storage_url]


def collect(ctx: Context, storage_url: str | None = None, *, dry_run: bool = False,
            grace_seconds: float = 0.0) -> GcReport:
    """Free what no version (of this catalog, or of any catalog whose refs are in the store), draft or writer in
    flight refers to in one store (default: the default storage; in team mode each store on the server, and the
    reports are added up)."""
    if storage_url is None:
        reports = [collect(ctx, url, dry_run=dry_run, grace_seconds=grace_seconds) for url in default_stores(ctx)]
        return GcReport(**{f.name: sum(getattr(r, f.name) for r in reports) for f in dataclasses.fields(GcReport)})
    url = normalize_url(storage_url)
    store = ctx.store(url)

    def live_of(refs: dict[str, set[str]]) -> LiveSet:
        if not dry_run:
            write_missing_refs(ctx, store, refs)
        return live_set(ctx, url, refs)

    return collect_garbage(store, live_of, dry_run=dry_run, grace_seconds=grace_seconds)


def check(ctx: Context, storage_url: str | None = None, *, read_data: bool = False,
          repair: bool = False) -> CheckReport:
    """Check one store (default: the default storage) against the finalized versions of the catalog and of
    the store's refs; with ``repair``, fix what can be fixed (content comes back from this machine's cache).
    In team mode with no ``storage_url``: every store on the server, in one report."""
    if storage_url is None:
        reports = [check(ctx, url, read_data=read_data, repair=repair) for url in default_stores(ctx)]
        return CheckReport(", ".join(r.store for r in reports), sum(r.packs for r in reports),
                           sum(r.manifests for r in reports), sum(r.entries for r in reports),
                           sum(r.bytes_read for r in reports), [p for r in reports for p in r.problems])
    url = normalize_url(storage_url)
    store = ctx.store(url)
    refs = read_refs(store.storage)
    if repair:
        write_missing_refs(ctx, store, refs)
    versions: dict[str, list[str]] = {}  # manifest -> versions that use it: the catalog's first, then refs'
    for record in ctx.catalog.find_versions(statuses=FINAL_STATUSES):
        if record.storage_url == url and record.manifest:
            versions.setdefault(record.manifest, []).append(record.id)
    for version_id, manifests in refs.items():
        for manifest_hash in manifests:
            if version_id not in versions.setdefault(manifest_hash, []):
                versions[manifest_hash].append(version_id)

    def restore(content_hash: str) -> Path | None:
        cached = Path(ctx.cache.content_file(content_hash))
        return cached if cached.is_file() else None

    return store_check.check_store(store, versions, read_data=read_data, repair=repair, restore=restore)


def resolve_targets(ctx: Context, *, dataset_id: str | None, project: str | None, name: str | None,
                    version: str | None, entire_dataset: bool, force: bool) -> list[VersionRecord]:
    """The versions a delete call names."""
    if dataset_id is not None:
        return [ctx.catalog.get_version(dataset_id)]
    if not project or not name:
        raise InvalidArgumentError("delete needs dataset_id, or dataset_project and dataset_name")
    records = ctx.catalog.find_versions(project=project, name=name, version=version)
    if not records:
        raise DatasetNotFoundError(f"no dataset {project}/{name}" + (f" version {version}" if version else ""))
    if entire_dataset:
        if not force:
            raise InvalidArgumentError("entire_dataset=True deletes every version: pass force=True to confirm")
        return records
    if version is None and len(records) > 1:
        raise InvalidArgumentError(
            f"{project}/{name} has {len(records)} versions; pass dataset_version, dataset_id, or entire_dataset=True"
        )
    return records


def check_store(storage_url: str | None = None, *, read_data: bool = False, repair: bool = False) -> CheckReport:
    """Check a store (default: the default storage), like ``restic check``; ``satchel check`` on the command line.

    Every pack index must parse, have its pack and point inside it; every finalized version's manifest (this
    catalog's and, through the store's refs, any other catalog's) must exist, match its hash and decode, and every
    file it lists must be in its pack's index. ``read_data`` also reads every stored byte and checks it against its
    hash. ``repair`` fixes what it can: rebuilds or sets aside damaged indexes, drops damaged entries so the next
    upload stores them again, stores damaged or missing content again from this machine's cache, puts back
    manifests from local copies. Returns the report: ``report.ok`` is True when nothing is left to do, and each of
    ``report.problems`` names the versions and files it affects and what to do next.
    """
    return check(get_context(), storage_url, read_data=read_data, repair=repair)


def links_only_in(ctx: Context, targets: list[VersionRecord]) -> list[str]:
    """URLs of external links that the ``targets`` link and no other version of the catalog does. In team mode
    only a token that sees every project can know that (AccessDeniedError otherwise)."""
    if ctx.team_mode:
        from satchel.catalog.http import HttpCatalog

        if isinstance(ctx.catalog, HttpCatalog) and ctx.catalog.whoami().get("projects"):
            raise AccessDeniedError("delete_external_files needs a token that sees every project (an unlimited "
                                    "one): a project this token cannot see may link the same files",
                                    url=ctx.settings.api_url or "", status=403)
    doomed = {r.id for r in targets}
    urls = {split_link(e.link)[0] for r in targets for e in ctx.views.view(r).values() if e.link}
    for record in ctx.catalog.find_versions():
        if record.id not in doomed and urls:
            urls -= {split_link(e.link)[0] for e in ctx.views.view(record).values() if e.link}
    return sorted(urls)


def delete_link_sources(ctx: Context, urls: list[str]) -> None:
    """Delete external link sources (ClearML's ``delete_external_files``); read-only sources are left."""
    for url in urls:
        if is_read_only(url):
            log.warning("cannot delete %s: http(s) sources are read-only; it is left where it is", url)
            continue
        storage, key = ctx.link_source(url)
        storage.delete(key)
        log.info("deleted external file %s", url)


def import_clearml(source: str, project: str | None = None, *, skip_links: bool = False,
                   clearml_api: str | None = None, clearml_access_key: str | None = None,
                   clearml_secret_key: str | None = None) -> dict[str, Any]:
    """Import the ClearML datasets stored under ``source`` (a folder or storage URL: ClearML's output_uri) into
    the current catalog, with lineage, content, metadata and external links (``skip_links`` leaves them out),
    every file checked against ClearML's SHA-256; versions already imported are skipped. ``clearml_api`` (the
    ClearML server's API URL, with its keys or ``CLEARML_API_ACCESS_KEY``/``CLEARML_API_SECRET_KEY``) brings
    version strings, tags and descriptions along. ``satchel import-clearml`` on the command line. Returns the
    ids imported and skipped, and what was and was not brought along. See :mod:`satchel.dataset.clearml_import`."""
    from satchel.dataset.clearml_import import ImportOptions
    from satchel.dataset.clearml_import import import_clearml as run

    report = run(get_context(), source, ImportOptions(project, skip_links, clearml_api, clearml_access_key,
                                                      clearml_secret_key))
    return {"imported": report.imported, "skipped": report.skipped, "links_imported": report.links_imported,
            "links_not_imported": report.links_not_imported, "metadata_imported": report.metadata_imported,
            "metadata_not_imported": report.metadata_not_imported}


def full_id(ctx: Context, text: str) -> str:
    """A version id from what a user typed: the id itself, or a unique prefix of 8 or more characters of an id in
    ``ctx``'s catalog (as git takes short hashes). InvalidArgumentError when several ids start with it; an unknown
    prefix is returned as it is, so the lookup that follows says "no dataset version with id ..."."""
    if len(text) >= 32 or len(text) < 8:
        return text
    found = sorted({r.id for r in ctx.catalog.find_versions() if r.id.startswith(text)})
    if len(found) > 1:
        raise InvalidArgumentError(f"id prefix {text!r} is ambiguous: {', '.join(found[:5])}"
                                   f"{' ...' if len(found) > 5 else ''}; type more of the id")
    return found[0] if found else text
