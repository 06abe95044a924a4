"""The controller: log-probabilities, entropies, penalties, and the official quirks."""

import math
from collections import Counter

import pytest
import torch
from torch.distributions import Categorical

from enas_edu.controller import Controller, ControllerConfig
from enas_edu.spaces import MacroSpace, MicroSpace, RNNCellSpace, published

SPACES = [
    MacroSpace(num_layers=5),
    MicroSpace(num_nodes=3),
    RNNCellSpace(num_nodes=5),
    RNNCellSpace(num_nodes=5, layout="paper"),
]


def make(space, seed=0, **overrides):
    torch.manual_seed(seed)
    return Controller(space, **overrides)


@pytest.mark.parametrize("space", SPACES, ids=repr)
def test_log_prob_of_a_sample_equals_its_rescoring(space):
    controller = make(space)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        sample = controller.sample(generator=g)
        assert sample.log_prob.dim() == 0 and sample.log_prob.requires_grad
        assert sample.entropy.dim() == 0 and sample.entropy.requires_grad
        assert torch.equal(controller.log_prob(sample.arch), sample.log_prob)
    batch = controller.sample_batch(16, generator=g)
    rescored = controller.evaluate(batch.archs)
    torch.testing.assert_close(rescored.log_prob, batch.log_prob, rtol=0, atol=1e-5)
    torch.testing.assert_close(rescored.entropy, batch.entropy, rtol=0, atol=1e-5)
    one_by_one = torch.stack([controller.log_prob(a) for a in batch.archs])
    torch.testing.assert_close(one_by_one, batch.log_prob, rtol=0, atol=1e-5)


@pytest.mark.parametrize("space", SPACES, ids=repr)
@pytest.mark.parametrize("entropy_mode", ["sampled", "full"])
def test_log_prob_and_entropy_match_torch_distributions(space, entropy_mode):
    controller = make(space, entropy_mode=entropy_mode)
    sample = controller.sample(generator=torch.Generator().manual_seed(2), record=True)
    # every position of the arc string is decided exactly once, and the choices are the arc
    assert sorted(d.position for d in sample.decisions) == list(range(space.num_decisions()))
    by_position = sorted(sample.decisions, key=lambda d: d.position)
    assert tuple(d.choice for d in by_position) == space.encode(sample.arch)
    log_prob, entropy = torch.zeros(()), torch.zeros(())
    for d in sample.decisions:
        dist = Categorical(logits=d.logits)
        lp = dist.log_prob(torch.tensor(d.choice - d.values.start))
        log_prob += lp
        entropy += dist.entropy() if entropy_mode == "full" else -lp.exp() * lp
    torch.testing.assert_close(sample.log_prob.detach(), log_prob, rtol=0, atol=1e-5)
    torch.testing.assert_close(sample.entropy.detach(), entropy, rtol=0, atol=1e-5)


def test_macro_skip_penalty_matches_an_independent_computation():
    space = MacroSpace(num_layers=4)
    for on_sampling_prob in (False, True):
        controller = make(space, skip_penalty_on_sampling_prob=on_sampling_prob)
        sample = controller.sample(generator=torch.Generator().manual_seed(3), record=True)
        target = torch.tensor([0.6, 0.4])
        per_layer = []
        for k in range(1, 4):
            logits = torch.stack([d.logits for d in sample.decisions if d.name.startswith(f"layer {k} skip")])
            p = logits.softmax(-1) if on_sampling_prob else torch.sigmoid(logits)
            per_layer.append((p * (p / target).log()).sum())
        torch.testing.assert_close(sample.skip_penalty.detach(), torch.stack(per_layer).mean())
        # a skip logit pair is [-q, q], so it is sampled with probability softmax = sigmoid(2q)
        d = next(d for d in sample.decisions if "skip" in d.name)
        assert d.logits[0] == -d.logits[1]


def test_gradients_reach_every_controller_weight():
    controller = make(MacroSpace(num_layers=4))
    controller.sample(generator=torch.Generator().manual_seed(0)).log_prob.backward()
    for name, p in controller.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("space", SPACES, ids=repr)
def test_untrained_unbiased_controller_samples_near_uniformly(space):
    controller = make(space, micro_op_bias=False, recency_prior=False)
    n = 4000
    with torch.no_grad():
        archs = controller.sample_batch(n, generator=torch.Generator().manual_seed(4)).archs
    decisions = torch.tensor([space.encode(a) for a in archs])
    for pos, allowed in enumerate(space.positions):
        freq = torch.bincount(decisions[:, pos] - allowed.start, minlength=len(allowed)).float() / n
        # binomial std at n = 4000 is at most 0.008; logits of an untrained controller are tiny
        assert (freq - 1 / len(allowed)).abs().max() < 0.04, (pos, space.position_name(pos), freq)


def test_official_micro_op_bias_favours_separable_convolutions():
    space = MicroSpace(num_nodes=5)
    with torch.no_grad():
        biased = make(space).sample_batch(1000, generator=torch.Generator().manual_seed(5)).archs
        plain = make(space, micro_op_bias=False).sample_batch(1000, generator=torch.Generator().manual_seed(5)).archs
    def sep_share(archs, cell):
        ops = Counter(op for a in archs for node in getattr(a, cell) for op in (node.x_op, node.y_op))
        return (ops[0] + ops[1]) / sum(ops.values())
    # op logits: 0.44 * tanh(10 + small) for sep convs vs 0.44 * tanh(small), then +-0.25 (normal)
    sep, other = math.exp(0.44 + 0.25), math.exp(-0.25)
    p_normal = 2 * sep / (2 * sep + 3 * other)
    sep, other = math.exp(0.44), 1.0
    p_reduce = 2 * sep / (2 * sep + 3 * other)
    assert sep_share(biased, "normal") == pytest.approx(p_normal, abs=0.03)
    assert sep_share(biased, "reduce") == pytest.approx(p_reduce, abs=0.03)
    assert sep_share(plain, "normal") == pytest.approx(0.4, abs=0.03)


def test_official_micro_op_bias_freezes_the_separable_convolution_logits():
    """The quirk's side effect: tanh(10 + small) is 1.0 in float32, so the separable
    convolutions' op logits get no gradient at all and REINFORCE can only move the other three."""
    space = MicroSpace(num_nodes=5)
    for bias, frozen in ((True, True), (False, False)):
        controller = make(space, micro_op_bias=bias)
        controller.sample_batch(64, generator=torch.Generator().manual_seed(0)).log_prob.mean().backward()
        grad = controller.b_soft.grad
        assert (grad[:2].abs().max() == 0) == frozen and grad[2:].abs().min() > 0, grad


def test_recency_prior_prefers_recent_nodes():
    space = RNNCellSpace(num_nodes=6)
    with torch.no_grad():
        archs = make(space).sample_batch(2000, generator=torch.Generator().manual_seed(6)).archs
    prevs = Counter(a.prevs[5] for a in archs)  # node 6 picks among states 0..5
    assert prevs[5] > prevs[4] > prevs[3] > prevs[0]
    assert prevs[5] / 2000 > 0.5


def test_sampling_is_reproducible_with_a_generator():
    controller = make(MicroSpace())
    a = controller.sample_batch(4, generator=torch.Generator().manual_seed(9)).archs
    b = controller.sample_batch(4, generator=torch.Generator().manual_seed(9)).archs
    assert a == b


def test_greedy_takes_the_argmax_at_every_step():
    controller = make(RNNCellSpace(num_nodes=4))
    sample = controller.sample(greedy=True, record=True)
    for d in sample.decisions:
        assert d.choice == d.values[int(d.logits.argmax())]


def test_official_configs_follow_the_scripts():
    macro, micro, rnn = (ControllerConfig.official(n) for n in ("macro", "micro", "rnn"))
    assert (macro.tanh_constant, macro.temperature, macro.skip_target) == (1.5, None, 0.4)
    assert (micro.tanh_constant, micro.op_tanh_reduce, micro.micro_op_bias) == (1.10, 2.5, True)
    assert (rnn.tanh_constant, rnn.temperature, rnn.init_range, rnn.recency_prior) == (2.25, 5.0, 0.01, True)
    assert macro.entropy_mode == rnn.entropy_mode == "sampled" and micro.entropy_mode == "full"
    controller = Controller(MicroSpace(), tanh_constant=None)
    assert controller.config.tanh_constant is None and controller.config.op_tanh_reduce == 2.5


def test_bad_controller_settings_raise():
    with pytest.raises(ValueError, match="entropy_mode must be one of"):
        ControllerConfig(entropy_mode="max")
    with pytest.raises(ValueError, match=r"skip_target must be in \(0, 1\)"):
        ControllerConfig(skip_target=1.5)
    with pytest.raises(ValueError, match="unknown search space"):
        ControllerConfig.official("nasnet")
    with pytest.raises(ValueError, match="n must be >= 1"):
        Controller(MacroSpace(num_layers=2)).sample_batch(0)
    space, arch = published("micro")
    with pytest.raises(ValueError, match="expected a MacroArch"):
        Controller(MacroSpace(num_layers=2)).log_prob(arch)
