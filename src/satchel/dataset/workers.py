"""Worker processes for per-file work on many small files (a cold get's layout, an upload's reading and
compression): threads take turns at the GIL over each file's short steps, processes run them side by side.

Workers are plain ``python -P -m <module>`` subprocesses speaking over their stdin and stdout, not
``multiprocessing``: starting those re-imports the caller's main script, which would run again in every worker
when it has no ``if __name__ == "__main__"`` guard. ``-P`` keeps the working folder off the worker's path, so a
folder there named like a module cannot shadow satchel's.
"""

from __future__ import annotations

import os
import subprocess
import sys

PROCESSES_FROM = 20_000
"""Small files to handle, from which worker processes pay for their start (about 0.1-0.2 s each)."""
MAX_PROCESSES = 4


def process_count(files: int, max_workers: int, *, local: bool = True) -> int:
    """How many worker processes handle ``files`` small files: none under ``PROCESSES_FROM``, none when the work
    is not ``local`` (it waits on a network, and threads wait on it fine), none with fewer than two cores or
    ``max_workers`` below two (``max_workers=1`` keeps all work in this process), and none in a bundled app
    (PyInstaller and the like: ``sys.executable`` is the app); else one per core, up to ``max_workers`` and
    ``MAX_PROCESSES``."""
    cores = min(os.cpu_count() or 1, max_workers, MAX_PROCESSES)
    runnable = bool(sys.executable) and not getattr(sys, "frozen", False)  # a bundled app is not an interpreter
    return cores if files >= PROCESSES_FROM and local and cores >= 2 and runnable else 0


def start_worker(module: str) -> subprocess.Popen[bytes]:
    """Start ``python -P -m module`` with this interpreter and this process's import path, its stdin and stdout
    piped (its stderr is dropped: whatever goes wrong in a worker, the parent redoes its work itself)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen([sys.executable, "-P", "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=environment)
