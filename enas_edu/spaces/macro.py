"""The macro search space: a whole convolutional network, layer by layer (paper section 2.3).

For each layer k = 0 .. L-1 the controller picks one of six operations and k skip bits. The
official code (melodyguan/enas ``general_child.py`` with ``--controller_search_whole_channels``)
writes layer k as one op index followed by its k skip bits; the ``fixed_arc`` string is those
groups one after another. Layer k always reads the layer before it (the stem for k = 0); skip bit
i adds ``layers[i]`` of the list ``[stem, out_0, out_1, ...]``: the stem for i = 0, the output of
layer i - 1 otherwise. (The paper draws skips between layers; this is what the code connects.)

Op indices, as in ``general_child.py`` (not the order the paper lists them in):
0 conv 3x3, 1 separable conv 3x3, 2 conv 5x5, 3 separable conv 5x5, 4 avg pool 3x3, 5 max pool 3x3.

Size: 6^L x 2^(L(L-1)/2); for L = 12 that is 1.6 x 10^29. Here the paper's formula is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .base import SearchSpace

MACRO_OPS = ("conv3x3", "sep3x3", "conv5x5", "sep5x5", "avgpool3x3", "maxpool3x3")


@dataclass(frozen=True)
class MacroArch:
    """``ops[k]`` is layer k's operation; ``skips[k]`` holds its k skip bits (bit 0: the stem,
    bit i > 0: layer i - 1's output)."""

    ops: tuple[int, ...]
    skips: tuple[tuple[int, ...], ...]

    @property
    def num_layers(self) -> int:
        return len(self.ops)


class MacroSpace(SearchSpace):
    """``MacroSpace(num_layers=12, num_ops=6)``: the ``cifar10_macro_search.sh`` space.

    ``num_ops=4`` gives the space of ``cifar10_macro_final.sh`` (``--child_num_branches=4``: the
    pooling ops are left out), whose published architecture has 24 layers.
    """

    name = "macro"
    arch_type = MacroArch

    def __init__(self, num_layers: int = 12, num_ops: int = 6):
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not isinstance(num_ops, int) or not 1 <= num_ops <= len(MACRO_OPS):
            raise ValueError(f"num_ops must be an int in 1..{len(MACRO_OPS)}, got {num_ops!r}")
        self.num_layers = num_layers
        self.num_ops = num_ops
        self.op_names = MACRO_OPS[:num_ops]
        positions, names = [], []
        for k in range(num_layers):
            positions.append(range(num_ops))
            names.append(f"layer {k} op")
            for i in range(k):   # general_child.py: bit i reads layers[i] = [stem, out_0, ...][i]
                positions.append(range(2))
                names.append(f"layer {k} skip from {'the stem' if i == 0 else f'layer {i - 1}'}")
        self._positions = tuple(positions)
        self._names = tuple(names)

    @property
    def positions(self) -> tuple[range, ...]:
        return self._positions

    def position_name(self, index: int) -> str:
        return self._names[index]

    def config(self) -> dict:
        return {"num_layers": self.num_layers, "num_ops": self.num_ops}

    def paper_size(self) -> int:
        # Paper section 2.3: 6^L x 2^(L(L-1)/2), with num_ops in place of the 6.
        L = self.num_layers
        return self.num_ops**L * 2 ** (L * (L - 1) // 2)

    def encode(self, arch: MacroArch) -> tuple[int, ...]:
        out: list[int] = []
        for op, bits in zip(arch.ops, arch.skips):
            out.append(op)
            out.extend(bits)
        return tuple(out)

    def decode(self, decisions: Sequence[int]) -> MacroArch:
        ops, skips, pos = [], [], 0
        for k in range(self.num_layers):
            ops.append(int(decisions[pos]))
            skips.append(tuple(int(b) for b in decisions[pos + 1 : pos + 1 + k]))
            pos += 1 + k
        return MacroArch(tuple(ops), tuple(skips))

    def _check_structure(self, arch: MacroArch) -> None:
        if len(arch.ops) != self.num_layers or len(arch.skips) != self.num_layers:
            raise ValueError(
                f"architecture has {len(arch.ops)} ops and {len(arch.skips)} skip groups; "
                f"this space has num_layers={self.num_layers}"
            )
        for k, bits in enumerate(arch.skips):
            if len(bits) != k:
                raise ValueError(f"layer {k} must have exactly {k} skip bits, got {len(bits)}")
