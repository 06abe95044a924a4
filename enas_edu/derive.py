"""Choosing the final architecture from a finished search (paper section 2.2, "Deriving
Architectures").

The paper samples several models from the trained policy, scores each on a single validation
minibatch with the shared weights, and keeps the best. The official code has no such step (it
prints 10 samples per epoch). Here, following Li & Talwalkar's protocol for random search with
weight sharing (``random_weight_share.py``):

1. sample ``num_samples`` architectures (default 1000) from the controller (or uniformly);
2. score each on one validation minibatch with the shared weights;
3. re-score the ``top_k`` best on the *whole* validation set; the best of those is chosen.

Both scores are taken as the search's rewards were (``SearchConfig.reward_bn_train_mode``): in
training mode, that means batch statistics and dropout, as the official micro reward does, so
the whole-set score of a child varies a little from one call to the next.

``candidates.jsonl`` gets one line per distinct candidate (arc, one-batch reward, full-validation
score, parameters and forward FLOPs of the child for the top k); ``derived.json`` and
``derived_arc.txt`` hold the choice. They go into the search's folder, or into ``out`` (a search
shared read-only: a course's reference run). The search itself is opened read-only: its logs and
checkpoint are never written, so deriving twice, or from a running search, changes nothing of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import check_count
from .runs import RunError, atomic_write_text
from .search import Search
from .supernets.cost import count_flops, count_parameters


@dataclass
class Derived:
    arc: str
    one_batch_reward: float
    full_valid: float
    metric: str          # "accuracy" or "perplexity"
    run_dir: Path


@torch.no_grad()
def derive(run_dir: str | Path, num_samples: int = 1000, top_k: int = 10, uniform: bool = False,
           seed: int = 0, device: str | None = None, out: str | Path | None = None) -> Derived:
    """Choose an architecture from the search in ``run_dir``; writes the candidates table (into
    ``out``, default ``run_dir``)."""
    check_count("--samples", num_samples)
    check_count("--top-k", top_k)
    search = Search(None, run_dir, read_only=True, progress=False, device=device)
    dest = Path(out) if out is not None else Path(run_dir)
    if dest.exists() and not dest.is_dir():
        raise RunError(f"--out {dest} is a file; give a folder for the derived architecture")
    dest.mkdir(parents=True, exist_ok=True)
    space, task, net = search.space, search.task, search.net
    generator = torch.Generator(device=search.device).manual_seed(seed)
    if uniform:
        archs = [space.sample(generator) for _ in range(num_samples)]
    else:
        archs = []
        while len(archs) < num_samples:
            archs += search.controller.sample_batch(min(100, num_samples - len(archs)), generator=generator).archs
    unique = list(dict.fromkeys(archs))                  # keep the first of repeated samples
    rewards = search.rewards(unique).tolist()            # one validation minibatch each
    text = task.kind == "text"
    order = sorted(range(len(unique)), key=lambda i: -rewards[i])
    full = {}
    search.scoring_mode()            # the mode the rewards were computed in
    for i in order[:top_k]:
        full[i] = task.evaluate(net, unique[i], "valid")
    # lower perplexity is better for text; higher accuracy for images
    best = min(full, key=full.get) if text else max(full, key=full.get)
    metric = "perplexity" if text else "accuracy"
    sample_input = (task.train[:task.cfg.bptt, :1] if text else task.data.valid_x[:1].float())
    lines = []
    for rank, i in enumerate(order):
        record = {"rank_one_batch": rank, "arc": space.to_arc_string(unique[i]),
                  "one_batch_reward": rewards[i], f"full_valid_{metric}": full.get(i)}
        if i in full:   # building every child would take long; the top k get their cost
            child = net.extract_child(unique[i])
            record.update(params=count_parameters(child), flops=count_flops(child, sample_input))
        lines.append(json.dumps(record) + "\n")
    chosen = Derived(space.to_arc_string(unique[best]), rewards[best], full[best], metric, dest)
    atomic_write_text(dest / "candidates.jsonl", "".join(lines))
    atomic_write_text(dest / "derived.json", json.dumps({
        "space": space.name, "space_config": space.config(), "arc": chosen.arc,
        "one_batch_reward": chosen.one_batch_reward, f"full_valid_{metric}": chosen.full_valid,
        "num_samples": num_samples, "distinct": len(unique), "top_k": top_k,
        "sampler": "uniform" if uniform else "controller", "data": task.name,
        "search_run": str(Path(run_dir).resolve())}, indent=2) + "\n")
    atomic_write_text(dest / "derived_arc.txt", chosen.arc + "\n")
    return chosen
