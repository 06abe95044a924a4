"""The training-step helpers the search and the final training share: device and precision,
seeding, the learning-rate schedule, SGD, gradient clearing and clipping.

The run folder (logs, checkpoints, the lock, read-only opening) is :mod:`enas_edu.runs`.
"""

from __future__ import annotations

import contextlib
import math
import platform
import random

import numpy as np
import torch


# ---------------------------------------------------------------------------------- device
def hardware_name(device: torch.device | str | None = None) -> str:
    """The machine as every record names it: the GPU's name, or the CPU and its thread count
    (``device`` None: the GPU if there is one)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present, else the CPU; anything else is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {name!r} is not a device; give cpu, cuda, cuda:N or auto") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"--device {name!r}: enas_edu runs on cpu, cuda (cuda:N) or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but no CUDA device is visible; use --device cpu")
    return device


class Precision:
    """Autocast on CUDA as ``precision`` says ("auto": bf16 where supported, else fp16; "bf16";
    "fp16", with a gradient scaler; "fp32": none). On any other device: fp32."""

    def __init__(self, device: torch.device, precision: str = "auto"):
        self.device = device
        self.enabled = precision != "fp32" and device.type == "cuda"
        self.dtype = None
        if self.enabled:
            if precision == "auto":
                precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            if precision == "bf16" and not torch.cuda.is_bf16_supported():
                raise ValueError(f"{torch.cuda.get_device_name(device)} has no bf16; use --precision fp16 or fp32")
            self.dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and self.dtype == torch.float16)

    def autocast(self):
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.dtype)

    @property
    def name(self) -> str:
        return str(self.dtype).replace("torch.", "") if self.enabled else "float32"


def uses_channels_last(config) -> bool:
    """Whether a search or final training keeps its network and images in channels_last: every
    CNN, on every device (oneDNN's CPU convolutions are faster in that layout, the depthwise ones
    above all: BENCHMARKS.md, "The shared-weight step against 569ffcd")."""
    return config.channels_last and config.space != "rnn"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------- schedule
def sgdr_lr(epoch: int, lr_max: float, lr_min: float, T0: int, Tmul: int) -> float:
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017) per epoch, as src/utils.py.

    The first cycle lasts T0 epochs, each next one Tmul times longer: with T0 = 10, Tmul = 2 the
    restarts fall at epochs 10, 30, 70, 150, 310, 630 (hence the official epoch counts).
    """
    t, length = epoch, T0
    while t >= length:
        t -= length
        length *= Tmul
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t / length))


def learning_rate(optim_config, epoch: int) -> float:
    if optim_config.schedule == "constant":
        return optim_config.lr
    return sgdr_lr(epoch, optim_config.lr, optim_config.lr_min, optim_config.T0, optim_config.Tmul)


def make_sgd(parameters, optim_config) -> torch.optim.SGD:
    """The SGD of the shared (or final) weights, as :class:`~enas_edu.config.OptimConfig` says."""
    o = optim_config
    return torch.optim.SGD(parameters, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0,
                           weight_decay=o.weight_decay, foreach=o.foreach)


def trainable_parameters(net, optim_config) -> list:
    """The parameters SGD updates. With ``freeze_aux_head`` the auxiliary head is left out, as
    ``micro_child.py`` leaves its variables out of the optimiser's list (they keep their initial
    values; the aux loss still trains the trunk below the head)."""
    if optim_config.freeze_aux_head and getattr(net, "aux_head", None) is not None:
        net.aux_head.requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def zero_gradients(optimizer: torch.optim.Optimizer, dense: bool) -> None:
    """Clear the gradients before a backward pass.

    ``dense=False``: set them to None, so a parameter the child does not use gets no update at
    all. ``dense=True`` (``OptimConfig.dense_updates``, the official CNN searches): every
    parameter holds a zero gradient, so SGD applies weight decay and the momentum step to the
    shared weights the child did not use too, as TensorFlow's dense gradients of the official
    ``l2_reg * sum(w^2)`` over all variables do.
    """
    optimizer.zero_grad(set_to_none=not dense)    # dense: one multi-tensor zero of the gradients
    if dense:
        for group in optimizer.param_groups:      # a gradient for every parameter, once
            for p in group["params"]:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)


def clip_gradients(parameters, max_norm: float | None, noop: bool = False) -> torch.Tensor:
    """Clip the global gradient norm to ``max_norm``; returns the norm before clipping.

    ``noop`` reproduces the official CIFAR code, which computes the clipped gradients and then
    applies the unclipped ones (``src/utils.py`` appends ``g``, not ``c_g``).
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return torch.zeros(())
    if max_norm is None or noop:
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    return torch.nn.utils.clip_grad_norm_(params, max_norm)
