"""Writing RESULTS.md: machine, versions, medians with spread, ratios and targets."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections import defaultdict
from importlib.metadata import version
from typing import Any


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    return f"{min(values):.3g} - {max(values):.3g}"


def _dvc_version(dvc: str) -> str:
    try:
        return subprocess.run([dvc, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unavailable"


def targets(bench: Any) -> list[tuple[str, str, str, str, bool]]:
    """(workload, before this round (issue 14's "today"), target, measured, met) rows."""
    m = defaultdict(lambda: float("nan"), {name: _median(values) for name, values in bench.samples.items()})
    rss = defaultdict(lambda: float("nan"), {name: max(values) for name, values in bench.rss.items() if values})
    f = bench.facts
    w3_stored = _median(f.get("satchel_w3_stored", []))
    w6_stored = _median(f.get("satchel_w6_stored", []))
    steps = bench.samples.get("satchel_w7_step", [])
    first_store = f.get("w7_first_store", float("nan"))
    head, tail = _median(steps[:10]), _median(steps[-10:])
    max_step = max(steps, default=float("nan"))
    return [
        ("W1 store vs tar -cf", "11.7x", "<= 2x", f"{m['satchel_w1_store'] / m['w1_tar_c']:.2f}x",
         m["satchel_w1_store"] <= 2 * m["w1_tar_c"]),
        ("W1 store vs DVC add+push", "6.5x faster", ">= 10x faster",
         f"{m['dvc_w1_store'] / m['satchel_w1_store']:.1f}x faster", m["dvc_w1_store"] >= 10 * m["satchel_w1_store"]),
        ("W1 re-add unchanged vs first add", "33%", "< 5%",
         f"{100 * m['satchel_w1_readd'] / m['satchel_w1_add']:.0f}%",
         m["satchel_w1_readd"] < 0.05 * m["satchel_w1_add"]),
        ("W3 (1% changed) child vs W1 store", "24%", "<= 5%",
         f"{100 * m['satchel_w3'] / m['satchel_w1_store']:.1f}%", m["satchel_w3"] <= 0.05 * m["satchel_w1_store"]),
        ("W3 stored vs changed bytes", "0.69x", "<= 1.1x", f"{w3_stored / f['w3_changed_bytes']:.2f}x",
         w3_stored <= 1.1 * f["w3_changed_bytes"]),
        ("W2 large files store vs cp throughput", "58%", ">= 80%",
         f"{100 * m['w2_cp'] / m['satchel_w2_store']:.0f}%", m["w2_cp"] >= 0.8 * m["satchel_w2_store"]),
        ("W4 (1M entries) get + list", "1.35 s", "< 0.5 s", f"{m['satchel_w4_get_list']:.2f} s",
         m["satchel_w4_get_list"] < 0.5),
        ("W4 diff", "1.44 s", "< 1 s", f"{m['satchel_w4_diff']:.2f} s", m["satchel_w4_diff"] < 1),
        ("W4 squash", "6.6 s", "< 1 s", f"{m['satchel_w4_squash']:.2f} s", m["satchel_w4_squash"] < 1),
        ("W4 peak RSS", "1145 MB", "< 300 MB", f"{rss['satchel_w4']:.0f} MB", rss["satchel_w4"] < 300),
        ("W5 (10M entries): child with 1% changed + finalize / list / diff / get one file", "-", "each < 10 s",
         " / ".join(f"{m[f'satchel_w5_{k}']:.2f} s" for k in ("child", "list", "diff", "get_one")),
         all(m[f"satchel_w5_{k}"] < 10 for k in ("child", "list", "diff", "get_one"))),
        ("W5 peak RSS", "-", "< 1.5 GB", f"{rss['satchel_w5']:.0f} MB", rss["satchel_w5"] < 1536),
        ("W6 (512 MiB file, 1% scattered + 1 MiB inserted) child stored vs changed bytes", "whole file again",
         "<= 1.2x", f"{w6_stored / f.get('w6_changed_bytes', float('nan')):.2f}x",
         w6_stored <= 1.2 * f.get("w6_changed_bytes", 0)),
        ("`satchel get` warm, fresh process (CLI; as root a hit checks every file)", "~0.4 s", "< 0.15 s",
         f"{m['satchel_cli_warm_get_ms']:.0f} ms (root: {m['satchel_cli_warm_get_root_ms']:.0f} ms)",
         m["satchel_cli_warm_get_ms"] < 150),
        ("warm get in-process", "25 ms", "< 50 ms", f"{m['satchel_warm_get_ms']:.1f} ms",
         m["satchel_warm_get_ms"] < 50),
        ("W1 cold get vs tar -xf", "0.62x", "<= 1x", f"{m['satchel_w1_cold_get'] / m['w1_tar_x']:.2f}x",
         m["satchel_w1_cold_get"] <= m["w1_tar_x"]),
        ("large-file upload to SeaweedFS vs best parallel peer", "1.17x, 560 MB", "<= 1.0x, <= 200 MB",
         "not rerun (RESULTS-objstore.md)", False),
        ("W7: each sync_folder step vs the first store (max; median)", "-", "<= 5%",
         f"{100 * max_step / first_store:.1f}%; {100 * _median(steps) / first_store:.1f}%",
         max_step <= 0.05 * first_store),
        ("W7: flat with depth (last 10 steps vs first 10)", "-", "<= 1.2x", f"{tail / head:.2f}x", tail <= 1.2 * head),
        ("W7: cold get of the last version vs the first's (W1 cold get)", "-", "<= 1x",
         f"{f.get('w7_last_cold_get', float('nan')) / m['satchel_w1_cold_get']:.2f}x",
         f.get("w7_last_cold_get", float("inf")) <= m["satchel_w1_cold_get"]),
    ]


def write_report(bench: Any, options: Any, machine: dict[str, str], elapsed: float) -> None:
    """Write the Markdown report to ``options.out``."""
    sizes = bench.sizes
    lines = [
        "# Benchmark results",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        f"`python benchmarks/bench.py{' --small' if options.small else ''} --runs {options.runs}` "
        f"in {elapsed / 60:.1f} min.",
        "",
        "## Machine and versions",
        "",
        *(f"- {k}: {v}" for k, v in machine.items()),
        f"- satchel {version('satchel')}, {_dvc_version(bench.dvc)}",
        "- page cache: " + ("dropped before every measured step" if bench.facts.get("cold")
                            else "not dropped (not root)"),
        "",
        "## Workloads",
        "",
        f"- W1: {sizes.w1_files:,} files of {sizes.w1_min // 1024}-{sizes.w1_max // 1024} KiB in "
        f"{sizes.w1_folders:,} folders, half text, half random ({bench.facts['w1_bytes'] / 1e6:.0f} MB)",
        f"- W2: {sizes.w2_files} files of {sizes.w2_size >> 20} MiB, half random, half text "
        f"({bench.facts['w2_bytes'] / 1e9:.2f} GB)",
        f"- W3: W1 with (modified, added, removed) = {bench.facts['w3_counts']} files, "
        f"{bench.facts['w3_changed_bytes'] / 1e6:.2f} MB changed",
        f"- W4: a metadata-only version of {sizes.w4_entries:,} entries and a child with 1% modified, added, removed",
        f"- W5: a metadata-only version of {sizes.w5_entries:,} entries; its child sets 1% of the paths (half "
        "new, half changed) and removes 1%",
        f"- W6: one file of {sizes.w6_size >> 20} MiB of random bytes, then a child in which 1% of it is "
        "overwritten in 10 places spread over the file and 1 MiB is inserted in the middle "
        f"({bench.facts.get('w6_changed_bytes', 0) / 1e6:.2f} MB changed)",
        f"- W7: W1, then {sizes.w7_steps} versions each made by `sync_folder` in a fresh process after 1% of the "
        "files were replaced",
        "",
        "## Targets",
        "",
        "| workload | before (issue 14) | target | measured (median) | met |",
        "|---|---|---|---|---|",
        *(f"| {w} | {b} | {t} | {v} | {'yes' if ok else '**no**'} |" for w, b, t, v, ok in targets(bench)),
        "",
        f"## All measurements (median of {options.runs} runs, spread min - max; seconds unless named)",
        "",
        "| measurement | median | spread | peak RSS MB |",
        "|---|---|---|---|",
    ]
    for name in sorted(bench.samples):
        values = bench.samples[name]
        rss = f"{max(bench.rss[name]):.0f}" if bench.rss.get(name) else "-"
        lines.append(f"| {name} | {_median(values):.3g} | {_spread(values)} | {rss} |")
    steps = bench.samples.get("satchel_w7_step", [])
    if steps:  # so that the flatness row can be checked: steps by tenth of the chain, in order
        tenth = max(1, len(steps) // 10)
        means = [sum(steps[i : i + tenth]) / len(steps[i : i + tenth]) for i in range(0, len(steps), tenth)]
        lines += ["", f"W7 steps, mean of each run of {tenth} in chain order (s): "
                  + ", ".join(f"{v:.2f}" for v in means)]
    lines += ["", "## Bytes stored", "", "| what | bytes |", "|---|---|"]
    for key in ("satchel_w1_stored", "dvc_w1_stored", "satchel_w3_stored", "dvc_w3_stored", "satchel_w2_stored",
                "satchel_w6_stored"):
        if key in bench.facts:
            lines.append(f"| {key} | {_median(bench.facts[key]):,.0f} |")
    lines.append(f"| W3 changed bytes | {bench.facts['w3_changed_bytes']:,} |")
    if "w6_changed_bytes" in bench.facts:
        lines.append(f"| W6 changed bytes | {bench.facts['w6_changed_bytes']:,} |")
    lines += ["", "## Correctness checks (byte identity against the source)", ""]
    lines += [f"- {name}: {'ok' if ok else 'FAILED'}" for name, ok in sorted(bench.checks.items())]
    notes = getattr(bench, "notes", None)
    if notes:
        lines += ["", "## Notes", "", notes]
    options.out.write_text("\n".join(lines) + "\n")
