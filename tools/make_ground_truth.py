"""Regenerate the ground-truth table: train every child of ``enas_edu.bench.recipe.SPACE`` alone.

Usage::

    python tools/make_ground_truth.py run --seeds 0 1 2 [--workers 2] [--limit N]
    python tools/make_ground_truth.py status
    python tools/make_ground_truth.py table [--out PATH]

The work is cut into **shards**, one per seed: ``results/ground_truth_shards/seed_SS.jsonl`` holds
one line per trained child (correct images and mean cross-entropy of both splits, seconds), and
``seed_SS.json`` the shard's header (recipe, the commits and machines that trained it). A line is
written as soon as its child is trained, so ``run`` stopped anywhere (Ctrl-C, a lost machine)
continues where it stopped; a torn last line is dropped and retrained. The shards are committed as
they grow, so a later sitting on another machine continues them.

1,728 children per seed, about 0.5 s each on one core of the development machine (BENCHMARKS.md),
in ``--workers`` processes of one thread each. ``table`` writes the table from the complete shards
(``enas_edu/bench/macro3_digits8.json.gz`` unless ``--out``), with the seed-mean split-half
reliability and the cost, and writes its SHA-256 into ``enas_edu/bench/table.py`` (shipped file only).

Bitwise, a child's result depends on the CPU's floating point (an AMD EPYC and an Intel Xeon
differ in about one child of three): each shard records the machines it ran on.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARDS = ROOT / "results" / "ground_truth_shards"
FIELDS = ("valid_correct", "test_correct", "valid_loss", "test_loss", "seconds")

_TASKS: dict = {}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str:
    """The commit that trains; refuses a working tree whose library differs from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "enas_edu", "tools/make_ground_truth.py"],
                           cwd=ROOT, capture_output=True, text=True)
    if head.returncode != 0:
        raise SystemExit("make_ground_truth: run it inside the enas_edu git checkout (it records the commit)")
    if dirty.stdout.strip():
        raise SystemExit("make_ground_truth: enas_edu/ has uncommitted changes; commit them first, so the "
                         "table records the code that trained it:\n" + dirty.stdout)
    return head.stdout.strip()


def shard_paths(seed: int) -> tuple[Path, Path]:
    return SHARDS / f"seed_{seed:02d}.json", SHARDS / f"seed_{seed:02d}.jsonl"


def read_shard(seed: int) -> tuple[dict | None, dict[str, dict]]:
    """The shard's header and its results by architecture; a torn last line is left out."""
    header_path, lines_path = shard_paths(seed)
    header = json.loads(header_path.read_text()) if header_path.exists() else None
    done = {}
    if lines_path.exists():
        text = lines_path.read_text()
        lines = text.split("\n")
        for n, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines) - 1:        # the line a stopped run was writing
                    continue
                raise SystemExit(f"{lines_path}: line {n + 1} is damaged (not the last one); "
                                 "restore the file from git")
            done[r["arc"]] = r
    return header, done


def same_recipe(stored: dict, current: dict) -> bool:
    """Whether a shard's recipe is this one. A setting the library added since the shard began
    (absent from ``stored``) is accepted: a new setting's default keeps the old behaviour."""
    current = json.loads(json.dumps(current))          # tuples as lists, as the header stores them
    for key, value in stored.items():
        if key not in current:
            return False
        if isinstance(value, dict) and isinstance(current[key], dict):
            if not same_recipe(value, current[key]):
                return False
        elif value != current[key]:
            return False
    return True


def _drop_torn_line(path: Path) -> None:
    if path.exists():
        text = path.read_text()
        if text and not text.endswith("\n"):
            path.write_text(text[:text.rfind("\n") + 1])


def _work(job: tuple[int, str, int]) -> dict:
    import torch
    from enas_edu.bench.recipe import SPACE, Recipe, make_task, train_alone
    torch.set_num_threads(1)
    index, arc, seed = job
    recipe = Recipe()
    if seed not in _TASKS:
        _TASKS[seed] = make_task(recipe, seed)
    r = train_alone(SPACE.from_arc_string(arc), recipe, seed, _TASKS[seed])
    return {"index": index, "arc": arc, "valid_correct": r["valid_correct"], "test_correct": r["test_correct"],
            "valid_loss": round(r["valid_loss"], 6), "test_loss": round(r["test_loss"], 6),
            "seconds": round(r["seconds"], 3)}


def _arcs(limit: int | None = None) -> list[str]:
    from enas_edu.bench.recipe import SPACE
    arcs = [SPACE.to_arc_string(a) for a in SPACE.enumerate()]
    return arcs[:limit] if limit is not None else arcs


def run(args) -> None:
    import torch
    from enas_edu.bench.recipe import Recipe
    commit = _commit()
    arcs = _arcs(args.limit)
    recipe = Recipe().to_dict()
    machine = {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
               "python": platform.python_version(), "commit": commit, "started": time.time(),
               "processes": args.workers, "threads_per_process": 1}
    SHARDS.mkdir(parents=True, exist_ok=True)
    jobs = []
    for seed in args.seeds:
        header_path, lines_path = shard_paths(seed)
        header, done = read_shard(seed)
        if header is not None and not same_recipe(header["recipe"], recipe):
            raise SystemExit(f"{header_path} was trained with another recipe; move the shard away to start "
                             "it again with this one")
        header = header or {"seed": seed, "recipe": recipe, "sessions": []}
        header["sessions"].append(machine)
        header_path.write_text(json.dumps(header, indent=1) + "\n")
        _drop_torn_line(lines_path)
        jobs += [(i, arc, seed) for i, arc in enumerate(arcs) if arc not in done]
        print(f"seed {seed}: {len(done)} of {len(arcs)} done", flush=True)
    print(f"{len(jobs)} trainings in {args.workers} processes", flush=True)
    files = {seed: open(shard_paths(seed)[1], "a") for seed in args.seeds}
    t0 = time.time()
    try:
        # a pool that notices a worker killed from outside (multiprocessing.Pool waits forever)
        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
            for n, r in enumerate(pool.map(_work, jobs, chunksize=4), 1):
                seed = jobs[n - 1][2]
                files[seed].write(json.dumps(r) + "\n")
                files[seed].flush()
                if n % 100 == 0 or n == len(jobs):
                    rate = n / (time.time() - t0)
                    print(f"  {n}/{len(jobs)} trained, {rate:.2f}/s, about {(len(jobs) - n) / rate / 60:.0f} min left",
                          flush=True)
    except BrokenProcessPool:
        raise SystemExit("make_ground_truth: a worker process died (killed from outside?); run the same "
                         "command again: it continues from the last line written") from None
    finally:
        for f in files.values():
            f.close()


def status(args) -> None:
    arcs = _arcs()
    for header_path in sorted(SHARDS.glob("seed_*.json")):
        seed = int(header_path.stem.split("_")[1])
        header, done = read_shard(seed)
        seconds = sum(r["seconds"] for r in done.values())
        print(f"seed {seed:2d}: {len(done):5d} / {len(arcs)} children, {seconds / 3600:.2f} core-hours, "
              f"on {sorted({s['cpu'] for s in header['sessions']})}")


def table(args) -> None:
    from enas_edu.bench import table as tbl
    from enas_edu.bench.recipe import SPACE, Recipe, child_cost
    from enas_edu.bench.reliability import split_half_reliability
    arcs = _arcs()
    shards = {}
    for header_path in sorted(SHARDS.glob("seed_*.json")):
        seed = int(header_path.stem.split("_")[1])
        header, done = read_shard(seed)
        if len(done) == len(arcs):
            shards[seed] = (header, done)
        else:
            print(f"seed {seed}: {len(done)} of {len(arcs)} children, left out until complete")
    if len(shards) < 2:
        raise SystemExit("make_ground_truth: fewer than two complete shards; run `run --seeds ...` first")
    seeds = sorted(shards)
    recipe = Recipe()
    rows = []
    for arc in arcs:
        per_seed = [shards[s][1][arc] for s in seeds]
        rows.append({"arc": arc, **child_cost(SPACE.from_arc_string(arc), recipe),
                     **{k: [r[k] for r in per_seed] for k in FIELDS}})
    import torch
    test = torch.tensor([r["test_correct"] for r in rows], dtype=torch.float64)      # [A, S]
    reliability = split_half_reliability(test)
    sessions = [dict(s, seed=seed) for seed in seeds for s in shards[seed][0]["sessions"]]
    meta = {"space": {"name": "macro", **SPACE.config()}, "recipe": recipe.to_dict(),
            "data": "UCI handwritten digits (shipped; native 8x8, one channel): 1,350 train / 150 valid / 297 test",
            "images": {"valid": 150, "test": 297}, "seeds": seeds,
            "reliability": {"metric": "test_correct", **reliability},
            "cost": {"core_seconds_training": round(sum(sum(r["seconds"]) for r in rows), 1),
                     "sessions": sessions,
                     "command": "python tools/make_ground_truth.py run --seeds ...; ... table"}}
    out = args.out or tbl.FILE
    digest = tbl.write_table(out, meta, rows)
    print(f"wrote {out} ({out.stat().st_size:,} bytes), sha256 {digest}; seeds {seeds}; "
          f"split-half reliability of the seed mean {reliability['seed_mean']:.3f}")
    if args.out is None:
        src = Path(tbl.__file__)
        text = re.sub(r'^TABLE_SHA256 = .*$', f'TABLE_SHA256 = "{digest}"   # tools/make_ground_truth.py',
                      src.read_text(), count=1, flags=re.M)
        src.write_text(text)
        print(f"updated TABLE_SHA256 in {src}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train the children of the given seeds' shards (resumes)")
    p.add_argument("--seeds", type=int, nargs="+", required=True, help="one shard per seed")
    p.add_argument("--workers", type=int, default=2, help="processes of one thread each")
    p.add_argument("--limit", type=int, default=None, help="only the first N architectures (a trial)")
    sub.add_parser("status", help="how far each shard is")
    p = sub.add_parser("table", help="write the table from the complete shards")
    p.add_argument("--out", type=Path, default=None, help="table path (default: the shipped file)")
    args = parser.parse_args()
    {"run": run, "status": status, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
