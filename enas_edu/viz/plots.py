"""Plots of a search run from its metrics.jsonl: reward, baseline, entropy, shared loss."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from ..training import RunDir


def _series(records, phase, key):
    rows = [r for r in records if r.get("phase") == phase and key in r]
    return list(range(len(rows))), [r[key] for r in rows]


def plot_search(records_or_run, axes=None, label: str | None = None):
    """Four panels: controller reward and baseline, entropy, shared loss, learning rate."""
    records = (RunDir(records_or_run).read() if isinstance(records_or_run, (str, Path))
               else list(records_or_run))
    if axes is None:
        fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    x, reward = _series(records, "controller", "reward")
    _, baseline = _series(records, "controller", "baseline")
    axes[0].plot(x, reward, lw=0.8, alpha=0.6, label=f"reward{' ' + label if label else ''}")
    axes[0].plot(x, baseline, lw=1.5, label="EMA baseline")
    axes[0].set(title="controller reward", xlabel="controller update")
    axes[0].legend(fontsize=7)
    x, entropy = _series(records, "controller", "entropy")
    axes[1].plot(x, entropy, label=label)
    axes[1].set(title="sample entropy", xlabel="controller update")
    x, loss = _series(records, "shared", "loss")
    axes[2].plot(x, loss, label=label)
    axes[2].set(title="shared-weight loss", xlabel="logged window")
    x, lr = _series(records, "epoch", "lr")
    axes[3].plot(x, lr, marker="o", label=label)
    axes[3].set(title="learning rate", xlabel="epoch")
    axes[0].figure.tight_layout()
    return axes[0].figure


class LivePlot:
    """A ``callbacks`` entry for notebooks: redraws the four panels every ``every`` records."""

    def __init__(self, every: int = 20):
        self.every, self.records = every, []

    def __call__(self, record: dict) -> None:
        self.records.append(record)
        if len(self.records) % self.every == 0 or record.get("phase") == "epoch":
            from IPython.display import clear_output, display
            clear_output(wait=True)
            fig = plot_search(self.records)
            display(fig)
            plt.close(fig)
