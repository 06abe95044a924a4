"""The macro network: every layer searched (paper section 2.3, ``general_child.py``).

Layout. A 3 x 3 stem (conv, BN) gives ``out_filters`` channels; then ``num_layers`` layers. After
the layers ``num_layers // 3 - 1`` and ``2 * (num_layers // 3) - 1`` (3 and 7 of 12; 7 and 15 of
24), every tensor kept so far is halved in resolution by its own factorized reduction. Head:
global average pooling, dropout, linear.

Which tensors a layer reads, as the official code does it: ``layers`` is the list
``[stem, out_0, out_1, ...]``. Layer k reads ``layers[k]`` (the previous layer, or the stem for
k = 0), and its skip bit i adds ``layers[i]``: bit 0 is the stem, bit i > 0 the output of
layer i - 1. The previous layer is always read, so it has no bit.

``style="search"`` (``_enas_layer`` with ``--controller_search_whole_channels``): each layer
    holds all six branches: 1 x 1 conv-BN-ReLU, then a k x k conv (or depthwise-separable
    conv)-BN-ReLU, or a 3 x 3 pool. The chosen skips are *added* to the branch output and the sum
    batch-normalised. The width stays ``out_filters`` throughout.
``style="final"`` (``_fixed_layer``): ReLU-conv1x1-BN then ReLU-conv kxk-BN; the chosen skips and
    the branch output are *concatenated*, then ReLU, 1 x 1 conv, BN. The width doubles at each
    reduction. Official quirk (``separable_as_conv``, on by default): the official fixed layer
    builds the separable ops 1 and 3 as full convolutions (``size = [3, 3, 5, 5]``, always
    ``conv2d``), which is what the published 24-layer model was trained with. It has no code
    for the pooling ops (``pass``); here they are ReLU-conv1x1-BN then the pool.

Official quirk (``case_quirk``, off by default: it is a bug). ``_enas_layer`` builds each branch
inside a loop as ``y = ...; branches[tf.equal(count, k)] = lambda: y`` and calls ``tf.case``
after the loop. Python closures read ``y`` when they are called, by which time ``y`` is the
last branch built, so every case returns the max-pool branch (1 x 1 conv, 3 x 3 max pool)
whatever op the controller chose. In the official macro *search* only the skip decisions
changed the network; the op decisions were rewarded for nothing (chapter 6). ``True``
reproduces that: every layer of the search runs branch ``num_ops - 1``. The final style builds
its layers with ``_fixed_layer``, which has no ``tf.case``, so the switch is search-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..spaces.macro import MacroArch, MacroSpace
from .base import Supernet
from .init import INITS, official_init
from .ops import ConvBNReLU, FactorizedReduce, Pool, ReLUConvBN, SepConv, batch_norm

STYLES = ("search", "final")


@dataclass(frozen=True)
class MacroNetConfig:
    """Shape of a macro network; defaults are ``cifar10_macro_search.sh``.

    The published final model is ``num_layers=24, out_filters=96, num_ops=4, style="final",
    keep_prob=0.5`` (``cifar10_macro_final.sh``).
    """

    num_layers: int = 12            # --child_num_layers
    out_filters: int = 36           # --child_out_filters
    num_ops: int = 6                # --child_num_branches
    num_classes: int = 10
    in_channels: int = 3
    keep_prob: float = 0.9          # --child_keep_prob
    style: str = "search"
    separable_as_conv: bool = True  # final style: the official fixed layer's full convs
    case_quirk: bool = False        # search style: every op runs the last branch, as tf.case did
    init: str = "pytorch"           # or "official": create_weight's he_normal (supernets/init.py)
    #: search style: eps of the batch norm after each branch's k x k convolution. The official
    #: _conv_branch normalises it with batch_norm_with_mask (image_ops.py), whose eps is 1e-3,
    #: where every other batch norm uses 1e-5; the paper and colab profiles follow it.
    branch_bn_eps: float = 1e-5

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {STYLES}, got {self.style!r}")
        if self.init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {self.init!r}")
        if self.case_quirk and self.style != "search":
            raise ValueError("case_quirk reproduces the official search layer (_enas_layer); the final style "
                             "(_fixed_layer) has no tf.case, so it needs case_quirk=False")
        if self.num_layers < 1 or self.out_filters < 2 or self.out_filters % 2:
            raise ValueError("num_layers must be >= 1 and out_filters an even number >= 2")
        if not 0 < self.keep_prob <= 1:
            raise ValueError(f"keep_prob must be in (0, 1], got {self.keep_prob}")
        if not self.branch_bn_eps > 0:
            raise ValueError(f"branch_bn_eps must be > 0, got {self.branch_bn_eps}")

    @property
    def reduction_after(self) -> tuple[int, ...]:
        """Layers after which everything is reduced (``pool_layers``)."""
        d = self.num_layers // 3
        return tuple(p for p in (d - 1, 2 * d - 1) if p >= 0)

    def space(self) -> MacroSpace:
        return MacroSpace(num_layers=self.num_layers, num_ops=self.num_ops)

    def branch_run(self, op: int) -> int:
        """The branch a layer runs for the chosen ``op``: ``op``, or with ``case_quirk`` the
        last one built (``num_ops - 1``)."""
        return self.num_ops - 1 if self.case_quirk else op


def _branch(op: int, C_in: int, C: int, config: MacroNetConfig) -> nn.Module:
    """One candidate operation of a layer."""
    kernel = 3 if op in (0, 1) else 5
    if config.style == "search":
        if op < 4:
            return nn.Sequential(ConvBNReLU(C_in, C, 1), ConvBNReLU(C, C, kernel, separable=op in (1, 3),
                                                                    bn_eps=config.branch_bn_eps))
        return nn.Sequential(ConvBNReLU(C_in, C, 1), Pool("avg" if op == 4 else "max"))
    if op < 4:
        if op in (1, 3) and not config.separable_as_conv:
            return nn.Sequential(ReLUConvBN(C_in, C, 1), SepConv(C, C, kernel, stack=1))
        return nn.Sequential(ReLUConvBN(C_in, C, 1), ReLUConvBN(C, C, kernel))
    return nn.Sequential(ReLUConvBN(C_in, C, 1), Pool("avg" if op == 4 else "max"))


class MacroNet(Supernet):
    """``MacroNet(config, arch=None)``: the macro supernet, or the child of ``arch``.

    ``forward(images, arch=None)`` returns logits [N, num_classes].
    """

    def __init__(self, config: MacroNetConfig | None = None, arch: MacroArch | None = None):
        super().__init__()
        config = config or MacroNetConfig()
        self._set_arch(config, arch)
        C = config.out_filters
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, C, 3, 1, 1, bias=False), batch_norm(C))
        last_use = self._last_use(arch)
        self.layers = nn.ModuleList()
        self.reductions = nn.ModuleDict()
        for k in range(config.num_layers):
            layer = nn.Module()
            layer.branches = nn.ModuleDict({
                str(op): _branch(op, C, C, config)
                for op in range(config.num_ops) if arch is None or config.branch_run(arch.ops[k]) == op})
            if k > 0:
                if config.style == "search":
                    layer.skip = batch_norm(C)           # BN(add_n(skips + [out]))
                else:
                    num_in = sum(arch.skips[k]) + 1      # concat, ReLU, 1 x 1 conv, BN
                    layer.skip = ReLUConvBN(num_in * C, C, 1)
            self.layers.append(layer)
            if k in config.reduction_after:
                C_out = 2 * C if config.style == "final" else C
                self.reductions[str(k)] = nn.ModuleDict({
                    str(i): FactorizedReduce(C, C_out)
                    for i in range(k + 2) if last_use is None or last_use[i] > k})
                C = C_out
        self.dropout = nn.Dropout(1 - config.keep_prob)
        self.classifier = nn.Linear(C, config.num_classes, bias=False)
        if config.init == "official":
            official_init(self)

    def _last_use(self, arch: MacroArch | None) -> list[int] | None:
        """For each entry of ``layers`` ([stem, out_0, ...]), the last layer that reads it.

        A fixed child keeps a factorized reduction only for entries read after it.
        """
        if arch is None:
            return None
        L = self.config.num_layers
        last = [e for e in range(L + 1)]             # layer e reads entry e as its input
        last[L] = L                                  # the last output feeds the classifier
        for k, bits in enumerate(arch.skips):
            for i, bit in enumerate(bits):
                if bit:
                    last[i] = max(last[i], k)
        return last

    def forward(self, x: torch.Tensor, arch: MacroArch | None = None) -> torch.Tensor:
        arch = self._resolve(arch)
        final = self.config.style == "final"
        layers = [self.stem(x)]                                                   # [N, C, H, W]
        for k, layer in enumerate(self.layers):
            out = layer.branches[str(self.config.branch_run(arch.ops[k]))](layers[-1])
            if k > 0:
                chosen = [layers[i] for i, bit in enumerate(arch.skips[k]) if bit]
                if final:
                    out = layer.skip(torch.cat(chosen + [out], 1))
                else:
                    out = layer.skip(sum(chosen, out))     # add_n keeps channels_last
            layers.append(out)
            if str(k) in self.reductions:
                reduce = self.reductions[str(k)]
                layers = [reduce[str(i)](t) if str(i) in reduce else None           # [N, C', H/2, W/2]
                          for i, t in enumerate(layers)]
        return self.classifier(self.dropout(layers[-1].mean((2, 3))))              # [N, classes]
