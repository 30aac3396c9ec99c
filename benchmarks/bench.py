"""satchel against DVC and against the disk, in one run, with targets. See benchmarks/README.md.

    python benchmarks/bench.py [--small] [--runs N] [--work DIR] [--out FILE]

Every measured step runs in its own process; its wall time and peak RSS come from ``wait4``. Tools
alternate order from run to run. Results (byte identity included) go to ``--out`` as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import Sizes, apply_w3, change_some, make_w1, make_w2, make_w6, tree_digest

HERE = Path(__file__).resolve().parent
OPS = HERE / "ops.py"


@dataclass
class Measure:
    wall: float
    rss_mb: float
    result: dict[str, Any] = field(default_factory=dict)


class Spawner:
    """The small process that starts every measured command (see spawner.py)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(HERE / "spawner.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
            parse: bool = False) -> Measure:
        """Run one command; its wall time, its own peak RSS and, with ``parse``, its JSON output."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"cmd": cmd, "env": env or dict(os.environ), "cwd": str(cwd) if cwd else None}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        if reply["code"] != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({reply['code']}):\n{reply['stderr']}")
        result = json.loads(reply["stdout"].strip().splitlines()[-1]) if parse else {}
        return Measure(reply["wall"], reply["rss_kb"] / 1024, result)


SPAWNER: Spawner | None = None


def run(cmd: list[str], *, cold: bool = True, **kw: Any) -> Measure:
    """Run a measured command through the spawner, the page cache dropped first when this process may (root)
    and ``cold``: every tool starts cold, except where warm is what is measured (a warm get)."""
    assert SPAWNER is not None
    if cold:
        drop_page_cache()
    return SPAWNER.run(cmd, **kw)


def drop_page_cache() -> bool:
    """Write back dirty pages and drop the page cache (``/proc/sys/vm/drop_caches``); False when not allowed."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


class Bench:
    def __init__(self, sizes: Sizes, work: Path, runs: int, dvc: str, tools: list[str]) -> None:
        self.tools = tools
        self.sizes = sizes
        self.work = work
        self.runs = runs
        self.dvc = dvc
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.rss: dict[str, list[float]] = defaultdict(list)
        self.facts: dict[str, Any] = {}
        self.checks: dict[str, bool] = {}
        self.src = work / "src"

    # -- helpers ----------------------------------------------------------------------------------
    def record(self, name: str, measure: Measure, seconds: float | None = None) -> Measure:
        self.samples[name].append(measure.wall if seconds is None else seconds)
        self.rss[name].append(measure.rss_mb)
        return measure

    def op(self, home: Path, operation: str, cold: bool = True, **args: Any) -> Measure:
        env = {**os.environ, "SATCHEL_HOME": str(home)}
        return run([sys.executable, str(OPS), operation, json.dumps(args)], env=env, parse=True, cold=cold)

    def shell(self, *cmd: str, cwd: Path | None = None) -> Measure:
        env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        return run(list(cmd), cwd=cwd, env=env)

    def check(self, name: str, got: dict[str, str], expected: dict[str, str]) -> None:
        self.checks[name] = got == expected
        if got != expected:
            missing = sorted(set(expected) - set(got))[:3]
            extra = sorted(set(got) - set(expected))[:3]
            print(f"IDENTITY FAILED {name}: missing {missing} extra {extra}", file=sys.stderr)

    # -- preparation ------------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.src.exists():
            shutil.rmtree(self.src)
        started = time.perf_counter()
        make_w1(self.src / "w1", self.sizes)
        make_w2(self.src / "w2", self.sizes)
        subprocess.run(["cp", "-al", str(self.src / "w1"), str(self.src / "w3")], check=True)
        change = apply_w3(self.src / "w3", self.sizes)
        self.facts["w3_changed_bytes"] = change.changed_bytes
        self.facts["w3_counts"] = (len(change.modified), len(change.added), len(change.removed))
        self.facts["w6_changed_bytes"] = make_w6(self.src, self.sizes)
        self.digests = {k: tree_digest(self.src / k) for k in ("w1", "w2", "w3", "w6b")}
        self.facts["w1_bytes"] = _tree_bytes(self.src / "w1")
        self.facts["w2_bytes"] = _tree_bytes(self.src / "w2")
        self.facts["prepare_seconds"] = time.perf_counter() - started

    # -- the three contenders ---------------------------------------------------------------------
    def disk(self, r: Path) -> None:
        for work in ("w1", "w2"):
            tar = r / f"{work}.tar"
            self.record(f"{work}_tar_c", self.shell("tar", "-cf", str(tar), "-C", str(self.src), work))
            (r / f"untar_{work}").mkdir()
            self.record(f"{work}_tar_x", self.shell("tar", "-xf", str(tar), "-C", str(r / f"untar_{work}")))
            self.record(f"{work}_cp", self.shell("cp", "-r", str(self.src / work), str(r / f"cp_{work}")))
            tar.unlink()
        started = time.perf_counter()
        for path in sorted((self.src / "w2").iterdir()):
            from blake3 import blake3

            hasher = blake3(max_threads=blake3.AUTO)
            hasher.update_mmap(str(path))
        seconds = time.perf_counter() - started
        self.samples["blake3_mb_s"].append(self.facts["w2_bytes"] / seconds / 1e6)

    def satchel(self, r: Path) -> None:
        home = r / "satchel-home"
        w1 = self.record("satchel_w1_store", self.op(home, "store", folder=str(self.src / "w1"), name="w1"))
        for part in ("add", "upload", "finalize"):
            self.samples[f"satchel_w1_{part}"].append(w1.result[part])
        self.facts.setdefault("satchel_w1_stored", []).append(_tree_bytes(home / "storage"))
        cold = self.record("satchel_w1_cold_get", self.op(home, "get", dataset_id=w1.result["id"]))
        self.check("satchel W1 cold get", tree_digest(Path(cold.result["path"])), self.digests["w1"])
        env = {**os.environ, "SATCHEL_HOME": str(home)}
        cli = run([str(Path(sys.executable).parent / "satchel"), "get", "--id", w1.result["id"]], env=env, cold=False)
        self.samples["satchel_cli_warm_get_ms" if os.geteuid() else "satchel_cli_warm_get_root_ms"].append(
            cli.wall * 1000)  # a fresh process, as a script calls it
        if not os.geteuid():  # as root a hit checks every file (docs/architecture.md); show the other path too
            cli = run([sys.executable, str(HERE / "unprivileged_get.py"), w1.result["id"]], env=env, cold=False)
            self.samples["satchel_cli_warm_get_ms"].append(cli.wall * 1000)
        warm = self.op(home, "get", cold=False, dataset_id=w1.result["id"])
        self.samples["satchel_warm_get_ms" if os.geteuid() else "satchel_warm_get_root_ms"].append(
            warm.result["seconds"] * 1000)
        if not os.geteuid():
            warm = self.op(home, "get", cold=False, dataset_id=w1.result["id"], unprivileged=True)
            self.samples["satchel_warm_get_ms"].append(warm.result["seconds"] * 1000)
        mutable = self.record("satchel_w1_mutable", self.op(home, "mutable", dataset_id=w1.result["id"],
                                                              target=str(r / "satchel-mutable")))
        self.check("satchel W1 mutable copy", tree_digest(Path(mutable.result["path"])), self.digests["w1"])
        readd = self.op(home, "readd", parent=w1.result["id"], folder=str(self.src / "w1"))
        self.samples["satchel_w1_readd"].append(readd.result["seconds"])
        self.checks["satchel re-add finds nothing new"] = readd.result["added"] == 0 and not readd.result["dirty"]
        before = _tree_bytes(home / "storage")
        w3 = self.record("satchel_w3", self.op(home, "child", parent=w1.result["id"], folder=str(self.src / "w3")))
        self.facts.setdefault("satchel_w3_stored", []).append(_tree_bytes(home / "storage") - before)
        got = self.op(home, "get", dataset_id=w3.result["id"])
        self.check("satchel W3 child get", tree_digest(Path(got.result["path"])), self.digests["w3"])
        self.record("satchel_squash", self.op(home, "squash", dataset_id=w3.result["id"], name="w3-flat"))
        before = _tree_bytes(home / "storage")
        w2 = self.record("satchel_w2_store", self.op(home, "store", folder=str(self.src / "w2"), name="w2"))
        self.facts.setdefault("satchel_w2_stored", []).append(_tree_bytes(home / "storage") - before)
        got = self.record("satchel_w2_cold_get", self.op(home, "get", dataset_id=w2.result["id"]))
        self.check("satchel W2 cold get", tree_digest(Path(got.result["path"])), self.digests["w2"])
        built = self.op(home, "w4_build", entries=self.sizes.w4_entries)
        w4 = self.op(home, "w4_measure", base=built.result["base"], kid=built.result["child"])
        for key in ("get_list", "diff", "squash"):
            self.samples[f"satchel_w4_{key}"].append(w4.result[key])
        self.rss["satchel_w4"].append(w4.rss_mb)
        step = 100  # ops.w4_build changes every 100th entry
        expected = [len(range(0, self.sizes.w4_entries, step))] * 2 + [len(range(1, self.sizes.w4_entries, step))]
        self.checks["satchel W4 diff counts"] = w4.result["changes"] == expected

    def huge(self, r: Path) -> None:
        """W5 (first run only): a child of a ``w5_entries``-entry version changing 1% and removing 1%, finalized;
        then its list, its diff and one file read, each timed, in one process (its peak RSS)."""
        if self.samples.get("satchel_w5_child"):
            return
        home, entries = r / "satchel-w5-home", self.sizes.w5_entries
        built = self.op(home, "w5_build", entries=entries)
        w5 = self.op(home, "w5_measure", base=built.result["base"], entries=entries)
        for key in ("child", "list", "diff", "get_one"):
            self.samples[f"satchel_w5_{key}"].append(w5.result[key])
        self.rss["satchel_w5"].append(w5.rss_mb)
        count = max(1, entries // 100)
        self.checks["satchel W5 one file read back"] = w5.result["read_ok"]
        self.checks["satchel W5 diff counts"] = w5.result["changes"] == [
            (count + 1) // 2, count // 2, len(range(51, entries, 100))]
        shutil.rmtree(home)

    def dedup(self, r: Path) -> None:
        """W6: a large file, then a child in which 1% of it was overwritten in scattered places and 1 MiB was
        inserted in the middle; the bytes the child adds to the store, its time, and its cold get."""
        home = r / "satchel-w6-home"
        first = self.record("satchel_w6_store", self.op(home, "store", folder=str(self.src / "w6"), name="w6"))
        before = _tree_bytes(home / "storage")
        kid = self.record("satchel_w6_child", self.op(home, "child", parent=first.result["id"],
                                                      folder=str(self.src / "w6b")))
        stored = _tree_bytes(home / "storage") - before
        self.facts.setdefault("satchel_w6_stored", []).append(stored)
        self.checks["satchel W6 child stores a fraction of the file"] = stored < self.sizes.w6_size // 4
        self.checks["satchel W6 child sees one modified file"] = kid.result["changed"] == 1
        got = self.record("satchel_w6_cold_get", self.op(home, "get", dataset_id=kid.result["id"]))
        self.check("satchel W6 child get", tree_digest(Path(got.result["path"])), self.digests["w6b"])
        shutil.rmtree(home)

    def chain(self, r: Path) -> None:
        """W7 (first run only: it is long): ``w7_steps`` versions, each made by ``sync_folder`` in a fresh process
        after 1% of the files changed; every step's time, and a cold get of the last version."""
        if self.samples.get("satchel_w7_step"):
            return
        home, folder = r / "satchel-chain-home", r / "w7"
        subprocess.run(["cp", "-al", str(self.src / "w1"), str(folder)], check=True)
        first = self.op(home, "store", folder=str(folder), name="w7")
        self.facts["w7_first_store"] = first.wall
        parent = first.result["id"]
        for step in range(self.sizes.w7_steps):
            change_some(folder, self.sizes, seed=100 + step)
            made = self.op(home, "child", parent=parent, folder=str(folder))
            self.samples["satchel_w7_step"].append(made.wall)
            parent = made.result["id"]
        got = self.op(home, "get", dataset_id=parent)
        self.facts["w7_last_cold_get"] = got.wall
        self.check("satchel W7 last version get", tree_digest(Path(got.result["path"])), tree_digest(folder))
        shutil.rmtree(home)

    def dvc_run(self, r: Path) -> None:
        ws, remote = r / "dvc-ws", r / "dvc-remote"
        ws.mkdir()
        dvc = self.dvc
        self.shell(dvc, "init", "--no-scm", "-q", cwd=ws)
        self.shell(dvc, "remote", "add", "-d", "local", str(remote), cwd=ws)
        subprocess.run(["cp", "-al", str(self.src / "w1"), str(ws / "data")], check=True)
        add = self.shell(dvc, "add", "-q", "data", cwd=ws)
        push = self.shell(dvc, "push", "-q", cwd=ws)
        self.samples["dvc_w1_store"].append(add.wall + push.wall)
        self.rss["dvc_w1_store"].append(max(add.rss_mb, push.rss_mb))
        self.facts.setdefault("dvc_w1_stored", []).append(_tree_bytes(remote))
        clone = r / "dvc-clone"
        clone.mkdir()
        shutil.copytree(ws / ".dvc", clone / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
        shutil.copy(ws / "data.dvc", clone / "data.dvc")
        self.record("dvc_w1_pull", self.shell(dvc, "pull", "-q", cwd=clone))
        self.check("dvc W1 pull", tree_digest(clone / "data"), self.digests["w1"])
        shutil.rmtree(ws / "data")
        subprocess.run(["cp", "-al", str(self.src / "w3"), str(ws / "data")], check=True)
        before = _tree_bytes(remote)
        add = self.shell(dvc, "add", "-q", "data", cwd=ws)
        push = self.shell(dvc, "push", "-q", cwd=ws)
        self.samples["dvc_w3"].append(add.wall + push.wall)
        self.facts.setdefault("dvc_w3_stored", []).append(_tree_bytes(remote) - before)

    def go(self) -> None:
        self.prepare()
        self.facts["cold"] = drop_page_cache()
        for index in range(self.runs):
            r = self.work / f"run{index}"
            if r.exists():
                shutil.rmtree(r)
            r.mkdir(parents=True)
            order = [getattr(self, tool) for tool in self.tools]
            if index % 2:
                order.reverse()
            for step in order:
                step(r)
            shutil.rmtree(r)


def _tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        memory = f"{int(mem) / 1024**2:.1f} GiB"
    except OSError:
        memory = "unknown"
    return {"cpu": f"{cpu} x {os.cpu_count()}", "memory": memory, "os": platform.platform(),
            "python": platform.python_version()}


if __name__ == "__main__":
    SPAWNER = Spawner()
    from benchmarks.report import write_report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="CI sizes (checks completion and identity)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--dvc", default=os.environ.get("BENCH_DVC", str(HERE / ".venv-dvc/bin/dvc")))
    parser.add_argument("--tools", default="disk,satchel,dvc_run,dedup,chain,huge",
                        help="comma-separated subset of disk,satchel,dvc_run,dedup,chain,huge (targets needing a "
                             "missing tool show n/a)")
    options = parser.parse_args()
    bench = Bench(Sizes.small() if options.small else Sizes.full(), options.work, options.runs, options.dvc,
                  options.tools.split(","))
    started = time.perf_counter()
    bench.go()
    write_report(bench, options, machine(), time.perf_counter() - started)
    shutil.rmtree(options.work / "src", ignore_errors=True)
    failed = [name for name, ok in bench.checks.items() if not ok]
    print(f"results written to {options.out}; identity and correctness checks: "
          f"{len(bench.checks) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)
