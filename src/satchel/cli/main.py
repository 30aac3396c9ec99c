"""The ``satchel`` command line: a thin shell over the public Dataset API, mirroring ``clearml-data``.

Every command has ``--help`` with an example; commands that print data take ``--json``; errors go through
one table (:mod:`satchel.cli.errors`) to a message, a hint and a stable exit code. Tracebacks only with
``SATCHEL_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from satchel.cli.errors import INTERRUPTED, USAGE, classify, cli_message
from satchel.errors import InvalidArgumentError

F = TypeVar("F", bound=Callable[..., Any])
WORKSPACE = Path(".satchel")
CURRENT = WORKSPACE / "current"


class SatchelGroup(click.Group):
    """Runs commands through the error table."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(INTERRUPTED.code)
        except Exception as exc:
            code, hint = classify(exc)
            if os.environ.get("SATCHEL_DEBUG") == "1":
                traceback.print_exc()
            click.echo(f"error: {cli_message(str(exc))}", err=True)
            click.echo(f"hint: {hint}", err=True)
            sys.exit(code.code)


@click.group(cls=SatchelGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="satchel")
def cli() -> None:
    """Versioned datasets for machine-learning teams.

    \b
    Example (the create -> add -> close flow; the current dataset is kept in .satchel/current):
      satchel create --project vision --name cats
      satchel add --files data/cats
      satchel close
      satchel get --project vision --name cats
    """


# -- shared options and helpers -------------------------------------------------------------------
def output_options(func: F) -> F:
    """--json and --quiet."""
    func = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)
    return click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors (and --json output).")(func)


def id_option(func: F) -> F:
    """--id, defaulting to the workspace's current dataset."""
    return click.option("--id", "dataset_id", help="Dataset version id (default: the current one, see `create`).")(
        func
    )


def emit(data: Any, human: str | Sequence[str], *, as_json: bool, quiet: bool) -> None:
    """Print ``data`` as JSON, or ``human`` text unless quiet."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    elif not quiet:
        click.echo(human if isinstance(human, str) else "\n".join(human))


def remember_current(dataset_id: str) -> None:
    """Record the current dataset of this working folder."""
    WORKSPACE.mkdir(exist_ok=True)
    CURRENT.write_text(dataset_id + "\n")


def current_id(dataset_id: str | None) -> str:
    """``dataset_id`` or the workspace's current dataset."""
    if dataset_id:
        return dataset_id
    if CURRENT.is_file():
        return CURRENT.read_text().strip()
    raise InvalidArgumentError(f"no --id given and no current dataset in {CURRENT}; pass --id or run `satchel create`")


def open_dataset(dataset_id: str | None = None, project: str | None = None, name: str | None = None,
                 version: str | None = None) -> Any:
    """The Dataset named by --id, or --project/--name[/--version], or the current one."""
    from satchel import Dataset

    if dataset_id and (project or name or version):
        raise InvalidArgumentError("pass either --id or --project/--name[/--version], not both")
    if (project or name or version) and not (project and name):
        raise InvalidArgumentError("--project, --name (and --version) go together: pass both --project and --name")
    if dataset_id or not project:
        return Dataset.get(dataset_id=current_id(dataset_id))
    return Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version)


def forget_current_if_gone() -> None:
    """Drop .satchel/current when it names a version that no longer exists."""
    from satchel import Dataset

    if CURRENT.is_file():
        try:
            Dataset.get(dataset_id=CURRENT.read_text().strip())
        except LookupError:
            CURRENT.unlink()


def human_size(num: int | None) -> str:
    """Bytes for people."""
    from satchel.units import format_size

    return "-" if num is None else format_size(int(num))


def main() -> None:
    """Console entry point."""
    from satchel.cli import commands  # noqa: F401 - registers the commands

    try:
        cli(prog_name="satchel")
    except click.exceptions.UsageError as exc:
        exc.show()
        sys.exit(USAGE.code)
