"""Does weight sharing rank children correctly? (Yu et al. 2020; Li & Talwalkar 2019)

ENAS trusts that a child scored with the shared weights ranks where it would rank if trained
alone. :func:`shared_vs_standalone` measures that on a set of children: each is scored on the
whole validation split with the shared weights of a finished search, then trained from scratch
(same network, fresh weights, same data) and scored again. :func:`rank_correlation` compares the
two orders with Kendall's tau, Spearman's rho and the overlap of the top k.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .search import NETS, Search
from .tasks import train_from_scratch


def _ranks(values: list[float]) -> list[float]:
    """Ranks 1..n, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rank_correlation(x: list[float], y: list[float], top_k: int = 3) -> dict:
    """Kendall's tau-b, Spearman's rho and the top-k overlap of two scorings of the same items."""
    n = len(x)
    if n != len(y) or n < 2:
        raise ValueError(f"need two scorings of the same >= 2 items, got {len(x)} and {len(y)}")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx * dy > 0:
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    tau = (concordant - discordant) / denominator if denominator else 0.0
    rx, ry = torch.tensor(_ranks(x)), torch.tensor(_ranks(y))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    rho = float((rx * ry).sum() / (rx.norm() * ry.norm())) if rx.norm() and ry.norm() else 0.0
    k = min(top_k, n)
    best_x = set(sorted(range(n), key=lambda i: -x[i])[:k])
    best_y = set(sorted(range(n), key=lambda i: -y[i])[:k])
    return {"kendall_tau": tau, "spearman_rho": rho, f"top{k}_overlap": len(best_x & best_y) / k, "n": n}


def shared_vs_standalone(run_dir: str | Path, archs: list, epochs: int,
                         out: str | Path | None = None) -> list[dict]:
    """For each architecture: its score with the shared weights, and after training alone.

    Scores are validation accuracy (images) or minus the perplexity (text), so higher is better;
    the shared-weight score is taken in the search's scoring mode (``reward_bn_train_mode``).
    The stand-alone child is the same network (``Net(config.net, arch)``), trained from scratch
    for ``epochs`` with the search's own optimiser settings and data.
    """
    search = Search(None, run_dir, resume=True, progress=False)
    task, cfg = search.task, search.config
    sign = -1.0 if task.kind == "text" else 1.0
    rows = []
    for arch in archs:
        search.scoring_mode()        # as the search scored its children
        shared = sign * task.evaluate(search.net, arch, "valid")
        torch.manual_seed(cfg.seed)
        child = NETS[cfg.space](cfg.net, arch).to(search.device)
        train_from_scratch(task, child, cfg.optim, epochs, cfg.max_train_steps)
        alone = sign * task.evaluate(child, split="valid")
        rows.append({"arc": search.space.to_arc_string(arch), "shared": shared, "standalone": alone})
    if out is not None:
        Path(out).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return rows
