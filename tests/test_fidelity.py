"""The official code's silent deviations as switches (issue #17): each changes what it names."""

import dataclasses

import pytest
import torch

from enas_edu.config import OptimConfig, search_config
from enas_edu.search import Search
from enas_edu.spaces import MacroArch
from enas_edu.supernets import MacroNet, MacroNetConfig, MicroNet, MicroNetConfig
from enas_edu.supernets.init import official_fan_in
from enas_edu.training import make_sgd, zero_gradients


# ------------------------------------------------------------------ 1. the macro tf.case quirk
def test_closures_built_in_a_loop_all_return_the_last_branch():
    """A Python stand-in of ``_enas_layer``'s loop: ``branches[k] = lambda: y`` with ``y``
    rebound each iteration, then ``tf.case`` calls the functions after the loop."""
    branches = {}
    for k, op in enumerate(["conv3", "sep3", "conv5", "sep5", "avg", "max"]):
        y = f"output of {op}"
        branches[k] = lambda: y                     # as general_child.py writes it
    assert {k: fn() for k, fn in branches.items()} == {k: "output of max" for k in range(6)}


def test_case_quirk_makes_every_op_choice_run_max_pool():
    skips = ((), (1,), (0, 1))
    config = MacroNetConfig(num_layers=3, out_filters=8)
    torch.manual_seed(0)
    honest = MacroNet(config).eval()
    quirky = MacroNet(dataclasses.replace(config, case_quirk=True)).eval()
    quirky.load_state_dict(honest.state_dict())
    x = torch.randn(2, 3, 16, 16)
    all_max = honest(x, MacroArch((5, 5, 5), skips))
    for ops in ((0, 1, 2), (3, 4, 0), (5, 5, 5)):
        assert torch.equal(quirky(x, MacroArch(ops, skips)), all_max)
    assert not torch.allclose(honest(x, MacroArch((0, 1, 2), skips)), all_max)
    # the quirky fixed child holds the max-pool branch, whatever the ops say
    child = MacroNet(dataclasses.replace(config, case_quirk=True), MacroArch((0, 1, 2), skips))
    assert all(list(layer.branches) == ["5"] for layer in child.layers)
    with pytest.raises(ValueError, match="case_quirk"):
        MacroNetConfig(style="final", case_quirk=True)


# ------------------------------------------------------------------ 2. the aux head in the micro search
def test_micro_search_trains_the_trunk_through_a_frozen_aux_head(tmp_path):
    base = search_config("micro", "smoke")
    config = dataclasses.replace(
        base, epochs=1, net=dataclasses.replace(base.net, aux_head=True),
        optim=dataclasses.replace(base.optim, aux_weight=0.4, freeze_aux_head=True, dense_updates=True),
        reinforce=dataclasses.replace(base.reinforce, train_steps=1))
    search = Search(config, tmp_path / "run", progress=False)
    head = {k: v.detach().clone() for k, v in search.net.aux_head.named_parameters()}
    stem = search.net.stem[0].weight.clone()
    assert not any(p is q for p in search.net.aux_head.parameters()
                   for g in search.optimizer.param_groups for q in g["params"])
    search.net.train()
    batch = next(search.task.train_epoch(0))
    arch = search.sample_arch()
    torch.manual_seed(0)                                  # the same dropout masks twice
    logits, aux = search.net(batch[0], arch)
    torch.manual_seed(0)
    loss, _, _ = search.task.loss(search.net, batch, arch, aux_weight=0.4)
    ce = torch.nn.functional.cross_entropy
    assert aux.shape == logits.shape
    assert loss.item() == pytest.approx((ce(logits, batch[1]) + 0.4 * ce(aux, batch[1])).item(), rel=1e-6)
    search.run()
    for k, v in search.net.aux_head.named_parameters():
        assert torch.equal(v, head[k]), k                 # never trained, not even decayed
    assert not torch.equal(search.net.stem[0].weight, stem)
    assert search_config("micro", "paper").net.aux_head and search_config("micro", "paper").optim.aux_weight == 0.4


# ------------------------------------------------------------------ 3. dense weight decay and momentum
@pytest.mark.parametrize("dense", [True, False])
def test_dense_updates_move_every_shared_tensor(dense):
    torch.manual_seed(0)
    net = MicroNet(MicroNetConfig(num_layers=1, out_filters=8, num_nodes=3, image_size=16))
    opt = make_sgd(net.parameters(), OptimConfig(lr=0.05, weight_decay=5e-4))
    before = {k: p.detach().clone() for k, p in net.named_parameters()}
    arch = net.space.sample(torch.Generator().manual_seed(1))
    x, y = torch.randn(4, 3, 16, 16), torch.randint(0, 10, (4,))
    zero_gradients(opt, dense)
    torch.nn.functional.cross_entropy(net(x, arch), y).backward()
    used = {k for k, p in net.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    opt.step()
    changed = {k for k, p in net.named_parameters() if not torch.equal(p, before[k])}
    unused = set(before) - used
    if dense:
        # an unused weight still decays: the first Nesterov step with gradient wd * w moves it by
        # lr * (1 + momentum) * wd * w, as the official dense update does (zero tensors stay zero)
        for k, p in net.named_parameters():
            if k in unused:
                assert torch.allclose(p, before[k] * (1 - 0.05 * 1.9 * 5e-4), rtol=1e-6, atol=1e-9), k
        assert changed == used | {k for k in unused if before[k].abs().sum() > 0}
    else:
        assert changed == used and unused and all(torch.equal(p, before[k]) for k, p in net.named_parameters()
                                                  if k in unused)


# ------------------------------------------------------------------ 4. the official initialisation
def test_official_init_follows_the_stored_shapes():
    torch.manual_seed(0)
    net = MicroNet(MicroNetConfig(num_layers=1, out_filters=20, num_nodes=3, init="official"))
    for name, module in net.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = official_fan_in(name, module, True, 3)
            std = (2 / fan_in) ** 0.5
            assert module.weight.abs().max() <= 2 * std + 1e-6, name
            if ".ops.node" in name:
                assert fan_in == int(name.split(".ops.node")[1].split("_")[0])   # inputs the node may read
    dw = net.cells[2].ops["node4_x_from0_op1"][1].weight         # 5 x 5 depthwise; node 4 reads one of 4
    assert official_fan_in("cells.0.ops.node4_x_from0_op1.1", None, True, 3) == 4
    # a truncated (at 2 std) normal has 0.88 of the std; 500 numbers give it within 10 %
    assert dw.std().item() == pytest.approx(0.8796 * (2 / 4) ** 0.5, rel=0.1)
    macro = MacroNet(MacroNetConfig(num_layers=2, out_filters=36, init="official"))
    conv5 = macro.layers[0].branches["2"][1][0].weight              # 5 x 5, 36 -> 36
    assert conv5.std().item() == pytest.approx(0.8796 * (2 / (25 * 36)) ** 0.5, rel=0.05)
    plain = MacroNet(MacroNetConfig(num_layers=2, out_filters=36))
    assert plain.layers[0].branches["2"][1][0].weight.std().item() == pytest.approx((1 / (3 * 25 * 36)) ** 0.5, rel=0.05)
    assert search_config("macro", "paper").net.init == "official" and search_config("macro", "book").net.init == "pytorch"


# ------------------------------------------------------------------ 5. smaller ones
def _text_task(**data):
    from enas_edu.tasks import TextTask
    cfg = search_config("rnn", "smoke")
    return cfg, TextTask(dataclasses.replace(cfg.data, **data), "search", 0, torch.device("cpu"))


def test_reward_windows_come_in_order_and_resume():
    cfg, task = _text_task(reward_windows="in_order")
    bptt, T = cfg.data.bptt, task.valid_reward.shape[0]
    count = (T - 1) // bptt
    windows = [task.reward_batch() for _ in range(count + 2)]
    for i, (x, y) in enumerate(windows):
        start = (i % count) * bptt                                   # 0, bptt, 2 bptt, ..., cycling
        assert torch.equal(x, task.valid_reward[start:start + bptt])
        assert torch.equal(y, task.valid_reward[start + 1:start + 1 + bptt])
    state = task.state_dict()
    _, again = _text_task(reward_windows="in_order")
    again.load_state_dict(state)
    assert torch.equal(again.reward_batch()[0], task.reward_batch()[0])
    _, drawn = _text_task(reward_windows="random")
    assert not torch.equal(drawn.reward_batch()[0], windows[0][0])
    assert search_config("rnn", "paper").data.reward_windows == "in_order"


def test_the_test_split_one_word_at_a_time_equals_longer_windows():
    from enas_edu.supernets import RNNNet
    cfg, task = _text_task(eval_batch_size=1, test_batch_size=1, test_bptt=1)
    task.data = dataclasses.replace(task.data, test=task.data.test[:120])
    torch.manual_seed(0)
    net = RNNNet(dataclasses.replace(cfg.net, vocab_size=task.vocab_size)).eval()
    arch = net.space.sample(torch.Generator().manual_seed(0))
    one_word = task.evaluate(net, arch, "test")
    task.cfg = dataclasses.replace(task.cfg, test_bptt=7)   # the hidden state carries: same perplexity
    assert one_word == pytest.approx(task.evaluate(net, arch, "test"), rel=1e-5)
    from enas_edu.config import final_config
    paper = final_config("rnn", "0 1 1 0 1 2", "paper").data
    assert (paper.eval_batch_size, paper.test_batch_size, paper.test_bptt) == (64, 1, 1)


def test_branch_bn_eps_sets_only_the_kxk_batch_norm_of_each_search_branch():
    """The official _conv_branch normalises its k x k conv with batch_norm_with_mask (eps 1e-3)."""
    paper = search_config("macro", "paper").net
    assert paper.branch_bn_eps == 1e-3 and search_config("macro", "book").net.branch_bn_eps == 1e-5
    net = MacroNet(dataclasses.replace(paper, num_layers=3, out_filters=8))
    eps = {name: m.eps for name, m in net.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    kxk = {n for n in eps if ".branches." in n and n.split(".branches.")[1].split(".")[:2] in
           [[str(op), "1"] for op in range(4)]}
    assert len(kxk) == 3 * 4                                   # 3 layers x the 4 convolution branches
    assert all(eps[n] == 1e-3 for n in kxk) and all(e == 1e-5 for n, e in eps.items() if n not in kxk)
    x = torch.randn(4, 3, 8, 8)
    other = MacroNet(dataclasses.replace(paper, num_layers=3, out_filters=8, branch_bn_eps=1e-5))
    other.load_state_dict(net.state_dict())
    arch = net.space.sample(torch.Generator().manual_seed(0))
    assert not torch.equal(net(x, arch), other(x, arch))      # the eps reaches the forward pass
    with pytest.raises(ValueError, match="branch_bn_eps"):
        dataclasses.replace(paper, branch_bn_eps=0.0)


def test_drop_last_keeps_only_full_training_batches():
    from enas_edu.config import DataConfig
    from enas_edu.tasks import ImageTask
    for space in ("macro", "micro"):
        assert search_config(space, "paper").data.drop_last and not search_config(space, "book").data.drop_last
    cfg = DataConfig("digits8", batch_size=64, eval_batch_size=150, augment=False)
    kept = ImageTask(cfg, "search", 0, torch.device("cpu"))
    dropped = ImageTask(dataclasses.replace(cfg, drop_last=True), "search", 0, torch.device("cpu"))
    assert kept.num_train_steps() == 22 and dropped.num_train_steps() == 1350 // 64 == 21
    sizes = [len(y) for _, y in dropped.train_epoch(0)]
    assert sizes == [64] * 21 and [len(y) for _, y in kept.train_epoch(0)][-1] == 1350 - 21 * 64


# ------------------------------------------------------------------ enas_lm's run length
def _fixed_step_search(tmp_path, name, **changes):
    cfg = search_config("rnn", "smoke")
    cfg = dataclasses.replace(cfg, epochs=3, max_train_steps=None, eval_archs=1, **changes,
                              data=dataclasses.replace(cfg.data, batch_size=128))
    return Search(cfg, tmp_path / name, progress=False)


def test_fixed_steps_stop_the_search_at_enas_lm_s_step_count(tmp_path):
    import json
    search = _fixed_step_search(tmp_path, "fixed", fixed_steps=True)
    T, bptt = search.task.train.shape[0], search.config.data.bptt
    nominal = (T - 1) // bptt                               # num_train_batches, fixed windows
    assert search.task.nominal_steps() == nominal and search.step_budget == 3 * nominal
    passes = [sum(1 for _ in search.task.train_epoch(e)) for e in range(3)]
    assert sum(passes) > 3 * nominal                        # random lengths: longer passes
    search.run(stop_at=1)
    assert search.steps_done == passes[0] and not search.finished
    search = Search(None, tmp_path / "fixed", resume=True, progress=False).run()
    assert search.finished and search.steps_done == 3 * nominal
    records = [json.loads(line) for line in (tmp_path / "fixed" / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r.get("phase") == "epoch"]
    assert [r["shared_steps"] for r in epochs] == [passes[0], passes[1], 3 * nominal - passes[0] - passes[1]]
    updates = {r["epoch"] for r in records if r.get("phase") == "controller"}
    assert updates == {0, 1}                                # the cut pass has no controller phase
    assert search.position["epoch"] == 3 and Search(None, tmp_path / "fixed", read_only=True).finished
    whole = _fixed_step_search(tmp_path, "passes").run()
    assert whole.steps_done == sum(passes)                   # the default: whole passes


def test_the_paper_profiles_count_enas_lm_s_steps():
    from enas_edu.config import final_config
    from enas_edu.tasks import TextTask
    search, final = search_config("rnn", "paper"), final_config("rnn", "0 1 1 0 1 2", "paper")
    assert search.fixed_steps and final.fixed_steps
    assert not search_config("rnn", "book").fixed_steps and not final_config("rnn", "0 1", "book").fixed_steps
    task = TextTask.__new__(TextTask)                        # PTB's shape: 929,589 training tokens
    for cfg, budget in ((search, 124_200), (final, 1_242_000)):
        task.cfg = cfg.data
        task.train = torch.zeros(929_589 // cfg.data.batch_size, cfg.data.batch_size)
        assert cfg.epochs * task.nominal_steps() == budget


def test_fixed_steps_end_the_final_training_and_test_it(tmp_path):
    import json
    from enas_edu.config import final_config
    from enas_edu.final import FinalTraining
    cfg = final_config("rnn", "0 1 1 0", "smoke", epochs=2, fixed_steps=True)
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, batch_size=128))
    final = FinalTraining(cfg, tmp_path / "final", progress=False)
    result = final.run()
    assert result is not None and final.steps_done == 2 * final.task.nominal_steps()
    assert final.steps_done < sum(sum(1 for _ in final.task.train_epoch(e)) for e in range(2))
    assert json.loads((tmp_path / "final" / "result.json").read_text())["test_perplexity"] == result["test_perplexity"]


# ------------------------------------------------------------------ enas_lm's search-time validation
def test_valid_state_reset_starts_every_validation_window_from_zero():
    import math
    import torch.nn.functional as F
    from enas_edu.supernets import RNNNet
    from enas_edu.data.ptb import batchify, bptt_windows
    cfg, task = _text_task()
    torch.manual_seed(0)
    net = RNNNet(dataclasses.replace(cfg.net, vocab_size=task.vocab_size)).eval()
    arch = net.space.sample(torch.Generator().manual_seed(0))
    carried = task.evaluate(net, arch, "valid")
    task.cfg = dataclasses.replace(task.cfg, valid_state_reset=True)
    total, count = 0.0, 0
    with torch.no_grad():
        for x, y, _ in bptt_windows(batchify(task.data.valid, task.cfg.eval_batch_size), task.cfg.bptt):
            out = net(x, None, arch)                               # each window from a zero state
            total += F.cross_entropy(out.logits.flatten(0, 1), y.flatten(), reduction="sum").item()
            count += y.numel()
    reset, test = task.evaluate(net, arch, "valid"), task.evaluate(net, arch, "test")
    assert reset == pytest.approx(math.exp(total / count), rel=1e-6) and reset != carried
    task.cfg = dataclasses.replace(task.cfg, valid_state_reset=False)
    assert task.evaluate(net, arch, "test") == test                 # the test split carries it either way
    from enas_edu.config import final_config
    assert search_config("rnn", "paper").data.valid_state_reset
    assert not final_config("rnn", "0 1 1 0 1 2", "paper").data.valid_state_reset


def test_the_cifar_profiles_evaluate_in_batches_of_100():
    from enas_edu.config import final_config
    for space in ("macro", "micro"):
        search = search_config(space, "paper")
        arc = search.net.space().to_arc_string(search.net.space().sample(torch.Generator().manual_seed(0)))
        assert search.data.eval_batch_size == 100 and final_config(space, arc, "paper").data.eval_batch_size == 100
    assert search_config("micro", "paper").data.batch_size == 160   # the rewards keep the training size
