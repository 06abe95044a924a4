"""Is the controller learning? Its samples' true accuracy and its policy's entropy, per update.

A controller trained by REINFORCE learns when its policy *concentrates* (the entropy falls from
its uniform maximum) on architectures that are *better* than uniform samples, judged by a truth
the search did not read (issue #28). :func:`plot_controller_learning` draws both for one or more
runs: the mean true accuracy of each update's samples beside the space's mean (what uniform
sampling draws on average), and the policy's entropy on an axis from 0 to its uniform maximum.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator


def plot_controller_learning(runs: dict[str, list[dict]], uniform: float, max_entropy: float,
                             x: str = "spent", xlabel: str = "trainings spent (distinct networks observed)"):
    """``runs``: name -> per-update records with ``x``, ``held_out`` (true accuracy of the
    update's samples) and ``policy_entropy`` (as :func:`enas_edu.bench.strategies.reinforce_search`
    records them). Returns the figure (two panels, sharing the x axis)."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.9, 5.2), sharex=True)
    for name, records in runs.items():
        xs = [r[x] for r in records]
        top.plot(xs, [r["held_out"] for r in records], label=f"controller, {name}")
        bottom.plot(xs, [r["policy_entropy"] for r in records], label=name)
    top.axhline(uniform, color="black", ls=":", lw=1, label="uniform sampling (space mean)")
    top.set_ylabel("true accuracy of samples", fontsize=10)
    top.legend(fontsize=8, loc="lower right")
    bottom.axhline(max_entropy, color="black", ls="--", lw=1, label="uniform maximum")
    bottom.set_ylim(0, max_entropy * 1.08)
    bottom.set_ylabel("policy entropy (nats)", fontsize=10)
    bottom.set_xlabel(xlabel, fontsize=10)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))     # epochs, trainings: whole numbers
    bottom.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig
