"""Every convolutional network, on the CPU kernels that students' machines run (issue #36).

oneDNN picks its kernels by the CPU's instruction set, so a network that is right on the
machine it was written on can crash on another: its AVX2 1 x 1 stride-2 convolution in
channels_last corrupted the heap for 2-7 input channels, which only CPUs without AVX-512 run.
``ONEDNN_MAX_CPU_ISA=AVX2`` makes any x86 machine take those kernels. Each case runs
``tests/kernel_check.py`` in a process of its own, so a native crash or a hang is one failing test
that names the last convolution started, not a dead pytest.

The colab profile's networks are the paper's (same widths, fewer epochs); the RNN has no
convolution.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = Path(__file__).with_name("kernel_check.py")
#: the kernels of an AVX2-only CPU (oneDNN's and ATen's own), and whatever this machine has
ISAS = {"avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}, "native": {}}
CASES = [(space, profile) for space in ("nbmacro", "macro", "micro") for profile in ("smoke", "book", "paper")]
TIMEOUT = 300      # the slowest case (micro, paper widths) takes about 45 s on 2 cores


def run_check(space: str, profile: str, isa: str) -> tuple[int | None, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")}
    env.update(ISAS[isa], PYTHONWARNINGS="ignore")
    try:
        done = subprocess.run([sys.executable, str(CHECK), space, profile], env=env, capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return None, out
    return done.returncode, done.stdout + done.stderr


def verdict(code: int | None, output: str) -> str:
    """What went wrong, in one message: how it ended and the step it was in."""
    started = [line for line in output.splitlines() if line.startswith("start: ")]
    last = started[-1][len("start: "):] if started else "(before the first network)"
    if code is None:
        return f"hung for {TIMEOUT} s in: {last}"
    if code < 0:
        return f"killed by {signal.Signals(-code).name} in: {last}\n{output[-2000:]}"
    return output[output.find("FAILED:"):] if "FAILED:" in output else f"exit {code} in: {last}\n{output[-2000:]}"


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("space,profile", CASES)
def test_every_network_agrees_with_the_reference_kernels(space, profile, isa):
    code, output = run_check(space, profile, isa)
    assert code == 0 and output.rstrip().endswith("ok"), f"{space} {profile} on {isa} kernels: {verdict(code, output)}"
    # it really ran the networks: a supernet and two fixed children per input width
    assert output.count("done: ") == 6


def test_a_crash_is_reported_with_the_shape_it_died_in():
    """The report of a native crash names the convolution, as a failing check would print it."""
    output = ("start: nbmacro smoke supernet, 1 x 32 x 32: conv input [8, 2, 32, 32] weight [4, 2, 1, 1] "
              "stride 2 padding 0 groups 1\n")
    message = verdict(-signal.SIGSEGV, output)
    assert message.startswith("killed by SIGSEGV in: nbmacro smoke supernet")
    assert "weight [4, 2, 1, 1] stride 2" in message
    assert verdict(None, output).startswith(f"hung for {TIMEOUT} s in: nbmacro smoke supernet")


# ------------------------------------------------------------------ the fix, for the whole class
def test_pointwise_is_the_strided_convolution_it_replaces():
    """Subsampling then a stride-1 1 x 1 convolution: the same outputs and gradients as the
    strided convolution (computed by PyTorch's reference kernels), in either memory format."""
    import torch
    import torch.nn.functional as F

    from enas_edu.supernets.ops import pointwise

    g = torch.Generator().manual_seed(0)
    for stride in (1, 2, 3):
        for size in (7, 8):
            for channels_last in (False, True):
                x = torch.randn(4, 5, size, size, generator=g)
                w = torch.randn(6, 5, 1, 1, generator=g)
                dy = torch.randn(4, 6, -(-size // stride), -(-size // stride), generator=g)
                xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
                if channels_last:
                    xs = x.to(memory_format=torch.channels_last).requires_grad_()
                y = pointwise(xs, ws, stride)
                y.backward(dy)
                assert y.is_contiguous(memory_format=torch.channels_last if channels_last
                                       else torch.contiguous_format)
                with torch.backends.mkldnn.flags(enabled=False):
                    xr, wr = x.clone().requires_grad_(), w.clone().requires_grad_()
                    yr = F.conv2d(xr, wr, stride=stride)
                    yr.backward(dy)
                torch.testing.assert_close(y, yr)
                torch.testing.assert_close(xs.grad, xr.grad)
                torch.testing.assert_close(ws.grad, wr.grad)


def test_no_network_runs_a_strided_pointwise_convolution():
    """The class of the crash, at any width (down to 1 input channel and 2-channel stages): no
    supernet or fixed child of any space hands oneDNN a 1 x 1 convolution of stride > 1."""
    import dataclasses

    import torch

    from enas_edu.config import final_config, search_config
    from enas_edu.search import NETS
    from kernel_check import ConvRecorder, covering_archs

    narrow = {"macro": {"out_filters": 2}, "micro": {"out_filters": 2},
              "nbmacro": {"stem": 1, "widths": (2, 3, 5), "head": 4}}
    for space, widths in narrow.items():
        cfg = dataclasses.replace(search_config(space, "paper").net, in_channels=1, **widths)
        supernet = NETS[space](cfg)
        archs = covering_archs(supernet.space)
        nets = [(supernet, archs)]
        for arch in archs[:2]:
            arc = supernet.space.to_arc_string(arch)
            final = dataclasses.replace(final_config(space, arc, "paper").net, in_channels=1, **widths)
            nets.append((NETS[space](final, final.space().from_arc_string(arc)), [None]))
        recorder = ConvRecorder()
        with torch.no_grad(), recorder:
            for net, net_archs in nets:
                for arch in net_archs:
                    net.train()(torch.zeros(2, 1, 32, 32), arch=arch)
        kernels = [(w[2:], stride) for _, w, stride, *_ in recorder.seen]
        assert any(k == (1, 1) for k, _ in kernels), f"{space}: no 1 x 1 convolution recorded"
        strided = [k for k in kernels if k[0] == (1, 1) and k[1] != (1, 1)]
        assert not strided, f"{space}: strided 1 x 1 convolutions reach the kernels: {strided}"
