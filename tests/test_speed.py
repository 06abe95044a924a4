"""Deterministic speed proxies (issue #7): aten operations per shared-weight step and forward
FLOPs of a child, against golden values; and the fast paths compute what the naive ones do.

Timings are benchmarks (``benchmarks/run.py``, BENCHMARKS.md), never tests. The counts below are
exact for the CPU build of torch 2.13 that CI installs; a change that alters them on purpose
updates them here and in BENCHMARKS.md together. Computing every candidate operation instead of
the sampled one, or falling back to a per-parameter optimizer loop, changes them.
"""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from enas_edu.config import OptimConfig
from enas_edu.supernets.ops import FactorizedReduce
from enas_edu.supernets import MacroNet, MacroNetConfig, MicroNet, MicroNetConfig, RNNNet, RNNNetConfig
from enas_edu.spaces.micro import loose_ends
from enas_edu.supernets.cost import count_aten_ops, count_flops, shared_step_ops
from enas_edu.training import make_sgd

# The first of the 64 fixed architectures of benchmarks/archs.json (seed 0, official sizes).
ARCS = {
    "micro": "1 3 0 4 1 3 0 1 2 1 1 0 1 3 2 2 2 1 3 3 0 3 0 2 0 2 1 3 2 1 3 3 0 0 2 4 3 2 4 1",
    "macro": "5 4 0 5 1 1 1 0 1 0 2 0 0 1 0 2 0 0 1 1 0 4 0 1 0 1 1 1 4 0 1 1 0 0 0 1 3 0 1 0 0 0 1 0 1 2 1 "
             "0 1 1 1 0 0 1 1 2 1 1 0 1 1 0 0 1 1 0 2 1 0 1 1 1 0 1 0 0 0 0",
    "rnn": "0 2 0 3 1 3 0 1 2 1 2 0 2 2 3 1 3 0",
}
# Tiny configs of the official spaces (benchmarks/run.py TINY); batch 2 (images) or 8 x 2 tokens.
NETS = {
    "micro": lambda fast: MicroNet(MicroNetConfig(num_layers=2, out_filters=8)),
    "macro": lambda fast: MacroNet(MacroNetConfig(num_layers=12, out_filters=8)),
    "rnn": lambda fast: RNNNet(RNNNetConfig(vocab_size=100, hidden_size=16, hoist=fast)),
}
GOLDEN = {   # (space, path): aten operations per phase of one steady shared step (no views)
    # a factorized reduction's strided 1 x 1 convolutions subsample first (ops.pointwise, issue
    # #36): one pooling forward and one backward per path, 8 paths here (micro), 28 (macro)
    ("micro", "naive"): {"forward": 210, "backward": 226, "clip": 8, "optimizer": 750},
    ("micro", "fast"): {"forward": 210, "backward": 226, "clip": 8, "optimizer": 5},
    ("macro", "naive"): {"forward": 246, "backward": 229, "clip": 8, "optimizer": 705},
    ("macro", "fast"): {"forward": 246, "backward": 229, "clip": 8, "optimizer": 5},
    ("rnn", "naive"): {"forward": 642, "backward": 1264, "clip": 8, "optimizer": 11},
    ("rnn", "fast"): {"forward": 636, "backward": 1142, "clip": 8, "optimizer": 1},
}
GOLDEN_FLOPS = {"micro": 9_659_008, "macro": 3_933_344, "rnn": 14_464}   # forward FLOPs, per image / per token


def _batch(space):
    g = torch.Generator().manual_seed(0)
    if space == "rnn":
        x = torch.randint(0, 100, (9, 2), generator=g)
        return x[:-1], x[1:]
    return torch.randn(2, 3, 32, 32, generator=g), torch.tensor([3, 7])


def _optim(space, fast):
    if space == "rnn":   # enas_lm: plain SGD, decay inside the regulariser
        return OptimConfig(lr=20.0, schedule="constant", momentum=0.0, nesterov=False, weight_decay=0.0,
                           foreach=fast)
    return OptimConfig(weight_decay=5e-4, foreach=fast)


def _ops(space, path):
    torch.manual_seed(0)
    net = NETS[space](path == "fast")
    arch = net.space.from_arc_string(ARCS[space])
    counts = shared_step_ops(net, arch, *_batch(space), _optim(space, path == "fast"))
    return {phase: sum(c.values()) for phase, c in counts.items()}, counts


@pytest.mark.parametrize("space", ["micro", "macro", "rnn"])
@pytest.mark.parametrize("path", ["naive", "fast"])
def test_aten_operations_per_shared_step_are_the_golden_values(space, path):
    totals, _ = _ops(space, path)
    assert totals == GOLDEN[(space, path)]


def test_the_fast_micro_step_dispatches_far_fewer_operations():
    naive, fast = sum(_ops("micro", "naive")[0].values()), sum(_ops("micro", "fast")[0].values())
    assert naive / fast > 2.6, (naive, fast)     # 1,194 / 449 (1,178 / 433 before issue #36's 16 poolings)
    _, counts = _ops("micro", "fast")
    assert set(counts["optimizer"]) <= {"_foreach_add_", "_foreach_mul_", "_foreach_add", "_foreach_lerp_",
                                        "_foreach_addcmul_", "_foreach_neg", "_foreach_mul", "clone",
                                        "_foreach_copy_"}, counts["optimizer"]


@pytest.mark.parametrize("space", ["micro", "macro"])
def test_the_supernet_runs_only_the_sampled_operations(space):
    """Independent check: the supernet runs as many convolutions as the child that holds only
    the chosen operations (macro: plus the factorized reductions of tensors no later layer reads,
    which the fixed child drops)."""
    torch.manual_seed(0)
    net = NETS[space](True).eval()
    arch = net.space.from_arc_string(ARCS[space])
    child = net.extract_child(arch).eval()
    x, _ = _batch(space)
    with torch.no_grad():
        _, sup = count_aten_ops(net, x, arch)
        _, alone = count_aten_ops(child, x)
    reductions = sum(1 for n, _ in net.named_modules() if n.startswith("reductions.") and n.count(".") == 2)
    kept = sum(1 for n, _ in child.named_modules() if n.startswith("reductions.") and n.count(".") == 2)
    assert sup["convolution"] == alone["convolution"] + 2 * (reductions - kept)


@pytest.mark.parametrize("space", ["micro", "macro", "rnn"])
def test_forward_flops_of_the_child_are_the_golden_values(space):
    torch.manual_seed(0)
    net = NETS[space](True)
    arch = net.space.from_arc_string(ARCS[space])
    x = _batch(space)[0][:, :1] if space == "rnn" else _batch(space)[0][:1]
    per = x.shape[0] if space == "rnn" else 1
    assert count_flops(net, x, arch) // per == GOLDEN_FLOPS[space]


@pytest.mark.parametrize("size", [8, 7])
def test_factorized_reduction_reads_the_pixels_of_its_definition(size):
    """Strided 1 x 1 convolutions = convolutions of x[::2, ::2] and of x shifted by one pixel,
    zero-padded at the far edge (``_factorized_reduction``), for even and odd sizes."""
    torch.manual_seed(0)
    fr = FactorizedReduce(4, 6).eval()
    x = torch.randn(2, 4, size, size)
    shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
    expected = fr.bn(torch.cat([F.conv2d(x[:, :, ::2, ::2], fr.path1.weight),
                                F.conv2d(shifted[:, :, ::2, ::2], fr.path2.weight)], 1))
    torch.testing.assert_close(fr(x), expected)


def test_one_final_conv_over_the_loose_ends_is_the_sum_of_their_blocks():
    """The micro search cell's one 1 x 1 convolution over its concatenated loose ends equals the
    sum of one convolution per loose end (the per-block form of ``final_conv``)."""
    torch.manual_seed(0)
    net = MicroNet(MicroNetConfig(num_layers=2, out_filters=8))
    arch = net.space.from_arc_string(ARCS["micro"])
    cell, ends = net.cells[2], loose_ends(arch.normal)                 # cells 0 and 1 reduce
    assert not cell.reduction and len(ends) > 1
    seen = []
    cell.register_forward_pre_hook(lambda module, args: seen.append(args[:2]))
    net(_batch("micro")[0], arch)
    s0, s1 = seen[0]                                                   # the cell's real inputs
    states = [cell.calibrate_x(s0), cell.calibrate_y(s1)]
    for i, node in enumerate(arch.normal):
        states.append(cell._run_op(i + 2, "x", node.x_input, node.x_op, states[node.x_input], None)
                      + cell._run_op(i + 2, "y", node.y_input, node.y_op, states[node.y_input], None))
    per_end = sum(cell.final_conv[f"from{s}"](F.relu(states[s])) for s in ends)
    torch.testing.assert_close(cell(s0, s1, arch.normal), cell.final_bn(per_end))


@pytest.mark.parametrize("layout", ["enas_lm", "paper"])
def test_the_hoisted_rnn_computes_what_the_per_step_loop_computes(layout):
    cfg = RNNNetConfig(vocab_size=50, hidden_size=8, layout=layout)
    torch.manual_seed(0)
    fast = RNNNet(cfg)
    naive = RNNNet(dataclasses.replace(cfg, hoist=False))
    naive.load_state_dict(fast.state_dict())
    arch = fast.space.sample(torch.Generator().manual_seed(3))
    x = torch.randint(0, 50, (7, 3), generator=torch.Generator().manual_seed(4))
    results = []
    for net in (fast, naive):
        torch.manual_seed(1)                          # the same dropout masks
        out = net(x, None, arch)
        loss = F.cross_entropy(out.logits.flatten(0, 1), x.flatten()) + net.regularizer(out, arch)
        loss.backward()
        results.append((loss.detach(), out.hidden.detach(), [p.grad for p in net.parameters()]))
    (l1, h1, g1), (l2, h2, g2) = results
    torch.testing.assert_close(l1, l2)
    torch.testing.assert_close(h1, h2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layout", ["enas_lm", "paper"])
def test_batched_cells_compute_what_each_cell_computes_alone(layout):
    """``forward_archs``: five different cells on their own windows in one pass equal five
    separate forward passes (rewards are scored this way)."""
    torch.manual_seed(0)
    net = RNNNet(RNNNetConfig(vocab_size=50, hidden_size=8, layout=layout)).eval()
    g = torch.Generator().manual_seed(1)
    archs = [net.space.sample(g) for _ in range(5)]
    assert len({a.funcs for a in archs}) > 1 and len({a.prevs for a in archs}) > 1
    tokens = torch.randint(0, 50, (6, 5, 3), generator=g)                 # [T, A, B]
    with torch.no_grad():
        alone = torch.stack([net(tokens[:, a], None, archs[a]).states for a in range(5)], 1)
    torch.testing.assert_close(net.forward_archs(tokens, archs), alone)            # [T, A, B, H]
    with pytest.raises(ValueError, match="call net.eval"):
        net.train().forward_archs(tokens, archs)
    with pytest.raises(ValueError, match="5 cells but 4"):
        net.eval().forward_archs(tokens, archs[:4])


def test_foreach_sgd_updates_exactly_like_the_per_parameter_loop():
    torch.manual_seed(0)
    a = MicroNet(MicroNetConfig(num_layers=2, out_filters=8))
    b = MicroNet(MicroNetConfig(num_layers=2, out_filters=8))
    b.load_state_dict(a.state_dict())
    arch = a.space.from_arc_string(ARCS["micro"])
    x, y = _batch("micro")
    for net, foreach in ((a, True), (b, False)):
        torch.manual_seed(1)                          # the same dropout masks
        opt = make_sgd(net.parameters(), OptimConfig(weight_decay=5e-4, foreach=foreach))
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x, arch), y).backward()
            opt.step()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, msg=name)
