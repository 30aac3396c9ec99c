"""The ``satchel`` command line (see docs/cli.md)."""
