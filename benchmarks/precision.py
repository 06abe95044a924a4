"""fp32 against bf16 (or fp16) for the search: how far the losses and rewards drift (issue #27).

Usage: ``python benchmarks/precision.py [--device cuda] [--steps 300] [--against bf16]``

The official code is fp32; every profile autocasts on CUDA. For each of the RNN and micro spaces
this runs the same search twice from the same seed, once in fp32 and once in ``--against``, for
``--steps`` shared steps (the book profile's networks and shipped data, at the paper's controller
and optimiser: no download needed on a machine without a network), then compares the shared
losses logged every 20 steps and the controller's rewards. Prints a Markdown table; on a CPU
every precision runs fp32, so the drift there is exactly 0 (the check that the script works).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from enas_edu.config import search_config
from enas_edu.search import run_search


def run(space: str, precision: str, steps: int, device: str, folder: Path) -> dict:
    config = search_config(space, "book", precision=precision, epochs=1, max_train_steps=steps,
                           device=device, seed=0)
    t0 = time.perf_counter()
    search = run_search(config, folder / f"{space}-{precision}", progress=False)
    seconds = time.perf_counter() - t0
    records = list(search.run_dir.read())
    return {"loss": [r["loss"] for r in records if r.get("phase") == "shared"],
            "reward": [r["reward"] for r in records if r.get("phase") == "controller"],
            "seconds": seconds, "name": search.precision.name}


def compare(space: str, against: str, steps: int, device: str, folder: Path) -> dict:
    base, other = run(space, "fp32", steps, device, folder), run(space, against, steps, device, folder)
    drift = lambda a, b: max((abs(x - y) for x, y in zip(a, b)), default=0.0)
    return {"space": space, "against": other["name"], "steps": steps,
            "loss_fp32_last": base["loss"][-1], "loss_other_last": other["loss"][-1],
            "max_loss_drift": drift(base["loss"], other["loss"]),
            "mean_reward_fp32": statistics.fmean(base["reward"]), "mean_reward_other": statistics.fmean(other["reward"]),
            "max_reward_drift": drift(base["reward"], other["reward"]),
            "seconds_fp32": base["seconds"], "seconds_other": other["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--against", default="bf16", choices=("bf16", "fp16"))
    parser.add_argument("--spaces", default="rnn,micro")
    args = parser.parse_args()
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"precision drift on {device}, torch {torch.__version__}: fp32 against {args.against}, "
          f"{args.steps} shared steps, book-profile networks on the shipped data, seed 0\n")
    print("| space | compared | last loss fp32 / other | max loss drift | mean reward fp32 / other | "
          "max reward drift | seconds fp32 / other |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for space in args.spaces.split(","):
            r = compare(space, args.against, args.steps, args.device, Path(tmp))
            print(f"| {space} | fp32 vs {r['against']} | {r['loss_fp32_last']:.4f} / {r['loss_other_last']:.4f} | "
                  f"{r['max_loss_drift']:.4f} | {r['mean_reward_fp32']:.4f} / {r['mean_reward_other']:.4f} | "
                  f"{r['max_reward_drift']:.4f} | {r['seconds_fp32']:.0f} / {r['seconds_other']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
