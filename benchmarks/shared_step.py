"""Time and memory of one shared-weight training step on this machine's CPU.

Usage: ``python benchmarks/shared_step.py [--batch 16] [--steps 10]``; prints a Markdown table.

A step is what the search does per minibatch (paper section 2.2, M = 1): sample an architecture
uniformly, forward it through the supernet, backward, one SGD step (Nesterov momentum 0.9 for the
CNNs, plain SGD for the RNN). Each space runs at its official search size (reference/enas.md
section 2b): micro 6 layers x 20 filters, macro 12 layers x 36 filters, enas_lm RNN 9 nodes x
hidden 200 with a 10,000-word vocabulary and bptt 35. The batch is smaller than the official one
(160 / 128 / 128) to fit a CPU. Each space runs in a fresh process so that its peak resident
memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def measure(kind: str, batch: int, steps: int) -> dict:
    from enas_edu.supernets import MacroNet, MicroNet, RNNNet, RNNNetConfig

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    if kind == "rnn":
        net = RNNNet(RNNNetConfig())
        x = torch.randint(0, 10000, (35, batch), generator=g)
        y = torch.randint(0, 10000, (35, batch), generator=g)
        opt = torch.optim.SGD(net.parameters(), lr=20.0)
    else:
        net = MicroNet() if kind == "micro" else MacroNet()
        x = torch.randn(batch, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (batch,), generator=g)
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def step():
        arch = net.space.sample(g)
        opt.zero_grad(set_to_none=True)
        if kind == "rnn":
            out = net(x, None, arch)
            loss = F.cross_entropy(out.logits.flatten(0, 1), y.flatten()) + net.regularizer(out, arch)
        else:
            loss = F.cross_entropy(net(x, arch), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"kind": kind, "config": repr(net.config), "params": sum(p.numel() for p in net.parameters()),
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "rss_built_mb": rss_built, "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.steps)))
        return
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads; batch {args.batch}; median of {args.steps} steps after 3 warm-up")
    print()
    print("| space (search config) | supernet params | step: fwd + bwd + SGD (s), median [min, max] | peak RSS (MB) | RSS after building (MB) |")
    print("|---|---|---|---|---|")
    for kind in ("micro", "macro", "rnn"):
        out = subprocess.run([sys.executable, __file__, "--one", kind, "--batch", str(args.batch),
                              "--steps", str(args.steps)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        unit = f"{args.batch} x 35 tokens" if kind == "rnn" else f"{args.batch} images"
        print(f"| {kind} ({unit}) | {r['params']:,} | {r['median_s']:.3f} [{r['min_s']:.3f}, {r['max_s']:.3f}] | "
              f"{r['rss_peak_mb']:.0f} | {r['rss_built_mb']:.0f} |")


if __name__ == "__main__":
    main()
