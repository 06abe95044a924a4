"""The recurrent-cell search space (paper section 2.1), in two layouts.

A recurrent cell maps (x_t, h_{t-1}) to h_t through a small DAG of ``num_nodes`` nodes. Each node
applies an activation function to a linear map of one earlier node. Both layouts number the cell's
states the same way: state 0 is the cell's input, states 1..N are the nodes, and a node's ``prev``
is the number of the state it reads.

``layout="enas_lm"`` (google-research ``enas_lm``, the corrected PTB code; the default)
    State 0 is a fixed highway node over (x_t, h_{t-1}) with tanh. Every node j = 1..N picks its
    ``prev`` among states 0..j-1 and a function. All nodes are highway nodes, and the cell output
    is the mean of nodes 1..N. Arc string (``fixed_lib.py``): ``prev func`` for j = 1..N, so it
    starts with the trivial ``0`` of node 1. Published cell (``--fixed_arc``, 8 nodes):
    ``0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2``.

``layout="paper"`` (paper section 2.1, Figure 1)
    Node 1 reads x_t and h_{t-1} (state 0) and picks only its activation; node j >= 2 picks its
    ``prev`` among nodes 1..j-1 and an activation. The output averages the loose ends. Arc string
    (this library's format; the paper publishes no string): ``func_1``, then ``prev func`` for
    j = 2..N, where prev is the node number 1..j-1 as in the paper's figures.

Function indices follow ``enas_lm/src/fixed_lib.py``: 0 tanh, 1 ReLU, 2 sigmoid, 3 identity.

Size. The paper prints 4^N x N! ("about 10^15" for N = 12). That is the exact count of the
``enas_lm`` layout, whose node j has j choices. In the paper's own layout node 1 has no choice
of input and node j has j - 1, so the exact count is 4^N x (N-1)!, N times smaller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .base import SearchSpace

RNN_FUNCS = ("tanh", "relu", "sigmoid", "identity")
RNN_LAYOUTS = ("enas_lm", "paper")
#: Search defaults: enas_lm ``controller_num_layers=9``; paper section 3.1, N = 12.
DEFAULT_NUM_NODES = {"enas_lm": 9, "paper": 12}


@dataclass(frozen=True)
class RNNArch:
    """Node j (1-based) reads state ``prevs[j-1]`` and applies ``RNN_FUNCS[funcs[j-1]]``."""

    layout: str
    prevs: tuple[int, ...]
    funcs: tuple[int, ...]

    @property
    def num_nodes(self) -> int:
        return len(self.funcs)


def rnn_loose_ends(arch: RNNArch) -> tuple[int, ...]:
    """Node numbers (1..N) that no other node reads: the paper layout averages these."""
    used = set(arch.prevs)
    return tuple(j for j in range(1, arch.num_nodes + 1) if j not in used)


class RNNCellSpace(SearchSpace):
    """``RNNCellSpace(num_nodes=None, layout="enas_lm", num_funcs=4)``.

    ``num_nodes=None`` takes the layout's search default: 9 for ``enas_lm``
    (``controller_num_layers=9`` in ``enas_lm/src/controller.py``; its published cell has 8)
    and 12 for the paper layout (section 3.1).
    """

    name = "rnn"
    arch_type = RNNArch

    def __init__(self, num_nodes: int | None = None, layout: str = "enas_lm", num_funcs: int = 4):
        if layout not in RNN_LAYOUTS:
            raise ValueError(f"layout must be one of {RNN_LAYOUTS}, got {layout!r}")
        if num_nodes is None:
            num_nodes = DEFAULT_NUM_NODES[layout]
        if not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
        if not isinstance(num_funcs, int) or not 1 <= num_funcs <= len(RNN_FUNCS):
            raise ValueError(f"num_funcs must be an int in 1..{len(RNN_FUNCS)}, got {num_funcs!r}")
        self.num_nodes = num_nodes
        self.layout = layout
        self.num_funcs = num_funcs
        self.func_names = RNN_FUNCS[:num_funcs]
        positions, names = [], []
        for j in range(1, num_nodes + 1):
            if layout == "enas_lm":
                positions.append(range(j))
                names.append(f"node {j} prev")
            elif j >= 2:
                positions.append(range(1, j))
                names.append(f"node {j} prev")
            positions.append(range(num_funcs))
            names.append(f"node {j} func")
        self._positions = tuple(positions)
        self._names = tuple(names)

    @property
    def positions(self) -> tuple[range, ...]:
        return self._positions

    def position_name(self, index: int) -> str:
        return self._names[index]

    def config(self) -> dict:
        return {"num_nodes": self.num_nodes, "layout": self.layout, "num_funcs": self.num_funcs}

    def paper_size(self) -> int:
        # Paper section 2.1: 4^N x N!, with num_funcs in place of the 4.
        return self.num_funcs**self.num_nodes * math.factorial(self.num_nodes)

    def encode(self, arch: RNNArch) -> tuple[int, ...]:
        out: list[int] = []
        for j, (prev, func) in enumerate(zip(arch.prevs, arch.funcs), start=1):
            if self.layout == "enas_lm" or j >= 2:
                out.append(prev)
            out.append(func)
        return tuple(out)

    def decode(self, decisions: Sequence[int]) -> RNNArch:
        values = [int(d) for d in decisions]
        if self.layout == "paper":
            values = [0] + values  # node 1 always reads the input, state 0
        return RNNArch(self.layout, tuple(values[0::2]), tuple(values[1::2]))

    def _check_structure(self, arch: RNNArch) -> None:
        if arch.layout != self.layout:
            raise ValueError(
                f"architecture has layout {arch.layout!r}; this space has layout {self.layout!r}"
            )
        if len(arch.prevs) != self.num_nodes or len(arch.funcs) != self.num_nodes:
            raise ValueError(
                f"architecture has {len(arch.prevs)} prevs and {len(arch.funcs)} funcs; "
                f"this space has num_nodes={self.num_nodes}"
            )
        if self.layout == "paper" and arch.prevs[0] != 0:
            raise ValueError(
                f"node 1 prev is {arch.prevs[0]}; in the paper layout node 1 reads the input, state 0"
            )
