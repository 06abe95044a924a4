"""Comparisons of methods over seeds: intervals, paired tests and the resolution they give.

Two search methods run with the same seeds are compared *paired*: per seed the difference of
their scores, then the mean difference with a bootstrap interval and a sign-flip permutation
test (under "no difference" each seed's difference is as likely to have either sign). Where
the interval contains 0, or the test's p-value is not below 1 - level, the methods cannot be
told apart at this many seeds; the interval's half-width is the resolution: differences smaller
than that are hidden by the noise.
"""

from __future__ import annotations

import math

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


def _t_cdf_upper(t: float, dof: int, points: int = 4001) -> float:
    """P(T > t) of Student's t with ``dof`` degrees of freedom, t >= 0 (Simpson's rule on the
    density over [0, t]; the density is smooth, so 4,001 points give ~1e-10)."""
    x = torch.linspace(0.0, t, points, dtype=torch.float64)
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    density = torch.exp(log_norm - (dof + 1) / 2 * torch.log1p(x * x / dof))
    weights = torch.ones(points, dtype=torch.float64)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    return 0.5 - float((weights * density).sum()) * t / (points - 1) / 3


def t_quantile(q: float, dof: int) -> float:
    """The ``q`` quantile (q > 0.5) of Student's t, by bisection on :func:`_t_cdf_upper`."""
    lo, hi = 0.0, 1e3
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf_upper(mid, dof) > 1 - q else (lo, mid)
    return (lo + hi) / 2


def paired_t(a, b, level: float = 0.95) -> dict:
    """``a`` minus ``b`` seed by seed, read with a paired t-test: the interval
    ``mean +- t * sd / sqrt(n)`` and its two-sided p-value. For few seeds (3 to 9), where the
    sign-flip test of :func:`paired` cannot reach p < 0.05 (it needs at least 6 seeds) and the
    bootstrap interval is too narrow; it assumes the differences are roughly normal."""
    a = torch.as_tensor(a, dtype=torch.float64).flatten()
    b = torch.as_tensor(b, dtype=torch.float64).flatten()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"a paired comparison needs the same >= 2 seeds on both sides, got {len(a)} and {len(b)}")
    d = a - b
    n, mean, sd = len(d), float(d.mean()), float(d.std())
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    p = 1.0 if sd == 0 and mean == 0 else 0.0 if sd == 0 else 2 * _t_cdf_upper(abs(mean) / sd * math.sqrt(n), n - 1)
    verdict = "cannot be told apart" if p >= 1 - level else "higher" if mean > 0 else "lower"
    return {"mean_difference": mean, "ci": [mean - half, mean + half], "p": p, "resolution": half, "n": n,
            "verdict": verdict}
