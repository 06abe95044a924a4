"""Weight sharing on real CIFAR-10 images, judged by NAS-Bench-Macro's truth (issue #37), on a CPU.

The NAS-Bench-Macro supernet at the benchmark's own widths (so every child is a network of the
table) is searched on the CIFAR-10 JPEG copy (``../shared/data/cifar10-jpeg``, unpacked:
"CIFAR-10 (JPEG q75 copy)", never plain CIFAR-10), then children drawn uniformly from the 3,969
distinct networks are scored with its shared weights on held-out images and set against the
table's accuracy (trained alone on the original CIFAR-10, mean of 3 seeds).

Every step writes its results as it goes and resumes where it stopped, so the hours can be
spread over sittings (commit each finished shard)::

    python benchmarks/nbmacro_real.py search --data /tmp/cifar10-jpeg --seed 0
    python benchmarks/nbmacro_real.py rank --data /tmp/cifar10-jpeg --seed 0 --shard 0 --shards 4
    enas-edu record runs/nbmacro_cifar10_jpeg/search-enas-seed0 --results results/nbmacro_cifar10_jpeg
    python benchmarks/nbmacro_real.py summary

**The search** (``search``): ``search_config("nbmacro", "colab")`` (the macro script's settings:
shared SGD 0.05 with SGDR, batch 128, crops and flips, 45,000 / 5,000 images), shortened to
``--epochs`` epochs of at most ``--steps`` shared steps (SGDR's cycle set to the run's length,
so it anneals), with the controller settings that learned in the book's updates
(BENCHMARKS.md, "Book-profile candidates for the controller"): Adam lr 0.05 instead of 0.001
(at 0.001 the policy does not move within a few hundred updates), the baseline from the first
rewards (an EMA from 0 lags the rewards for the whole of a short run), TF1's Adam (official),
10 updates of 10 children per epoch (the script's 50 x 20 would cost 5 minutes of forward passes
per epoch on a CPU), rewards with batch statistics (the running averages, collected across
children, fit none of them). The shared weights after epochs ``SNAPSHOTS`` are kept (weights
only) for the correlation curve.

**The scores** (``rank``): ``--children`` networks (default 1,000) drawn uniformly without
replacement from the distinct set with a fixed generator (seed 0: the same networks for every
run and shard), split into ``--shards`` shards. Each is scored on the first ``HELD_OUT`` test
images (canonical order; the shared weights never trained on the test split, the controller
never saw it) in two ways: batch norm on the batch's own statistics (as ENAS scores its
children), and batch norm re-estimated for that child on ``RECALIBRATE`` training images, then
in evaluation mode (as one-shot methods do). One line per network in ``ranking_shard_K.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "nbmacro_cifar10_jpeg"
RUNS = ROOT / "runs" / "nbmacro_cifar10_jpeg"
HELD_OUT = 500            # test images each child is scored on
RECALIBRATE = 500         # training images that re-estimate a child's batch norm
SNAPSHOTS = (1, 2, 5)     # epochs whose shared weights are kept for the correlation curve
DATA_LABEL = "CIFAR-10 (JPEG q75 copy)"


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "enas_edu", "benchmarks"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def hardware() -> dict:
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "threads": torch.get_num_threads(), "avx512": "avx512f" in flags, "avx2": "avx2" in flags,
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"), "torch": torch.__version__}


def run_folder(method: str, seed: int) -> Path:
    return RUNS / f"search-{method}-seed{seed}"


def search_config_for(data: str, seed: int, epochs: int, steps: int, method: str = "enas"):
    from enas_edu.config import DataConfig, search_config
    c = search_config("nbmacro", "colab", seed=seed)
    r = dataclasses.replace
    return r(c, epochs=epochs, max_train_steps=steps, checkpoint_every=1,
             optim=r(c.optim, T0=epochs, Tmul=1),
             data=DataConfig("images", data_dir=data, batch_size=128, eval_batch_size=100, drop_last=True),
             reinforce=r(c.reinforce, lr=0.05, baseline_start="first", adam_eps_form="tf", train_steps=10,
                         num_aggregate=10),
             reward_bn_train_mode=True,
             train_controller=method == "enas", uniform_sampling=method == "rsws")


def cmd_search(args) -> None:
    from enas_edu.search import Search
    run = run_folder(args.method, args.seed)
    cfg = search_config_for(args.data, args.seed, args.epochs, args.steps, args.method)
    resume = (run / "config.json").exists()
    search = Search(None if resume else cfg, run, resume=resume, progress=False)
    if search.task.name != DATA_LABEL:
        raise SystemExit(f"nbmacro_real: {args.data} reads as {search.task.name!r}, not {DATA_LABEL!r}")
    snaps = run / "snapshots"
    snaps.mkdir(exist_ok=True)
    for stop in sorted(set(SNAPSHOTS) | {cfg.epochs}):
        if stop > search.config.epochs:
            break
        t0 = time.perf_counter()
        search.run(stop_at=stop)
        path = snaps / f"epoch{stop:03d}.pt"
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            torch.save(search.net.state_dict(), tmp)
            os.replace(tmp, path)
        print(f"search {args.method} seed {args.seed}: epoch {stop} ({time.perf_counter() - t0:.0f} s)", flush=True)


def sample_keys(n: int) -> list[str]:
    from enas_edu.bench.nas_bench_macro import load
    truth = load()
    order = torch.randperm(len(truth.arcs), generator=torch.Generator().manual_seed(0))[:n]
    return [truth.arcs[i] for i in order.tolist()]


@torch.no_grad()
def score(net, arch, x, y, calib) -> dict:
    """Accuracy on (x, y) with batch statistics, and after re-estimating batch norm on ``calib``."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    saved = [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum) for m in bns]
    net.train()                                         # (training mode also moves the running averages)
    correct = sum(int((net(xb, arch).argmax(1) == yb).sum()) for xb, yb in zip(x, y))
    for m in bns:
        m.reset_running_stats()
        m.momentum = None                               # a cumulative average over the batches
    for xb in calib:
        net(xb, arch)
    net.eval()
    recal = sum(int((net(xb, arch).argmax(1) == yb).sum()) for xb, yb in zip(x, y))
    for m, (mean, var, count, momentum) in zip(bns, saved):
        m.running_mean.copy_(mean), m.running_var.copy_(var), m.num_batches_tracked.copy_(count)
        m.momentum = momentum
    images = sum(len(yb) for yb in y)
    return {"batch_stats": correct / images, "recalibrated": recal / images}


def cmd_rank(args) -> None:
    from enas_edu.data.augment import ImageBatches
    from enas_edu.search import NETS
    from enas_edu.tasks import ImageTask
    run = run_folder(args.method, args.seed)
    cfg = search_config_for(args.data, args.seed, 1, 1, args.method)
    task = ImageTask(cfg.data, "search", args.seed, torch.device("cpu"), channels_last=True)
    if task.name != DATA_LABEL:
        raise SystemExit(f"nbmacro_real: {args.data} reads as {task.name!r}, not {DATA_LABEL!r}")
    d = task.data
    held = ImageBatches(d.test_x[:HELD_OUT], d.test_y[:HELD_OUT], 250, d.mean, d.std, shuffle=False,
                        channels_last=True)
    x, y = zip(*held.epoch(0))
    g = torch.Generator().manual_seed(1)
    pick = torch.randperm(len(d.train_x), generator=g)[:RECALIBRATE]
    calib = [b for b, _ in ImageBatches(d.train_x[pick], d.train_y[pick], 250, d.mean, d.std, shuffle=False,
                                        channels_last=True).epoch(0)]
    net = NETS["nbmacro"](cfg.net).to(memory_format=torch.channels_last)
    space = net.space
    keys = sample_keys(args.children)[args.shard::args.shards]
    OUT.mkdir(parents=True, exist_ok=True)
    epochs = sorted(int(p.stem[5:]) for p in (run / "snapshots").glob("epoch*.pt"))
    for epoch in epochs if args.all_snapshots else epochs[-1:]:
        net.load_state_dict(torch.load(run / "snapshots" / f"epoch{epoch:03d}.pt", weights_only=True))
        out = OUT / f"ranking_{args.method}_seed{args.seed}_epoch{epoch:03d}_shard{args.shard}of{args.shards}.jsonl"
        done = {json.loads(line)["key"] for line in out.read_text().splitlines()} if out.exists() else set()
        t0, n = time.perf_counter(), 0
        with open(out, "a") as f:
            for arc in keys[: args.limit]:
                arch = space.from_arc_string(arc)
                if arch.key in done:
                    continue
                row = {"key": arch.key, "arc": arc, **score(net, arch, x, y, calib)}
                f.write(json.dumps(row) + "\n")
                f.flush()
                n += 1
        print(f"rank epoch {epoch}: {n} networks in {time.perf_counter() - t0:.0f} s -> {out.name}", flush=True)
    meta = OUT / "ranking_meta.json"
    if not meta.exists():
        meta.write_text(json.dumps({
            "data": DATA_LABEL, "held_out": f"the first {HELD_OUT} test images in canonical order",
            "recalibration": f"{RECALIBRATE} training images (generator seed 1), cumulative average, then eval mode",
            "sample": f"{args.children} distinct networks, torch.randperm(3969, generator seed 0)",
            "commit": _commit(), "hardware": hardware(),
            "command": "python benchmarks/nbmacro_real.py " + " ".join(sys.argv[1:])}, indent=2) + "\n")


def _rankings(method: str, seed: int) -> dict[int, list[dict]]:
    """Every scored network per snapshot epoch, the shards of one search joined (one row per key)."""
    found: dict[int, dict[str, dict]] = {}
    for path in sorted(OUT.glob(f"ranking_{method}_seed{seed}_epoch*_shard*.jsonl")):
        epoch = int(path.name.split("_epoch")[1][:3])
        for line in path.read_text().splitlines():
            row = json.loads(line)
            found.setdefault(epoch, {})[row["key"]] = row
    return {e: list(rows.values()) for e, rows in sorted(found.items())}


def correlation(rows: list[dict], truth, field: str, resamples: int = 1000) -> dict:
    """Kendall's tau and Spearman's rho of the shared-weight scores against the table's seed
    mean, each with a 95% bootstrap interval over the networks; the overlap of the top 10 and
    top 100; and the true percentile of the shared weights' top 10."""
    from enas_edu.ranking import rank_correlation
    shared = torch.tensor([r[field] for r in rows], dtype=torch.float64)
    true = truth.scores("test")[[truth.index(r["arc"]) for r in rows]].double()
    point = rank_correlation(shared, true, top_k=min(10, len(rows)))
    g = torch.Generator().manual_seed(0)
    boot = {"kendall": [], "spearman": []}
    for _ in range(resamples):
        i = torch.randint(0, len(rows), (len(rows),), generator=g)
        c = rank_correlation(shared[i], true[i], top_k=1)
        boot["kendall"].append(c["kendall_tau"])
        boot["spearman"].append(c["spearman_rho"])
    ci = {k: [round(float(torch.tensor(v).quantile(q)), 4) for q in (0.025, 0.975)] for k, v in boot.items()}
    order_shared = sorted(range(len(rows)), key=lambda i: -float(shared[i]))
    order_true = sorted(range(len(rows)), key=lambda i: -float(true[i]))
    overlap = {f"top{k}_overlap": len(set(order_shared[:k]) & set(order_true[:k])) / k
               for k in (10, 100) if k <= len(rows)}
    top10 = [round(truth.percentile(rows[i]["arc"]), 4) for i in order_shared[:10]]
    return {"kendall": round(point["kendall_tau"], 4), "kendall_95ci": ci["kendall"],
            "spearman": round(point["spearman_rho"], 4), "spearman_95ci": ci["spearman"], "n": len(rows),
            **overlap, "shared_top10_true_percentiles": top10}


def cmd_summary(args) -> None:
    from enas_edu.bench.nas_bench_macro import load
    from enas_edu.bench.reliability import split_half_reliability
    truth = load()
    reliability = split_half_reliability(truth.per_seed["test"])
    meta = json.loads((OUT / "ranking_meta.json").read_text())
    out = {"data": DATA_LABEL, "truth": "NAS-Bench-Macro test accuracy, mean of 3 seeds (best epoch of 50; "
                                        "trained alone on the original CIFAR-10)",
           "table_reliability": reliability, "scoring": meta, "searches": {}}
    for path in sorted(OUT.glob("search-*-seed*")):      # the searches, recorded (enas-edu record)
        method, seed = path.name[len("search-"):].rsplit("-seed", 1)
        per_epoch = _rankings(method, int(seed))
        if not per_epoch:
            continue
        config = json.loads((path / "config.json").read_text())
        epochs = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        epochs = [r for r in epochs if r["phase"] == "epoch"]
        out["searches"][path.name] = {
            "method": method, "seed": int(seed), "epochs": config["epochs"],
            "steps_per_epoch": config["max_train_steps"], "batch_size": config["data"]["batch_size"],
            "training_images": config["epochs"] * config["max_train_steps"] * config["data"]["batch_size"],
            "per_epoch": [{k: r[k] for k in ("epoch", "train_loss", "reward", "policy_entropy", "shared_seconds")}
                          for r in epochs],
            "policy_entropy_max": round(8 * math.log(3), 4),
            "by_epoch": {e: {field: correlation(rows, truth, field) for field in ("batch_stats", "recalibrated")}
                         for e, rows in per_epoch.items()}}
        # the curve: every kept epoch on the same networks (those scored at all of them)
        common = set.intersection(*({r["key"] for r in rows} for rows in per_epoch.values()))
        if len(per_epoch) > 1 and len(common) >= 10:
            out["searches"][path.name]["curve"] = {
                "networks": len(common),
                "by_epoch": {e: {field: correlation([r for r in rows if r["key"] in common], truth, field)
                                 for field in ("batch_stats", "recalibrated")} for e, rows in per_epoch.items()}}
    (OUT / "summary.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["searches"], indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("summary")
    for name in ("search", "rank"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True, help="the unpacked cifar10-jpeg folder")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--method", choices=("enas", "rsws", "no-controller"), default="enas")
        p.add_argument("--threads", type=int, default=None)
        if name == "search":
            p.add_argument("--epochs", type=int, default=5)
            p.add_argument("--steps", type=int, default=150, help="shared steps per epoch")
        else:
            p.add_argument("--children", type=int, default=1000)
            p.add_argument("--shard", type=int, default=0)
            p.add_argument("--shards", type=int, default=1)
            p.add_argument("--limit", type=int, default=None, help="at most this many of the shard's networks")
            p.add_argument("--all-snapshots", action="store_true", help="every kept epoch, not only the last")
    args = parser.parse_args()
    if args.command == "summary":
        return cmd_summary(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    {"search": cmd_search, "rank": cmd_rank}[args.command](args)


if __name__ == "__main__":
    main()
