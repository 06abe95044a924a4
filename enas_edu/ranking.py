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


def _ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n, ties sharing their mean rank: [n]."""
    _, group, counts = torch.unique(values, return_inverse=True, return_counts=True)   # sorted groups
    last = counts.cumsum(0).double()                                   # rank of each group's last item
    return (last - (counts.double() - 1) / 2)[group]


def spearman(x, y) -> float:
    """Spearman's rho of two scorings (ties share their mean rank)."""
    rx = _ranks(torch.as_tensor(x, dtype=torch.float64).flatten())
    ry = _ranks(torch.as_tensor(y, dtype=torch.float64).flatten())
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm())) if rx.norm() and ry.norm() else 0.0


def rank_correlation(x, y, top_k: int = 3) -> dict:
    """Kendall's tau-b, Spearman's rho and the top-k overlap of two scorings of the same items.

    Vectorised over all n (n - 1) / 2 pairs (a few million for a whole small space).
    """
    x = torch.as_tensor(x, dtype=torch.float64).flatten()
    y = torch.as_tensor(y, dtype=torch.float64).flatten()
    n = len(x)
    if n != len(y) or n < 2:
        raise ValueError(f"need two scorings of the same >= 2 items, got {len(x)} and {len(y)}")
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)                # each pair once
    dx = torch.sign(x.unsqueeze(1) - x.unsqueeze(0))[upper]
    dy = torch.sign(y.unsqueeze(1) - y.unsqueeze(0))[upper]
    concordant, discordant = int((dx * dy > 0).sum()), int((dx * dy < 0).sum())
    ties_x, ties_y = int(((dx == 0) & (dy != 0)).sum()), int(((dy == 0) & (dx != 0)).sum())
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    tau = (concordant - discordant) / denominator if denominator else 0.0
    rho = spearman(x, y)
    k = min(top_k, n)
    best_x = set(sorted(range(n), key=lambda i: -float(x[i]))[:k])
    best_y = set(sorted(range(n), key=lambda i: -float(y[i]))[:k])
    return {"kendall_tau": tau, "spearman_rho": rho, f"top{k}_overlap": len(best_x & best_y) / k, "n": n}


@torch.no_grad()
def shared_scores(search: Search, archs: list) -> torch.Tensor:
    """Each child's whole-validation accuracy with the shared weights, as the search scores: [A].

    Random generators and batch-norm running statistics are saved and put back, so scoring
    leaves the search exactly where it was.
    """
    buffers = {k: v.clone() for k, v in search.net.named_buffers()}
    with torch.random.fork_rng(devices=[]):
        search.scoring_mode()
        scores = torch.tensor([search.task.evaluate(search.net, a, "valid") for a in archs], dtype=torch.float64)
    for k, v in search.net.named_buffers():
        v.copy_(buffers[k])
    return scores


def rank_against_truth(run_dir: str | Path, truth, limit: int | None = None, sample: int | None = None,
                       seed: int = 0) -> dict:
    """Every architecture of a ground-truth table scored with a search's shared weights, and the
    rank correlation of those scores with the table's (the mean over its seeds).

    ``run_dir``: a search of the table's space (``enas-edu search nbmacro`` for NAS-Bench-Macro),
    opened read-only. Each child is scored on the whole validation split in the search's scoring
    mode (:func:`shared_scores`). ``sample``: that many distinct architectures drawn uniformly
    from the table with ``seed`` (a sample of the space; the correlation is then over those).
    ``limit``: only the first ``limit`` architectures in the table's order (a corner of the
    space, for a quick look at the pipeline).
    """
    if limit is not None and sample is not None:
        raise ValueError("give limit (the table's first architectures) or sample (a uniform sample), not both")
    search = Search(None, run_dir, read_only=True, progress=False)
    if search.space != truth.space:
        raise ValueError(f"{run_dir} searched {search.space!r}; the table is of {truth.space!r}")
    arcs = truth.arcs[:limit] if limit is not None else truth.arcs
    if sample is not None:
        chosen = torch.randperm(len(truth.arcs), generator=torch.Generator().manual_seed(seed))[:sample]
        arcs = [truth.arcs[i] for i in chosen.sort().values.tolist()]
    shared = shared_scores(search, [truth.space.from_arc_string(a) for a in arcs])
    true = truth.scores("test")[[truth.index(a) for a in arcs]]
    return {**rank_correlation(shared, true, top_k=10), "arcs": list(arcs), "shared": shared.tolist(),
            "truth": true.tolist(), "data": search.task.name, "data_kind": search.config.data.dataset}


def shared_vs_standalone(run_dir: str | Path, archs: list, epochs: int,
                         out: str | Path | None = None) -> list[dict]:
    """For each architecture: its score with the shared weights, and after training alone.

    Scores are validation accuracy (images) or minus the perplexity (text), so higher is better;
    the shared-weight score is taken in the search's scoring mode (``reward_bn_train_mode``).
    The stand-alone child is the same network (``Net(config.net, arch)``), trained from scratch
    for ``epochs`` with the search's own optimiser settings and data.
    """
    search = Search(None, run_dir, read_only=True, progress=False)   # reading a run never writes to it
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
