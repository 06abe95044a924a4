"""The NAS-Bench-Macro network, as one fixed child or as a shared-weight supernet.

Built from the facts of the benchmark's ``train/model.py`` (github.com/xiusu/NAS-Bench-Macro;
data README in ``enas_edu/bench/nas_bench_macro/``), written for this project:

- stem: 3 x 3 conv (32 channels), BN, ReLU;
- three stages of 2, 3, 3 searched layers at 64, 128, 256 channels; the first layer of each
  stage has stride 2 and changes the width;
- ``identity``: nothing at all, except at a stage's first layer, where it is a 1 x 1 conv with
  stride 2, BN (the only way to change resolution and width with "no" operation);
- ``mb3_k3`` / ``mb6_k5``: MobileNetV2's inverted residual (Sandler et al. 2018): 1 x 1 expand
  to ``e x C_in``, BN, ReLU, k x k depthwise (stride), BN, ReLU, 1 x 1 project, BN; the input is
  added back where stride 1 and the width are unchanged;
- head: 1 x 1 conv to 1,280 channels, BN, ReLU, global average pooling, linear.

Every convolution is bias-free. Built with an architecture (``NBMacroNet(config, arch)``) the
network holds that child only: its parameter count equals the benchmark's ``params`` and its
multiply-adds its ``flops`` for each of the 3,969 distinct networks (tests/test_nbmacro.py).
Built without one it is the supernet: every layer holds its three candidates, and
``forward(x, arch)`` runs the chosen one, the ENAS way of sharing (paper section 2.3, one
operation of several per layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..spaces.nbmacro import NBMACRO_OPS, STAGES, NBMacroArch, NBMacroSpace
from .base import Supernet
from .ops import conv

#: (expansion, kernel) of the inverted residual choices, by op index.
BLOCKS = {1: (3, 3), 2: (6, 5)}


@dataclass(frozen=True)
class NBMacroNetConfig:
    """Shape of the NAS-Bench-Macro network; the defaults are the benchmark's."""

    stages: tuple[int, ...] = STAGES      # searched layers per stage
    widths: tuple[int, ...] = (64, 128, 256)
    stem: int = 32
    head: int = 1280
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self):
        if len(self.stages) != len(self.widths):
            raise ValueError(f"one width per stage: {len(self.stages)} stages, {len(self.widths)} widths")

    def space(self) -> NBMacroSpace:
        return NBMacroSpace(self.stages)


def conv_bn(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, relu: bool = True):
    layers = [conv(c_in, c_out, kernel, stride, groups), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: expand (1 x 1), depthwise (k x k, stride), project (1 x 1, no ReLU)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel: int):
        super().__init__()
        hidden = c_in * expansion
        self.residual = stride == 1 and c_in == c_out
        self.body = nn.Sequential(conv_bn(c_in, hidden), conv_bn(hidden, hidden, kernel, stride, groups=hidden),
                                  conv_bn(hidden, c_out, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def make_op(op: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    if op == 0:
        return nn.Identity() if stride == 1 and c_in == c_out else conv_bn(c_in, c_out, 1, stride, relu=False)
    return InvertedResidual(c_in, c_out, stride, *BLOCKS[op])


class NBMacroNet(Supernet):
    """``NBMacroNet(config)`` is the supernet, ``NBMacroNet(config, arch)`` one child."""

    def __init__(self, config: NBMacroNetConfig | None = None, arch: NBMacroArch | None = None):
        super().__init__()
        config = config or NBMacroNetConfig()
        self._set_arch(config, arch)
        c = config
        self.stem = conv_bn(c.in_channels, c.stem, 3)
        self.layers = nn.ModuleList()
        c_in, k = c.stem, 0
        for n, width in zip(c.stages, c.widths):
            for i in range(n):
                stride = 2 if i == 0 else 1
                ops = range(len(NBMACRO_OPS)) if arch is None else [arch.ops[k]]
                # a ModuleDict keyed by op index, so a child's names match the supernet's
                self.layers.append(nn.ModuleDict({str(op): make_op(op, c_in, width, stride) for op in ops}))
                c_in, k = width, k + 1
        self.head = conv_bn(c_in, c.head)
        self.classifier = nn.Linear(c.head, c.num_classes)

    def forward(self, x: torch.Tensor, arch: NBMacroArch | None = None) -> torch.Tensor:
        arch = self._resolve(arch)
        x = self.stem(x)                                              # [N, 32, H, W]
        for layer, op in zip(self.layers, arch.ops):
            x = layer[str(op)](x)                                     # [N, width, H / 2^stage, ...]
        x = self.head(x).mean((2, 3))                                 # [N, 1280]
        return self.classifier(x)                                     # [N, classes]
