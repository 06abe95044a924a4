"""Honest baselines on the same engine, data and budget as ENAS (reference/enas.md section 5).

- :func:`random_search_weight_sharing` (RSWS, Li & Talwalkar 2019): the shared weights are
  trained on *uniformly* sampled children; no controller. The final architecture is derived the
  same way (1000 uniform samples scored on one batch, the top 10 on the whole validation set).
- :func:`enas_without_controller_training` (the paper's ablation, section 3): the search runs
  with the controller frozen at its initialisation (``--nocontroller_training``). Note that the
  official micro controller's op bias makes these samples non-uniform; RSWS is the uniform one.
- :func:`nas_without_weight_sharing` (Zoph & Le 2017, at toy scale): the same controller and
  REINFORCE, but every sampled child is trained from scratch for a few epochs and its reward is
  its validation score. It shows what weight sharing saves; each run records its wall-clock time.

Each returns the run directory's chosen architecture and what it cost in seconds, so the book
can put GPU-hours side by side.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import torch

from .config import SearchConfig, check_count
from .controller import Controller
from .derive import derive
from .reinforce import Reinforce
from .runs import RunDir, atomic_write_text
from .search import NETS, Search
from .tasks import fit_to_data, make_task, train_from_scratch
from .training import resolve_device, seed_everything


#: How each shared-weight method changes a search config, and whether it derives uniformly.
#: The ground-truth study (bench/study.py) runs the same three.
VARIANTS = {
    "enas": ({}, False),
    "no-controller": ({"train_controller": False}, False),
    "rsws": ({"uniform_sampling": True, "train_controller": False}, True),
}


def variant(config: SearchConfig, name: str) -> tuple[SearchConfig, bool]:
    """``config`` as the method ``name`` of :data:`VARIANTS` runs it, and its ``uniform`` flag."""
    if name not in VARIANTS:
        raise ValueError(f"method must be one of {sorted(VARIANTS)}, got {name!r}")
    changes, uniform = VARIANTS[name]
    return dataclasses.replace(config, **changes), uniform


def _search(config: SearchConfig, run_dir, progress: bool, on_start) -> None:
    """The shared-weight search of a baseline; ``on_start`` gets the data description first."""
    search = Search(config, run_dir, progress=progress)
    if on_start is not None:
        on_start(search.task.describe())
    search.run_to_end()


def random_search_weight_sharing(config: SearchConfig, run_dir: str | Path, num_samples: int = 1000,
                                 top_k: int = 10, progress: bool = True, on_start=None) -> dict:
    """RSWS: uniform children during training and during derivation."""
    config, _ = variant(config, "rsws")
    t0 = time.perf_counter()
    _search(config, run_dir, progress, on_start)
    chosen = derive(run_dir, num_samples, top_k, uniform=True, seed=config.seed)
    return _summary("random search with weight sharing", run_dir, chosen, time.perf_counter() - t0)


def enas_without_controller_training(config: SearchConfig, run_dir: str | Path, num_samples: int = 1000,
                                     top_k: int = 10, progress: bool = True, on_start=None) -> dict:
    """The paper's ablation: children from the untrained controller."""
    config, _ = variant(config, "no-controller")
    t0 = time.perf_counter()
    _search(config, run_dir, progress, on_start)
    chosen = derive(run_dir, num_samples, top_k, uniform=False, seed=config.seed)
    return _summary("ENAS without controller training", run_dir, chosen, time.perf_counter() - t0)


def _summary(name: str, run_dir, chosen, seconds: float) -> dict:
    result = {"baseline": name, "arc": chosen.arc, f"full_valid_{chosen.metric}": chosen.full_valid,
              "search_and_derive_seconds": seconds}
    atomic_write_text(Path(run_dir) / "baseline.json", json.dumps(result, indent=2) + "\n")
    return result


def nas_without_weight_sharing(config: SearchConfig, run_dir: str | Path, num_children: int = 20,
                               child_epochs: int = 1, progress: bool = True, on_start=None) -> dict:
    """REINFORCE where each child is trained from scratch (no sharing) for ``child_epochs``.

    Children come ``num_aggregate`` at a time, as in the ENAS controller phase; each is a fresh
    supernet-style child (``Net(config.net, arch)``) trained with the search's optimiser
    settings, then scored on the whole validation split (accuracy, or 80 / perplexity).
    """
    check_count("--children", num_children)
    check_count("--child-epochs", child_epochs)
    run = RunDir.create(run_dir, "baseline")
    seed_everything(config.seed)
    device = resolve_device(config.device)
    task = make_task(config.data, config.space, "search", config.seed, device, run_dir=run.path)
    if on_start is not None:
        on_start(task.describe())
    net_config = fit_to_data(config, task).net
    space = net_config.space()
    controller = Controller(space, config.controller).to(device)
    trainer = Reinforce(controller, config.reinforce)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    t0, trained, best = time.perf_counter(), 0, None
    while trained < num_children:
        k = min(config.reinforce.num_aggregate, num_children - trained)
        with torch.no_grad():
            archs = controller.sample_batch(k, generator=generator).archs
        rewards = []
        for arch in archs:
            child = NETS[config.space](net_config, arch).to(device)
            c0 = time.perf_counter()
            train_from_scratch(task, child, config.optim, child_epochs, config.max_train_steps)
            score = task.evaluate(child, split="valid")
            reward = 80.0 / score if task.kind == "text" else score
            rewards.append(reward)
            trained += 1
            run.log({"phase": "child", "child": trained, "arc": space.to_arc_string(arch), "reward": reward,
                     "valid": score, "train_seconds": time.perf_counter() - c0})
            if best is None or reward > best[1]:
                best = (space.to_arc_string(arch), reward, score)
        stats = trainer.update(controller.evaluate(archs), torch.tensor(rewards, device=device))
        run.log({"phase": "controller", "children": trained, **stats})
    result = {"baseline": "NAS without weight sharing", "arc": best[0], "best_reward": best[1],
              "best_valid": best[2], "children": num_children, "child_epochs": child_epochs,
              "seconds": time.perf_counter() - t0, "data": task.name}
    atomic_write_text(run.path / "baseline.json", json.dumps(result, indent=2) + "\n")
    return result


BASELINES = {
    "rsws": random_search_weight_sharing,
    "no-controller": enas_without_controller_training,
    "no-sharing": nas_without_weight_sharing,
}
