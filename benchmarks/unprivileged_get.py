"""``satchel get --id ID`` as a process that cannot write read-only files (not root) runs it: the CLI's own
entry point, with the one check that differs for root switched off, as ``ops.get(unprivileged=True)`` does for
the Python call. The benchmark runs as whoever runs it; this shows the other path.

    python benchmarks/unprivileged_get.py ID
"""

import sys

import satchel.dataset.quick
from satchel.cli.main import main

satchel.dataset.quick.can_write_read_only_files = lambda: False  # type: ignore[assignment]
sys.argv = ["satchel", "get", "--id", sys.argv[1]]
main()
