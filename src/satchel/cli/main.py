"""The ``satchel`` command line: a thin shell over the public Dataset API, mirroring ``clearml-data``.

Every command has ``--help`` with an example; commands that print data take ``--json``; errors go through
one table (:mod:`satchel.cli.errors`) to a message, a hint and a stable exit code. Tracebacks only with
``SATCHEL_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from satchel.cli.errors import INTERRUPTED, USAGE, classify, cli_message
from satchel.errors import InvalidArgumentError

F = TypeVar("F", bound=Callable[..., Any])
CURRENT_FILE = "current"
_NUMBER = re.compile(r"-\d+(\.\d+)?")  # a negative number is a value, as argparse takes it


class SatchelCommand(click.Command):
    """A command whose repeatable options also take several values after one flag, as ``clearml-data``'s do:
    ``--parents A B --tags x y`` means ``--parents A --parents B --tags x --tags y``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_multi_values(self, args))


def expand_multi_values(command: click.Command, args: list[str]) -> list[str]:
    """``args`` with every value that follows a repeatable option (up to the next ``-``-word) given its flag."""
    multi = {name for p in command.params if isinstance(p, click.Option) and p.multiple and p.nargs == 1
             for name in p.opts}
    out: list[str] = []
    flag: str | None = None
    for arg in args:
        if arg == "--":
            flag = None
            out.append(arg)
        elif arg.startswith("-") and arg != "-" and not _NUMBER.fullmatch(arg):
            flag = arg if arg in multi else None
            out.append(arg)
        elif flag is not None and out and out[-1] != flag:
            out += [flag, arg]
        else:
            out.append(arg)
    return out


class SatchelGroup(click.Group):
    """Runs commands through the error table; its commands take multi-value options (``SatchelCommand``)."""

    command_class = SatchelCommand

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
    Example (the create -> add -> close flow; the current dataset is kept in $SATCHEL_HOME/current):
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


def verbose_option(func: F) -> F:
    """--verbose (as clearml-data's): also print satchel's log of what happens."""
    return click.option("--verbose", is_flag=True, help="Also print what happens (satchel's log).")(func)


def max_workers_option(func: F) -> F:
    """--max-workers (as clearml-data's)."""
    return click.option("--max-workers", type=click.IntRange(1, 1024),
                        help="Parallel workers (default: SATCHEL_MAX_WORKERS).")(func)


def chatty(verbose: bool) -> None:
    """With --verbose, satchel's log (what is added, uploaded, skipped) goes to stderr."""
    if verbose:
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        logging.getLogger("satchel").setLevel(logging.INFO)


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


def current_file() -> Path:
    """Where the current dataset is kept: per user, in the satchel home (ClearML keeps it in
    ``~/.clearml_data.json``), so commands run from any folder share it."""
    from satchel.config import resolve_settings

    return resolve_settings().home / CURRENT_FILE


def remember_current(dataset_id: str) -> None:
    """Record the current dataset of this user."""
    path = current_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dataset_id + "\n")


def resolve_id(text: str) -> str:
    """A version id from what the user typed (the id, or a unique prefix of 8+ characters) in the current
    catalog; see ``satchel.dataset.admin.full_id``."""
    from satchel.dataset.admin import full_id
    from satchel.dataset.context import get_context

    return full_id(get_context(), text)


def make_link(link: Path, folder: Path, overwrite: bool) -> None:
    """Make ``link`` a symlink to ``folder`` (``get --link``); an existing symlink or empty folder there is
    replaced, anything else is refused."""
    if link.is_symlink():  # a link from an earlier get: replaced, as clearml-data does
        link.unlink()
    elif link.is_dir() and not any(link.iterdir()):
        link.rmdir()
    if link.exists():
        raise InvalidArgumentError(f"--link {str(link)!r} exists and is not a symlink or an empty folder; remove it "
                                   "or choose another path")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(folder, target_is_directory=True)


def current_id(dataset_id: str | None) -> str:
    """``dataset_id`` as given, or the user's current dataset."""
    if dataset_id:
        return dataset_id
    path = current_file()
    if path.is_file():
        return path.read_text().strip()
    raise InvalidArgumentError(f"no --id given and no current dataset in {path}; pass --id or run `satchel create`")


def open_dataset(dataset_id: str | None = None, project: str | None = None, name: str | None = None,
                 version: str | None = None) -> Any:
    """The Dataset named by --id, or --project/--name[/--version], or the current one."""
    from satchel import Dataset

    if dataset_id and (project or name or version):
        raise InvalidArgumentError("pass either --id or --project/--name[/--version], not both")
    if (project or name or version) and not (project and name):
        raise InvalidArgumentError("--project, --name (and --version) go together: pass both --project and --name")
    if dataset_id or not project:
        return Dataset.get(dataset_id=resolve_id(current_id(dataset_id)))
    return Dataset.get(dataset_project=project, dataset_name=name, dataset_version=version)


def forget_current_if_gone() -> None:
    """Forget the current dataset when it names a version that no longer exists."""
    from satchel import Dataset

    path = current_file()
    if path.is_file():
        try:
            Dataset.get(dataset_id=path.read_text().strip())
        except LookupError:
            path.unlink()


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
