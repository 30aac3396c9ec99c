"""The ``satchel`` subcommands (each one a thin shell over the Dataset API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import satchel
from satchel.cli.main import (
    chatty,
    cli,
    current_id,
    emit,
    forget_current_if_gone,
    human_size,
    id_option,
    make_link,
    max_workers_option,
    open_dataset,
    output_options,
    remember_current,
    resolve_id,
    verbose_option,
)
from satchel.errors import InvalidArgumentError


# -- creating and changing versions ---------------------------------------------------------------
@cli.command()
@click.option("--project", required=True, help="Project (nest with '/').")
@click.option("--name", required=True, help="Dataset name.")
@click.option("--version", "dataset_version", help="Version string (default: bump the latest, or 1.0.0).")
@click.option("--parents", multiple=True, help="Parent version ids (several after one flag, or repeat; later parents "
                                                 "win on the same path).")
@click.option("--tags", multiple=True, help="Tags (several after one flag, or repeat).")
@click.option("--storage", "--output-uri", "storage",
              help="Where to upload (a folder or URL; default: parents' store or default storage).")
@click.option("--description", help="Free text.")
@output_options
def create(project: str, name: str, dataset_version: str | None, parents: tuple[str, ...], tags: tuple[str, ...],
           storage: str | None, description: str | None, as_json: bool, quiet: bool) -> None:
    """Create a draft version and make it the current dataset (of this user, from any folder).

    \b
    Example:
      satchel create --project vision --name cats --parents 3f2a9c1d 77e0b2aa --tags raw train
    """
    ds = satchel.Dataset.create(dataset_name=name, dataset_project=project, dataset_tags=list(tags),
                                parent_datasets=[resolve_id(p) for p in parents], dataset_version=dataset_version,
                                output_uri=storage, description=description)
    remember_current(ds.id)
    emit({"id": ds.id, "version": ds.version}, f"created {ds.project}/{ds.name} v{ds.version}\nid: {ds.id}",
         as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--files", multiple=True, type=click.Path(), help="File or folder to add (repeat).")
@click.option("--links", multiple=True,
              help="External file or folder to link, not upload: s3://, gs://, azure://, http(s)://, file:// "
                   "(repeat).")
@click.option("--wildcard", multiple=True, help="Only files matching this pattern, e.g. '*.jpg' (repeat).")
@click.option("--dataset-folder", help="Folder inside the dataset to add the files under.")
@click.option("--non-recursive", is_flag=True, help="Do not descend into sub-folders.")
@click.option("--verbose", is_flag=True, help="Show a hashing progress bar and what happens.")
@max_workers_option
@output_options
def add(dataset_id: str | None, files: tuple[str, ...], links: tuple[str, ...], wildcard: tuple[str, ...],
        dataset_folder: str | None, non_recursive: bool, verbose: bool, max_workers: int | None, as_json: bool,
        quiet: bool) -> None:
    """Add files or folders to a draft version, or link external ones.

    \b
    Examples:
      satchel add --files data/cats --wildcard '*.jpg' --dataset-folder images
      satchel add --links s3://bucket/raw/2024/ --dataset-folder raw
    """
    if not files and not links:
        raise click.UsageError("nothing to add: pass --files and/or --links")
    ds = open_dataset(dataset_id)
    chatty(verbose)
    patterns = list(wildcard) or None
    added = sum(ds.add_files(path, wildcard=patterns, dataset_path=dataset_folder, recursive=not non_recursive,
                             verbose=verbose, max_workers=max_workers) for path in files)
    linked = ds.add_external_files(list(links), wildcard=patterns, dataset_path=dataset_folder,
                                   recursive=not non_recursive, max_workers=max_workers) if links else 0
    text = f"{added} file(s) added" + (f", {linked} link(s) added or changed" if links else "")
    emit({"id": ds.id, "added": added, "linked": linked}, text, as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--files", multiple=True, required=True, help="Dataset path, folder or wildcard to remove (repeat).")
@click.option("--non-recursive", is_flag=True, help="Wildcards do not cross folders.")
@verbose_option
@output_options
def remove(dataset_id: str | None, files: tuple[str, ...], non_recursive: bool, verbose: bool, as_json: bool,
           quiet: bool) -> None:
    """Remove files from a draft version.

    \b
    Example:
      satchel remove --files 'old/*' --files broken.jpg
    """
    ds = open_dataset(dataset_id)
    chatty(verbose)
    removed = 0
    for pattern in files:
        count = ds.remove_files(pattern, recursive=not non_recursive)
        if not count:
            click.echo(f"warning: nothing in {ds.id} matches {pattern!r}; see `satchel list --id {ds.id}`", err=True)
        removed += count
    emit({"id": ds.id, "removed": removed}, f"{removed} file(s) removed", as_json=as_json, quiet=quiet)


def _upload(ds: Any, storage: str | None, chunk_size: int | None, compression: str | None, quiet: bool,
            verbose: bool = False, max_workers: int | None = None) -> None:
    chatty(verbose)
    ds.upload(show_progress=not quiet, verbose=verbose, output_url=storage, chunk_size=chunk_size,
              compression=compression, max_workers=max_workers)


upload_options = [
    click.option("--storage", help="Target storage (a folder or URL)."),
    click.option("--chunk-size", type=int, help="Pack size in MB (default 64; -1: one pack)."),
    click.option("--compression", help="zstd (default), zstd:<level>, or none."),
    click.option("--verbose", is_flag=True, help="Also print what happens (satchel's log)."),
    click.option("--max-workers", type=click.IntRange(1, 1024),
                 help="Parallel uploads (default: SATCHEL_MAX_WORKERS)."),
]


def with_upload_options(func: Any) -> Any:
    for option in reversed(upload_options):
        func = option(func)
    return func


@cli.command()
@id_option
@with_upload_options
@output_options
def upload(dataset_id: str | None, storage: str | None, chunk_size: int | None, compression: str | None,
           verbose: bool, max_workers: int | None, as_json: bool, quiet: bool) -> None:
    """Store the content of a draft version that the storage lacks (resumable).

    \b
    Example:
      satchel upload --storage /mnt/shared/satchel --chunk-size 128
    """
    ds = open_dataset(dataset_id)
    _upload(ds, storage, chunk_size, compression, quiet, verbose, max_workers)
    emit({"id": ds.id, "storage": ds.storage_url}, f"uploaded to {ds.storage_url}", as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@with_upload_options
@click.option("--disable-upload", is_flag=True, help="Finalize without uploading (fails if content is pending).")
@output_options
def close(dataset_id: str | None, storage: str | None, chunk_size: int | None, compression: str | None,
          verbose: bool, max_workers: int | None, disable_upload: bool, as_json: bool, quiet: bool) -> None:
    """Upload what is pending, then finalize the version (it becomes immutable).

    \b
    Example:
      satchel close --verbose
    """
    ds = open_dataset(dataset_id)
    if disable_upload:
        chatty(verbose)
    else:
        _upload(ds, storage, chunk_size, compression, quiet, verbose, max_workers)
    ds.finalize(verbose=verbose)
    emit(_summary(ds), f"finalized {ds.project}/{ds.name} v{ds.version} ({ds.id}): "
         f"{ds.stats['file_count']} files, {human_size(ds.stats['total_size'])}", as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--project", help="Project of the dataset to sync (a new version is created).")
@click.option("--name", help="Name of the dataset to sync.")
@click.option("--parents", multiple=True, help="Parents of the new version (default: the latest version).")
@click.option("--version", "dataset_version", help="Version of the new version (default: bump the latest).")
@click.option("--tags", multiple=True, help="Tags of the new version (several after one flag, or repeat).")
@click.option("--output-uri", help="Where the new version's content goes (as --storage).")
@click.option("--folder", required=True, type=click.Path(exists=True, file_okay=False), help="Folder to mirror.")
@click.option("--dataset-folder", help="Folder inside the dataset that mirrors --folder.")
@click.option("--skip-close", is_flag=True, help="Leave the version a draft (do not upload and finalize).")
@with_upload_options
@output_options
def sync(dataset_id: str | None, project: str | None, name: str | None, parents: tuple[str, ...],
         dataset_version: str | None, tags: tuple[str, ...], output_uri: str | None, folder: str,
         dataset_folder: str | None, skip_close: bool, storage: str | None, chunk_size: int | None,
         compression: str | None, verbose: bool, max_workers: int | None, as_json: bool, quiet: bool) -> None:
    """Make a version mirror a folder: adds, changes and removals; then upload and finalize.

    With --project/--name a new version is created on top of the latest one (or --parents). When the folder
    matches its parent already, no version is made (as ClearML drops the empty one) and the latest stays.

    \b
    Example:
      satchel sync --project vision --name cats --folder data/cats
    """
    if dataset_id and (project or name or parents or dataset_version or tags):
        raise InvalidArgumentError("sync takes --id (an existing draft) or --project/--name [--parents, --version, "
                                   "--tags], not both")
    storage = storage or output_uri
    chatty(verbose)
    if bool(project) != bool(name):
        raise InvalidArgumentError("sync needs both --project and --name (or --id)")
    if project and name:
        chosen = [resolve_id(p) for p in parents]
        if not chosen:
            try:
                chosen = [satchel.Dataset.get(dataset_project=project, dataset_name=name, only_completed=True).id]
            except LookupError:
                chosen = []
        ds = satchel.Dataset.create(dataset_name=name, dataset_project=project, parent_datasets=chosen,
                                    output_uri=storage, dataset_version=dataset_version,
                                    dataset_tags=list(tags) or None)
        created = True
    else:
        ds, created = open_dataset(dataset_id), False
    removed, changed = ds.sync_folder(folder, dataset_path=dataset_folder, verbose=verbose)
    if created and chosen and not removed and not changed and not skip_close:
        satchel.Dataset.delete(dataset_id=ds.id, delete_files=False)
        emit({"id": chosen[0], "removed": 0, "added_or_modified": 0, "finalized": True, "unchanged": True},
             f"no changes: {folder} matches {chosen[0]}; no new version was made", as_json=as_json, quiet=quiet)
        return
    if created:
        remember_current(ds.id)
    if not skip_close:
        _upload(ds, storage, chunk_size, compression, quiet, verbose, max_workers)
        ds.finalize()
    emit({"id": ds.id, "removed": removed, "added_or_modified": changed, "finalized": ds.is_final()},
         f"{ds.id}: {removed} removed, {changed} added or modified" + ("" if skip_close else ", finalized"),
         as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--name", required=True, help="Name of the squashed dataset.")
@click.option("--ids", multiple=True, help="Version id to squash, in order (repeat).")
@click.option("--project-name", "pairs", multiple=True, nargs=2, help="PROJECT NAME of a version to squash (repeat).")
@click.option("--storage", help="Target storage (default: the sources' store).")
@verbose_option
@output_options
def squash(name: str, ids: tuple[str, ...], pairs: tuple[tuple[str, str], ...], storage: str | None, verbose: bool,
           as_json: bool, quiet: bool) -> None:
    """Squash versions into one flat, finalized version (no stored bytes move within a store).

    \b
    Example:
      satchel squash --name cats-flat --ids ID1 ID2
    """
    chatty(verbose)
    flat = satchel.Dataset.squash(name, dataset_ids=[resolve_id(i) for i in ids] or None,
                                  dataset_project_name_pairs=list(pairs) or None,
                                  output_url=storage)
    emit(_summary(flat), f"squashed into {flat.project}/{flat.name} v{flat.version} ({flat.id})", as_json=as_json,
         quiet=quiet)


# -- reading --------------------------------------------------------------------------------------
@cli.command(name="list")
@id_option
@click.option("--project", help="Project (with --name) instead of --id.")
@click.option("--name", help="Dataset name (with --project).")
@click.option("--version", "dataset_version", help="Version (with --project/--name; default: latest).")
@click.option("--filter", "patterns", multiple=True, help="Only paths matching these wildcards or folders.")
@click.option("--added", is_flag=True, help="Only files added against the parents.")
@click.option("--modified", is_flag=True, help="Only files modified against the parents.")
@click.option("--removed", is_flag=True, help="Only files removed against the parents.")
@output_options
def list_files(dataset_id: str | None, project: str | None, name: str | None, dataset_version: str | None,
               patterns: tuple[str, ...], added: bool, modified: bool, removed: bool, as_json: bool,
               quiet: bool) -> None:
    """List the files of a version with size and hash.

    \b
    Example:
      satchel list --project vision --name cats --filter 'train/*' --added
    """
    ds = open_dataset(dataset_id, project, name, dataset_version)
    entries = ds.file_entries_dict
    paths = sorted({p for pattern in patterns for p in ds.list_files(pattern)}) if patterns else sorted(entries)
    if added or modified or removed:
        chosen: set[str] = set()
        chosen |= set(ds.list_added_files()) if added else set()
        chosen |= set(ds.list_modified_files()) if modified else set()
        gone = set(ds.list_removed_files()) if removed else set()
        paths = sorted(p for p in paths if p in chosen) + sorted(gone)
    rows = [{"path": p, "size": entries[p].size if p in entries else None,
             "hash": entries[p].hash if p in entries else None, "removed": p not in entries} for p in paths]
    human = [f"{human_size(r['size']):>10}  {(r['hash'] or '-')[:16]}  {r['path']}" + ("  (removed)" if r["removed"]
             else "") for r in rows]
    emit(rows, [*human, f"{len(rows)} file(s)"], as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--project", help="Project (sub-projects included).")
@click.option("--name", help="Part of the dataset name.")
@click.option("--tags", multiple=True, help="Required tag (repeat).")
@click.option("--ids", multiple=True, help="Version id (repeat).")
@click.option("--all", "--not-only-completed", "include_drafts", is_flag=True,
              help="Include drafts (not finalized).")
@click.option("--non-recursive-project-search", is_flag=True, help="Only --project itself, not its sub-projects.")
@output_options
def search(project: str | None, name: str | None, tags: tuple[str, ...], ids: tuple[str, ...], include_drafts: bool,
           non_recursive_project_search: bool, as_json: bool, quiet: bool) -> None:
    """Search dataset versions; prints a table (* marks each dataset's latest version, the one `get` takes).

    \b
    Example:
      satchel search --project vision --tags train
    """
    found = satchel.Dataset.list_datasets(dataset_project=project, partial_name=name, tags=list(tags) or None,
                                          ids=list(ids) or None, only_completed=not include_drafts,
                                          recursive_project_search=not non_recursive_project_search)
    header = f"{'id':32}  {'project/name':30}  {'version':10}  {'status':9}  {'files':>7}  {'size':>10}  tags"
    lines = [header] + [
        f"{d['id']:32}  {d['project'] + '/' + d['name']:30}  {d['version'] + ('*' if d['latest'] else ''):10}  "
        f"{d['status']:9}  "
        f"{d['file_count'] if d['file_count'] is not None else '-':>7}  {human_size(d['total_size']):>10}  "
        f"{','.join(d['tags'])}" for d in found
    ]
    emit(found, lines, as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--project", help="Project (with --name) instead of --id.")
@click.option("--name", help="Dataset name (with --project).")
@click.option("--version", "dataset_version", help="Version (default: latest).")
@click.option("--copy", "target", type=click.Path(file_okay=False), help="Write a writable copy into this folder.")
@click.option("--overwrite", is_flag=True, help="With --copy: empty a non-empty target first.")
@click.option("--part", type=int, help="Shard number (0-based), with --num-parts.")
@click.option("--num-parts", type=int, help="Number of shards.")
@click.option("--files", multiple=True, help="Only these dataset paths, folders or wildcards (repeat).")
@click.option("--soft-links", is_flag=True, help="Symlinks instead of hard links in the cached copy.")
@click.option("--link", type=click.Path(), help="Also make this path a symlink to the cached read-only copy.")
@verbose_option
@max_workers_option
@output_options
def get(dataset_id: str | None, project: str | None, name: str | None, dataset_version: str | None,
        target: str | None, overwrite: bool, part: int | None, num_parts: int | None, files: tuple[str, ...],
        soft_links: bool, link: str | None, verbose: bool, max_workers: int | None, as_json: bool,
        quiet: bool) -> None:
    """Get a version: prints the path of a cached read-only copy, or writes a writable copy with --copy.

    \b
    Example:
      satchel get --project vision --name cats
      satchel get --id ID --copy work/cats --overwrite
    """
    if target and (files or soft_links):
        raise InvalidArgumentError("--copy writes the whole version (or a --part); --files and --soft-links apply to "
                                   "the cached copy only")
    if target and link:
        raise InvalidArgumentError("--link points at the cached read-only copy; --copy writes a writable one: pass one")
    chatty(verbose)
    if not (target or project or name or dataset_version or files or link or part is not None
            or num_parts is not None):
        from satchel.dataset.quick import cached_copy

        chosen = current_id(dataset_id)
        found = cached_copy(chosen, soft=soft_links)
        if found is not None:
            emit({"id": chosen, "path": str(found)}, str(found), as_json=as_json, quiet=quiet)
            return
    ds = open_dataset(dataset_id, project, name, dataset_version)
    if target:
        path = ds.get_mutable_local_copy(target, overwrite=overwrite, part=part, num_parts=num_parts,
                                         max_workers=max_workers)
    else:
        path = ds.get_local_copy(use_soft_links=soft_links, part=part, num_parts=num_parts, files=list(files) or None,
                                 max_workers=max_workers)
        if link:
            make_link(Path(link), Path(path), overwrite)
    emit({"id": ds.id, "path": path}, str(path), as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--folder", type=click.Path(exists=True, file_okay=False), help="Folder to check (default: cached copy).")
@click.option("--filesize", is_flag=True, help="Compare sizes only (fast), not hashes.")
@verbose_option
@output_options
def verify(dataset_id: str | None, folder: str | None, filesize: bool, verbose: bool, as_json: bool,
           quiet: bool) -> None:
    """Check a folder (or the cached copy) against the version: changed, missing or extra files.

    Prints each file that differs with why: changed, missing, extra, link changed or link missing.
    Exits with code 5 when something differs.

    \b
    Example:
      satchel verify --id ID --folder work/cats
    """
    chatty(verbose)
    ds = open_dataset(dataset_id)
    bad = ds.verify_dataset_hash(local_copy_path=folder, skip_hash=filesize, verbose=verbose)
    lines = [f"{problem:<13} {path}" for path, problem in bad.problems.items()]
    emit({"id": ds.id, "mismatches": list(bad), "problems": bad.problems},
         [*lines, f"{len(bad)} file(s) differ" if bad else "all files match"], as_json=as_json, quiet=quiet)
    if bad:
        raise SystemExit(5)


@cli.command()
@click.option("--source", required=True, help="Version id to compare from.")
@click.option("--target", required=True, help="Version id to compare to.")
@verbose_option
@output_options
def compare(source: str, target: str, verbose: bool, as_json: bool, quiet: bool) -> None:
    """Compare two versions: files added, modified and removed going from --source to --target.

    \b
    Example:
      satchel compare --source ID1 --target ID2
    """
    chatty(verbose)
    source, target = resolve_id(source), resolve_id(target)
    ds = satchel.Dataset.get(dataset_id=target)
    satchel.Dataset.get(dataset_id=source)
    changes = {"added": ds.list_added_files(source), "modified": ds.list_modified_files(source),
               "removed": ds.list_removed_files(source)}
    human = [f"{kind}: {len(paths)}" for kind, paths in changes.items()]
    human += [f"{kind[0].upper()} {path}" for kind, paths in changes.items() for path in paths]
    emit(changes, human, as_json=as_json, quiet=quiet)


# -- managing -------------------------------------------------------------------------------------
@cli.command()
@id_option
@output_options
def publish(dataset_id: str | None, as_json: bool, quiet: bool) -> None:
    """Publish a finalized version (deleting it then needs --force).

    \b
    Example:
      satchel publish --id ID
    """
    ds = open_dataset(dataset_id)
    ds.publish()
    emit(_summary(ds), f"published {ds.id}", as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--undo", is_flag=True, help="Unarchive instead.")
@output_options
def archive(dataset_id: str | None, undo: bool, as_json: bool, quiet: bool) -> None:
    """Archive a version (hidden from searches unless asked for), or --undo it.

    \b
    Example:
      satchel archive --id ID
    """
    ds = open_dataset(dataset_id)
    ds.unarchive() if undo else ds.archive()
    emit(_summary(ds), f"{'unarchived' if undo else 'archived'} {ds.id}", as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--id", "dataset_id", help="Version id to delete.")
@click.option("--project", help="Project (with --name).")
@click.option("--name", help="Dataset name (with --project).")
@click.option("--version", "dataset_version", help="Version to delete.")
@click.option("--entire-dataset", is_flag=True, help="Delete every version of project/name (needs --force).")
@click.option("--force", is_flag=True, help="Delete even if published or used as a parent (children are flattened).")
@click.option("--keep-files", is_flag=True, help="Do not free the stored content.")
@output_options
def delete(dataset_id: str | None, project: str | None, name: str | None, dataset_version: str | None,
           entire_dataset: bool, force: bool, keep_files: bool, as_json: bool, quiet: bool) -> None:
    """Delete versions and free the stored content nothing else uses.

    \b
    Example:
      satchel delete --project vision --name cats --version 1.0.2
    """
    reports = satchel.Dataset.delete(dataset_id=dataset_id, dataset_project=project, dataset_name=name, force=force,
                                        dataset_version=dataset_version, entire_dataset=entire_dataset,
                                        delete_files=not keep_files)
    forget_current_if_gone()
    freed = sum(r.bytes_freed for r in reports.values())
    emit({"freed_bytes": freed, "stores": {k: vars(v) for k, v in reports.items()}},
         f"deleted; {human_size(freed)} freed", as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--project", required=True, help="Project of the dataset.")
@click.option("--name", required=True, help="Current name.")
@click.option("--new-name", required=True, help="New name.")
@output_options
def rename(project: str, name: str, new_name: str, as_json: bool, quiet: bool) -> None:
    """Rename a dataset (all its versions).

    \b
    Example:
      satchel rename --project vision --name cats --new-name felines
    """
    satchel.Dataset.rename(new_name, dataset_project=project, dataset_name=name)
    emit({"project": project, "name": new_name}, f"renamed to {project}/{new_name}", as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--project", required=True, help="Current project.")
@click.option("--name", required=True, help="Dataset name.")
@click.option("--new-project", required=True, help="Project to move to.")
@output_options
def move(project: str, name: str, new_project: str, as_json: bool, quiet: bool) -> None:
    """Move a dataset (all its versions) to another project.

    \b
    Example:
      satchel move --project vision --name cats --new-project archive/vision
    """
    satchel.Dataset.move_to_project(new_project, dataset_project=project, dataset_name=name)
    emit({"project": new_project, "name": name}, f"moved to {new_project}/{name}", as_json=as_json, quiet=quiet)


@cli.command(name="set-description")
@id_option
@click.option("--description", required=True, help="New description.")
@output_options
def set_description(dataset_id: str | None, description: str, as_json: bool, quiet: bool) -> None:
    """Set a version's description.

    \b
    Example:
      satchel set-description --id ID --description "cleaned labels"
    """
    ds = open_dataset(dataset_id)
    ds.set_description(description)
    emit(_summary(ds), "description set", as_json=as_json, quiet=quiet)


@cli.command()
@id_option
@click.option("--save-images", type=click.Path(file_okay=False), help="Also write the reported images here.")
@output_options
def reports(dataset_id: str | None, save_images: str | None, as_json: bool, quiet: bool) -> None:
    """List what scripts reported about a version (Dataset.get_logger()): text, scalars, tables, images...

    \b
    Example:
      satchel reports --id ID --save-images report-images
    """
    import base64

    ds = open_dataset(dataset_id)
    found = ds.get_reports()
    lines = []
    for report in found:
        kind, title = report["type"], report.get("title") or ""
        detail = _report_detail(report)
        lines.append(f"{kind:<12} {title}  {detail}".rstrip())
        if kind == "image" and save_images:
            folder = Path(save_images)
            folder.mkdir(parents=True, exist_ok=True)
            suffix = {"image/png": ".png", "image/jpeg": ".jpg"}.get(report["media_type"], ".bin")
            (folder / (report["name"].rsplit(".", 1)[-1] + suffix)).write_bytes(report["data"])
    rows = [{**r, "data": base64.b64encode(r["data"]).decode()} if r["type"] in ("image", "media") else r
            for r in found]
    emit(rows, [*lines, f"{len(found)} report(s)"], as_json=as_json, quiet=quiet)


def _report_detail(report: dict[str, Any]) -> str:
    kind = report["type"]
    if kind == "text":
        return str(report["message"])
    if kind == "scalar":
        return f"{report['series']} = {report['value']} @ {report['iteration']}"
    if kind == "single_value":
        return f"= {report['value']}"
    if kind == "table":
        return f"{report['series']}: {len(report['rows'])} rows x {len(report['columns'])} columns"
    if kind == "histogram":
        return f"{report['series']}: {len(report['values'])} values"
    if kind in ("image", "media"):
        return f"{report['series']}: {report['media_type']}, {len(report['data'])} bytes"
    return f"{report.get('series', '')}: {kind}"


@cli.command(name="import-clearml")
@click.argument("source")
@click.option("--project", help="Only this ClearML project (and its sub-projects).")
@click.option("--skip-links", is_flag=True, help="Leave ClearML's external links out (their sources are not read).")
@click.option("--clearml-api", metavar="URL",
              help="The ClearML server's API (e.g. http://clearml:8008), to bring version strings, tags and "
                   "descriptions along; credentials from CLEARML_API_ACCESS_KEY and CLEARML_API_SECRET_KEY.")
@click.option("--clearml-access-key", help="ClearML API access key (default: $CLEARML_API_ACCESS_KEY).")
@click.option("--clearml-secret-key", help="ClearML API secret key (default: $CLEARML_API_SECRET_KEY).")
@output_options
def import_clearml(source: str, project: str | None, skip_links: bool, clearml_api: str | None,
                   clearml_access_key: str | None, clearml_secret_key: str | None, as_json: bool,
                   quiet: bool) -> None:
    """Import ClearML datasets from where ClearML stored them (its output_uri: a folder, file://, s3://, gs://,
    azure://), with lineage, content, metadata and external links; every file is checked against ClearML's
    SHA-256. With --clearml-api, version strings, tags and descriptions come from the ClearML server (else
    versions are numbered in lineage order). Re-running imports only what is new.

    \b
    Example:
      satchel import-clearml s3://bucket/clearml --project vision --clearml-api http://clearml:8008
    """
    import satchel

    done = satchel.import_clearml(source, project, skip_links=skip_links, clearml_api=clearml_api,
                                  clearml_access_key=clearml_access_key, clearml_secret_key=clearml_secret_key)
    notes = [f"{done['links_imported']} external link(s)"] if done["links_imported"] else []
    notes += [f"{done['metadata_imported']} metadata item(s)"] if done["metadata_imported"] else []
    notes += [f"{done['links_not_imported']} external link(s) left out"] if done["links_not_imported"] else []
    notes += [f"not imported: {item}" for item in done["metadata_not_imported"]]
    emit(done, f"imported {len(done['imported'])} version(s), {len(done['skipped'])} already here"
         + "".join(f"; {n}" for n in notes), as_json=as_json, quiet=quiet)


@cli.command()
@click.argument("action", type=click.Choice(["get", "set"]))
@id_option
@click.option("--name", "metadata_name", default="metadata", show_default=True, help="Metadata name.")
@click.option("--value", help="With set: a JSON object.")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), help="With set: a JSON file.")
@output_options
def metadata(action: str, dataset_id: str | None, metadata_name: str, value: str | None, path: str | None,
             as_json: bool, quiet: bool) -> None:
    """Get or set a version's JSON metadata.

    \b
    Example:
      satchel metadata set --id ID --value '{"classes": ["cat", "dog"]}'
      satchel metadata get --id ID
    """
    import json

    ds = open_dataset(dataset_id)
    if action == "get":
        found = ds.get_metadata(metadata_name)
        click.echo(json.dumps(found, indent=2, default=str))
        return
    text = Path(path).read_text() if path else value
    if text is None:
        raise InvalidArgumentError("metadata set needs --value JSON or --file PATH")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"metadata is not valid JSON: {exc}") from exc
    ds.set_metadata(data, metadata_name=metadata_name)
    emit({"id": ds.id, "name": metadata_name}, f"metadata {metadata_name!r} set", as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--storage", help="Store to collect (default: the default storage).")
@click.option("--free", is_flag=True, help="Delete the unreferenced content (default: only show it).")
@output_options
def gc(storage: str | None, free: bool, as_json: bool, quiet: bool) -> None:
    """Show (or --free) stored content that no version or draft refers to.

    \b
    Example:
      satchel gc --free
    """
    from satchel.dataset import admin
    from satchel.dataset.context import get_context

    report = admin.collect(get_context(), storage, dry_run=not free)
    verb = "freed" if free else "can be freed"
    emit(vars(report), f"{human_size(report.bytes_freed)} {verb} ({report.packs_deleted} pack(s), "
         f"{report.manifests_deleted} manifest(s)); {human_size(report.dead_bytes_kept)} unreferenced inside packs "
         "still in use", as_json=as_json, quiet=quiet)


@cli.command()
@click.option("--storage", help="Store to check (default: the default storage).")
@click.option("--read-data", is_flag=True, help="Also read every stored byte and check it against its hash.")
@click.option("--repair", is_flag=True, help="Fix what can be fixed; what cannot is reported with what to do.")
@output_options
def check(storage: str | None, read_data: bool, repair: bool, as_json: bool, quiet: bool) -> None:
    """Check a store: pack indexes, packs, the manifests of finalized versions (and every byte with --read-data).

    --repair rebuilds or sets aside damaged indexes, drops damaged entries so that the next upload stores their
    content again, stores damaged or missing content again from this machine's cache, and puts back manifests
    from local copies. Exits with code 5 when problems are left.

    \b
    Example:
      satchel check --read-data --repair
    """
    import dataclasses

    from satchel import check_store

    report = check_store(storage, read_data=read_data, repair=repair)
    lines = []
    for problem in report.problems:
        lines.append(f"{'repaired' if problem.resolved else 'PROBLEM '}  {problem.kind}: {problem.key}: "
                     f"{problem.detail}")
        lines += [f"          needed by version {version}" + (f", file {path!r}" if path else "")
                  for version, path in problem.affected]
        lines += [f"          done: {action}" for action in problem.actions]
    left = sum(1 for p in report.problems if not p.resolved)
    lines.append(f"{report.store}: {report.packs} pack(s), {report.manifests} manifest(s), {report.entries} file "
                 f"entries checked, {human_size(report.bytes_read)} read; "
                 + (f"{left} problem(s) left" if left else "no problems left" if report.problems else "no problems"))
    problems = [{**dataclasses.asdict(p), "resolved": p.resolved} for p in report.problems]
    emit({**dataclasses.asdict(report), "problems": problems, "ok": report.ok}, lines, as_json=as_json, quiet=quiet)
    if not report.ok:
        raise SystemExit(5)


@cli.command()
@click.argument("action", type=click.Choice(["show", "clear"]), default="show")
@click.option("--id", "dataset_id", help="With clear: only this version's cached copies.")
@output_options
def cache(action: str, dataset_id: str | None, as_json: bool, quiet: bool) -> None:
    """Show the local cache's size, or clear it (all, or one version's copies).

    \b
    Example:
      satchel cache show
      satchel cache clear --id ID
    """
    from satchel.dataset.context import get_context

    ctx = get_context()
    if action == "clear":
        if dataset_id:
            ctx.cache.drop_dataset(dataset_id)
        else:
            ctx.cache.clear()
    usage = ctx.cache.usage()
    emit({"path": str(ctx.cache.root), "content_bytes": usage, "limit": ctx.cache.limit},
         f"{ctx.cache.root}: {human_size(usage)} of {human_size(ctx.cache.limit)}", as_json=as_json, quiet=quiet)


def _summary(ds: Any) -> dict[str, Any]:
    return {"id": ds.id, "project": ds.project, "name": ds.name, "version": ds.version, "final": ds.is_final(),
            "stats": ds.stats}



from satchel.cli import team  # noqa: E402, F401 - registers the team-mode commands
