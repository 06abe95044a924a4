"""Seconds per search epoch on this machine, measured: one full epoch of ``run_search`` at the
smoke and book profiles, on the data shipped with the package.

Usage: ``python benchmarks/search_epoch.py``; prints a Markdown table. The paper profile's epoch
is projected from measured step times by ``benchmarks/run.py --configs paper``.
"""

from __future__ import annotations

import argparse
import platform
import tempfile

import torch

from enas_edu.config import search_config
from enas_edu.search import run_search


def measured_epoch(space: str, profile: str) -> dict:
    config = search_config(space, profile, epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        search = run_search(config, tmp, progress=False)
        record = [r for r in search.run_dir.read() if r["phase"] == "epoch"][0]
        return {"seconds": record["seconds"], "shared_steps": record["shared_steps"],
                "updates": config.reinforce.train_steps, "data": search.task.name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args()
    print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads")
    print()
    print("| space | profile | data | shared steps | controller updates | seconds per epoch (measured) |")
    print("|---|---|---|---|---|---|")
    for space in ("rnn", "macro", "micro"):
        for profile in ("smoke", "book"):
            r = measured_epoch(space, profile)
            print(f"| {space} | {profile} | {r['data']} | {r['shared_steps']} | {r['updates']} | {r['seconds']:.1f} |")


if __name__ == "__main__":
    main()
