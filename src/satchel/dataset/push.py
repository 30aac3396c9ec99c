"""Copying versions from one catalog to another: ``satchel push``, and ClearML's offline sessions
(``Dataset.set_offline`` / ``Dataset.import_offline_session``).

A version is pushed after its parents (those the target lacks are pushed first), under the same id, project,
name, version, tags and description. Its changes against its parents become the target's pending changes: files
are read from this machine (the source's cached copy, or a draft's own source files), so the target's upload
stores only the content it lacks, verified as any upload is; external links travel as links. A finalized
version is finalized in the target; a draft stays a draft unless asked otherwise.
"""

from __future__ import annotations

import logging
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from satchel.catalog import STATUS_PUBLISHED, DraftRow, VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.view import View, merge_views
from satchel.errors import ConflictError, DatasetNotFoundError, InvalidArgumentError

log = logging.getLogger("satchel")


@dataclass
class PushReport:
    """What a push did: the versions created in the target, and those it had already."""

    pushed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


def push(source: Context, target: Context, version_id: str, *, upload: bool = True,
         finalize_drafts: bool = False, report: PushReport | None = None) -> PushReport:
    """Push ``version_id`` (and the ancestors ``target`` lacks) from ``source`` to ``target``."""
    report = report or PushReport()
    record = source.catalog.get_version(version_id)
    finalize = record.is_final or finalize_drafts
    there = _existing(target, record.id)
    if there is not None and (there.is_final or not finalize):
        if record.id not in report.present:
            report.present.append(record.id)
        return report
    for parent in record.parents:
        push(source, target, parent, upload=upload, finalize_drafts=finalize_drafts, report=report)
    _push_one(source, target, record, upload=upload or finalize, finalize=finalize, resume=there is not None)
    report.pushed.append(record.id)
    return report


def _existing(ctx: Context, version_id: str) -> VersionRecord | None:
    try:
        return ctx.catalog.get_version(version_id)
    except DatasetNotFoundError:
        return None


def _push_one(source: Context, target: Context, record: VersionRecord, *, upload: bool, finalize: bool,
              resume: bool) -> None:
    """Create (or, with ``resume``, finish: an earlier push stopped half-way) the version in ``target``."""
    from satchel.dataset.dataset import Dataset

    with tempfile.TemporaryDirectory(prefix="satchel-push-") as scratch:
        rows = _changes(source, record, Path(scratch))
        if not resume:
            fresh = VersionRecord(id=record.id, project=record.project, name=record.name, version=record.version,
                                  created_at=time.time(), parents=record.parents, tags=record.tags,
                                  description=record.description)
            try:
                target.catalog.create_version(fresh)
            except ConflictError as exc:
                raise ConflictError(f"cannot push {record.project}/{record.name} v{record.version} ({record.id}): "
                                    f"{exc}. Rename the version (ds.version = ...) or the dataset first") from exc
        target.catalog.change_draft(record.id, rows)
        pushed = Dataset(target.catalog.get_version(record.id), target)
        if upload:
            pushed.upload(show_progress=False)
        if finalize:
            pushed.finalize()
    _copy_descriptions(source, target, record)
    log.info("pushed %s/%s v%s (%s)", record.project, record.name, record.version, record.id)


def _copy_descriptions(source: Context, target: Context, record: VersionRecord) -> None:
    """Metadata and reports, the archived flag and the published status go along."""
    for name in source.catalog.list_metadata(record.id):
        stored = source.catalog.get_metadata(record.id, name)
        if stored is not None:
            target.catalog.set_metadata(record.id, name, *stored)
    if record.archived:
        target.catalog.update_fields(record.id, archived=True)
    if record.status == STATUS_PUBLISHED:
        target.catalog.publish_version(record.id)


def _changes(source: Context, record: VersionRecord, scratch: Path) -> list[DraftRow]:
    """The version's changes against its parents, with a local file to read each stored file from (a draft's
    file that is gone from its folder is read back from the source's store, if an upload put it there)."""
    from satchel.dataset.dataset import Dataset

    if not record.is_final:
        rows = list(source.catalog.draft_rows(record.id).values())
        return [_from_store(source, record, row, scratch) if row.source and not Path(row.source).is_file() else row
                for row in rows]
    view: View = source.views.view(record)
    parents = merge_views(source.views.view(source.catalog.get_version(p)) for p in record.parents)
    changed = {p: e for p, e in view.items() if parents.get(p) is None or parents[p].hash != e.hash
               or parents[p].link != e.link}
    folder = Path(Dataset(record, source).get_local_copy(files=sorted(p for p, e in changed.items() if not e.link))) \
        if any(not e.link for e in changed.values()) else None
    rows = [DraftRow(p, e.hash, e.size, link=e.link) if e.link else
            DraftRow(p, e.hash, e.size, source=str(folder / p) if folder else None) for p, e in sorted(changed.items())]
    rows += [DraftRow(p, None) for p in sorted(set(parents) - set(view))]
    return rows


def _from_store(source: Context, record: VersionRecord, row: DraftRow, scratch: Path) -> DraftRow:
    location = source.store(record.storage_url).index().get(row.hash or "") if record.storage_url else None
    if location is None:
        return row  # the target's upload says the source file vanished, naming it
    copy = scratch / (row.hash or "content")
    source.store(str(record.storage_url)).read_to_file(str(row.hash), location, copy)
    return DraftRow(row.path, row.hash, row.size, source=str(copy), link=row.link)


def session_folder(session_folder_zip: str | Path, scratch: Path) -> Path:
    """The folder of an offline session: the folder itself, or a zip of it unpacked into ``scratch``."""
    path = Path(session_folder_zip).expanduser()
    if path.is_dir():
        return path
    if path.is_file() and zipfile.is_zipfile(path):
        target = scratch / f"session-{path.stem}"
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():  # a hostile zip must not write outside its folder
                if member.startswith("/") or ".." in Path(member).parts:
                    raise InvalidArgumentError(f"{path}: member {member!r} escapes the archive; not imported")
            archive.extractall(target)
        found = [p.parent for p in target.rglob("catalog.db")]
        if len(found) != 1:
            raise InvalidArgumentError(f"{path} holds no offline session (no catalog.db inside)")
        return found[0]
    raise InvalidArgumentError(f"{session_folder_zip!r} is not an offline session folder nor a zip of one; pass what "
                               "get_offline_mode_folder() returned")
