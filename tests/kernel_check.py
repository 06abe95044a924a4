"""Run every convolutional network of one space and profile through the CPU's kernels, and check
each result against PyTorch's own reference kernels (oneDNN off).

Run as a script, in a process of its own (tests/test_cpu_kernels.py starts it with
``ONEDNN_MAX_CPU_ISA=AVX2`` and with the machine's default kernels), because the failure it looks
for is native: oneDNN 3.12's AVX2 1 x 1 stride-2 convolution in channels_last wrote outside its
buffers for 2-7 input channels (issue #36), which killed pytest with a segmentation fault, a
"double free" or a hang, and for 5-7 channels gave silently wrong gradients.

For every network (the search's supernet and the final training's fixed child, for images of 1 and
3 channels at the profile's image size), it first records every convolution the network runs
(a ``TorchDispatchMode``), then:

1. each distinct convolution alone, forward and backward in channels_last, against the reference;
2. the whole network, forward and backward in the memory format the search uses, against the
   reference, gradient by gradient.

Before each step it prints one line naming it, so a native crash leaves the shape that caused it
as the last line of the output. It prints ``ok`` last when everything agreed, and exits 1 with the
mismatches listed otherwise.

    python tests/kernel_check.py nbmacro smoke
"""

from __future__ import annotations

import copy
import dataclasses
import faulthandler
import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from enas_edu.config import final_config, search_config
from enas_edu.search import NETS

BATCH = 8
#: largest difference allowed, relative to the reference: a convolution's outputs and gradients
#: (elementwise, to the largest magnitude), a network's logits (likewise) and all its gradients
#: (the norm of the difference, to the norm). The gradients' 25% is loose on purpose: rounding
#: alone moves them by 0.3-1.3% on the micro paper supernet (the float32 reference against
#: float64; ties of max pooling over ReLU zeros go another way in channels_last) and by 10% on the
#: micro paper fixed child (15 cells at initialisation, gradient norm 1e4), where the wrong AVX2
#: kernel was off by 100x. The exact check is the one of each convolution alone.
TOLERANCE = {"conv": 1e-3, "logits": 1e-3, "gradients": 0.25}
ITERATIONS = 3       # each convolution runs this often: the corruption showed within a few calls


def image_size(space: str, profile: str) -> int:
    """The side of the images the profile's search reads (digits8: 8; digits and CIFAR-10: 32)."""
    return 8 if search_config(space, profile).data.dataset == "digits8" else 32


def covering_archs(space):
    """Architectures that between them take every value at every position of the arc string:
    the i-th sets position j to its (i + j)-th allowed value, so each op is run at each layer."""
    n = max(len(r) for r in space.positions)
    return [space.from_decisions([r.start + (i + j) % len(r) for j, r in enumerate(space.positions)])
            for i in range(n)]


def networks(space_name: str, profile: str):
    """(name, net, archs, side) for the supernet and the fixed child, with 1 and 3 input channels."""
    side = image_size(space_name, profile)
    for channels in (1, 3):
        given = {"in_channels": channels}
        cfg = search_config(space_name, profile).net
        if hasattr(cfg, "image_size"):
            given.update(image_size=side, aux_head=cfg.aux_head and side >= 20)
        cfg = dataclasses.replace(cfg, **given)
        supernet = NETS[space_name](cfg)
        archs = covering_archs(supernet.space)
        yield f"{space_name} {profile} supernet, {channels} x {side} x {side}", supernet, archs, side
        for k, arch in enumerate(archs[:2]):
            final = final_config(space_name, supernet.space.to_arc_string(arch), profile).net
            final = dataclasses.replace(final, **given)
            child = NETS[space_name](final, final.space().from_arc_string(supernet.space.to_arc_string(arch)))
            yield f"{space_name} {profile} fixed child {k}, {channels} x {side} x {side}", child, [None], side


class ConvRecorder(TorchDispatchMode):
    """Records (input shape, weight shape, stride, padding, dilation, groups) of every convolution."""

    def __init__(self):
        super().__init__()
        self.seen: dict[tuple, None] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ == "convolution":
            x, w, _, stride, padding, dilation, transposed, _, groups = args
            if not transposed:
                self.seen[(tuple(x.shape), tuple(w.shape), tuple(stride), tuple(padding), tuple(dilation),
                           groups)] = None
        return func(*args, **(kwargs or {}))


def worst(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest difference of ``a`` from the reference ``b``, relative to ``b``'s largest magnitude."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def check_conv(signature) -> float:
    x_shape, w_shape, stride, padding, dilation, groups = signature
    g = torch.Generator().manual_seed(0)
    w = torch.randn(w_shape, generator=g)
    error = 0.0
    for _ in range(ITERATIONS):
        x = torch.randn(x_shape, generator=g)
        xs, ws = [t.clone().to(memory_format=torch.channels_last).requires_grad_() for t in (x, w)]
        y = torch.nn.functional.conv2d(xs, ws, None, stride, padding, dilation, groups)
        dy = torch.randn(y.shape, generator=g)
        y.backward(dy)
        with torch.backends.mkldnn.flags(enabled=False):
            xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
            yr = torch.nn.functional.conv2d(xr, wr, None, stride, padding, dilation, groups)
            yr.backward(dy)
        error = max(error, worst(y, yr), worst(xs.grad, xr.grad), worst(ws.grad, wr.grad))
    return error


def run_net(net, arch, x, seed: int):
    torch.manual_seed(seed)                       # the same dropout and drop-path masks in both runs
    out = net(x, arch=arch) if arch is not None else net(x)
    logits = out[0] if isinstance(out, tuple) else out
    logits.square().mean().backward()
    return logits.detach(), {n: p.grad for n, p in net.named_parameters() if p.grad is not None}


def check_net(net, archs, side: int) -> list[str]:
    problems = []
    channels = net.config.in_channels
    for i, arch in enumerate(archs):
        x = torch.randn(BATCH, channels, side, side, generator=torch.Generator().manual_seed(i))
        fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
        reference = copy.deepcopy(net)
        y, grads = run_net(fast, arch, x.to(memory_format=torch.channels_last), i)
        with torch.backends.mkldnn.flags(enabled=False):
            y_ref, grads_ref = run_net(reference, arch, x, i)
        # The gradients as one vector: a single tensor can differ by more than rounding where a
        # tie (max pooling over ReLU zeros) or a near-zero batch variance turns on the order of
        # the sums, but a wrong kernel moves every gradient upstream of it.
        names = sorted(grads_ref)
        g, g_ref = (torch.cat([d[n].flatten() for n in names]) for d in (grads, grads_ref))
        errors = {"logits": worst(y, y_ref), "gradients": ((g - g_ref).norm() / g_ref.norm()).item()}
        for what, e in errors.items():
            if not e <= TOLERANCE[what]:
                problems.append(f"arch {i}: the {what} differ from the reference kernels by {e:.3g} "
                                f"(relative; tolerance {TOLERANCE[what]})")
    return problems


def main(space: str, profile: str) -> int:
    faulthandler.enable()
    torch.manual_seed(0)
    failures = []
    for name, net, archs, side in networks(space, profile):
        recorder = ConvRecorder()
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), recorder:
            for arch in archs:
                net(torch.zeros(BATCH, net.config.in_channels, side, side), arch=arch)
        for sig in recorder.seen:
            x, w, stride, padding, _, groups = sig
            print(f"start: {name}: conv input {list(x)} weight {list(w)} stride {stride[0]} padding "
                  f"{padding[0]} groups {groups}", flush=True)
            e = check_conv(sig)
            if not e <= TOLERANCE["conv"]:
                failures.append(f"{name}: conv input {list(x)} weight {list(w)} stride {stride[0]} groups {groups}: "
                                f"differs from the reference kernels by {e:.3g} of its largest value")
        print(f"start: {name}: whole network, {len(archs)} architecture(s), forward and backward", flush=True)
        failures += [f"{name}: {p}" for p in check_net(net.train(), archs, side)]
        print(f"done: {name}: {len(recorder.seen)} distinct convolutions", flush=True)
    if failures:
        print("\n".join(["FAILED:"] + failures), flush=True)
        return 1
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
