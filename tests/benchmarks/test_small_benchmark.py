"""The benchmark at CI size: every workload completes for satchel, DVC and the disk, and every copy is
byte-identical to its source. Timing is reported, never asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_small_benchmark_completes_with_identical_bytes(tmp_path: Path) -> None:
    subprocess.run(["bash", str(ROOT / "benchmarks/setup-dvc")], check=True)
    out = tmp_path / "RESULTS.md"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env.pop("SATCHEL_HOME", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/bench.py"), "--small", "--runs", "1", "--work", str(tmp_path / "w"),
         "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = out.read_text()
    assert "FAILED" not in report
    for check in ("satchel W1 cold get: ok", "satchel W1 mutable copy: ok", "satchel W2 cold get: ok",
                  "satchel W3 child get: ok", "dvc W1 pull: ok", "satchel W4 diff counts: ok",
                  "satchel re-add finds nothing new: ok", "satchel W7 last version get: ok",
                  "satchel W5 diff counts: ok", "satchel W5 one file read back: ok", "satchel W6 child get: ok",
                  "satchel W6 child sees one modified file: ok",
                  "satchel W6 child stores a fraction of the file: ok"):
        assert check in report
    assert "| W1 store vs tar -cf |" in report and "| W4 peak RSS |" in report
    assert "| `satchel get` warm, fresh process (CLI" in report and "| W7: flat with depth" in report
    steps = report.split("W7 steps, mean of each run of 1 in chain order (s): ")[1].splitlines()[0].split(", ")
    assert len(steps) == 3 and all(float(step) > 0 for step in steps)  # the small chain's 3 steps, in order
