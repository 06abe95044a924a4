"""Architectures as diagrams, drawn with matplotlib alone (no graphviz to install on Colab).

``draw(space, arch)`` picks the drawing of the space:
- RNN cell: states left to right, each edge labelled with the function of the node it feeds;
- macro network: layers top to bottom with their ops, skip connections as arcs on the side;
- micro cells: the normal and the reduction cell side by side, each top to bottom, every node's
  box saying what it computes, loose ends into "concat".
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..spaces import (MACRO_OPS, MICRO_OPS, RNN_FUNCS, MacroSpace, MicroSpace, RNNCellSpace,
                      loose_ends, rnn_loose_ends)

BOX = dict(boxstyle="round,pad=0.3", linewidth=1.0)
#: The rendered book's text column is about 690 pixels wide, 6.9 inches at the inline backend's
#: 100 dpi: drawings are sized to fit it, so their labels print at these sizes (points, 9 and
#: more on the page) instead of being scaled down.
COLUMN_INCHES, NODE_FONT, EDGE_FONT, TITLE_FONT = 6.9, 11, 10, 12
MICRO_FONT = 9                 # a micro node's "5 = sep3(1) + sep5(0)" in half the column
ROW, CELL_BOX = 1.3, 6.0       # micro cells: rows apart, and the width of a node's box (data units)
CELL_SIDE = CELL_BOX / 2 + 0.45  # where a micro cell's input arcs run: just outside box and padding
#: Short operation names (the full ones are ``MACRO_OPS`` and ``MICRO_OPS``): in a macro layer's
#: box, in a micro node's box, and in the supernet's small boxes.
SHORT = {"conv3x3": "conv 3x3", "sep3x3": "sep 3x3", "conv5x5": "conv 5x5", "sep5x5": "sep 5x5",
         "avgpool3x3": "avg", "maxpool3x3": "max"}
TINY = {"sep3x3": "sep3", "sep5x5": "sep5", "avgpool3x3": "avg", "maxpool3x3": "max", "identity": "id"}
SKIP_COLORS = ["#c0392b", "#2874a6", "#239b56", "#b9770e", "#7d3c98", "#17a589", "#a04000", "#5d6d7e"]
CODE = {"conv3x3": "c3", "sep3x3": "s3", "conv5x5": "c5", "sep5x5": "s5", "avgpool3x3": "avg", "maxpool3x3": "max"}


def _figsize(width_units: float, height_units: float, per_unit: float = 0.62) -> tuple[float, float]:
    """Inches for a drawing of this many data units: ``per_unit`` inches each, at most a column."""
    scale = min(per_unit, COLUMN_INCHES / width_units)
    return width_units * scale, max(1.6, height_units * scale + 0.4)


def _node(ax, xy, text, color="#e8eef7", width=0.7, fontsize=NODE_FONT):
    """A box with its label, drawn above every line (zorder 3-4): arrows that pass a node run
    behind it instead of across its label."""
    ax.add_patch(FancyBboxPatch((xy[0] - width / 2, xy[1] - 0.2), width, 0.4, facecolor=color, edgecolor="#334",
                                zorder=3, **BOX))
    ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, zorder=4)


def _edge(ax, a, b, label="", rad=0.0, color="#445", at=0.6):
    """An arrow a -> b; the label sits ``at`` of the way along, nearer the target."""
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9, color=color, lw=1.0,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=16, shrinkB=16))
    if label:
        mx, my = a[0] + at * (b[0] - a[0]), a[1] + at * (b[1] - a[1])
        ax.text(mx, my, label, ha="center", va="center", fontsize=EDGE_FONT, color="#223",
                bbox=dict(boxstyle="round,pad=0.1", facecolor="white", edgecolor="none", alpha=0.85))


def _side_arc(ax, x, y_from, y_to, bend, color="#445", lw=1.0, size=9, zorder=1):
    """A vertical arrow at ``x`` from ``y_from`` down to ``y_to``, bowed outwards by ``bend``
    (negative bows right, positive left): the skips and node inputs drawn beside a column of boxes."""
    ax.add_patch(FancyArrowPatch((x, y_from), (x, y_to), arrowstyle="-|>", mutation_scale=size, color=color,
                                 lw=lw, shrinkA=0, shrinkB=0, connectionstyle=f"arc3,rad={bend}", zorder=zorder))


MARGIN_X, MARGIN_Y = 0.9, 0.7   # around the points a drawing's view is fixed on (data units)


def _finish(ax, title, points):
    """Fix the view on the nodes (patches do not take part in autoscaling)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.set_xlim(min(xs) - MARGIN_X, max(xs) + MARGIN_X)
    ax.set_ylim(min(ys) - MARGIN_Y, max(ys) + MARGIN_Y)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.axis("off")


def draw_rnn(arch, ax=None):
    """The recurrent cell: state 0 (the input) on the left, node j at x = j, in two rows.

    Each node's box holds its number and its activation function (the function belongs to the
    node: f_j in s_j = s_p + sigma(c_j) * (f_j(h_j) - s_p)), so no label sits on an arrow."""
    ax = ax or plt.subplots(figsize=_figsize(1.6 * (arch.num_nodes + 1) + 2.6, 3.2))[1]
    paper = arch.layout == "paper"
    pos = {0: (0, 0)}
    _node(ax, pos[0], "x, h" if paper else "s0", "#f3e6c8", width=0.9)
    bows = []                               # the farthest point of each curved arrow
    for j in range(1, arch.num_nodes + 1):
        pos[j] = (1.6 * j, 0.9 * ((j % 2) * 2 - 1))
        _node(ax, pos[j], f"{j} {RNN_FUNCS[arch.funcs[j - 1]]}", width=2.0, fontsize=EDGE_FONT)
        (x0, y0), (x1, y1) = pos[arch.prevs[j - 1]], pos[j]
        rad = 0.25 if arch.prevs[j - 1] != j - 1 else 0
        _edge(ax, (x0, y0), (x1, y1), rad=rad)
        # arc3 bends towards mid + rad * (dy, -dx); the curve reaches half of that offset
        bows.append(((x0 + x1) / 2 + rad / 2 * (y1 - y0), (y0 + y1) / 2 - rad / 2 * (x1 - x0)))
    out = (1.6 * (arch.num_nodes + 1), 0)
    _node(ax, out, "h_t", "#d9f0d9", width=0.9)
    for j in (rnn_loose_ends(arch) if paper else range(1, arch.num_nodes + 1)):
        _edge(ax, pos[j], out, color="#9a9")
    _finish(ax, f"RNN cell, {arch.layout} layout: node and its function (green: into the mean h_t)",
            list(pos.values()) + [out] + bows)
    return ax


def draw_macro(arch, ax=None):
    """The macro network top to bottom: the stem, then layer k in row k + 1; skips as arcs on
    the right, from the box of the layer read (a dot) to the box of the layer reading it, one
    colour per layer read, so arcs that share a source are seen to share it."""
    L = arch.num_layers
    ax = ax or plt.subplots(figsize=(4.2, 0.55 * ROW * (L + 2) + 0.6))[1]
    width = 2.2
    side_x = width / 2 + 0.45
    entries = [(0, 0)]                      # [stem, out_0, ...]: what skip bits point at
    _node(ax, entries[0], "stem", "#f3e6c8", width=width)
    for k in range(L):
        xy = (0, -ROW * (k + 1))
        _node(ax, xy, SHORT[MACRO_OPS[arch.ops[k]]], width=width)
        _edge(ax, entries[-1], xy)
        for i, bit in enumerate(arch.skips[k]):
            if bit:   # coloured by the entry it leaves, with a dot there: where each arc starts
                color = SKIP_COLORS[i % len(SKIP_COLORS)]
                _side_arc(ax, side_x, entries[i][1], xy[1], -0.25, color=color)
                ax.plot([side_x], [entries[i][1]], "o", color=color, ms=4, zorder=2)
        entries.append(xy)
    head = (0, -ROW * (L + 1))
    _node(ax, head, "GAP + FC", "#d9f0d9", width=width)
    _edge(ax, entries[-1], head)
    bulge = 0.25 * ROW * L / 2
    _finish(ax, f"macro network, {L} layers\n(skips: one colour per source)",
            [(-side_x, 0), (side_x + bulge, head[1])])
    return ax


def _micro_corners(num_nodes: int) -> list[tuple[float, float]]:
    """The corners of a micro cell's drawing: its inputs' arcs run at +-CELL_SIDE, the longest
    one reaching out by its bulge; the concat box is the bottom."""
    bulge = 0.18 * ROW * (num_nodes + 1) / 2
    return [(-CELL_SIDE - bulge, 0.0), (CELL_SIDE + bulge, -ROW * (num_nodes + 2))]


def _micro_height(num_nodes: int) -> float:
    """Inches of a micro cell's panel when it is half the text column wide: the drawing keeps
    its aspect, so the height follows from its extent."""
    (x0, y0), (x1, y1) = _micro_corners(num_nodes)
    wide, high = x1 - x0 + 2 * MARGIN_X, y0 - y1 + 2 * MARGIN_Y
    return COLUMN_INCHES / 2 * high / wide + 0.5


def draw_micro_cell(cell, title, ax=None):
    """One cell, top to bottom: inputs 0 and 1, node i + 2 in row i + 2, then "concat".

    Each node's box says what it computes (``2 = avg(0) + sep3(1)``: sep3 and sep5 are the 3 x 3
    and 5 x 5 separable convolutions, id the identity), so no label sits on an
    edge: the x input arrives by an arc on the left, the y input by one on the right, and the
    concat box lists the loose ends.
    """
    ax = ax or plt.subplots(figsize=(COLUMN_INCHES / 2, _micro_height(len(cell))))[1]
    pos = {0: (0.0, 0.0), 1: (0.0, -ROW)}
    _node(ax, pos[0], "in 0", "#f3e6c8", width=CELL_BOX)
    _node(ax, pos[1], "in 1", "#f3e6c8", width=CELL_BOX)
    for i, node in enumerate(cell):
        xy = (0.0, -ROW * (i + 2))
        pos[i + 2] = xy
        text = (f"{i + 2} = {TINY[MICRO_OPS[node.x_op]]}({node.x_input})"
                f" + {TINY[MICRO_OPS[node.y_op]]}({node.y_input})")
        _node(ax, xy, text, width=CELL_BOX, fontsize=MICRO_FONT)
        for src, side in ((node.x_input, -1), (node.y_input, 1)):
            _side_arc(ax, side * CELL_SIDE, pos[src][1], xy[1], -side * 0.18)
    out = (0.0, -ROW * (len(cell) + 2))
    _node(ax, out, "concat " + ", ".join(str(e) for e in loose_ends(cell)), "#d9f0d9", width=CELL_BOX)
    _finish(ax, title, _micro_corners(len(cell)))
    return ax


def draw_supernet(space, arch, ax=None):
    """The whole macro supernet with one child in it (paper Figure 5's idea, for the macro space).

    Every layer holds all six operations (gray boxes) and may read every earlier layer (gray
    arcs): that graph *is* the supernet, and its weights are the shared weights. The sampled
    child ``arch`` is one operation per layer (orange) and a subset of the arcs (red); training
    it for one step updates exactly those weights.
    """
    if not isinstance(space, MacroSpace):
        raise ValueError(f"draw_supernet draws the macro space; got {space!r}")
    space.validate(arch)
    L, ops = arch.num_layers, len(MACRO_OPS)
    gap, box = 1.3, 0.6
    ax = ax or plt.subplots(figsize=(COLUMN_INCHES, 0.62 * ROW * (L + 2) + 0.8))[1]
    xs = [gap * (j - (ops - 1) / 2) for j in range(ops)]
    right = xs[-1] + box / 2 + 0.45
    rows = [0.0] + [-ROW * (k + 1) for k in range(L)]        # the stem, then layer k
    _node(ax, (0.0, 0.0), "stem", "#f3e6c8", width=2.0)
    chosen_prev = (0.0, 0.0)
    for k in range(L):
        y = rows[k + 1]
        for j, x in enumerate(xs):
            on = j == arch.ops[k]
            _node(ax, (x, y), CODE[MACRO_OPS[j]], "#f5b971" if on else "#eeeeee", width=box, fontsize=EDGE_FONT)
            ax.add_patch(FancyArrowPatch(chosen_prev, (x, y), arrowstyle="-|>", mutation_scale=7, lw=1.2 if on else 0.5,
                                         color="#333" if on else "#bbb", shrinkA=14, shrinkB=14))
        chosen_prev = (xs[arch.ops[k]], y)
        for i in range(k):          # skips from entries 0..k-1 of [stem, out_0, ...]: all possible, chosen in red
            on = bool(arch.skips[k][i])
            _side_arc(ax, right, rows[i], y, -0.25, color="#c55" if on else "#ccc", lw=1.3 if on else 0.6,
                      size=7, zorder=3 if on else 1)
    head = (0.0, -ROW * (L + 1))
    _node(ax, head, "GAP + FC", "#d9f0d9", width=2.0)
    ax.add_patch(FancyArrowPatch(chosen_prev, head, arrowstyle="-|>", mutation_scale=7, color="#333",
                                 lw=1.2, shrinkA=14, shrinkB=14))
    bulge = 0.25 * ROW * L / 2
    _finish(ax, f"{L}-layer macro supernet (gray), one child in it (orange, red)",
            [(xs[0] - 0.4, 0.0), (right + bulge, head[1])])
    ax.title.set_fontsize(EDGE_FONT + 1)
    return ax.figure


def draw(space, arch, axes=None):
    """Draw ``arch`` of ``space``; returns the matplotlib figure."""
    space.validate(arch)
    if isinstance(space, MicroSpace):
        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(COLUMN_INCHES, _micro_height(space.num_nodes)))
        draw_micro_cell(arch.normal, "normal cell", axes[0])
        draw_micro_cell(arch.reduce, "reduction cell", axes[1])
        return axes[0].figure
    if isinstance(space, MacroSpace):
        return draw_macro(arch, axes).figure
    if isinstance(space, RNNCellSpace):
        return draw_rnn(arch, axes).figure
    raise ValueError(f"no drawing for {space!r}")
