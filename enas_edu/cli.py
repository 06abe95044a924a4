"""The ``enas-edu`` command.

``enas-edu info``   versions, device, threads.
``enas-edu demo``   what exists so far: the three search spaces (exact sizes beside the paper's
                    formulas), the published architectures, and the official controllers
                    sampling architectures and learning a synthetic reward with REINFORCE.
                    The full search -> derive -> final-training demo replaces it once the engine
                    lands.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import torch

from . import __version__
from .controller import Controller
from .reinforce import Reinforce
from .spaces import MacroSpace, MicroSpace, RNNCellSpace, published


def cmd_info(args: argparse.Namespace) -> int:
    print(f"enas_edu {__version__}")
    print(f"python   {platform.python_version()} ({sys.executable})")
    print(f"torch    {torch.__version__}; threads {torch.get_num_threads()}")
    if torch.cuda.is_available():
        print(f"device   cuda: {torch.cuda.get_device_name(0)}")
    else:
        print("device   cpu (no CUDA device visible)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    spaces = [RNNCellSpace(), MacroSpace(), MicroSpace()]
    print("Search spaces (official search sizes): exact count vs the paper's formula")
    for space in spaces:
        print(f"  {space!r}\n    size {space.size():.3e}   paper formula {space.paper_size():.3e}")
    print("\nPublished architectures (official fixed_arc strings) load and round-trip:")
    for name in ("rnn", "macro", "micro"):
        space, arch = published(name)
        arc = space.to_arc_string(arch)
        print(f"  {name:5s} {space!r}: {arc[:60]}{'...' if len(arc) > 60 else ''}")
    print("\nThe official controllers (untrained) sample one architecture each:")
    for space in spaces:
        controller = Controller(space)
        t0 = time.perf_counter()
        with torch.no_grad():
            sample = controller.sample(generator=g)
        ms = (time.perf_counter() - t0) * 1e3
        print(f"  {space.name:5s} log-prob {sample.log_prob.item():8.2f}  ({ms:.1f} ms)  "
              f"{space.to_arc_string(sample.arch)[:50]}...")
    space = MacroSpace(num_layers=4)
    target = space.sample(g)
    goal = torch.tensor(space.encode(target))
    controller = Controller(space)
    trainer = Reinforce(controller, lr=0.02, baseline_decay=0.9)
    print(f"\nREINFORCE on a synthetic reward (fraction of decisions equal to {space.to_arc_string(target)!r}):")
    for step in range(1, 151):
        batch = controller.sample_batch(10, generator=g)
        decisions = torch.tensor([space.encode(a) for a in batch.archs])
        stats = trainer.update(batch, (decisions == goal).float().mean(1))
        if step % 30 == 0:
            print(f"  update {step:3d}: mean reward {stats['reward'].item():.2f}  "
                  f"baseline {stats['baseline'].item():.2f}")
    greedy = controller.sample(greedy=True).arch
    print(f"  most likely architecture now: {space.to_arc_string(greedy)!r}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="enas-edu", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"enas_edu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="versions, device and threads").set_defaults(func=cmd_info)
    demo = sub.add_parser("demo", help="a short tour on this machine's CPU")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=cmd_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
