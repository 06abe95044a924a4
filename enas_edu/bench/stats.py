"""Comparisons of methods over seeds: intervals, paired tests and the resolution they give.

Two search methods run with the same seeds are compared *paired*: per seed the difference of
their scores, then the mean difference with a bootstrap interval and a sign-flip permutation
test (under "no difference" each seed's difference is as likely to have either sign). Where
the interval contains 0, or the test's p-value is not below 1 - level, the methods cannot be
told apart at this many seeds; the interval's half-width is the resolution: differences smaller
than that are hidden by the noise.
"""

from __future__ import annotations

import torch


def bootstrap_ci(values, level: float = 0.95, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    g = torch.Generator().manual_seed(seed)
    means = x[torch.randint(len(x), (resamples, len(x)), generator=g)].mean(1)
    lo, hi = torch.quantile(means, torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64))
    return float(lo), float(hi)


def sign_flip_p(differences, resamples: int = 10_000, seed: int = 0) -> float:
    """Two-sided p-value of a mean paired difference of 0 (random sign flips, +1 smoothing)."""
    d = torch.as_tensor(differences, dtype=torch.float64).flatten()
    g = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (resamples, len(d)), generator=g, dtype=torch.float64) * 2 - 1
    null = (signs * d).mean(1).abs()
    return float(((null >= d.mean().abs() - 1e-15).sum() + 1) / (resamples + 1))


def summary(values, level: float = 0.95) -> dict:
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    lo, hi = bootstrap_ci(x, level)
    return {"mean": float(x.mean()), "std": float(x.std()) if len(x) > 1 else 0.0, "ci": [lo, hi], "n": len(x)}


def paired(a, b, level: float = 0.95) -> dict:
    """``a`` minus ``b``, seed by seed: mean difference, bootstrap interval, p-value, resolution
    (the interval's half-width), and a verdict in words."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"a paired comparison needs the same >= 2 seeds on both sides, got {len(a)} and {len(b)}")
    d = a - b
    lo, hi = bootstrap_ci(d, level)
    p = sign_flip_p(d)
    # both must agree: with few seeds the bootstrap interval is too narrow (2 seeds give at most
    # 3 distinct resampled means) while the sign-flip test cannot go below 2 / 2^n
    told_apart = not lo <= 0 <= hi and p < 1 - level
    verdict = "cannot be told apart" if not told_apart else "higher" if lo > 0 else "lower"
    return {"mean_difference": float(d.mean()), "ci": [lo, hi], "p": p, "resolution": (hi - lo) / 2,
            "n": len(d), "verdict": verdict}
