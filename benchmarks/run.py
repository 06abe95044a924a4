"""The speed benchmarks of the three searches (issue #7), from one command, naive vs fast.

Usage::

    python benchmarks/run.py                         # CPU: proxies, tiny configs, controller
    python benchmarks/run.py --configs tiny,paper    # also the paper configs (slow on a CPU)
    python benchmarks/run.py --device cuda --configs tiny,paper --archs 64   # on a GPU

Prints Markdown tables for BENCHMARKS.md. What is measured, per space (micro, macro, rnn):

- **proxies** (deterministic, CPU): aten operations per shared-weight step (forward, backward,
  clipping, optimizer) for the naive and the fast path, summed over the first 8 fixed
  architectures at the tiny config; forward FLOPs per example of the children at the paper
  config (mean, min, max over the fixed architectures);
- **steps**: shared-weight steps/s and images (tokens)/s, reward-evaluation time (one child on
  one validation batch, no gradient; and ``num_aggregate`` children, as one controller update
  scores them) and peak memory, for the tiny and/or paper config, naive and fast, each
  variant training the same fixed architectures in the same order; the seconds of one search
  epoch are projected from them (below);
- **controller**: sample latency of 1 architecture, one update with ``num_aggregate``
  architectures, and a whole controller phase (``train_steps`` updates).

The fixed architectures are ``benchmarks/archs.json``: 64 per space, sampled uniformly once from
seed 0 at the official search sizes (``--make-archs`` writes it again; it is committed so every
variant and every machine trains the same children). The tiny configs keep the official spaces
(12 macro layers, 5 micro nodes, 9 RNN nodes) at small widths, so the same arc strings apply.

Naive path: one Python-loop SGD update per parameter, the RNN's node matrices picked and its
input projection computed at every time step, and children scored one by one. Fast path:
``OptimConfig(foreach=True)``, ``RNNNetConfig(hoist=True)`` and, for the RNN,
``SearchConfig(batched_rewards=True)`` (the defaults of the library).

Projection: epoch = steps per epoch x step time + train_steps x (update time + the time to score
``num_aggregate`` children), with 45,000 training images (CIFAR-10's search split) or 929,589
PTB tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from enas_edu.config import search_config
from enas_edu.controller import Controller
from enas_edu.reinforce import Reinforce
from enas_edu.search import NETS
from enas_edu.supernets import MacroNetConfig, MicroNetConfig, RNNNetConfig
from enas_edu.supernets.cost import count_flops, shared_step_ops, step_loss
from enas_edu.training import clip_gradients, make_sgd

ARCHS = Path(__file__).with_name("archs.json")
SPACES = ("micro", "macro", "rnn")
TRAIN_ITEMS = {"micro": 45_000, "macro": 45_000, "rnn": 929_589}   # CIFAR-10 search split; PTB train tokens
TINY = {"micro": MicroNetConfig(num_layers=2, out_filters=8),
        "macro": MacroNetConfig(num_layers=12, out_filters=8),
        "rnn": RNNNetConfig(vocab_size=1000, hidden_size=32)}
TINY_BATCH = 8


# ------------------------------------------------------------------------------- setup
def fixed_archs(space: str) -> list[str]:
    return json.loads(ARCHS.read_text())[space]


def make_archs(count: int = 64) -> None:
    out = {}
    for space in SPACES:
        s = search_config(space, "paper").net.space()
        g = torch.Generator().manual_seed(0)
        out[space] = [s.to_arc_string(s.sample(g)) for _ in range(count)]
    ARCHS.write_text(json.dumps(out, indent=1) + "\n")


def setup(space: str, config: str, fast: bool, device: torch.device):
    """(net, optimizer, batch, eval batch, items per batch) for one variant."""
    paper = search_config(space, "paper")
    net_cfg = paper.net if config == "paper" else TINY[space]
    if space == "rnn":
        net_cfg = dataclasses.replace(net_cfg, hoist=fast)
    torch.manual_seed(0)
    net = NETS[space](net_cfg).to(device)
    opt = make_sgd(net.parameters(), dataclasses.replace(paper.optim, foreach=fast))
    g = torch.Generator().manual_seed(0)
    B = paper.data.batch_size if config == "paper" else TINY_BATCH
    if space == "rnn":
        T, V = paper.data.bptt, net_cfg.vocab_size
        x = torch.randint(0, V, (T + 1, B), generator=g).to(device)
        batch, items = (x[:-1], x[1:]), T * B
        eval_batch = batch
    else:
        batch = (torch.randn(B, 3, 32, 32, generator=g).to(device), torch.randint(0, 10, (B,), generator=g).to(device))
        eval_batch, items = batch, B
    return net, opt, batch, eval_batch, items, paper


def peak_rss_mb() -> float:
    """Peak resident memory of this process. Linux keeps ``ru_maxrss`` across ``exec``, so a
    child started by a big parent would report the parent's peak; ``VmHWM`` is the new process's own."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------- measurements
def proxies(space: str) -> dict:
    """Deterministic: aten ops per step (tiny config, first 8 archs) and forward FLOPs (paper config)."""
    row = {}
    for fast in (False, True):
        net, _, batch, _, _, paper = setup(space, "tiny", fast, torch.device("cpu"))
        o = dataclasses.replace(paper.optim, foreach=fast)
        totals = {}
        for arc in fixed_archs(space)[:8]:
            counts = shared_step_ops(net, net.space.from_arc_string(arc), *batch, o, paper.optim.grad_clip)
            for phase, c in counts.items():
                totals[phase] = totals.get(phase, 0) + sum(c.values())
        row["naive" if not fast else "fast"] = totals
    net = NETS[space](search_config(space, "paper").net).eval()
    example = torch.randint(0, 10000, (35, 1)) if space == "rnn" else torch.randn(1, 3, 32, 32)
    flops = [count_flops(net, example, net.space.from_arc_string(a)) / (35 if space == "rnn" else 1)
             for a in fixed_archs(space)]
    row["flops"] = (statistics.mean(flops), min(flops), max(flops))
    return row


def steps(space: str, config: str, fast: bool, device: torch.device, n_archs: int) -> dict:
    """Time shared steps and reward evaluations over the fixed architectures (first 2 warm up)."""
    net, opt, batch, eval_batch, items, paper = setup(space, config, fast, device)
    archs = [net.space.from_arc_string(a) for a in fixed_archs(space)[:n_archs]]
    net.train()
    step_times, reward_times = [], []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for i, arch in enumerate(archs):
        sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = step_loss(net, arch, *batch)
        loss.backward()
        clip_gradients(net.parameters(), paper.optim.grad_clip)
        opt.step()
        sync(device)
        t1 = time.perf_counter()
        with torch.no_grad():
            step_loss(net, arch, *eval_batch)
        sync(device)
        if i >= 2 or len(archs) <= 2:
            step_times.append(t1 - t0)
            reward_times.append(time.perf_counter() - t1)
    reward_k = rewards_time(space, net, archs, eval_batch, fast, device, paper)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
    step = statistics.median(step_times)
    return {"step_s": step, "steps_per_s": 1 / step, "items_per_s": items / step,
            "reward_s": statistics.median(reward_times), "reward_k_s": reward_k, "peak_mb": peak,
            "batch_items": items, "archs_timed": len(step_times)}


def rewards_time(space, net, archs, batch, fast, device, paper) -> float:
    """Seconds to score ``num_aggregate`` children, each on a validation batch, in the search's
    scoring mode: one by one (naive), or, for the RNN's fast path, all cells in one pass
    (``RNNNet.forward_archs``, as ``TextTask.score_archs``)."""
    k = paper.reinforce.num_aggregate
    cells = (archs * k)[:k]
    x, y = batch
    net.train(paper.reward_bn_train_mode)

    def score():
        with torch.no_grad():
            if fast and space == "rnn":
                states = net.forward_archs(x.unsqueeze(1).expand(-1, k, -1), cells)      # [T, k, B, H]
                for a in range(k):
                    torch.nn.functional.cross_entropy((states[:, a] @ net.encoder.weight.t()).flatten(0, 1),
                                                      y.flatten())
            else:
                for arch in cells:
                    step_loss(net, arch, x, y)

    score()                      # warm-up
    sync(device)
    t0 = time.perf_counter()
    score()
    sync(device)
    net.train()
    return time.perf_counter() - t0


def controller(space: str, device: torch.device) -> dict:
    r = search_config(space, "paper").reinforce
    torch.manual_seed(0)
    s = search_config(space, "paper").net.space()
    c = Controller(s, search_config(space, "paper").controller).to(device)
    trainer = Reinforce(c, r)
    g = torch.Generator(device=device).manual_seed(0)

    def timed(fn, repeats):
        fn()
        out = []
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            fn()
            sync(device)
            out.append(time.perf_counter() - t0)
        return statistics.median(out)

    def sample_one():
        with torch.no_grad():
            c.sample(generator=g)

    def update(k):   # as Search._controller_phase: one sampling pass with gradients, then the step
        trainer.update(c.sample_batch(k, generator=g), torch.rand(k, device=device))

    t0 = time.perf_counter()
    for _ in range(r.train_steps):
        update(r.num_aggregate)
    sync(device)
    phase = time.perf_counter() - t0
    return {"sample_1_ms": timed(sample_one, 20) * 1e3, "update_1_ms": timed(lambda: update(1), 10) * 1e3,
            "update_k_ms": timed(lambda: update(r.num_aggregate), 10) * 1e3, "k": r.num_aggregate,
            "phase_s": phase, "phase_archs": r.train_steps * r.num_aggregate}


def launch_cost(device: torch.device, n: int = 2000) -> dict:
    """Seconds per tiny operation (an add of one-element tensors), queued and synchronised:
    the price of each of the aten operations counted by the proxies, on this device."""
    x = torch.zeros(1, device=device)
    for _ in range(100):
        x = x + 1
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        x = x + 1
    sync(device)
    return {"us_per_op": (time.perf_counter() - t0) / n * 1e6}


def project_epoch(space: str, step: dict, ctrl: dict) -> float:
    r = search_config(space, "paper").reinforce
    # enas_lm draws window lengths around bptt: 34.1 tokens on average for bptt 35
    items_per_step = step["batch_items"] * (34.1 / 35 if space == "rnn" else 1)
    steps_per_epoch = TRAIN_ITEMS[space] / items_per_step
    return steps_per_epoch * step["step_s"] + r.train_steps * (ctrl["update_k_ms"] / 1e3 + step["reward_k_s"])


# ------------------------------------------------------------------------------- report
def in_subprocess(args: list[str]) -> dict:
    """Each step measurement runs alone, so its peak memory is its own."""
    out = subprocess.run([sys.executable, __file__, "--one", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--configs", default="tiny", help="comma-separated: tiny, paper")
    parser.add_argument("--spaces", default=",".join(SPACES))
    parser.add_argument("--archs", type=int, default=None,
                        help="fixed architectures per variant (default: 64 on a GPU; 16 tiny, 4 paper on a CPU)")
    parser.add_argument("--skip-proxies", action="store_true")
    parser.add_argument("--make-archs", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)   # space config fast n_archs
    args = parser.parse_args()
    if args.make_archs:
        make_archs()
        return
    device = torch.device(args.device)
    if args.one:
        space, config, fast, n = args.one
        print(json.dumps(steps(space, config, fast == "fast", device, int(n))))
        return
    spaces, configs = args.spaces.split(","), args.configs.split(",")
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU {platform.machine()}, {torch.get_num_threads()} threads")
    print(f"{hardware}; torch {torch.__version__}, Python {platform.python_version()}; "
          f"command: {' '.join(sys.argv)}\n")

    if not args.skip_proxies:
        print("### Proxies (deterministic): aten ops per shared step, sum over 8 fixed archs, tiny config\n")
        print("| space | path | forward | backward | clip | optimizer | total | fast / naive |")
        print("|---|---|---|---|---|---|---|---|")
        flops = {}
        for space in spaces:
            row = proxies(space)
            flops[space] = row["flops"]
            naive_total = sum(row["naive"].values())
            for path in ("naive", "fast"):
                t = row[path]
                total = sum(t.values())
                print(f"| {space} | {path} | {t['forward']} | {t['backward']} | {t['clip']} | {t['optimizer']} | "
                      f"{total} | {total / naive_total:.2f} |")
        print("\nForward FLOPs of the children at the paper search config (per image; per token for rnn), "
              "over the 64 fixed archs:\n")
        print("| space | mean | min | max |\n|---|---|---|---|")
        for space, (mean, lo, hi) in flops.items():
            print(f"| {space} | {mean / 1e6:.1f} M | {lo / 1e6:.1f} M | {hi / 1e6:.1f} M |")
        print()

    print(f"Launch cost: {launch_cost(device)['us_per_op']:.1f} us per tiny operation on {device.type}\n")
    ctrl = {space: controller(space, device) for space in spaces}
    print("### Controller (official configs)\n")
    print("| space | sample 1 arch (ms) | update, 1 arch (ms) | update, k archs (ms) | k | "
          "controller phase: updates x k archs (s) |")
    print("|---|---|---|---|---|---|")
    for space, c in ctrl.items():
        print(f"| {space} | {c['sample_1_ms']:.1f} | {c['update_1_ms']:.1f} | {c['update_k_ms']:.1f} | {c['k']} | "
              f"{c['phase_s']:.2f} ({c['phase_archs']} archs) |")
    print()

    print("### Shared-weight steps, naive vs fast (same fixed archs, same order)\n")
    print("| space | config | path | archs timed | step (s) | steps/s | items/s | reward eval (s) | "
          "k rewards (s) | peak memory (MB) | projected epoch (s) | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for config in configs:
        for space in spaces:
            n = args.archs or (64 if device.type == "cuda" else (16 if config == "tiny" else 4))
            rows = {}
            for path in ("naive", "fast"):
                rows[path] = (steps(space, config, path == "fast", device, n) if device.type == "cuda"
                              else in_subprocess([space, config, path, str(n)]))
            for path, r in rows.items():
                speedup = rows["naive"]["step_s"] / r["step_s"]
                print(f"| {space} | {config} | {path} | {r['archs_timed']} | {r['step_s']:.4f} | "
                      f"{r['steps_per_s']:.2f} | {r['items_per_s']:.0f} | {r['reward_s']:.4f} | {r['reward_k_s']:.4f} | "
                      f"{r['peak_mb']:.0f} | "
                      f"{project_epoch(space, r, ctrl[space]):.1f} | {speedup:.2f}x |")


if __name__ == "__main__":
    main()
