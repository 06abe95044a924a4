"""The micro search space: a convolutional cell, repeated (paper section 2.4).

A cell has two inputs (the outputs of the two previous cells, numbered 0 and 1) and ``num_nodes``
computed nodes (5 in the official scripts, so the paper's B = 7 counts the two inputs too).
Computed node i (numbered i + 2) picks two inputs among the cell inputs and the earlier nodes
(repetition allowed, order kept as sampled) and one operation for each input; its value is the
sum of the two results. States that nothing reads, the *loose ends*, are concatenated to form
the cell's output. The controller samples a normal cell and a reduction cell.

The official ``fixed_arc`` (melodyguan/enas ``micro_child.py``): the normal cell, then the
reduction cell; each node as ``x_input x_op y_input y_op``.
Op indices: 0 separable conv 3x3, 1 separable conv 5x5, 2 avg pool 3x3, 3 max pool 3x3, 4 identity.

Size. The controller's decision sequences number ((num_nodes+1)!^2 x 5^(2 num_nodes))^2, about
2.6 x 10^25 for 5 nodes. The paper prints (5 x (B-2)!)^4 = 1.3 x 10^11 for B = 7: per node it
counts one input choice and one op where the controller makes two of each, and for the input
choices it writes (B-2)! = 5! = 120 where the nodes have 2 x 3 x 4 x 5 x 6 = 720 options.
``paper_size()`` returns the printed formula, ``size()`` the exact count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from .base import SearchSpace

MICRO_OPS = ("sep3x3", "sep5x5", "avgpool3x3", "maxpool3x3", "identity")
CELL_TYPES = ("normal", "reduce")


class MicroNode(NamedTuple):
    """One computed node: ``op(x_input) + op(y_input)``; inputs 0, 1 are the cell inputs."""

    x_input: int
    x_op: int
    y_input: int
    y_op: int


@dataclass(frozen=True)
class MicroArch:
    """A normal cell and a reduction cell, each a tuple of ``MicroNode``."""

    normal: tuple[MicroNode, ...]
    reduce: tuple[MicroNode, ...]

    def cell(self, cell_type: str) -> tuple[MicroNode, ...]:
        return self.normal if cell_type == "normal" else self.reduce


def loose_ends(cell: Sequence[MicroNode]) -> tuple[int, ...]:
    """Numbers of the cell's states (0, 1 = cell inputs; 2, 3, ... = nodes) that nothing reads.

    These are concatenated to form the cell output. As in the official code (``micro_child.py``
    counts ``used`` over all ``num_cells + 2`` states), an unused *cell input* is a loose end too.
    """
    used = {n.x_input for n in cell} | {n.y_input for n in cell}
    return tuple(i for i in range(len(cell) + 2) if i not in used)


class MicroSpace(SearchSpace):
    """``MicroSpace(num_nodes=5, num_ops=5)``: the ``cifar10_micro_search.sh`` cells."""

    name = "micro"
    arch_type = MicroArch

    def __init__(self, num_nodes: int = 5, num_ops: int = 5):
        if not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
        if not isinstance(num_ops, int) or not 1 <= num_ops <= len(MICRO_OPS):
            raise ValueError(f"num_ops must be an int in 1..{len(MICRO_OPS)}, got {num_ops!r}")
        self.num_nodes = num_nodes
        self.num_ops = num_ops
        self.op_names = MICRO_OPS[:num_ops]
        positions, names = [], []
        for cell in CELL_TYPES:
            for i in range(num_nodes):
                for field in MicroNode._fields:
                    is_input = field.endswith("input")
                    positions.append(range(i + 2) if is_input else range(num_ops))
                    names.append(f"{cell} cell node {i + 2} {field}")
        self._positions = tuple(positions)
        self._names = tuple(names)

    @property
    def positions(self) -> tuple[range, ...]:
        return self._positions

    def position_name(self, index: int) -> str:
        return self._names[index]

    def config(self) -> dict:
        return {"num_nodes": self.num_nodes, "num_ops": self.num_ops}

    def paper_size(self) -> int:
        # Paper section 2.4: (5 x (B-2)!)^2 per cell, squared for the two cells; B = num_nodes + 2
        # and num_ops in place of the 5.
        return (self.num_ops * math.factorial(self.num_nodes)) ** 4

    def encode(self, arch: MicroArch) -> tuple[int, ...]:
        return tuple(int(v) for cell in (arch.normal, arch.reduce) for node in cell for v in node)

    def decode(self, decisions: Sequence[int]) -> MicroArch:
        values = [int(d) for d in decisions]
        nodes = [MicroNode(*values[p : p + 4]) for p in range(0, len(values), 4)]
        return MicroArch(tuple(nodes[: self.num_nodes]), tuple(nodes[self.num_nodes :]))

    def _check_structure(self, arch: MicroArch) -> None:
        for cell_type in CELL_TYPES:
            cell = arch.cell(cell_type)
            if len(cell) != self.num_nodes:
                raise ValueError(
                    f"{cell_type} cell has {len(cell)} nodes; this space has "
                    f"num_nodes={self.num_nodes}"
                )
            for i, node in enumerate(cell):
                if not isinstance(node, tuple) or len(node) != 4:
                    raise ValueError(
                        f"{cell_type} cell node {i + 2} must be a MicroNode "
                        f"(x_input, x_op, y_input, y_op), got {node!r}"
                    )
