"""Regenerate the ground-truth table: train every child of ``enas_edu.bench.recipe.SPACE`` alone.

Usage: ``python tools/make_ground_truth.py [--workers 2] [--seeds 0 1] [--work DIR] [--limit N]``

1,728 children x 2 seeds, each 1.7 s on one CPU core of the development machine, in ``--workers``
processes of one thread each. Every result is appended to ``DIR/results.jsonl`` as soon as it
exists, so an interrupted run continues where it stopped. At the end the table is written
(``enas_edu/bench/macro3_digits8.json.gz`` unless ``--out``) with the cost of the run, and its
SHA-256 is written into ``enas_edu/bench/table.py`` (only for the shipped file).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_TASKS: dict = {}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _work(job: tuple[int, str, int]) -> dict:
    import torch
    from enas_edu.bench.recipe import SPACE, Recipe, make_task, train_alone
    torch.set_num_threads(1)
    index, arc, seed = job
    recipe = Recipe()
    if seed not in _TASKS:
        _TASKS[seed] = make_task(recipe, seed)
    result = train_alone(SPACE.from_arc_string(arc), recipe, seed, _TASKS[seed])
    return {"index": index, "arc": arc, "seed": seed, **result, "finished": time.time()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "ground_truth_work")
    parser.add_argument("--out", type=Path, default=None, help="table path (default: the shipped file)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N architectures (a trial)")
    args = parser.parse_args()

    import torch
    from enas_edu.bench import table
    from enas_edu.bench.recipe import SPACE, Recipe, child_cost

    arcs = [SPACE.to_arc_string(a) for a in SPACE.enumerate()]
    if args.limit is not None:
        arcs = arcs[:args.limit]
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "results.jsonl"
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[(r["arc"], r["seed"])] = r
    header = args.work / "started.json"
    if not header.exists():
        header.write_text(json.dumps({"started": time.time()}) + "\n")
    jobs = [(i, arc, s) for s in args.seeds for i, arc in enumerate(arcs) if (arc, s) not in done]
    print(f"{len(arcs)} architectures x {len(args.seeds)} seeds: {len(done)} done, {len(jobs)} to train "
          f"in {args.workers} processes", flush=True)
    t0 = time.time()
    with open(log, "a") as f, mp.get_context("spawn").Pool(args.workers) as pool:
        for n, r in enumerate(pool.imap_unordered(_work, jobs, chunksize=4), 1):
            f.write(json.dumps(r) + "\n")
            f.flush()
            done[(r["arc"], r["seed"])] = r
            if n % 100 == 0 or n == len(jobs):
                rate = n / (time.time() - t0)
                print(f"  {n}/{len(jobs)} trained, {rate:.2f}/s, about {(len(jobs) - n) / rate / 60:.0f} min left",
                      flush=True)

    recipe = Recipe()
    rows = []
    for arc in arcs:
        per_seed = [done[(arc, s)] for s in args.seeds]
        rows.append({"arc": arc, **child_cost(SPACE.from_arc_string(arc), recipe),
                     "valid": [round(r["valid"], 6) for r in per_seed],
                     "test": [round(r["test"], 6) for r in per_seed],
                     "seconds": [round(r["seconds"], 3) for r in per_seed]})
    started = json.loads(header.read_text())["started"]
    finished = max(r["finished"] for r in done.values())
    meta = {"space": {"name": "macro", **SPACE.config()}, "recipe": recipe.to_dict(),
            "data": "UCI handwritten digits (shipped; native 8x8, one channel): 1,350 train / 150 valid / 297 test",
            "seeds": args.seeds,
            "cost": {"core_seconds_training": round(sum(sum(r["seconds"]) for r in rows), 1),
                     "wall_seconds": round(finished - started, 1), "processes": args.workers,
                     "threads_per_process": 1, "cpu": _cpu_name(), "cores": os.cpu_count(),
                     "torch": torch.__version__, "python": platform.python_version(),
                     "command": "python tools/make_ground_truth.py " + " ".join(sys.argv[1:])}}
    out = args.out or table.FILE
    digest = table.write_table(out, meta, rows)
    print(f"wrote {out} ({out.stat().st_size:,} bytes), sha256 {digest}")
    if args.out is None and args.limit is None:
        src = Path(table.__file__)
        text = re.sub(r'^TABLE_SHA256 = .*$', f'TABLE_SHA256 = "{digest}"   # tools/make_ground_truth.py',
                      src.read_text(), count=1, flags=re.M)
        src.write_text(text)
        print(f"updated TABLE_SHA256 in {src}")


if __name__ == "__main__":
    main()
