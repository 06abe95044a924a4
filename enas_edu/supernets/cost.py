"""What a child costs: its parameters, the FLOPs of one forward pass, and the number of aten
operations a piece of code dispatches.

All are computed by building or running exactly that child, not from a formula kept by hand.
FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add of
convolutions and matrix products; batch norm, activations and pooling are not counted, as in
most NAS tables). Operations are counted by a ``TorchDispatchMode``: on a GPU each one that is
not a view or an allocation is (at least) one kernel launch, so their number per step is a
deterministic proxy for the step's dispatch cost, measurable on a CPU (issue #7).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

#: Operations that launch no kernel: views, metadata and allocations.
NO_KERNEL = frozenset({
    "view", "_unsafe_view", "reshape", "as_strided", "expand", "t", "transpose", "permute", "squeeze",
    "unsqueeze", "select", "slice", "split", "split_with_sizes", "chunk", "unbind", "alias", "detach",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "_reshape_alias",
    "lift_fresh", "set_", "resize_", "is_same_size",
    "_record_function_enter_new", "_record_function_exit"})   # profiler marks of optimizer.step


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


class _OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count_aten_ops(fn, *args, kernels_only: bool = True, **kwargs) -> tuple[Any, Counter[str]]:
    """Run ``fn(*args, **kwargs)`` and count the aten operations it dispatches, by name.

    With ``kernels_only`` the views, metadata operations and allocations of :data:`NO_KERNEL` are
    left out. Returns ``(fn's result, counts)``; ``sum(counts.values())`` is the total.
    """
    with _OpCounter() as counter:
        result = fn(*args, **kwargs)
    counts = Counter({k: v for k, v in counter.counts.items() if not (kernels_only and k in NO_KERNEL)})
    return result, counts


def step_loss(net: nn.Module, arch: Any, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss of one shared step of ``arch``: cross-entropy, plus the RNN's regularisers."""
    import torch.nn.functional as F

    from .rnn import RNNNet
    if isinstance(net, RNNNet):
        out = net(inputs, None, arch)
        return F.cross_entropy(out.logits.flatten(0, 1), targets.flatten()) + net.regularizer(out, arch)
    return F.cross_entropy(net(inputs, arch), targets)


def shared_step_ops(net: nn.Module, arch: Any, inputs: torch.Tensor, targets: torch.Tensor,
                    optim_config, grad_clip: float | None = 5.0) -> dict[str, Counter[str]]:
    """Aten operations of one shared-weight step, by phase: forward, backward, clip, optimizer.

    The step is the search's (paper section 2.2): the loss of ``arch`` on one batch (for the RNN
    with its regularisers), backward, global-norm clipping, one SGD update built by
    :func:`enas_edu.training.make_sgd` from ``optim_config``. The optimizer's first step (which
    creates momentum buffers) runs before counting, so the counts are those of a steady step.
    """
    from ..training import clip_gradients, make_sgd

    opt = make_sgd(net.parameters(), optim_config)
    net.train()
    counts = {}
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        loss, counts["forward"] = count_aten_ops(step_loss, net, arch, inputs, targets)
        _, counts["backward"] = count_aten_ops(loss.backward)
        _, counts["clip"] = count_aten_ops(clip_gradients, net.parameters(), grad_clip)
        _, counts["optimizer"] = count_aten_ops(opt.step)
    return counts
