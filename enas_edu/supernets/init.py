"""The official initialisation of the CNN children (``src/common_ops.py`` ``create_weight``).

Every weight of the official code is made by ``create_weight(name, shape)`` with Keras'
``he_normal``: a normal of standard deviation ``sqrt(2 / fan_in)`` truncated at two standard
deviations (TF 1's ``VarianceScaling(2.0, "fan_in", "normal")``), where ``fan_in`` is read off
the *stored* shape:

- a convolution kernel ``[k, k, C_in, C_out]`` (or depthwise ``[k, k, C_in, 1]``):
  ``k * k * C_in``; a classifier ``[C_in, classes]``: ``C_in``;
- the micro *search* stores each node's shared weights as 2-D matrices
  ``[num_possible_inputs, k * k * C]`` (depthwise) and ``[num_possible_inputs, C * C]``
  (pointwise), one row per input the node may read, and ``final_conv`` as
  ``[num_nodes + 2, C * C]``. For a 2-D shape TF takes ``shape[0]`` as the fan-in, so these
  weights start with ``std = sqrt(2 / (node + 2))`` rather than ``sqrt(2 / (k * k * C))``:
  from 1.0 (node 0, two inputs) down to 0.58 (node 4 of 5, six inputs) instead of about 0.15
  for C = 20. Batch norm follows every such
  convolution, so the scale mostly washes out of the forward pass, but not out of the first
  steps of SGD with weight decay.

PyTorch's default (``kaiming_uniform_(a=sqrt(5))``: ``std = 1 / sqrt(3 * fan_in)`` with PyTorch's
``fan_in = C_in / groups * k * k``) is what ``init="pytorch"`` keeps. Batch norm starts at
scale 1, shift 0 in both. The controller has its own initialisation (``init_range``).
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

INITS = ("pytorch", "official")


def he_normal_(weight: torch.Tensor, fan_in: int) -> torch.Tensor:
    """TF 1 ``he_normal``: normal with std ``sqrt(2 / fan_in)``, truncated at 2 std."""
    std = (2.0 / fan_in) ** 0.5
    with torch.no_grad():
        return nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


def official_fan_in(name: str, module: nn.Module, micro_search: bool, num_nodes: int) -> int:
    """Fan-in of the official stored shape of ``module`` (named ``name`` in the network)."""
    if micro_search:
        node = re.search(r"\.ops\.node(\d+)_", name)
        if node:                                        # a node's op: [num_possible_inputs, ...]
            return int(node.group(1))
        if ".final_conv." in name:                      # [num_nodes + 2, C * C]
            return num_nodes + 2
    if isinstance(module, nn.Conv2d):                   # [k, k, C_in, C_out]: the full C_in
        return module.kernel_size[0] * module.kernel_size[1] * module.in_channels
    return module.in_features                           # nn.Linear: [C_in, classes]


def official_init(net: nn.Module) -> nn.Module:
    """Initialise every convolution and linear weight of a MacroNet or MicroNet as ``create_weight``."""
    config = net.config
    micro_search = hasattr(config, "num_nodes") and config.style == "search"
    for name, module in net.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            he_normal_(module.weight, official_fan_in(name, module, micro_search, getattr(config, "num_nodes", 0)))
    return net
