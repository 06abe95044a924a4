"""Plots of a search run from its logs: reward, baseline, the policy's entropy, shared loss
(metrics.jsonl) and what the controller chooses as the search goes on (architectures.jsonl)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from ..config import load_config
from ..spaces import MACRO_OPS, RNN_FUNCS, MacroArch, MicroArch, RNNArch
from ..runs import RunDir


def _series(records, phase, key):
    rows = [r for r in records if r.get("phase") == phase and key in r]
    return list(range(len(rows))), [r[key] for r in rows]


def _records(records_or_run) -> list[dict]:
    """The metrics records of a run directory, or the records themselves."""
    if isinstance(records_or_run, (str, Path)):
        return RunDir.open(records_or_run).read()
    return list(records_or_run)


def plot_search(records_or_run, axes=None, label: str | None = None):
    """Four panels, two by two: controller reward and baseline, policy entropy, shared loss,
    learning rate. The figure is 6.9 inches wide, the width of the book's text column at 100 dpi,
    so its labels print at their own size (9 points and more) instead of being scaled down.

    The entropy panel shows ``policy_entropy``, the policy's entropy in nats (the sum over the
    decisions of each softmax's entropy; see :class:`enas_edu.controller.Sample`), not the
    official ``entropy_term`` that the bonus adds to the reward, which is not an entropy.
    """
    records = _records(records_or_run)
    if axes is None:
        fig, grid = plt.subplots(2, 2, figsize=(6.9, 5.4))
        axes = grid.ravel()
    x, reward = _series(records, "controller", "reward")
    _, baseline = _series(records, "controller", "baseline")
    axes[0].plot(x, reward, lw=0.8, alpha=0.6, label=f"reward{' ' + label if label else ''}")
    axes[0].plot(x, baseline, lw=1.5, label="EMA baseline")
    axes[0].set(title="controller reward", xlabel="controller update")
    axes[0].legend(fontsize=10)
    x, entropy = _series(records, "controller", "policy_entropy")
    axes[1].plot(x, entropy, label=label)
    axes[1].set(title="policy entropy (nats)", xlabel="controller update")
    x, loss = _series(records, "shared", "loss")
    axes[2].plot(x, loss, label=label)
    axes[2].set(title="shared-weight loss", xlabel="logged window")
    x, lr = _series(records, "epoch", "lr")
    axes[3].plot(x, lr, marker="o", label=label)
    axes[3].set(title="learning rate", xlabel="epoch")
    axes[3].xaxis.set_major_locator(MaxNLocator(integer=True))       # epochs are whole numbers
    for ax in axes:
        # A nearly flat series (an entropy that barely moves) would otherwise be drawn against
        # an offset such as "+1.338e1" in the corner, which reads as a separate number.
        ax.ticklabel_format(axis="y", useOffset=False)
    axes[0].figure.tight_layout()
    return axes[0].figure


def search_summary(records_or_run) -> str:
    """The first and last epoch's reward and policy entropy of a search, as the chapters print
    them beside the plots: the entropy says how much of a rising reward is the controller's."""
    epochs = [r for r in _records(records_or_run) if r.get("phase") == "epoch" and "policy_entropy" in r]
    if not epochs:
        return "no controller epochs logged yet"
    first, last = epochs[0], epochs[-1]
    return (f"epoch {first['epoch']}: reward {first['reward']:.3f}, policy entropy {first['policy_entropy']:.3f} nats; "
            f"epoch {last['epoch']}: reward {last['reward']:.3f}, policy entropy {last['policy_entropy']:.3f} nats")


class LivePlot:
    """A ``callbacks`` entry for notebooks: redraws the four panels every ``every`` records.

    It updates one display in place, so progress bars printed beside it stay visible. When the
    run returns, :meth:`close` (called by the chapters' ``book.search`` and ``book.final``)
    replaces that display with one line, so the finished run's plot, drawn by the next cell,
    is not shown twice.
    """

    def __init__(self, every: int = 20):
        self.every, self.records, self.handle = every, [], None

    def close(self) -> None:
        if self.handle is not None:
            from IPython.display import HTML
            self.handle.update(HTML(f"<p><em>live plot: {len(self.records)} records; the finished run "
                                    "is plotted below</em></p>"))

    def __call__(self, record: dict) -> None:
        self.records.append(record)
        if len(self.records) % self.every == 0 or record.get("phase") == "epoch":
            from IPython.display import display
            fig = plot_search(self.records)
            if self.handle is None:
                self.handle = display(fig, display_id=True)
            else:
                self.handle.update(fig)
            plt.close(fig)


def choice_counts(space, arch) -> dict[str, Counter]:
    """What an architecture chose, by kind of choice (one panel each in :func:`plot_choices`)."""
    if isinstance(arch, RNNArch):
        return {"activation function": Counter(RNN_FUNCS[f] for f in arch.funcs)}
    if isinstance(arch, MacroArch):
        skips = [b for bits in arch.skips for b in bits]
        return {"layer operation": Counter(MACRO_OPS[o] for o in arch.ops),
                "skip connections": Counter({"on": sum(skips), "off": len(skips) - sum(skips)})}
    if isinstance(arch, MicroArch):
        return {f"{name} cell operation": Counter(space.op_names[op] for n in cell for op in (n.x_op, n.y_op))
                for name, cell in (("normal", arch.normal), ("reduction", arch.reduce))}
    raise TypeError(f"no choice counts for {type(arch).__name__}")


def choice_shares(run_dir: str | Path) -> dict[str, dict[str, list[float]]]:
    """Per kind of choice and per name, its share among the epoch's sampled architectures."""
    run = RunDir.open(run_dir)
    space = load_config(run.path / "config.json").net.space()
    by_epoch: dict[int, dict[str, Counter]] = {}
    for record in run.read("architectures.jsonl"):
        counts = by_epoch.setdefault(record["epoch"], {})
        for kind, c in choice_counts(space, space.from_arc_string(record["arc"])).items():
            counts.setdefault(kind, Counter()).update(c)
    epochs = sorted(by_epoch)
    shares: dict[str, dict[str, list[float]]] = {}
    for kind in (by_epoch[epochs[0]] if epochs else {}):
        names = sorted({n for e in epochs for n in by_epoch[e][kind]})
        shares[kind] = {n: [by_epoch[e][kind][n] / sum(by_epoch[e][kind].values()) for e in epochs]
                        for n in names}
    return shares


def plot_choices(run_dir: str | Path):
    """Stacked shares of each choice per epoch: where the controller's policy is heading.

    One panel per kind of choice, stacked vertically; with the legend beside them they fill the
    width of the text column.
    """
    shares = choice_shares(run_dir)
    rows = max(1, len(shares))
    fig, axes = plt.subplots(rows, 1, figsize=(5.4, 2.9 * rows), squeeze=False)
    for ax, (kind, by_name) in zip(axes[:, 0], shares.items()):
        epochs = range(len(next(iter(by_name.values()))))
        ax.stackplot(epochs, *by_name.values(), labels=list(by_name), alpha=0.85)
        ax.set(title=kind, xlabel="epoch", ylabel="share of sampled choices", ylim=(0, 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
