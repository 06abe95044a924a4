"""Building blocks of the convolutional children (melodyguan/enas ``general_child.py``,
``micro_child.py`` and ``image_ops.py``).

Batch norm follows the official ``batch_norm``: epsilon 1e-5, moving averages with decay 0.9
(PyTorch ``momentum=0.1``). The micro search runs every batch norm in training mode, even when it
scores a child for the controller (``micro_child.py`` forces ``is_training=True`` when
``fixed_arc`` is None); ``track_stats=False`` gives that behaviour: batch statistics always, no
running averages. Pooling uses TF's "SAME" averaging, which does not count the padding.

One deviation is documented rather than switched: padding of strided ops. PyTorch pads a
k x k convolution or pool by k // 2 on every side; TF's "SAME" pads an even-sized input at
stride 2 by ``k - 2`` pixels in total, the extra one at the bottom and right (for k = 3: none at
the top and left, one at the bottom and right). So a stride-2 window here covers input rows
``2i - 1 .. 2i + 1`` where the official one covers ``2i .. 2i + 2``: the same sizes and weights,
the sampled grid one pixel up and to the left. It touches only the stride-2 ops of the micro
final reduction cells (factorized reductions are 1 x 1 and unpadded), and costs nothing to keep.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def pointwise(x: torch.Tensor, weight: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """A 1 x 1 convolution of any stride, as the subsampling it is followed by a stride-1 one.

    A 1 x 1 window of stride s reads exactly the pixels ``x[:, :, ::s, ::s]``, so both give the
    same function of the same weights. Written this way because oneDNN 3.12's AVX2 kernel for
    the strided form (torch 2.13 on CPUs without AVX-512, channels_last) writes outside its
    buffers for 2-7 input channels: a crash, a hang, or silently wrong gradients (issue #36,
    BENCHMARKS.md "A native crash on AVX2 CPUs"). The subsampling is a 1 x 1 average pooling of
    stride s: exactly those pixels, in the memory format of ``x`` (a channels_last network stays
    channels_last), one operation forward and one backward (slicing takes a copy and two).
    """
    if stride > 1:
        x = F.avg_pool2d(x, 1, stride)                  # [N, C, ceil(H / s), ceil(W / s)]
    return F.conv2d(x, weight)


class Pointwise(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 1, stride, bias=False)`` computed by :func:`pointwise`.

    A subclass, so parameter names, initialisation (``isinstance(m, nn.Conv2d)``), state dicts
    and FLOP counts are those of the plain convolution it replaces.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(c_in, c_out, 1, stride, 0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pointwise(x, self.weight, self.stride[0])


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """A bias-free k x k convolution with padding k // 2; 1 x 1 ones strided by subsampling."""
    if kernel == 1 and groups == 1:
        return Pointwise(c_in, c_out, stride)
    return nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)


def batch_norm(channels: int, track_stats: bool = True, eps: float = 1e-5) -> nn.BatchNorm2d:
    """``image_ops.batch_norm``: affine, eps 1e-5, decay 0.9; batch statistics only if not tracked.
    (``batch_norm_with_mask`` uses eps 1e-3: ``MacroNetConfig.branch_bn_eps``.)"""
    return nn.BatchNorm2d(channels, eps=eps, momentum=0.1, track_running_stats=track_stats)


class ReLUConvBN(nn.Sequential):
    """ReLU -> k x k conv -> BN: the calibration, layer-base and fixed-child convs."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, track_stats: bool = True):
        super().__init__(
            nn.ReLU(),
            conv(c_in, c_out, kernel, stride),
            batch_norm(c_out, track_stats),
        )


class ConvBNReLU(nn.Sequential):
    """Conv -> BN -> ReLU: the branches of the macro search (``_conv_branch``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, separable: bool = False,
                 track_stats: bool = True, bn_eps: float = 1e-5):
        if separable:  # depthwise k x k then pointwise 1 x 1, channel multiplier 1
            conv = [nn.Conv2d(c_in, c_in, kernel, 1, kernel // 2, groups=c_in, bias=False),
                    nn.Conv2d(c_in, c_out, 1, bias=False)]
        else:
            conv = [nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=False)]
        super().__init__(*conv, batch_norm(c_out, track_stats, bn_eps), nn.ReLU())


class SepConv(nn.Sequential):
    """ReLU -> depthwise k x k -> pointwise -> BN, stacked twice (``_enas_conv``, ``_fixed_conv``).

    Only the first of the two convolutions strides.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, track_stats: bool = True,
                 stack: int = 2):
        layers = []
        for i in range(stack):
            cin = c_in if i == 0 else c_out
            layers += [
                nn.ReLU(),
                nn.Conv2d(cin, cin, kernel, stride if i == 0 else 1, kernel // 2, groups=cin, bias=False),
                nn.Conv2d(cin, c_out, 1, bias=False),
                batch_norm(c_out, track_stats),
            ]
        super().__init__(*layers)


class Pool(nn.Module):
    """3 x 3 average or max pooling with TF "SAME" padding (padding excluded from averages)."""

    def __init__(self, kind: str, stride: int = 1):
        super().__init__()
        if kind not in ("avg", "max"):
            raise ValueError(f"pool kind must be 'avg' or 'max', got {kind!r}")
        self.kind, self.stride = kind, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "avg":
            return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)
        return F.max_pool2d(x, 3, self.stride, 1)

    def extra_repr(self) -> str:
        return f"{self.kind}, stride={self.stride}"


class FactorizedReduce(nn.Module):
    """Halve the resolution without dropping pixels (``_factorized_reduction``).

    Two 1 x 1 convolutions of stride 2, the second on the input shifted by one pixel, each giving
    half of the output channels; concatenated, then BN. Every input pixel reaches the output.
    """

    def __init__(self, c_in: int, c_out: int, track_stats: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"factorized reduction needs an even number of channels, got {c_out}")
        self.path1 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.path2 = nn.Conv2d(c_in, c_out // 2, 1, bias=False)
        self.bn = batch_norm(c_out, track_stats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:              # [N, C, H, W]
        # A 1 x 1 convolution of stride 2 reads exactly the pixels x[:, :, ::2, ::2] (pointwise
        # computes it so). The second path reads the input shifted by one pixel,
        # x[:, :, 1::2, 1::2]; an odd size needs the zero padding that makes both paths the same
        # size (even sizes, all of CIFAR's, do not).
        shifted = x[:, :, 1:, 1:]
        if x.shape[-1] % 2 or x.shape[-2] % 2:
            shifted = F.pad(shifted, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        out = torch.cat([pointwise(x, self.path1.weight, 2), pointwise(shifted, self.path2.weight, 2)], 1)
        return self.bn(out)                                           # [N, c_out, H/2, W/2]


def drop_path(x: torch.Tensor, keep_prob: float | torch.Tensor) -> torch.Tensor:
    """Drop the whole path for some examples, scaling the rest by 1/keep_prob (``image_ops.drop_path``).

    ``keep_prob`` may be a 0-dim tensor (``MicroNet``'s schedule), so that it can change every
    step without a compiled network specialising on its value.
    """
    if not isinstance(keep_prob, torch.Tensor) and keep_prob >= 1.0:
        return x
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep_prob)
    return x * mask / keep_prob
