"""Changing a draft: recording added and removed files as draft rows relative to the merged parents."""

from __future__ import annotations

from dataclasses import dataclass

from satchel.catalog import DraftRow, VersionRecord
from satchel.dataset.context import Context
from satchel.dataset.paths import select_dataset_paths
from satchel.dataset.scan import SourceFile
from satchel.dataset.view import View, apply_changes, draft_changes


@dataclass(frozen=True)
class DraftState:
    """A draft's parents' view, its rows, and the resulting current view."""

    parents: View
    rows: dict[str, DraftRow]
    current: View


def draft_state(ctx: Context, record: VersionRecord) -> DraftState:
    """Load the pieces of a draft's view."""
    parents = ctx.views.parents_view(record)
    rows = ctx.catalog.draft_rows(record.id)
    puts, removed = draft_changes(record.id, rows)
    return DraftState(parents, rows, apply_changes(parents, puts, removed))


def record_sources(ctx: Context, record: VersionRecord, sources: list[SourceFile],
                   hashes: dict[str, str]) -> tuple[int, int]:
    """Record hashed sources in the draft; return (added, modified) counts. Unchanged files cost nothing."""
    state = draft_state(ctx, record)
    upserts: list[DraftRow] = []
    reverts: list[str] = []
    added = modified = 0
    for source in sources:
        path, content_hash = source.dataset_path, hashes[source.dataset_path]
        existing = state.current.get(path)
        if existing is None:
            added += 1
        elif existing.hash != content_hash:
            modified += 1
        inherited = state.parents.get(path)
        row = state.rows.get(path)
        if inherited is not None and inherited.hash == content_hash:
            if row is not None:
                reverts.append(path)
            continue
        if row is not None and row.hash == content_hash and row.source == source.local_path:
            continue
        upserts.append(DraftRow(path, content_hash, source.size, source.local_path))
    if reverts:
        ctx.catalog.delete_draft_rows(record.id, reverts)
    if upserts:
        ctx.catalog.upsert_draft_rows(record.id, upserts)
    return added, modified


def remove_paths(ctx: Context, record: VersionRecord, paths: list[str]) -> int:
    """Remove dataset paths from the draft's view; return how many were there."""
    state = draft_state(ctx, record)
    present = [p for p in paths if p in state.current]
    removals = [DraftRow(p, None) for p in present if p in state.parents]
    forget = [p for p in present if p not in state.parents]
    if removals:
        ctx.catalog.upsert_draft_rows(record.id, removals)
    if forget:
        ctx.catalog.delete_draft_rows(record.id, forget)
    return len(present)


def match_paths(ctx: Context, record: VersionRecord, pattern: str, recursive: bool) -> list[str]:
    """Paths of the draft's current view that match a remove/list pattern."""
    return select_dataset_paths(draft_state(ctx, record).current, pattern, recursive=recursive)
