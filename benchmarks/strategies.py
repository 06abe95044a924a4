"""Search strategies on NAS-Bench-Macro (real CIFAR-10), at equal budgets in trainings.

Usage: ``python benchmarks/strategies.py [--runs 100] [--out results/nas_bench_macro_strategies]``

Runs every strategy of :mod:`enas_edu.bench.strategies` ``--runs`` times (paired by run: run r
observes the same seed of the table in every strategy), writes ``strategies.json`` (every run
and the summary) to ``--out`` and prints the Markdown table of BENCHMARKS.md: held-out accuracy
of the incumbent with a 95% bootstrap interval, and the paired difference with random search.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from enas_edu.bench import nas_bench_macro
from enas_edu.bench.strategies import STRATEGIES, compare

BUDGETS = [10, 30, 100, 300, 1000]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def markdown(out: dict) -> str:
    lines = ["| strategy | " + " | ".join(f"{b} trainings" for b in out["budgets"]) + " |",
             "|---|" + "---|" * len(out["budgets"])]
    for name, per_budget in out["strategies"].items():
        cells = []
        for b in out["budgets"]:
            e = per_budget[str(b)] if str(b) in per_budget else per_budget[b]
            h = e["held_out"]
            cell = f"{100 * h['mean']:.2f} [{100 * h['ci'][0]:.2f}, {100 * h['ci'][1]:.2f}]"
            if "vs_random" in e:
                v = e["vs_random"]
                cell += f"<br>{100 * v['mean_difference']:+.2f} vs random, " + (
                    f"cannot be told apart (resolution {100 * v['resolution']:.2f})"
                    if v["verdict"] == "cannot be told apart" else f"p {v['p']:.2g}")
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    bar = out["flops_bar"]
    lines.append(f"| FLOPs bar (no training: `{bar['arc']}`) | " +
                 " | ".join(f"{100 * bar['held_out']:.2f}" for _ in out["budgets"]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("results/nas_bench_macro_strategies"))
    parser.add_argument("--table-only", action="store_true", help="print the table of the recorded run")
    args = parser.parse_args()
    if args.table_only:
        print(markdown(json.loads((args.out / "strategies.json").read_text())))
        return
    torch.set_num_threads(1)
    truth = nas_bench_macro.load()
    t0 = time.perf_counter()
    out = compare(truth, list(STRATEGIES), args.runs, BUDGETS, progress=True)
    out["cost"] = {"seconds": round(time.perf_counter() - t0, 1), "threads": 1, "cpu": cpu_name(),
                   "cores": os.cpu_count(), "torch": torch.__version__,
                   "command": "python benchmarks/strategies.py " + " ".join(sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "strategies.json.tmp"
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, args.out / "strategies.json")
    print(markdown(out))
    print(f"\n{args.runs} runs per strategy, {out['cost']['seconds']:.0f} s on one thread")


if __name__ == "__main__":
    main()
