"""NAS's own two search spaces (Zoph & Le 2017), written out and drawn for chapter 3.

ENAS does not search these spaces; it simplifies them so that every decision selects weights
that already exist in one supernet. Seeing the originals makes that change concrete:

- the **convolutional controller** (NAS sections 3.1 and 3.3) writes a plain stack of layers,
  one LSTM step per decision: an anchor point (one sigmoid per earlier layer: read it or not),
  then filter height, filter width, stride height, stride width and number of filters;
- the **recurrent cell** (NAS section 3.4, Figure 5) is a fixed binary tree of computations:
  the controller labels every node with a way to combine its two inputs and an activation, then
  says where the memory ``c_{t-1}`` is injected, how, and which node's value becomes ``c_t``.

Nothing here trains; these functions sample, check and draw the decision sequences so that the
chapter's figures come from data rather than from a hand-made picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .draw import COLUMN_INCHES, EDGE_FONT, NODE_FONT, TITLE_FONT, _side_arc

#: NAS section 4.1 (CIFAR-10): the values a convolutional layer chooses among. Strides were
#: either fixed to 1 or predicted in [1, 2, 3] (two sets of experiments).
FILTER_SIZES = (1, 3, 5, 7)
NUM_FILTERS = (24, 36, 48, 64)
STRIDES = (1, 2, 3)
#: NAS section 4.2 (Penn Treebank): how a tree node combines its two inputs, and its activation.
COMBINE = ("add", "mul")
ACTIVATIONS = ("identity", "tanh", "relu", "sigmoid")
#: NAS Figure 5's example cell (base 2: two leaves and one internal node) as the controller emits
#: it: (combine, activation) for tree nodes 0, 1, 2; then the cell inject's (combine, activation);
#: then the cell indices: the node whose pre-activation value becomes c_t, and the node that c_{t-1}
#: is injected into.
FIGURE5_CELL = ("add", "tanh", "mul", "relu", "mul", "sigmoid", "add", "relu", 1, 0)


# ---------------------------------------------------------------- the convolutional controller


@dataclass(frozen=True)
class NASLayer:
    """One layer as NAS's CNN controller writes it; ``inputs`` are the earlier layers (1-based)
    its anchor point chose to read. A layer that reads none reads the image (NAS section 3.3)."""

    filter_height: int
    filter_width: int
    stride: tuple[int, int]
    num_filters: int
    inputs: tuple[int, ...]


def sample_nas_cnn(num_layers: int = 3, predict_strides: bool = True,
                   generator: torch.Generator | None = None) -> list[NASLayer]:
    """A network drawn uniformly from NAS's CNN space: what an untrained controller with flat
    softmaxes and sigmoids at 0.5 would write. ``predict_strides=False`` is the version with
    strides fixed to 1."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")

    def pick(values):
        return values[int(torch.randint(len(values), (1,), generator=generator))]

    layers = []
    for i in range(1, num_layers + 1):
        inputs = tuple(j for j in range(1, i) if torch.rand(1, generator=generator).item() < 0.5)
        stride = (pick(STRIDES), pick(STRIDES)) if predict_strides else (1, 1)
        layers.append(NASLayer(pick(FILTER_SIZES), pick(FILTER_SIZES), stride, pick(NUM_FILTERS), inputs))
    return layers


def _box(ax, xy, width, height, text, color="#e8eef7", fontsize=EDGE_FONT):
    ax.add_patch(FancyBboxPatch((xy[0] - width / 2, xy[1] - height / 2), width, height, facecolor=color,
                                edgecolor="#334", boxstyle="round,pad=0.04", linewidth=1.0))
    ax.text(*xy, text, ha="center", va="center", fontsize=fontsize, linespacing=1.15)


def _axes(width, height):
    """A figure of this size whose one axes fills it below the title (no default margins)."""
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.88)
    return ax


def _arrow(ax, a, b, color="#445", lw=1.0, dashed=False):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=9, color=color, lw=lw, shrinkA=2, shrinkB=2,
                                 linestyle="--" if dashed else "-"))


def draw_nas_cnn(layers: list[NASLayer], predict_strides: bool = True, ax=None):
    """The controller's decisions for ``layers``, one row per layer, one box per LSTM step.

    Each row reads left to right in sampling order; the last step of a row feeds the first of
    the next (the dashed return). On the left, the anchor points: layer i's anchor decides, for
    each earlier layer j, whether to read it, with probability
    sigmoid(v^T tanh(W_prev h_j + W_curr h_i)); red arcs are the connections taken. The box on
    the right is the layer that the row describes.
    """
    steps = ["anchor", "filter\nheight", "filter\nwidth"]
    steps += ["stride\nheight", "stride\nwidth"] if predict_strides else []
    steps += ["filters"]
    gap, box_w, box_h, row = 1.15, 1.0, 0.95, 1.5
    result_x = gap * (len(steps) - 1) + box_w / 2 + 1.55
    ax = ax or _axes(COLUMN_INCHES, 0.62 * row * len(layers) + 0.9)
    anchors = []
    for i, layer in enumerate(layers, start=1):
        y = -row * (i - 1)
        values = [", ".join(map(str, layer.inputs)) or "none", layer.filter_height, layer.filter_width]
        values += list(layer.stride) if predict_strides else []
        values += [layer.num_filters]
        for k, (name, value) in enumerate(zip(steps, values)):
            label = f"{name}\n{value}" if k else (f"anchor\nreads\n{value}" if i > 1 else "anchor\n(first\nlayer)")
            _box(ax, (gap * k, y), box_w, box_h, label, "#fbe3c2" if k == 0 else "#e8eef7")
            if k:
                _arrow(ax, (gap * (k - 1) + box_w / 2 + 0.05, y), (gap * k - box_w / 2 - 0.05, y))
        if i < len(layers):
            _arrow(ax, (gap * (len(steps) - 1), y - box_h / 2 - 0.05), (0.0, y - row + box_h / 2 + 0.1),
                   color="#99a", dashed=True)
        source = "image" if not layer.inputs else "layers " + ", ".join(map(str, layer.inputs))
        stride = f", stride {layer.stride[0]}x{layer.stride[1]}" if predict_strides else ""
        _box(ax, (result_x, y), 2.1, box_h, f"layer {i}: {layer.num_filters} filters\n"
             f"{layer.filter_height}x{layer.filter_width}{stride}\nreads {source}", "#d9f0d9")
        _arrow(ax, (gap * (len(steps) - 1) + box_w / 2 + 0.05, y), (result_x - 1.1, y), color="#9a9")
        anchors.append(y)
        for j in range(1, i):
            on = j in layer.inputs
            _side_arc(ax, -box_w / 2 - 0.12, anchors[j - 1], y, 0.35, color="#c55" if on else "#bbb",
                      lw=1.3 if on else 0.7, size=8, zorder=3 if on else 1)
    left = -box_w / 2 - 0.12 - 0.35 * row * max(1, len(layers) - 1) / 2
    ax.set_xlim(left - 0.2, result_x + 1.15)
    ax.set_ylim(-row * (len(layers) - 1) - 0.75, 0.75)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(f"NAS's CNN controller, {len(layers)} layers: one box per decision "
                 "(red: skips the anchors chose)", fontsize=TITLE_FONT - 1)
    ax.axis("off")
    return ax.figure


# ---------------------------------------------------------------- the recurrent tree cell


@dataclass(frozen=True)
class NASTreeCell:
    """A NAS recurrent cell: ``nodes[k] = (combine, activation)`` of tree node k (leaves
    0 .. base-1 each combine W x_t and W' h_{t-1}; internal nodes follow level by level, each
    combining its two children), the cell inject's ``(combine, activation)``, ``c_out`` (the node
    whose value *before* its activation becomes c_t) and ``c_in`` (the node c_{t-1} enters)."""

    base: int
    nodes: tuple[tuple[str, str], ...]
    inject: tuple[str, str]
    c_out: int
    c_in: int

    @classmethod
    def from_decisions(cls, decisions, base: int = 2) -> NASTreeCell:
        """Read the controller's output sequence, e.g. ``FIGURE5_CELL``."""
        if base < 2 or base & (base - 1):
            raise ValueError(f"base must be a power of two (2, 4, 8: the number of leaves), got {base}")
        n = 2 * base - 1
        expected = 2 * n + 4
        decisions = list(decisions)
        if len(decisions) != expected:
            raise ValueError(f"a base-{base} tree has {n} nodes, so the controller emits {expected} decisions "
                             f"(2 per node, 2 for the inject, 2 cell indices); got {len(decisions)}")
        pairs = [tuple(decisions[2 * k: 2 * k + 2]) for k in range(n + 1)]
        for k, (comb, act) in enumerate(pairs):
            where = f"node {k}" if k < n else "the cell inject"
            if comb not in COMBINE or act not in ACTIVATIONS:
                raise ValueError(f"{where}: ({comb!r}, {act!r}) is not a (combine, activation) pair; "
                                 f"combine is one of {COMBINE}, activation one of {ACTIVATIONS}")
        c_out, c_in = decisions[-2:]
        for name, idx in (("c_out", c_out), ("c_in", c_in)):
            if not isinstance(idx, int) or not 0 <= idx < n:
                raise ValueError(f"cell index {name} must be a node index 0..{n - 1}, got {idx!r}")
        return cls(base, tuple(pairs[:n]), pairs[n], c_out, c_in)

    @staticmethod
    def count(base: int) -> int:
        """How many cells a base-``base`` tree allows: a (combine, activation) pair for each of its
        2 base - 1 nodes and for the inject, and two cell indices over the nodes. For base 8, the
        size of NAS's search, this is the paper's "approximately 6 x 10^16"."""
        n = 2 * base - 1
        return (len(COMBINE) * len(ACTIVATIONS)) ** (n + 1) * n ** 2

    def children(self, k: int) -> tuple[int, int] | None:
        """The two nodes node k combines, or None for a leaf (which combines x_t and h_{t-1})."""
        if k < self.base:
            return None
        start, width = 0, self.base          # walk the levels: [start, start + width) is one level
        while k >= start + width:
            start, width = start + width, width // 2
        m = k - start
        below = start - 2 * width
        return below + 2 * m, below + 2 * m + 1

    def equations(self) -> list[str]:
        """The cell as equations, in computation order (leaves, then up the tree)."""
        sym = {"add": " + ", "mul": " ⊙ "}
        lines, value, w = [], {}, 0
        root = len(self.nodes) - 1
        for k, (comb, act) in enumerate(self.nodes):
            kids = self.children(k)
            if kids is None:
                terms = [f"W{w + 1} x_t", f"W{w + 2} h_{{t-1}}"]
                w += 2
                pre = sym[comb].join(f"({t})" if comb == "mul" else t for t in terms)
            else:
                pre = sym[comb].join(value[c] for c in kids)
            lines.append(f"a{k} = {act}({pre})")
            value[k] = f"a{k}"
            if k == self.c_out:
                c_line = f"c_t = {pre}   (node {k} before its {act})"
            if k == self.c_in:
                comb_i, act_i = self.inject
                lines.append(f"a{k}' = {act_i}(a{k}{sym[comb_i]}c_{{t-1}})   (cell inject)")
                value[k] = f"a{k}'"
        lines.append(f"h_t = {value[root]}")
        lines.append(c_line)
        return lines


def draw_nas_rnn(cell: NASTreeCell, ax=None):
    """The tree, bottom to top: x_t and h_{t-1} feed every leaf, each node feeds its parent, the
    root gives h_t. The cell inject sits on the way out of node ``c_in``, with c_{t-1} arriving
    from the side; the dashed red arrow takes node ``c_out``'s value before its activation out as
    c_t. Base 2 (NAS Figure 5) fits the book's column; larger trees draw wider."""
    n, base = len(cell.nodes), cell.base
    spread, row, box_w, box_h = 4.4, 2.2, 3.0, 0.75
    pos, start, width, level = {}, 0, base, 0
    while width >= 1:                   # level 0 = the leaves; each parent centred over its children
        for m in range(width):
            pos[start + m] = (spread * 2 ** level * (m - (width - 1) / 2), row * (level + 1))
        start, width, level = start + width, width // 2, level + 1
    root = n - 1
    h_xy = (pos[root][0], row * (level + 1))
    inputs = {r"$x_t$": (-1.1, 0.0), r"$h_{t-1}$": (1.1, 0.0)}
    side = {k: (-1 if xy[0] < 0 else 1) for k, xy in pos.items()}
    inject_xy = (pos[cell.c_in][0], pos[cell.c_in][1] + row / 2)
    c_prev = (inject_xy[0] + side[cell.c_in] * (box_w / 2 + 0.9), inject_xy[1])
    c_next = (pos[cell.c_out][0] + side[cell.c_out] * (box_w / 2 + 1.1), pos[cell.c_out][1])
    xs = [p[0] + d for p in pos.values() for d in (-box_w / 2, box_w / 2)]
    xs += [c_prev[0] - 0.5, c_prev[0] + 0.5, c_next[0] - 0.5, c_next[0] + 0.5]
    wide, high = max(xs) - min(xs) + 0.6, h_xy[1] + 1.0
    ax = ax or _axes(min(COLUMN_INCHES, 0.7 * wide) if base == 2 else 0.7 * wide, 0.7 * high + 0.6)

    for name, xy in inputs.items():
        _box(ax, xy, 1.0, 0.5, name, "#f3e6c8", fontsize=NODE_FONT)
    w = 0
    for k, (comb, act) in enumerate(cell.nodes):
        _box(ax, pos[k], box_w, box_h, f"node {k}\n{comb}, then {act}")
        if cell.children(k) is None:             # a leaf: W x_t and W' h_{t-1}, each its own matrix
            for xy in inputs.values():
                w += 1
                a, b = (xy[0], xy[1] + 0.3), (pos[k][0], pos[k][1] - box_h / 2 - 0.05)
                _arrow(ax, a, b, color="#889", lw=0.9)
                ax.text(a[0] + 0.72 * (b[0] - a[0]), a[1] + 0.72 * (b[1] - a[1]), f"$W_{w}$", fontsize=EDGE_FONT,
                        ha="center", va="center", bbox=dict(boxstyle="round,pad=0.1", facecolor="white",
                                                            edgecolor="none", alpha=0.9))
            continue
        for c in cell.children(k):
            xy, top = (inject_xy, 0.25) if c == cell.c_in else (pos[c], box_h / 2)
            _arrow(ax, (xy[0], xy[1] + top + 0.05), (pos[k][0], pos[k][1] - box_h / 2 - 0.05), lw=0.9)
    comb_i, act_i = cell.inject
    _box(ax, inject_xy, 2.4, 0.5, f"inject: {comb_i}, {act_i}", "#fbe3c2")
    _arrow(ax, (inject_xy[0], pos[cell.c_in][1] + box_h / 2 + 0.05), (inject_xy[0], inject_xy[1] - 0.3))
    _box(ax, c_prev, 1.0, 0.5, r"$c_{t-1}$", "#f3e6c8", fontsize=NODE_FONT)
    _arrow(ax, (c_prev[0] - side[cell.c_in] * 0.55, c_prev[1]), (inject_xy[0] + side[cell.c_in] * 1.25, inject_xy[1]))
    _box(ax, c_next, 1.0, 0.5, r"$c_t$", "#d9f0d9", fontsize=NODE_FONT)
    _arrow(ax, (pos[cell.c_out][0] + side[cell.c_out] * (box_w / 2 + 0.05), pos[cell.c_out][1]),
           (c_next[0] - side[cell.c_out] * 0.55, c_next[1]), color="#c55", dashed=True)
    _box(ax, h_xy, 1.0, 0.5, r"$h_t$", "#d9f0d9", fontsize=NODE_FONT)
    top = inject_xy if cell.c_in == root else pos[root]
    _arrow(ax, (h_xy[0], top[1] + (0.25 if cell.c_in == root else box_h / 2) + 0.05), (h_xy[0], h_xy[1] - 0.3))
    ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
    ax.set_ylim(-0.5, h_xy[1] + 0.5)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(f"NAS's recurrent cell, base {base}\n(dashed: $c_t$, node {cell.c_out}'s value before its activation)",
                 fontsize=TITLE_FONT)
    ax.axis("off")
    return ax.figure
