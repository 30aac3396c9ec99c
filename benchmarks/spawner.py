"""Runs commands for bench.py and reports each one's own wall time and peak RSS.

A forked child inherits its parent's memory high-water mark in ``ru_maxrss``, so commands are started from
this small process (started before the benchmark loads anything) rather than from the benchmark itself.
Protocol: one JSON request per line on stdin ({"cmd", "env", "cwd"}), one JSON reply per line on stdout.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

for line in sys.stdin:
    request = json.loads(line)
    os.sync()  # start every measured step with no dirty pages left by the previous one
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(request["cmd"], env=request["env"], cwd=request["cwd"], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        reply = {"code": os.waitstatus_to_exitcode(status), "wall": wall, "rss_kb": usage.ru_maxrss,
                 "stdout": out.read().decode(errors="replace"), "stderr": err.read().decode(errors="replace")[-3000:]}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
