"""The speed benchmarks of the three searches (issue #7), from one command, naive vs fast.

Usage::

    python benchmarks/run.py                         # CPU: proxies, tiny configs, controller
    python benchmarks/run.py --configs tiny,paper    # also the paper configs (slow on a CPU)
    python benchmarks/run.py --final                 # also final training, eager vs torch.compile
    python benchmarks/run.py --measured-epochs       # only: whole search epochs at smoke and book
    python benchmarks/run.py --device cuda --configs tiny,paper --archs 64 --final   # on a GPU

Prints Markdown tables for BENCHMARKS.md. What is measured, per space (micro, macro, rnn):

- **proxies** (deterministic, CPU): aten operations per shared-weight step (forward, backward,
  clipping, optimizer) for the naive and the fast path, summed over the first 8 fixed
  architectures at the tiny config; forward FLOPs per example of the children at the paper
  config (mean, min, max over the fixed architectures);
- **steps**: shared-weight steps/s and images (tokens)/s, reward-evaluation time (one child on
  one validation batch, no gradient; and ``num_aggregate`` children, as one controller update
  scores them) and memory, for the tiny and/or paper config, naive and fast, every path
  training the same fixed architectures, interleaved in one process so that load changes on a
  shared machine touch all paths alike; memory is the CUDA allocator's peak above what a step
  starts with, or on a CPU the peak resident memory of a process that runs two steps of the
  path; the seconds of one search epoch are projected from them (below);
- **controller**: sample latency of 1 architecture, one update with ``num_aggregate``
  architectures, and a whole controller phase (``train_steps`` updates);
- **measured epochs** (``--measured-epochs``, alone): one whole epoch of ``run_search`` at the
  smoke and book profiles, on the data shipped with the package (shared phase, controller phase
  and the epoch's sampled architectures);
- **final** (``--final``): one fixed child's final-training step, eager and under
  ``torch.compile`` (``default``; on a GPU also ``reduce-overhead``, which adds CUDA graphs),
  with the first step, which compiles, reported apart.

The fixed architectures are ``benchmarks/archs.json``: 64 per space, sampled uniformly once from
seed 0 at the official search sizes (``--make-archs`` writes it again; it is committed so every
variant and every machine trains the same children). The tiny configs keep the official spaces
(12 macro layers, 5 micro nodes, 9 RNN nodes) at small widths, so the same arc strings apply.

Naive path: one Python-loop SGD update per parameter, the RNN's node matrices picked and its
input projection computed at every time step, children scored one by one, and the CNNs in the
default (contiguous) memory layout. Fast path:
``OptimConfig(foreach=True)``, ``RNNNetConfig(hoist=True)``, channels_last for the CNNs and,
for the RNN, ``SearchConfig(batched_rewards=True)`` (the defaults of the library). On a GPU a
third path, ``amp``, adds what a search does there by default: bf16 autocast (fp16 with a
gradient scaler where bf16 is missing, as on a T4).

Projection: epoch = steps per epoch x step time + train_steps x (update time + the time to score
``num_aggregate`` children), with 45,000 training images (CIFAR-10's search split) or 929,589
PTB tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from enas_edu.config import final_config, search_config
from enas_edu.controller import Controller
from enas_edu.reinforce import Reinforce
from enas_edu.search import NETS, run_search
from enas_edu.tasks import TextTask
from enas_edu.supernets import MacroNetConfig, MicroNetConfig, RNNNetConfig
from enas_edu.supernets.cost import count_flops, shared_step_ops, step_loss
from enas_edu.training import Precision, clip_gradients, make_sgd

ARCHS = Path(__file__).with_name("archs.json")
SPACES = ("micro", "macro", "rnn")
TRAIN_ITEMS = {"micro": 45_000, "macro": 45_000, "rnn": 929_589}   # CIFAR-10 search split; PTB train tokens
TINY = {"micro": MicroNetConfig(num_layers=2, out_filters=8),
        "macro": MacroNetConfig(num_layers=12, out_filters=8),
        "rnn": RNNNetConfig(vocab_size=1000, hidden_size=32)}
TINY_BATCH = 8
PATHS = ("naive", "fast", "amp")   # amp: fast + bf16 autocast (fp16 + scaler without bf16); CUDA only


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


def setup(space: str, config: str, path: str, device: torch.device):
    """(net, optimizer, batch, eval batch, items per batch) for one variant (PATHS)."""
    fast = path != "naive"
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
        if fast:                        # the search's layout for the CNNs, on every device (issue #30)
            net = net.to(memory_format=torch.channels_last)
            batch = (batch[0].contiguous(memory_format=torch.channels_last), batch[1])
        eval_batch, items = batch, B
    return net, opt, batch, eval_batch, items, paper


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------- measurements
def proxies(space: str) -> dict:
    """Deterministic: aten ops per step (tiny config, first 8 archs) and forward FLOPs (paper config)."""
    row = {}
    for fast in (False, True):
        net, _, batch, _, _, paper = setup(space, "tiny", "fast" if fast else "naive", torch.device("cpu"))
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


def steps(space: str, config: str, paths: list[str], device: torch.device, n_archs: int) -> dict:
    """Time shared steps and reward evaluations of every path over the fixed architectures.

    The paths run in one process, interleaved architecture by architecture (in ABBA order), so
    that a change in the machine's load during the run touches every path alike: on a shared
    machine, ratios from separate runs drift by tens of percent. The first 2 archs warm up.
    """
    variants = {path: setup(space, config, path, device) for path in paths}
    precisions = {path: Precision(device, "auto" if path == "amp" else "fp32") for path in paths}   # CUDA only
    archs = [variants[paths[0]][0].space.from_arc_string(a) for a in fixed_archs(space)[:n_archs]]
    times = {path: ([], []) for path in paths}
    for i, arch in enumerate(archs):
        for path in (paths if i % 2 == 0 else paths[::-1]):
            step_s, reward_s = one_step(variants[path], precisions[path], arch, device)
            if i >= 2 or len(archs) <= 2:
                times[path][0].append(step_s)
                times[path][1].append(reward_s)
    rows = {}
    for path in paths:
        net, opt, batch, eval_batch, items, paper = variants[path]
        with precisions[path].autocast():
            reward_k = rewards_time(space, net, archs, eval_batch, path != "naive", device, paper)
        memory = (step_memory_mb(lambda: one_step(variants[path], precisions[path], archs[0], device), device)
                  if device.type == "cuda" else None)
        step = statistics.median(times[path][0])
        rows[path] = {"step_s": step, "steps_per_s": 1 / step, "items_per_s": items / step,
                      "reward_s": statistics.median(times[path][1]), "reward_k_s": reward_k,
                      "memory_mb": memory, "batch_items": items, "archs_timed": len(times[path][0])}
    return rows


def one_step(variant, precision, arch, device) -> tuple[float, float]:
    """One shared-weight step of ``arch`` and one reward evaluation: (seconds, seconds)."""
    net, opt, batch, eval_batch, _, paper = variant
    net.train()
    sync(device)
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with precision.autocast():
        loss = step_loss(net, arch, *batch)
    precision.scaler.scale(loss).backward()
    precision.scaler.unscale_(opt)
    clip_gradients(net.parameters(), paper.optim.grad_clip)
    precision.scaler.step(opt)
    precision.scaler.update()
    sync(device)
    t1 = time.perf_counter()
    with torch.no_grad(), precision.autocast():
        step_loss(net, arch, *eval_batch)
    sync(device)
    return t1 - t0, time.perf_counter() - t1


def step_memory_mb(fn, device) -> float:
    """CUDA: memory one call of ``fn`` needs above what is already allocated (activations,
    gradients, temporaries), from the allocator's peak."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def peak_process_mb(space: str, config: str, path: str) -> float:
    """CPU: peak resident memory (VmHWM) of a fresh process that builds one path and runs two
    steps; CPU allocators keep freed memory, so only a process of its own shows a path's peak."""
    variant = setup(space, config, path, torch.device("cpu"))
    archs = [variant[0].space.from_arc_string(a) for a in fixed_archs(space)[:2]]
    for arch in archs:
        one_step(variant, Precision(torch.device("cpu"), False), arch, torch.device("cpu"))
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rewards_time(space, net, archs, batch, fast, device, paper) -> float:
    """Seconds to score ``num_aggregate`` children, each on a validation batch, in the search's
    scoring mode: one by one (naive), or, for the RNN's fast path, all cells in one pass
    (``TextTask.score_archs``, as ``Search.rewards`` does)."""
    k = paper.reinforce.num_aggregate
    cells = (archs * k)[:k]
    x, y = batch
    net.train(paper.reward_bn_train_mode)

    def score():
        with torch.no_grad():
            if fast and space == "rnn":
                TextTask.score_archs(net, [batch] * k, cells)
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

    update(r.num_aggregate)   # warm-up: in a search the controller has sampled before its phase
    sync(device)
    t0 = time.perf_counter()
    for _ in range(r.train_steps):
        update(r.num_aggregate)
    sync(device)
    phase = time.perf_counter() - t0
    return {"sample_1_ms": timed(sample_one, 20) * 1e3, "update_1_ms": timed(lambda: update(1), 10) * 1e3,
            "update_k_ms": timed(lambda: update(r.num_aggregate), 10) * 1e3, "k": r.num_aggregate,
            "phase_s": phase, "phase_archs": r.train_steps * r.num_aggregate}


def final_steps(space: str, config: str, mode: str | None, device: torch.device, n: int) -> dict:
    """Final training of one fixed child (the first fixed arc): seconds of the first step (with
    compilation when ``mode`` is a torch.compile mode) and the median of the next ``n`` steps.

    ``paper``: the official final network and batch; ``tiny``: the same child at tiny widths
    (drop-path and the auxiliary head kept for micro), batch 8."""
    arc = fixed_archs(space)[0]
    final = final_config(space, arc, "paper")
    net_cfg = final.net
    if config == "tiny":
        small = {"micro": dict(num_layers=2, out_filters=8), "macro": dict(out_filters=8),
                 "rnn": dict(vocab_size=1000, hidden_size=32)}[space]
        net_cfg = dataclasses.replace(net_cfg, **small)
    torch.manual_seed(0)
    net = NETS[space](net_cfg, net_cfg.space().from_arc_string(arc)).to(device).train()
    opt = make_sgd(net.parameters(), final.optim)
    if mode:   # the first step compiles from scratch, as in a fresh Colab session (no cache)
        from torch._inductor import config as inductor_config
        inductor_config.force_disable_caches = True
    model = net
    if mode and space == "rnn":   # as FinalTraining: one time step of the cell
        net.compile_cell(mode)
    elif mode:
        model = torch.compile(net, mode=mode)
    g = torch.Generator().manual_seed(0)
    B = final.data.batch_size if config == "paper" else TINY_BATCH
    if space == "rnn":
        x = torch.randint(0, net_cfg.vocab_size, (final.data.bptt + 1, B), generator=g).to(device)
        batch = (x[:-1], x[1:])
    else:
        batch = (torch.randn(B, 3, 32, 32, generator=g).to(device), torch.randint(0, 10, (B,), generator=g).to(device))

    def step():
        opt.zero_grad(set_to_none=True)
        x, y = batch
        if space == "rnn":
            out = model(x)
            loss = F.cross_entropy(out.logits.flatten(0, 1), y.flatten()) + net.regularizer(out)
        else:
            out = model(x)
            logits, aux = out if isinstance(out, tuple) else (out, None)
            loss = F.cross_entropy(logits, y) + (final.optim.aux_weight * F.cross_entropy(aux, y) if aux is not None else 0)
        loss.backward()
        opt.step()

    times = []
    for i in range(n + 1):
        if space == "micro" and net_cfg.drop_path_keep_prob is not None:
            net.drop_path_progress = i / (n + 1)          # changes every step, as in training
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"first_s": times[0], "step_s": statistics.median(times[1:])}


def measured_epoch(space: str, profile: str) -> dict:
    """One whole search epoch at ``profile`` (smoke or book), timed by the search itself."""
    config = search_config(space, profile, epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        search = run_search(config, tmp, progress=False)
        record = [r for r in search.run_dir.read() if r["phase"] == "epoch"][0]
        return {"seconds": record["seconds"], "shared_steps": record["shared_steps"],
                "updates": config.reinforce.train_steps, "data": search.task.name}


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
    # enas_lm draws window lengths around bptt: 0.95 x 35 + 0.05 x 17.5 = 34.1 before its int()
    # truncation, 33.6 tokens on average after it (enas_lm_length, 200,000 draws)
    items_per_step = step["batch_items"] * (33.6 / 35 if space == "rnn" else 1)
    steps_per_epoch = TRAIN_ITEMS[space] / items_per_step
    return steps_per_epoch * step["step_s"] + r.train_steps * (ctrl["update_k_ms"] / 1e3 + step["reward_k_s"])


# ------------------------------------------------------------------------------- report
def in_subprocess(args: list[str]) -> dict:
    """Each (space, config) runs in a fresh process, so the memory it measures is its own."""
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
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
    parser.add_argument("--measured-epochs", action="store_true",
                        help="only measure whole search epochs at the smoke and book profiles")
    parser.add_argument("--final", action="store_true",
                        help="also final training of a fixed child: eager vs torch.compile (slow to compile on a CPU)")
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)   # space config paths n_archs
    parser.add_argument("--peak", nargs=3, help=argparse.SUPPRESS)  # space config path (CPU memory)
    args = parser.parse_args()
    if args.make_archs:
        make_archs()
        return
    device = torch.device(args.device)
    if args.one:
        space, config, paths, n = args.one
        print(json.dumps(steps(space, config, paths.split(","), device, int(n))))
        return
    if args.peak:
        print(json.dumps(peak_process_mb(*args.peak)))
        return
    spaces, configs = args.spaces.split(","), args.configs.split(",")
    hardware = (torch.cuda.get_device_name(device) if device.type == "cuda"
                else f"CPU {platform.machine()}, {torch.get_num_threads()} threads")
    print(f"{hardware}; torch {torch.__version__}, Python {platform.python_version()}; "
          f"command: {' '.join(sys.argv)}\n")

    if args.measured_epochs:
        print("| space | profile | data | shared steps | controller updates | seconds per epoch (measured) |")
        print("|---|---|---|---|---|---|")
        for space in spaces:
            for profile in ("smoke", "book"):
                r = measured_epoch(space, profile)
                print(f"| {space} | {profile} | {r['data']} | {r['shared_steps']} | {r['updates']} | "
                      f"{r['seconds']:.1f} |", flush=True)
        return

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

    print("### Shared-weight steps, naive vs fast (same fixed archs, interleaved in one process)\n")
    print("| space | config | path | archs timed | step (s) | steps/s | items/s | reward eval (s) | "
          "k rewards (s) | memory (MB) | projected epoch (s) | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for config in configs:
        for space in spaces:
            n = args.archs or (64 if device.type == "cuda" else (16 if config == "tiny" else 4))
            paths = PATHS if device.type == "cuda" else PATHS[:2]
            rows = in_subprocess(["--one", space, config, ",".join(paths), str(n), "--device", str(device)])
            for path, r in rows.items():
                if r["memory_mb"] is None:   # CPU: a process of its own per path
                    r["memory_mb"] = in_subprocess(["--peak", space, config, path])
            for path, r in rows.items():
                speedup = rows["naive"]["step_s"] / r["step_s"]
                print(f"| {space} | {config} | {path} | {r['archs_timed']} | {r['step_s']:.4f} | "
                      f"{r['steps_per_s']:.2f} | {r['items_per_s']:.0f} | {r['reward_s']:.4f} | {r['reward_k_s']:.4f} | "
                      f"{r['memory_mb']:.0f} | "
                      f"{project_epoch(space, r, ctrl[space]):.1f} | {speedup:.2f}x |")

    if args.final:
        modes = ("default", "reduce-overhead") if device.type == "cuda" else ("default",)
        print("\n### Final training of a fixed child: eager vs torch.compile (first fixed arc)\n")
        print("| space | config | mode | first step (s) | step (s) | speed-up vs eager |")
        print("|---|---|---|---|---|---|")
        for config in configs:
            for space in spaces:
                n = 20 if device.type == "cuda" or config == "tiny" else 3
                eager = final_steps(space, config, None, device, n)
                print(f"| {space} | {config} | eager | {eager['first_s']:.3f} | {eager['step_s']:.4f} | 1.00x |")
                for mode in modes:
                    torch._dynamo.reset()
                    r = final_steps(space, config, mode, device, n)
                    print(f"| {space} | {config} | {mode} | {r['first_s']:.1f} | {r['step_s']:.4f} | "
                          f"{eager['step_s'] / r['step_s']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
