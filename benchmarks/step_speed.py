"""The shared-weight step of an old commit against the working tree, side by side (issue #30).

Usage::

    python benchmarks/step_speed.py                       # old = 569ffcd, 1 and 2 threads
    python benchmarks/step_speed.py --old 569ffcd --reps 3 --steps 4 --threads 1 2
    python benchmarks/step_speed.py --old b69a598 --book 3 --reps 2   # the book profile's searches

One shared-weight step as the search takes it (``Search._shared_phase``): a child sampled from
the controller, the forward and backward pass of the supernet on one batch, gradient clipping
and the SGD update; fp32, on this CPU, with batches of random data of the real shapes:

- ``rnn``: the paper's RNN supernet (12 nodes, hidden 200), a 10,000-word vocabulary, batch 64 x
  35 tokens (enas_lm's search batch is 64);
- ``micro``: ``cifar10_micro_search.sh`` (6 + 2 cells, 20 filters, aux head), batch 160;
- ``macro``: ``cifar10_macro_search.sh`` (12 layers, 36 filters), batch 128;
- ``nbmacro``: the NAS-Bench-Macro supernet at the benchmark's widths, batch 128.

``ONEDNN_MAX_CPU_ISA=AVX2`` before the command times both versions on the kernels of a CPU
without AVX-512 (the variable reaches every process).

Each (version, config, threads) runs in a process of its own with the version's own library
(a ``git worktree`` of the old commit; the working tree for the new), interleaved: repetition r
runs old then new, repetition r + 1 new then old, so a load change on the machine touches both.
A process builds the network as that version's ``Search`` would (its memory layout on a CPU: the
version's rule, read from its ``search.py``), times ``--steps`` steps after one warm-up step, and
reports the median step and its peak resident memory. Prints a Markdown table for
BENCHMARKS.md: per config and thread count the medians over repetitions, their spread (min-max)
and the old / new ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ("rnn", "micro", "macro", "nbmacro")


def worker(space: str, threads: int, steps: int, channels_last: bool) -> dict:
    """Time ``steps`` shared-weight steps of ``space`` with the library on ``sys.path``."""
    import dataclasses
    import resource
    import time

    import torch
    import torch.nn.functional as F

    from enas_edu.config import search_config
    from enas_edu.controller import Controller
    from enas_edu.search import NETS
    from enas_edu.training import clip_gradients, make_sgd, zero_gradients

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = search_config(space, "paper")
    if space == "rnn":
        cfg = dataclasses.replace(cfg, net=dataclasses.replace(cfg.net, vocab_size=10000))
    net = NETS[space](cfg.net)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    controller = Controller(net.space, cfg.controller)
    o = cfg.optim
    opt = make_sgd(net.parameters(), o)
    g = torch.Generator().manual_seed(0)
    net.train()

    def batch():
        if space == "rnn":
            x = torch.randint(0, 10000, (36, 64), generator=g)            # [T + 1, B] tokens
            return x[:-1], x[1:]
        n = cfg.data.batch_size
        x = torch.randn(n, 3, 32, 32, generator=g)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.randint(0, 10, (n,), generator=g)

    def step():
        with torch.no_grad():
            arch = controller.sample(generator=g).arch
        x, y = batch()
        if space == "rnn":
            out = net(x, None, arch)
            loss = F.cross_entropy(out.logits.flatten(0, 1), y.flatten()) + net.regularizer(out, arch)
        else:
            out = net(x, arch)
            if isinstance(out, tuple):                                      # logits, aux logits
                loss = F.cross_entropy(out[0], y) + o.aux_weight * F.cross_entropy(out[1], y)
            else:
                loss = F.cross_entropy(out, y)
        zero_gradients(opt, o.dense_updates)
        loss.backward()
        clip_gradients(net.parameters(), o.grad_clip, o.clip_noop)
        opt.step()

    step()                                                                  # warm-up
    seconds = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
    return {"step_s": statistics.median(seconds),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def book_worker(space: str, epochs: int) -> dict:
    """``epochs`` epochs of the version's own book-profile search of ``space`` (its data, network
    and controller settings as that version defines them): seconds per epoch and controller
    updates per CPU minute."""
    import tempfile
    import time

    import torch

    from enas_edu.config import search_config
    from enas_edu.search import run_search

    torch.set_num_threads(2)
    cfg = search_config(space, "book", epochs=epochs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        search = run_search(cfg, Path(tmp) / "run", progress=False)
        seconds = time.perf_counter() - t0
        updates = sum(1 for r in search.run_dir.read() if r["phase"] == "controller")
    return {"epoch_s": seconds / epochs, "updates_per_minute": 60 * updates / seconds, "data": cfg.data.dataset}


def layout_rule(tree: Path) -> bool:
    """Whether that version's search puts a CNN in channels_last on a CPU (before issue #30's
    change it did so on CUDA only)."""
    return "cuda and config.channels_last" not in (tree / "enas_edu" / "search.py").read_text()


def in_version(tree: Path, call: str) -> dict:
    """``step_speed.<call>`` in a process of its own that imports the library of ``tree``."""
    code = (f"import json, sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
            f"import step_speed; print(json.dumps(step_speed.{call}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tree)
    if out.returncode != 0:
        raise SystemExit(f"step_speed: {call} at {tree} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_one(tree: Path, space: str, threads: int, steps: int) -> dict:
    channels_last = space != "rnn" and layout_rule(tree)
    return in_version(tree, f"worker({space!r}, {threads}, {steps}, {channels_last})")


def run_book(tree: Path, space: str, epochs: int) -> dict:
    return in_version(tree, f"book_worker({space!r}, {epochs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", default="569ffcd", help="the commit to compare with (default 569ffcd)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per process (after a warm-up)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--book", type=int, default=0, metavar="EPOCHS",
                        help="instead: EPOCHS epochs of each version's own book-profile macro and micro "
                             "searches (2 threads): seconds per epoch, controller updates per CPU minute")
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "enas_edu"], cwd=ROOT, capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = Path(tmp) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old_tree), args.old], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            trees = {"old": old_tree, "new": ROOT}
            if args.book:
                return book_table(trees, args)
            results = {}
            for space in args.configs:
                for threads in args.threads:
                    for rep in range(args.reps):
                        for version in (("old", "new") if rep % 2 == 0 else ("new", "old")):
                            r = run_one(trees[version], space, threads, args.steps)
                            results.setdefault((space, threads, version), []).append(r)
                            print(f"  {space} {threads} thread(s) rep {rep} {version}: {r['step_s']:.3f} s/step, "
                                  f"{r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, capture_output=True)
    cpu = platform.processor() or platform.machine()
    print(f"hardware: {cpu}; old {args.old}, new {head}{' (uncommitted changes)' if dirty else ''}; "
          f"{args.reps} interleaved repetitions of {args.steps} steps; command: "
          f"python benchmarks/step_speed.py {' '.join(sys.argv[1:])}\n")
    print("| config | threads | old s/step (median, min-max) | new s/step (median, min-max) | old / new | "
          "peak RSS old / new (MB) |")
    print("|---|---|---|---|---|---|")
    for space in args.configs:
        for threads in args.threads:
            old = [r["step_s"] for r in results[space, threads, "old"]]
            new = [r["step_s"] for r in results[space, threads, "new"]]
            rss = [max(r["peak_rss_mb"] for r in results[space, threads, v]) for v in ("old", "new")]
            print(f"| {space} | {threads} | {statistics.median(old):.3f} ({min(old):.3f}-{max(old):.3f}) | "
                  f"{statistics.median(new):.3f} ({min(new):.3f}-{max(new):.3f}) | "
                  f"{statistics.median(old) / statistics.median(new):.2f} | {rss[0]:.0f} / {rss[1]:.0f} |")


def book_table(trees: dict, args) -> None:
    rows = {}
    for space in ("macro", "micro"):
        for rep in range(args.reps):
            for version in (("old", "new") if rep % 2 == 0 else ("new", "old")):
                rows.setdefault((space, version), []).append(run_book(trees[version], space, args.book))
    print(f"each version's own book-profile search, {args.book} epochs, 2 threads, {args.reps} interleaved "
          f"repetitions (medians); old {args.old}; command: python benchmarks/step_speed.py "
          f"{' '.join(sys.argv[1:])}\n")
    print("| search | old data | old s/epoch | old updates / CPU min | new data | new s/epoch | "
          "new updates / CPU min | new / old updates per minute |")
    print("|---|---|---|---|---|---|---|---|")
    for space in ("macro", "micro"):
        old, new = rows[space, "old"], rows[space, "new"]
        med = lambda rs, k: statistics.median(r[k] for r in rs)                      # noqa: E731
        print(f"| {space} | {old[0]['data']} | {med(old, 'epoch_s'):.1f} | {med(old, 'updates_per_minute'):.0f} | "
              f"{new[0]['data']} | {med(new, 'epoch_s'):.1f} | {med(new, 'updates_per_minute'):.0f} | "
              f"{med(new, 'updates_per_minute') / med(old, 'updates_per_minute'):.1f} |")


if __name__ == "__main__":
    main()
