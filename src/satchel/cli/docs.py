"""Render docs/cli.md from the commands' own help texts (``python -m satchel.cli.docs > docs/cli.md``).

A test regenerates it and fails when the committed file differs, so the reference never drifts."""

from __future__ import annotations

import sys

import click

from satchel.cli import commands  # noqa: F401 - registers the commands
from satchel.cli.errors import ALL_CODES, TABLE
from satchel.cli.main import cli


def render() -> str:
    """The whole Markdown reference."""
    lines = [
        "# `satchel` command line reference",
        "",
        "Generated from the commands' `--help` by `python -m satchel.cli.docs > docs/cli.md` (a test checks it).",
        "Each command is a thin shell over the Python `Dataset` API and mirrors `clearml-data`.",
        "",
        "The *current dataset*: `satchel create` (and `satchel sync --project --name`) records the new version's",
        "id in `$SATCHEL_HOME/current` (per user, as ClearML's `~/.clearml_data.json`); commands taking `--id` "
        "use it when `--id` is omitted, from any folder. Options that repeat also take several values after one "
        "flag, as clearml-data's do: `--parents A B` is `--parents A --parents B`.",
        "Delete the file (or pass `--id`) to work on another version. Nothing else is kept between commands.",
        "",
        "Commands that print data take `--json` (machine-readable) and `--quiet`. Errors print `error:` and a",
        "`hint:` line on stderr, in the command line's terms (options and commands, not the Python arguments the",
        "same error names when it comes from the library); set `SATCHEL_DEBUG=1` for the traceback.",
        "",
        "## Differences from `clearml-data`",
        "",
        "Every `clearml-data` command and flag exists with the same name and meaning (a test runs its documented",
        "command lines with only the command name changed). What differs, and why:",
        "",
        "| clearml-data | satchel | why |",
        "|---|---|---|",
        "| ids are task ids | version ids; any unique prefix of 8+ characters is accepted | as git takes short "
        "hashes |",
        "| `sync` that changes nothing deletes the empty version | makes none, says so, exits 0 | the same end state |",
        "| `close --disable-upload` then fails on pending content | fails the same way (`PendingUploadError`, exit 4)"
        " | nothing is finalized that is not stored |",
        "| `--verbose` prints ClearML's task log | prints satchel's log of what happens | there is no task |",
        "| (none) | `--json`, `--quiet`, `check`, `gc`, `cache`, `archive`, `metadata`, team-mode commands | satchel "
        "extras |",
        "",
        "## Exit codes",
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {code.code} | {code.label} |" for code in ALL_CODES),
        "",
        "| error | exit code | hint printed |",
        "|---|---|---|",
        *(f"| `{kind.__name__}` | {code.code} | {hint} |" for kind, code, hint in TABLE),
        "",
    ]
    context = click.Context(cli, info_name="satchel", terminal_width=100, max_content_width=100,
                            help_option_names=["-h", "--help"])
    for name in sorted(cli.commands):
        command = cli.commands[name]
        with click.Context(command, info_name=name, parent=context, terminal_width=100,
                           max_content_width=100) as sub:
            text = command.get_help(sub)
        lines += [f"## `satchel {name}`", "", "```text", text, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render())
