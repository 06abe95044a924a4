"""Plots of the ground-truth study (``enas_edu.bench.study``): what each method found, and how
well the shared weights rank the whole space as they train. Panels are stacked, so each is
read at the page's full width."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from ..bench.study import SHARED

LABELS = {"enas": "ENAS", "no-controller": "ENAS, controller\nnot trained",
          "rsws": "random search\nweight sharing", "random": "random sampling\n(no sharing)"}


def plot_found(runs: list[dict], truth, ax=None):
    """True test accuracy of every derived child, by method (one dot per seed, mean +- std),
    against the space: its best child, and the median and 90th percentile of all children."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.9, 4.2))
    methods = list(dict.fromkeys(r["method"] for r in runs))
    dist = truth.distribution("test")
    for y, name, style in ((dist["max"], "best child of the space", "-"), (dist["p90"], "90th percentile", "--"),
                           (dist["median"], "median child", ":")):
        ax.axhline(y, color="0.4", ls=style, lw=1, label=f"{name} ({y:.3f})")
    for i, m in enumerate(methods):
        acc = [r["true_test"] for r in runs if r["method"] == m]
        ax.scatter([i + 0.08 * ((k % 5) - 2) for k in range(len(acc))], acc, s=22, alpha=0.7, zorder=3)
        mean = sum(acc) / len(acc)
        std = (sum((a - mean) ** 2 for a in acc) / max(len(acc) - 1, 1)) ** 0.5
        ax.errorbar(i + 0.3, mean, yerr=std, fmt="D", color="black", ms=5, capsize=4, zorder=4)
    ax.set_xticks(range(len(methods)), [LABELS.get(m, m) for m in methods], fontsize=10)
    found = [r["true_test"] for r in runs] + [dist["max"], dist["median"]]
    pad = 0.08 * (max(found) - min(found))               # the best child's line off the border
    ax.set_ylim(min(found) - pad, max(found) + pad)
    ax.set_ylabel("true test accuracy (table)", fontsize=10)
    ax.set_title(f"the child each method chose, {len(runs) // len(methods)} seeds each", fontsize=11)
    # below the axes, not inside: inside it hid some methods' dots
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    fig.tight_layout()
    return fig


def plot_ranking(summary: dict, ax=None):
    """Kendall's tau between shared-weight and true scores over the scored children, by epoch
    (mean +- std over seeds), for the three methods that share weights, under the table's
    ceiling (the tau a scorer that knew every true accuracy would reach, where recorded)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.9, 3.8))
    for m in SHARED:
        rows = summary["methods"].get(m, {}).get("correlation")
        if not rows:
            continue
        epochs = [r["epoch"] for r in rows]
        mean = [r["kendall_tau"]["mean"] for r in rows]
        std = [r["kendall_tau"]["std"] for r in rows]
        ax.errorbar(epochs, mean, yerr=std, marker="o", capsize=3, label=LABELS[m].replace("\n", " "))
    ax.axhline(0, color="0.5", lw=0.8)
    ceiling = (summary.get("reliability") or {}).get("ceiling_kendall")
    if ceiling is not None:             # what a scorer that knew every true accuracy would reach
        ax.axhline(ceiling, color="0.3", ls="--", lw=1, label=f"ceiling of the table ({ceiling:.2f})")
    ax.set_xlabel("epoch of the search (shared weights trained so far)", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Kendall tau, shared vs true", fontsize=10)
    ax.set_title("how well the shared weights rank every child", fontsize=11)
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
