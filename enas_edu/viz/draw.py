"""Architectures as diagrams, drawn with matplotlib alone (no graphviz to install on Colab).

``draw(space, arch)`` picks the drawing of the space:
- RNN cell: states left to right, each edge labelled with the function of the node it feeds;
- macro network: layers top to bottom with their ops, skip connections as arcs on the side;
- micro cells: the normal and the reduction cell, inputs on the left, loose ends into "concat".
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..spaces import (MACRO_OPS, MICRO_OPS, RNN_FUNCS, MacroSpace, MicroSpace, RNNCellSpace,
                      loose_ends, rnn_loose_ends)

BOX = dict(boxstyle="round,pad=0.3", linewidth=1.0)


def _node(ax, xy, text, color="#e8eef7"):
    ax.add_patch(FancyBboxPatch((xy[0] - 0.35, xy[1] - 0.2), 0.7, 0.4, facecolor=color, edgecolor="#334", **BOX))
    ax.text(*xy, text, ha="center", va="center", fontsize=8)


def _edge(ax, a, b, label="", rad=0.0, color="#445", at=0.6):
    """An arrow a -> b; the label sits ``at`` of the way along, nearer the target."""
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9, color=color, lw=1.0,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=16, shrinkB=16))
    if label:
        mx, my = a[0] + at * (b[0] - a[0]), a[1] + at * (b[1] - a[1])
        ax.text(mx, my, label, ha="center", va="center", fontsize=7, color="#223",
                bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.85))


def _finish(ax, title, points):
    """Fix the view on the nodes (patches do not take part in autoscaling)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.set_xlim(min(xs) - 0.9, max(xs) + 0.9)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def draw_rnn(arch, ax=None):
    """The recurrent cell: state 0 (the input) on the left, node j at x = j."""
    ax = ax or plt.subplots(figsize=(1.1 * (arch.num_nodes + 2), 2.6))[1]
    paper = arch.layout == "paper"
    pos = {0: (0, 0)}
    _node(ax, pos[0], "x_t, h_t-1" if paper else "s0 (tanh)", "#f3e6c8")
    for j in range(1, arch.num_nodes + 1):
        pos[j] = (1.6 * j, 0.9 * ((j % 2) * 2 - 1) * (j > 0))
        _node(ax, pos[j], str(j))
        _edge(ax, pos[arch.prevs[j - 1]], pos[j], RNN_FUNCS[arch.funcs[j - 1]], rad=0.25 if arch.prevs[j - 1] != j - 1 else 0)
    out = (1.6 * (arch.num_nodes + 1), 0)
    _node(ax, out, "h_t (mean)", "#d9f0d9")
    for j in (rnn_loose_ends(arch) if paper else range(1, arch.num_nodes + 1)):
        _edge(ax, pos[j], out, color="#9a9")
    _finish(ax, f"RNN cell ({arch.layout} layout)", list(pos.values()) + [out])
    return ax


def draw_macro(arch, ax=None):
    """The macro network: the stem, then layer k below it; skips as arcs."""
    L = arch.num_layers
    ax = ax or plt.subplots(figsize=(3.0, 0.8 * (L + 2)))[1]
    entries = [(0, 0)]                      # [stem, out_0, ...]: what skip bits point at
    _node(ax, entries[0], "stem", "#f3e6c8")
    for k in range(L):
        xy = (0, -(k + 1))
        _node(ax, xy, MACRO_OPS[arch.ops[k]])
        _edge(ax, entries[-1], xy)
        for i, bit in enumerate(arch.skips[k]):
            if bit:
                _edge(ax, entries[i], xy, rad=-0.5 - 0.05 * (k - i), color="#c55")
        entries.append(xy)
    _node(ax, (0, -(L + 1)), "GAP + FC", "#d9f0d9")
    _edge(ax, entries[-1], (0, -(L + 1)))
    _finish(ax, f"macro network, {L} layers (red: skips)", [(-1.5, 0), (1.0, -(L + 1))])
    return ax


def draw_micro_cell(cell, title, ax=None):
    """One cell: inputs 0 and 1 on the left, node i + 2 in column i + 1, loose ends to concat."""
    ax = ax or plt.subplots(figsize=(1.6 * (len(cell) + 3), 3.4))[1]
    pos = {0: (0, 1.0), 1: (0, -1.0)}
    _node(ax, pos[0], "in 0", "#f3e6c8")
    _node(ax, pos[1], "in 1", "#f3e6c8")
    for i, node in enumerate(cell):
        xy = (2.0 * (i + 1), 1.5 if i % 2 == 0 else -1.5)
        pos[i + 2] = xy
        _node(ax, xy, f"node {i + 2}")
        _edge(ax, pos[node.x_input], xy, MICRO_OPS[node.x_op], rad=0.2, at=0.7)
        _edge(ax, pos[node.y_input], xy, MICRO_OPS[node.y_op], rad=-0.2, at=0.55)
    out = (2.0 * (len(cell) + 1), 0)
    _node(ax, out, "concat", "#d9f0d9")
    for s in loose_ends(cell):
        _edge(ax, pos[s], out, color="#9a9")
    _finish(ax, title, list(pos.values()) + [out])
    return ax


def draw(space, arch, axes=None):
    """Draw ``arch`` of ``space``; returns the matplotlib figure."""
    space.validate(arch)
    if isinstance(space, MicroSpace):
        if axes is None:
            fig, axes = plt.subplots(2, 1, figsize=(1.6 * (space.num_nodes + 3), 7.0))
        draw_micro_cell(arch.normal, "normal cell", axes[0])
        draw_micro_cell(arch.reduce, "reduction cell", axes[1])
        return axes[0].figure
    if isinstance(space, MacroSpace):
        return draw_macro(arch, axes).figure
    if isinstance(space, RNNCellSpace):
        return draw_rnn(arch, axes).figure
    raise ValueError(f"no drawing for {space!r}")
