"""What a child costs: its parameters, and the FLOPs of one forward pass.

Both are computed from the architecture by building or running exactly that child, not from a
formula kept by hand. FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``
(2 per multiply-add of convolutions and matrix products; batch norm, activations and pooling
are not counted, as in most NAS tables).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module, exclude_prefix: str | None = None) -> int:
    """Number of trainable parameters, optionally leaving out one submodule (e.g. "aux_head")."""
    return sum(p.numel() for name, p in module.named_parameters()
               if p.requires_grad and not (exclude_prefix and name.startswith(exclude_prefix)))


@torch.no_grad()
def count_flops(net: nn.Module, inputs: torch.Tensor, arch: Any = None) -> int:
    """FLOPs of one forward pass of ``net`` (running ``arch`` if it is a supernet) on ``inputs``."""
    was_training = net.training
    net.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            net(inputs, arch=arch) if arch is not None else net(inputs)
    finally:
        net.train(was_training)
    return int(counter.get_total_flops())
