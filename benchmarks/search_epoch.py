"""Seconds per search epoch on this machine: measured at the smoke and book profiles, projected
for the paper profile from measured step times.

Usage: ``python benchmarks/search_epoch.py [--skip-paper]``; prints Markdown tables.

Projection for ``paper`` (one epoch is too long to run on a CPU): with the official sizes and
batches, time ``--steps`` shared steps (forward, backward, SGD on a fresh child each) and one
controller update (``num_aggregate`` children sampled, each scored on one validation batch,
one REINFORCE step), after one warm-up each, on inputs of the real shapes (random images /
tokens, so no download is needed). Then

    epoch = (training examples / batch) x shared step + train_steps x controller update

with 45,000 CIFAR training images (search split) or PTB's 929,589 training tokens in windows of
35 (the average of enas_lm's random lengths is 34.1, so about 1.03 x more windows).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from enas_edu.config import search_config
from enas_edu.controller import Controller
from enas_edu.reinforce import Reinforce
from enas_edu.search import NETS, run_search


def measured_epoch(space: str, profile: str) -> dict:
    config = search_config(space, profile, epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        search = run_search(config, tmp, progress=False)
        record = [r for r in search.run_dir.read() if r["phase"] == "epoch"][0]
        return {"seconds": record["seconds"], "shared_steps": record["shared_steps"],
                "updates": config.reinforce.train_steps, "data": search.task.name}


def projected_paper_epoch(space: str, steps: int) -> dict:
    config = search_config(space, "paper")
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    net_config = config.net if space != "rnn" else dataclasses.replace(config.net, vocab_size=10000)
    net = NETS[space](net_config)
    controller = Controller(net.space, config.controller)
    trainer = Reinforce(controller, config.reinforce)
    o = config.optim
    opt = torch.optim.SGD(net.parameters(), lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0)
    B = config.data.batch_size
    if space == "rnn":
        x = torch.randint(0, 10000, (35, B), generator=g)
        y = torch.randint(0, 10000, (35, B), generator=g)
        per_epoch = 929_589 / B / 34.1
    else:
        x = torch.randn(B, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (B,), generator=g)
        per_epoch = 45_000 / B

    def shared_step():
        arch = controller.sample(generator=g).arch
        net.train()
        if space == "rnn":
            out = net(x, None, arch)
            loss = F.cross_entropy(out.logits.flatten(0, 1), y.flatten()) + net.regularizer(out, arch)
        else:
            loss = F.cross_entropy(net(x, arch), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def controller_update():
        with torch.no_grad():
            archs = controller.sample_batch(config.reinforce.num_aggregate, generator=g).archs
            net.train(config.reward_bn_train_mode)
            rewards = []
            for arch in archs:
                out = net(x, None, arch).logits if space == "rnn" else net(x, arch)
                rewards.append((out.argmax(-1) == y).float().mean())
        trainer.update(controller.evaluate(archs), torch.stack(rewards))

    def timed(fn, n):
        fn()                                  # warm-up
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    step = timed(shared_step, steps)
    update = timed(controller_update, 1)
    epoch = per_epoch * step + config.reinforce.train_steps * update
    return {"step": step, "update": update, "per_epoch": per_epoch, "updates": config.reinforce.train_steps,
            "epoch": epoch, "batch": B, "epochs": config.epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--skip-paper", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads")
    print()
    print("| space | profile | data | shared steps | controller updates | seconds per epoch (measured) |")
    print("|---|---|---|---|---|---|")
    for space in ("rnn", "macro", "micro"):
        for profile in ("smoke", "book"):
            r = measured_epoch(space, profile)
            print(f"| {space} | {profile} | {r['data']} | {r['shared_steps']} | {r['updates']} | {r['seconds']:.1f} |")
    if args.skip_paper:
        return
    print()
    print("| space | paper batch | shared step (s) | controller update (s) | shared steps / epoch | updates / epoch | projected epoch (s) | projected search (h) |")
    print("|---|---|---|---|---|---|---|---|")
    for space in ("rnn", "macro", "micro"):
        r = projected_paper_epoch(space, args.steps)
        print(f"| {space} | {r['batch']} | {r['step']:.2f} | {r['update']:.2f} | {r['per_epoch']:.0f} | {r['updates']} | "
              f"{r['epoch']:.0f} | {r['epoch'] * r['epochs'] / 3600:.0f} ({r['epochs']} epochs) |")


if __name__ == "__main__":
    main()
