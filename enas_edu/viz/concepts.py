"""Conceptual figures of the book, drawn with matplotlib alone: what the method *does*, where the
other drawings show what an architecture *is*.

- :func:`draw_search_parts`: the three parts of every architecture search and where ENAS
  changes one of them (chapter 1);
- :func:`draw_controller_unrolled`: the macro controller unrolled over its decisions, with the
  inputs each step reads and the attention of the skip decisions over earlier anchors
  (chapter 2), labelled with a real sample of :class:`~enas_edu.controller.Controller`;
- :func:`draw_search_loop`: one epoch of ENAS, the shared-weight phase and the controller phase
  (chapters 4 and 6);
- :func:`draw_estimates`: the chain of estimates between a one-batch reward and a published
  result, with the chapter that measures each link (chapter 10).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..spaces import MACRO_OPS, MacroSpace
from .draw import COLUMN_INCHES, EDGE_FONT, NODE_FONT, TITLE_FONT

BLUE, ORANGE, GREEN, GRAY = "#e8eef7", "#fde3c8", "#dff0d8", "#eeeeee"
OP_NAMES = {"conv3x3": "conv 3x3", "sep3x3": "sep 3x3", "conv5x5": "conv 5x5", "sep5x5": "sep 5x5",
            "avgpool3x3": "avg pool", "maxpool3x3": "max pool"}


def _box(ax, x, y, w, h, text, color=BLUE, fontsize=NODE_FONT, **kwargs):
    """A rounded box centred at (x, y), ``w`` x ``h`` data units, with centred text."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05,rounding_size=0.12",
                                facecolor=color, edgecolor="#445", linewidth=1.0, **kwargs))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, a, b, text="", rad=0.0, color="#445", dashed=False, fontsize=EDGE_FONT, lw=1.2):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, color=color, lw=lw,
                                 linestyle="--" if dashed else "-", connectionstyle=f"arc3,rad={rad}",
                                 shrinkA=2, shrinkB=2))
    if text:
        mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize,
                bbox=dict(facecolor="white", edgecolor="none", pad=1.0))


def _canvas(width, height, title, bottom=0.0):
    fig, ax = plt.subplots(figsize=(COLUMN_INCHES, COLUMN_INCHES * (height - bottom) / width))
    ax.set_xlim(0, width)
    ax.set_ylim(bottom, height)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title, fontsize=TITLE_FONT)
    return fig, ax


def draw_search_parts():
    """The search space, the strategy and the performance estimate in their loop; the estimate
    is the part ENAS replaces (a forward pass with shared weights instead of a training run)."""
    fig, ax = _canvas(14, 5.6, "the three parts of an architecture search")
    _box(ax, 2.0, 3.9, 3.4, 1.3, "search space\nwhich networks\nexist")
    _box(ax, 7.0, 3.9, 3.4, 1.3, "search strategy\nproposes the\nnext one")
    _box(ax, 12.0, 3.9, 3.4, 1.3, "performance\nestimate: how\ngood is it?", color=ORANGE)
    _arrow(ax, (3.7, 3.9), (5.3, 3.9))
    _arrow(ax, (8.7, 4.15), (10.3, 4.15))
    _arrow(ax, (10.3, 3.65), (8.7, 3.65))
    ax.text(9.5, 4.45, "architecture", ha="center", fontsize=EDGE_FONT - 1)
    ax.text(9.5, 3.25, "score", ha="center", fontsize=EDGE_FONT - 1)
    _box(ax, 12.0, 1.0, 3.6, 1.3, "NAS: train it alone\n(hours per network)", color=GRAY, fontsize=EDGE_FONT - 1)
    _box(ax, 7.0, 1.0, 4.4, 1.3, "ENAS: one forward pass of\nthe shared weights (ms)", color=GREEN,
         fontsize=EDGE_FONT - 1)
    _arrow(ax, (12.0, 1.65), (12.0, 3.25), dashed=True)
    _arrow(ax, (9.2, 1.4), (10.8, 3.25), dashed=True)
    fig.tight_layout()
    return fig


def draw_controller_unrolled(num_layers: int = 3, seed: int = 0):
    """The macro controller (``Controller(MacroSpace(num_layers))``) unrolled: two LSTM steps per
    layer. The first step's output goes through a softmax over the six operations; the chosen
    operation's embedding is the second step's input, whose output is the layer's *anchor*.
    From layer 2 on, the anchor attends to every earlier anchor, one sigmoid per earlier layer
    (the skip bits), and the mean of the chosen anchors is the next step's input. Labelled with
    the choices of one real sample (``seed``)."""
    from ..controller import Controller
    space = MacroSpace(num_layers=num_layers)
    torch.manual_seed(seed)
    arch = Controller(space).sample(generator=torch.Generator().manual_seed(seed)).arch
    steps = 2 * num_layers
    width, height = 2.5 * steps + 0.4, 6.8
    fig, ax = _canvas(width, height, f"the macro controller, unrolled (one sample: "
                      f"{space.to_arc_string(arch)})", bottom=-1.6)
    xs = [1.45 + 2.5 * i for i in range(steps)]
    y_in, y_lstm, y_out = 0.8, 3.2, 5.3
    for i, x in enumerate(xs):
        k, second = divmod(i, 2)
        _box(ax, x, y_lstm, 1.5, 0.9, "LSTM")
        if i:
            _arrow(ax, (xs[i - 1] + 0.75, y_lstm), (x - 0.75, y_lstm))
        if not second:
            feed = "mean of\nchosen\nanchors" if k > 1 else "g_emb"
            out = f"op {k + 1}:\n{OP_NAMES[MACRO_OPS[arch.ops[k]]]}"
            _box(ax, x, y_out, 2.1, 1.1, out, color=ORANGE, fontsize=EDGE_FONT - 1)
            _arrow(ax, (x, y_lstm + 0.45), (x, y_out - 0.55), "softmax", fontsize=EDGE_FONT - 2)
        else:
            feed = "emb(op)"
            bits = " ".join(map(str, arch.skips[k]))
            _box(ax, x, y_out, 2.1, 1.1, f"skips {k + 1}:\n{bits}" if k else "anchor 1",
                 color=GREEN if k else GRAY, fontsize=EDGE_FONT - 1)
            if k:
                _arrow(ax, (x, y_lstm + 0.45), (x, y_out - 0.55), "attention", fontsize=EDGE_FONT - 2)
                for j in range(k):                      # attention over the anchors of earlier layers
                    _arrow(ax, (xs[2 * j + 1] + 0.3, y_lstm - 0.45), (x - 0.3, y_lstm - 0.45),
                           rad=0.25, color="#2a7", dashed=True, lw=1.0)
            else:
                _arrow(ax, (x, y_lstm + 0.45), (x, y_out - 0.55))
        ax.text(x, y_in, feed, ha="center", va="center", fontsize=EDGE_FONT - 1)
        _arrow(ax, (x, y_in + 0.35), (x, y_lstm - 0.45))
    ax.text(width / 2, -0.5, "anchor of a layer: the output of its second step\ndashed green: a skip "
            "decision attends to every earlier anchor", ha="center", va="top", fontsize=EDGE_FONT - 1,
            color="#2a7")
    fig.tight_layout()
    return fig


def draw_search_loop():
    """One epoch of ENAS (paper section 2.2): the shared phase trains the weights omega on the
    training split, one sampled child per minibatch; the controller phase trains theta by
    REINFORCE on rewards measured on validation minibatches; then the next epoch; ``derive``
    at the end."""
    fig, ax = _canvas(14, 6.2, "one epoch of ENAS, repeated")
    _box(ax, 3.0, 4.1, 5.2, 2.3, "shared phase\nfor each training minibatch:\nsample one child (M = 1),\n"
         "SGD step on its weights $\\omega$", color=BLUE, fontsize=EDGE_FONT)
    _box(ax, 11.0, 4.1, 5.2, 2.3, "controller phase\nfix $\\omega$; sample children;\nreward on a validation\n"
         "batch; REINFORCE on $\\theta$", color=ORANGE, fontsize=EDGE_FONT)
    _arrow(ax, (5.6, 4.5), (8.4, 4.5))
    _arrow(ax, (8.4, 3.7), (5.6, 3.7))
    ax.text(7.0, 4.8, "then", ha="center", fontsize=EDGE_FONT - 1)
    ax.text(7.0, 3.3, "next epoch", ha="center", fontsize=EDGE_FONT - 1)
    _box(ax, 7.0, 0.9, 8.0, 1.2, "after the last epoch: derive (sample, score, pick),\n"
         "then train the chosen child from scratch", color=GREEN, fontsize=EDGE_FONT)
    _arrow(ax, (11.0, 2.95), (9.5, 1.5), dashed=True)
    fig.tight_layout()
    return fig


def draw_estimates():
    """How good a child is, four ways, from the cheapest to the one a paper reports, with the
    chapter that measures how well each predicts the next."""
    fig, ax = _canvas(14.5, 5.6, "from a reward to a result: four estimates of one child")
    labels = [("reward: one\nvalidation batch,\nshared weights", ORANGE),
              ("whole validation\nset, shared\nweights", BLUE),
              ("trained alone\n(ground truth,\nmany seeds)", GREEN),
              ("final training\nat full size\n(a paper's result)", GRAY)]
    xs = [1.7, 5.4, 9.1, 12.8]
    for x, (text, color) in zip(xs, labels):
        _box(ax, x, 3.6, 3.0, 2.0, text, color=color, fontsize=EDGE_FONT - 1)
    gaps = ["batch noise\n(ch. 8)", "shared vs alone\n(ch. 4, 9)", "small vs full size\n(ch. 8, 10)"]
    for a, b, gap in zip(xs, xs[1:], gaps):
        _arrow(ax, (a + 1.5, 3.6), (b - 1.5, 3.6))
        ax.text((a + b) / 2, 1.8, gap, ha="center", va="center", fontsize=EDGE_FONT - 1)
    ax.text(7.25, 0.6, "each arrow is a rank correlation below 1:\na search is only as good as its weakest link",
            ha="center", va="center", fontsize=EDGE_FONT - 1)
    fig.tight_layout()
    return fig
