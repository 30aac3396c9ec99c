"""``python -m satchel`` runs the command line."""

from satchel.cli.main import main

main()
