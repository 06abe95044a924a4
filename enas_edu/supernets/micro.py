"""The micro network: a stack of searched cells (paper section 2.4, ``micro_child.py``).

Layout. A 3 x 3 stem gives ``3 * out_filters`` channels; then ``num_layers + 2`` cells, of which
the ones at ``num_layers // 3`` and ``2 * (num_layers // 3) + 1`` are reduction cells that double
the channels and halve the resolution (6 normal + 2 reduction cells in the search,
``num_layers=6``; 15 + 2 in the final network, ``num_layers=15``). Each cell reads the outputs of
the two previous cells. Head: ReLU, global average pooling, dropout, linear.

Two styles, as in the official code:

``style="search"`` (``_enas_layer``): the shared weights. Every (cell, node, x/y slot, input,
    operation) has its own weights, so two architectures share exactly the weights of the choices
    they have in common. A reduction cell is a stride-1 cell whose second input was first reduced
    by a factorized reduction. The loose ends pass ReLU and a 1 x 1 convolution whose weight
    block belongs to the loose end's position, then BN, so every cell outputs ``C`` channels.
    All batch norms use batch statistics (see ``ops``).
``style="final"`` (``_fixed_layer``): the network trained from scratch. Reduction cells stride
    their ops on the cell inputs; ``layer_base`` (ReLU, 1 x 1 conv, BN) precedes every cell; the
    loose ends are only concatenated, so a cell outputs ``len(loose_ends) * C`` channels;
    drop-path is available. Both styles can carry the auxiliary head.

Built with ``arch``, a network holds only the weights that architecture uses: with
``style="search"`` it computes exactly what the supernet computes for ``arch`` (and
:meth:`MicroNet.extract_child` copies the shared weights into it); with ``style="final"`` it is
the fixed child for final training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..spaces.micro import MicroArch, MicroNode, MicroSpace, loose_ends
from .base import Supernet
from .init import INITS, official_init
from .ops import FactorizedReduce, Pool, ReLUConvBN, SepConv, batch_norm, drop_path

STYLES = ("search", "final")


@dataclass(frozen=True)
class MicroNetConfig:
    """Shape of a micro network; defaults are ``cifar10_micro_search.sh``.

    The published final model is ``num_layers=15, out_filters=36, style="final",
    keep_prob=0.8, drop_path_keep_prob=0.6, aux_head=True`` (``cifar10_micro_final.sh``).
    """

    num_layers: int = 6             # --child_num_layers (normal cells; 2 reduction cells added)
    out_filters: int = 20           # --child_out_filters
    num_nodes: int = 5              # --child_num_cells (B - 2)
    num_ops: int = 5                # sep3, sep5, avg3, max3, identity
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32
    keep_prob: float = 0.9          # --child_keep_prob: dropout before the classifier
    style: str = "search"
    drop_path_keep_prob: float | None = None   # final style: --child_drop_path_keep_prob
    #: --child_use_aux_heads: an auxiliary classifier after the second reduction. The official
    #: micro search sets it too (cifar10_micro_search.sh); micro_child.py builds it there and adds
    #: 0.4 x its loss, with its weights left out of training (OptimConfig.freeze_aux_head).
    aux_head: bool = False
    init: str = "pytorch"           # or "official": create_weight's he_normal (supernets/init.py)

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.num_layers < 0 or self.out_filters < 2 or self.out_filters % 2:
            raise ValueError("num_layers must be >= 0 and out_filters an even number >= 2")
        if not 0 < self.keep_prob <= 1:
            raise ValueError(f"keep_prob must be in (0, 1], got {self.keep_prob}")
        if self.style == "search" and self.drop_path_keep_prob is not None:
            raise ValueError("drop_path_keep_prob belongs to style='final' (the search has no drop-path)")

    @property
    def reduction_layers(self) -> tuple[int, int]:
        """Indices (among the num_layers + 2 cells) of the two reduction cells (``pool_layers``)."""
        d = self.num_layers // 3
        return (d, 2 * d + 1)

    def space(self) -> MicroSpace:
        return MicroSpace(num_nodes=self.num_nodes, num_ops=self.num_ops)


def _op_name(node: int, slot: str, source: int, op: int) -> str:
    return f"node{node}_{slot}_from{source}_op{op}"


class MicroCell(nn.Module):
    """One cell. ``cell_arch`` (a tuple of MicroNode) fixes it; None keeps every choice."""

    def __init__(self, config: MicroNetConfig, c_prev_prev: int, c_prev: int, channels: int,
                 halve_prev_prev: bool, reduction: bool, cell_arch: tuple[MicroNode, ...] | None,
                 layer_index: int):
        super().__init__()
        C, final = channels, config.style == "final"
        track = final  # the search runs every BN on batch statistics
        self.final, self.reduction, self.layer_index = final, reduction, layer_index
        self.num_nodes = config.num_nodes
        # _maybe_calibrate_size: both inputs to C channels at the same resolution
        if halve_prev_prev:
            self.calibrate_x = nn.Sequential(nn.ReLU(), FactorizedReduce(c_prev_prev, C, track))
        elif c_prev_prev != C:
            self.calibrate_x = ReLUConvBN(c_prev_prev, C, 1, track_stats=track)
        else:
            self.calibrate_x = nn.Identity()
        self.calibrate_y = ReLUConvBN(c_prev, C, 1, track_stats=track) if c_prev != C else nn.Identity()
        if final:
            self.base = ReLUConvBN(C, C, 1)  # layer_base
        self.ops = nn.ModuleDict()
        for i in range(config.num_nodes):
            for slot in ("x", "y"):
                for source in range(i + 2):
                    for op in range(config.num_ops):
                        if cell_arch is not None:
                            node = cell_arch[i]
                            chosen = (node.x_input, node.x_op) if slot == "x" else (node.y_input, node.y_op)
                            if chosen != (source, op):
                                continue
                        module = self._make_op(op, C, 2 if final and reduction and source < 2 else 1, track)
                        if module is not None:
                            self.ops[_op_name(i + 2, slot, source, op)] = module
        states = range(config.num_nodes + 2)
        kept = states if cell_arch is None else loose_ends(cell_arch)
        if final:  # _fixed_combine: a cell input at twice the resolution is reduced first
            self.combine = nn.ModuleDict({
                f"from{s}": FactorizedReduce(C, C) for s in kept if reduction and s < 2})
            self.out_channels = len(kept) * C if cell_arch is not None else None
        else:      # final_conv: one C x C block of the 1 x 1 conv per loose-end position
            self.final_conv = nn.ModuleDict({f"from{s}": nn.Conv2d(C, C, 1, bias=False) for s in kept})
            self.final_bn = batch_norm(C, track_stats=False)
            self.out_channels = C

    @staticmethod
    def _make_op(op: int, C: int, stride: int, track: bool) -> nn.Module | None:
        if op in (0, 1):
            return SepConv(C, C, 3 if op == 0 else 5, stride, track)
        if op in (2, 3):
            return Pool("avg" if op == 2 else "max", stride)
        return FactorizedReduce(C, C, track) if stride == 2 else None  # identity

    def _run_op(self, node: int, slot: str, source: int, op: int, x: torch.Tensor,
               drop_keep: float | None) -> torch.Tensor:
        name = _op_name(node, slot, source, op)
        if name in self.ops:
            x = self.ops[name](x)
        elif op != 4:
            raise ValueError(f"this cell does not hold the weights of {name}: it was built for another architecture")
        if drop_keep is not None and op != 4 and self.training:
            x = drop_path(x, drop_keep)  # _apply_drop_path skips identity
        return x

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, cell_arch: tuple[MicroNode, ...],
                drop_keep: float | None = None) -> torch.Tensor:
        states = [self.calibrate_x(s0), self.calibrate_y(s1)]                  # 2 x [N, C, H, W]
        if self.final:
            states[1] = self.base(states[1])
        for i, node in enumerate(cell_arch):
            x = self._run_op(i + 2, "x", node.x_input, node.x_op, states[node.x_input], drop_keep)
            y = self._run_op(i + 2, "y", node.y_input, node.y_op, states[node.y_input], drop_keep)
            states.append(x + y)
        ends = loose_ends(cell_arch)
        if self.final:
            outs = [self.combine[f"from{s}"](states[s]) if f"from{s}" in self.combine else states[s]
                    for s in ends]
            return torch.cat(outs, 1)                                          # [N, |ends| C, H', W']
        # final_conv: ReLU, then one 1 x 1 conv over the concatenated loose ends, whose weight is
        # the loose ends' blocks gathered side by side (micro_child.py gathers the rows of its
        # [num_cells + 2, C * C] weight the same way): one convolution however many ends
        weight = torch.cat([self.final_conv[f"from{s}"].weight for s in ends], 1)   # [C, |ends| C, 1, 1]
        out = F.conv2d(F.relu(torch.cat([states[s] for s in ends], 1)), weight)
        return self.final_bn(out)                                              # [N, C, H, W]


class AuxHead(nn.Module):
    """Auxiliary classifier after the second reduction (``micro_child.py`` ``aux_head``).

    The 768-channel convolution pads ``SAME`` as the official one does (``micro_child.py``
    310-312): with its kernel as wide as the pooled map (2 x 2 on CIFAR-10) TF pads one row and
    column at the bottom and right, so the map stays 2 x 2 and is averaged afterwards. Without
    the padding (this class before issue #27) the same weights see one position and give other
    logits.
    """

    def __init__(self, c_in: int, size: int, num_classes: int):
        super().__init__()
        pooled = (size - 5) // 3 + 1                     # avg pool 5 x 5, stride 3, VALID
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, 3),
            nn.Conv2d(c_in, 128, 1, bias=False), batch_norm(128), nn.ReLU(),
            # torch's "same" pads as TF's SAME: k - 1 zeros, the odd one at the bottom and right
            nn.Conv2d(128, 768, pooled, padding="same", bias=False), batch_norm(768), nn.ReLU(),
        )
        self.fc = nn.Linear(768, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class MicroNet(Supernet):
    """``MicroNet(config, arch=None)``: the micro supernet, or the child of ``arch``.

    ``forward(images, arch=None)`` returns logits [N, num_classes]; with the auxiliary head in
    training mode it returns ``(logits, aux_logits)``. Set ``drop_path_progress`` (0..1, the
    fraction of training done) before each step when drop-path is on: the keep probability
    decays linearly with depth and with progress (``_apply_drop_path``). The progress lives in
    a device tensor, so a compiled network (``FinalConfig.compile``) reads it as an input
    instead of recompiling for every new value.
    """

    def __init__(self, config: MicroNetConfig | None = None, arch: MicroArch | None = None):
        super().__init__()
        config = config or MicroNetConfig()
        self._set_arch(config, arch)
        self.register_buffer("_progress", torch.zeros(()), persistent=False)   # drop_path_progress
        if config.drop_path_keep_prob is not None:   # _apply_drop_path: 1 - keep at full progress, per layer
            layers = torch.arange(1, config.num_layers + 3) / (config.num_layers + 2)
            self.register_buffer("_drop_rates", layers * (1 - config.drop_path_keep_prob), persistent=False)
        C = config.out_filters
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, 3 * C, 3, 1, 1, bias=False),
                                  batch_norm(3 * C, track_stats=config.style == "final"))
        c_pp, c_p, halve_pp, size = 3 * C, 3 * C, False, config.image_size
        self.cells = nn.ModuleList()
        self.aux_head, self.aux_after = None, None
        for layer in range(config.num_layers + 2):
            reduction = layer in config.reduction_layers
            cell_arch = None if arch is None else (arch.reduce if reduction else arch.normal)
            if reduction:
                C *= 2
                size //= 2
            if reduction and config.style == "search":
                # the previous output is reduced first; the cell itself runs at stride 1
                self.cells.append(_ReducedSearchCell(config, c_p, C, cell_arch, layer))
            else:
                self.cells.append(MicroCell(config, c_pp, c_p, C, halve_pp, reduction, cell_arch, layer))
            if reduction and config.style == "search":
                c_pp, halve_pp = C, False  # layers = [reduced, out]: the reduced input carries on
            else:
                c_pp, halve_pp = c_p, reduction
            c_p = self.cells[-1].out_channels
            if config.aux_head and layer == config.reduction_layers[1] + 1:
                self.aux_head, self.aux_after = AuxHead(c_p, size, config.num_classes), layer
        self.dropout = nn.Dropout(1 - config.keep_prob)
        self.classifier = nn.Linear(c_p, config.num_classes, bias=False)
        if config.init == "official":
            official_init(self)

    @property
    def drop_path_progress(self) -> float:
        return float(self._progress)

    @drop_path_progress.setter
    def drop_path_progress(self, value: float) -> None:
        self._progress.fill_(value)

    def _drop_keeps(self) -> torch.Tensor | None:
        """Keep probability of each layer's paths now, [num_layers + 2] (three kernels per
        forward, not per layer), or None without drop-path."""
        if self.config.drop_path_keep_prob is None:
            return None
        return 1 - self._progress.clamp(max=1.0) * self._drop_rates

    def forward(self, x: torch.Tensor, arch: MicroArch | None = None):
        arch = self._resolve(arch)
        s0 = s1 = self.stem(x)                                                 # [N, 3C, H, W]
        aux = None
        keeps = self._drop_keeps() if self.training else None                  # drop-path, per layer
        for layer, cell in enumerate(self.cells):
            reduction = layer in self.config.reduction_layers
            cell_arch = arch.reduce if reduction else arch.normal
            if isinstance(cell, _ReducedSearchCell):
                reduced = cell.reduce(s1)                                      # [N, C, H/2, W/2]
                s0, s1 = reduced, cell.cell(s1, reduced, cell_arch)
            else:
                s0, s1 = s1, cell(s0, s1, cell_arch, None if keeps is None else keeps[layer])
            if self.aux_head is not None and layer == self.aux_after and self.training:
                aux = self.aux_head(s1)
        logits = self.classifier(self.dropout(F.relu(s1).mean((2, 3))))       # [N, classes]
        return (logits, aux) if aux is not None else logits



class _ReducedSearchCell(nn.Module):
    """Search-style reduction (``_model``, ``fixed_arc is None``).

    The previous output is reduced by a factorized reduction; the cell then reads
    ``[previous output, reduced]`` at stride 1, and the *reduced* tensor, not the previous
    output, becomes the next cell's first input.
    """

    def __init__(self, config: MicroNetConfig, c_prev: int, channels: int, cell_arch, layer: int):
        super().__init__()
        self.reduce = FactorizedReduce(c_prev, channels, track_stats=False)
        self.cell = MicroCell(config, c_prev, channels, channels, True, True, cell_arch, layer)
        self.out_channels = self.cell.out_channels
