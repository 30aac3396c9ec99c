"""Two processes on the same cache: the work is done once, nobody sees a half-built folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from satchel import Dataset
from tests.conftest import random_tree

READER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from satchel import Dataset
    from satchel.dataset import cache

    log = Path(sys.argv[2])
    original = cache.LocalCache.publish
    def counted(self, build, key, files):
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        time.sleep(0.5)
        return original(self, build, key, files)
    cache.LocalCache.publish = counted
    start = Path(sys.argv[3])
    while not start.exists():
        time.sleep(0.005)
    folder = Dataset.get(dataset_id=sys.argv[1]).get_local_copy()
    files = {str(p.relative_to(folder)): p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()}
    print(json.dumps({"folder": folder, "files": files}))
    """
)


def test_two_processes_build_the_same_version_once(home: Path, tmp_path: Path) -> None:
    files = random_tree(tmp_path / "src", 200, max_size=8000)
    ds = Dataset.create(dataset_name="ds", dataset_project="p")
    ds.add_files(tmp_path / "src")
    ds.finalize(auto_upload=True)
    script, log, start = tmp_path / "reader.py", tmp_path / "builds.log", tmp_path / "go"
    script.write_text(READER)
    env = {**os.environ, "SATCHEL_HOME": str(home), "PYTHONPATH": str(Path.cwd())}
    procs = [
        subprocess.Popen([sys.executable, str(script), ds.id, str(log), str(start)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    start.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert results[0]["folder"] == results[1]["folder"]
    expected = {k: len(v) for k, v in files.items()}
    assert results[0]["files"] == expected and results[1]["files"] == expected
    assert len(log.read_text().split()) == 1
