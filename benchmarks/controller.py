"""Controller latency on this machine: one architecture, and one REINFORCE update.

Usage: ``python benchmarks/controller.py [--repeats 30]``; prints a Markdown table for
BENCHMARKS.md. Each space uses its official search configuration (the official controller and
``num_aggregate``). A 64-unit LSTM does tiny matrix products, so it is bound by per-op latency,
not arithmetic: the table is measured with 1 and with all intra-op threads to show whether extra
threads help or hurt.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from enas_edu.controller import Controller, SampleBatch
from enas_edu.reinforce import Reinforce
from enas_edu.spaces import MacroSpace, MicroSpace, RNNCellSpace


def median_ms(fn, repeats: int) -> float:
    for _ in range(3):  # warm-up: allocator, first-call dispatch
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def measure(space, threads: int, repeats: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    controller = Controller(space)
    trainer = Reinforce(controller)
    k = trainer.config.num_aggregate
    g = torch.Generator().manual_seed(0)

    def sample_no_grad():
        with torch.no_grad():
            controller.sample(generator=g)

    def update_batched():
        batch = controller.sample_batch(k, generator=g)
        trainer.update(batch, torch.rand(k, generator=g))

    def update_one_by_one():  # the official code's way: k separate sampler runs per update
        samples = [controller.sample(generator=g) for _ in range(k)]
        log_prob = torch.stack([s.log_prob for s in samples])
        entropy = torch.stack([s.entropy for s in samples])
        policy_entropy = torch.stack([s.policy_entropy for s in samples])
        penalty = torch.stack([s.skip_penalty for s in samples])
        trainer.update(SampleBatch([s.arch for s in samples], log_prob, entropy, policy_entropy, penalty),
                       torch.rand(k, generator=g))

    return {
        "sample": median_ms(sample_no_grad, repeats),
        "batched": median_ms(update_batched, max(5, repeats // 3)),
        "serial": median_ms(update_one_by_one, max(5, repeats // 3)),
        "k": k,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    spaces = [RNNCellSpace(), MacroSpace(), MicroSpace()]
    max_threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, Python {platform.python_version()}, "
          f"{platform.processor() or platform.machine()}, {max_threads} intra-op threads available")
    print()
    print("| space | decisions | threads | sample 1 arch, no grad (ms) | update: sample k + REINFORCE, batched (ms) | same, k separate samples (ms) | k |")
    print("|---|---|---|---|---|---|---|")
    for space in spaces:
        for threads in sorted({1, max_threads}):
            r = measure(space, threads, args.repeats)
            print(f"| {space!r} | {space.num_decisions()} | {threads} | {r['sample']:.1f} | "
                  f"{r['batched']:.1f} | {r['serial']:.1f} | {r['k']} |")


if __name__ == "__main__":
    main()
