"""How much of a ground-truth table's ranking is signal and how much is seed noise.

A child's score in the table is a mean over seeds. Two seeds of the same child disagree (a few
of the 297 test images flip), so even a perfect scorer, one that knew every child's true
accuracy, would not rank the children exactly as the table does. Classical test theory
(Spearman 1910, Brown 1910) measures this:

- **split-half reliability**: split the seeds into two halves, rank the children by each half's
  mean, correlate the two rankings (Spearman's rho, r), and step the correlation up to the full
  number of seeds with the Spearman-Brown formula ``2 r / (1 + r)``; averaged over many splits;
- **the ceiling**: a scorer that knew the true accuracies would correlate with the table's
  seed mean at about ``sqrt(reliability)`` (the attenuation formula), the most any ranking read
  against the table can reach; a shared-weight ranking is judged against that, not against 1.
"""

from __future__ import annotations

import itertools
import math

import torch

from ..ranking import spearman


def spearman_brown(r: float, factor: float) -> float:
    """The reliability of a mean over ``factor`` times as many seeds as a score of reliability ``r``."""
    return factor * r / (1 + (factor - 1) * r)


def split_half_reliability(per_seed: torch.Tensor, splits: int = 100, seed: int = 0) -> dict:
    """Reliability of the seed mean of ``per_seed`` [children, seeds] (a score per child and seed).

    Returns the Spearman-Brown corrected split-half reliability (``seed_mean``, averaged over
    ``splits`` random halvings), the mean Spearman between two single seeds (``single_seed``)
    and what that predicts for the seed mean, and the ceiling ``sqrt(seed_mean)`` (Spearman),
    with the Kendall tau it corresponds to for normal scores (``2/pi asin(2 sin(pi rho / 6))``).
    """
    per_seed = torch.as_tensor(per_seed, dtype=torch.float64)
    children, seeds = per_seed.shape
    if seeds < 2:
        raise ValueError(f"a reliability needs at least 2 seeds per child, got {seeds}")
    g = torch.Generator().manual_seed(seed)
    corrected = []
    for _ in range(splits if seeds > 2 else 1):
        order = torch.randperm(seeds, generator=g)
        a, b = order[: seeds // 2], order[seeds // 2:]
        r = spearman(per_seed[:, a].mean(1), per_seed[:, b].mean(1))
        corrected.append(spearman_brown(r, 2))        # from half the seeds to all of them
    pairs = [spearman(per_seed[:, i], per_seed[:, j]) for i, j in itertools.combinations(range(seeds), 2)]
    single = sum(pairs) / len(pairs)
    reliability = sum(corrected) / len(corrected)
    ceiling = max(reliability, 0.0) ** 0.5
    return {"seeds": seeds, "children": children, "seed_mean": reliability, "single_seed": single,
            "predicted_seed_mean": spearman_brown(single, seeds),
            "ceiling_spearman": ceiling,
            "ceiling_kendall": 2 / math.pi * math.asin(2 * math.sin(math.pi * ceiling / 6)),
            "splits": len(corrected)}


def seeds_needed(single_seed: float, target: float = 0.8) -> int:
    """Seeds per child for the seed mean to reach ``target`` reliability (Spearman-Brown)."""
    if not 0 < single_seed < 1:
        raise ValueError(f"a single-seed reliability in (0, 1) is needed, got {single_seed}")
    k = target * (1 - single_seed) / (single_seed * (1 - target))
    return math.ceil(round(k, 9))              # 4.000000000000001 seeds are 4
