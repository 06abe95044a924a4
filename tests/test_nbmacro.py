"""NAS-Bench-Macro: its space, the network it trained, the shipped table, and the strategies
scored on it (issue #28)."""

import gzip
import json
import math

import pytest
import torch

from enas_edu.bench import nas_bench_macro
from enas_edu.bench.strategies import (REINFORCE_SETTINGS, Oracle, flops_pick, local_search, random_search,
                                       regularized_evolution, reinforce_search, run_strategy)
from enas_edu.controller import Controller
from enas_edu.spaces.nbmacro import NBMacroArch, NBMacroSpace
from enas_edu.supernets.cost import count_flops, count_parameters
from enas_edu.supernets.nbmacro import NBMacroNet

SPACE = NBMacroSpace()


@pytest.fixture(scope="module")
def truth():
    return nas_bench_macro.load()


@pytest.fixture(scope="module")
def published():
    """The published JSON, read independently of the loader."""
    return json.loads(gzip.decompress(nas_bench_macro.FILE.read_bytes()))


# ------------------------------------------------------------------ the space
def test_space_counts_keys_and_distinct_networks():
    assert SPACE.size() == SPACE.paper_size() == 3 ** 8 == 6561
    distinct = SPACE.distinct()
    assert len(distinct) == 3969
    assert all(SPACE.canonical(a) == a for a in distinct)
    # every key maps to a canonical form, and canonical() is idempotent
    forms = {SPACE.canonical(a) for a in SPACE.enumerate()}
    assert forms == set(distinct)


def test_canonical_moves_inner_identities_to_the_stage_end_only():
    # stages: layers 0-1, 2-4, 5-7; a stage's first layer (stride 2) is never moved
    assert SPACE.canonical(SPACE.from_key("10" "202" "101")).key == "10" "220" "110"
    assert SPACE.canonical(SPACE.from_key("10" "021" "012")).key == "10" "021" "012"   # firsts stay
    assert SPACE.canonical(SPACE.from_key("01" "002" "102")).key == "01" "020" "120"
    assert SPACE.from_arc_string("2 2 2 1 2 2 2 0") == SPACE.from_key("22212220") == NBMacroArch((2, 2, 2, 1, 2, 2, 2, 0))
    for bad in ("2221222", "222122203", "2221222x"):
        with pytest.raises(ValueError):
            SPACE.from_arc_string(bad)


# ------------------------------------------------------------------ the network it trained
def _layer_params(net: NBMacroNet) -> list[dict[int, int]]:
    return [{int(op): count_parameters(m) for op, m in layer.items()} for layer in net.layers]


def test_fixed_network_parameters_equal_the_table_for_every_distinct_network(published):
    supernet = NBMacroNet()
    per_layer = _layer_params(supernet)
    frame = count_parameters(supernet.stem) + count_parameters(supernet.head) + count_parameters(supernet.classifier)
    # a child holds exactly the supernet's modules of its choices (checked by building 60 children) ...
    g = torch.Generator().manual_seed(0)
    for i in torch.randperm(6561, generator=g)[:60].tolist():
        arch = SPACE.decode([(i // 3 ** k) % 3 for k in range(8)])
        child = NBMacroNet(arch=arch)
        assert count_parameters(child) == frame + sum(per_layer[k][op] for k, op in enumerate(arch.ops))
        assert count_parameters(child) == published[arch.key]["params"]
    # ... so every one of the 6,561 keys (3,969 networks) has the table's parameter count
    wrong = [key for key, value in published.items()
             if frame + sum(per_layer[k][int(c)] for k, c in enumerate(key)) != value["params"]]
    assert wrong == [] and len(published) == 6561


def test_fixed_network_multiply_adds_equal_the_table(published):
    x = torch.zeros(1, 3, 32, 32)
    for key in ("00000000", "22212220", "11111111", "22222222", "20102011", "01210120"):
        # count_flops counts 2 per multiply-add; the benchmark's "flops" are multiply-adds
        assert count_flops(NBMacroNet(arch=SPACE.from_key(key)), x) == 2 * published[key]["flops"]


def test_supernet_runs_a_child_exactly_and_trains_only_its_choices():
    torch.manual_seed(0)
    supernet = NBMacroNet()
    arch = SPACE.from_key("20112012")
    child = supernet.extract_child(arch)
    x = torch.randn(4, 3, 32, 32)
    supernet.eval(), child.eval()
    assert torch.equal(supernet(x, arch), child(x))
    supernet.train()
    supernet(x, arch).sum().backward()
    for k, layer in enumerate(supernet.layers):
        for op, module in layer.items():
            chosen = int(op) == arch.ops[k]
            assert all((p.grad is not None) == chosen for p in module.parameters())


def test_controller_searches_the_space():
    controller = Controller(SPACE)
    batch = controller.sample_batch(64, generator=torch.Generator().manual_seed(1))
    assert all(len(a.ops) == 8 for a in batch.archs)
    # at initialisation the policy is near uniform: 8 decisions of 3 values
    assert batch.policy_entropy.mean().item() == pytest.approx(8 * math.log(3), abs=0.01)
    again = controller.evaluate(batch.archs)
    assert torch.allclose(again.log_prob, batch.log_prob)


# ------------------------------------------------------------------ the table
def test_table_is_the_published_file_and_answers_for_every_key(truth, published, tmp_path):
    assert len(truth) == 3969 and truth.per_seed["test"].shape == (3969, 3)
    best = truth.best(1)[0]
    assert best["arc"] == "2 2 2 1 2 2 2 0" and best["test"] == pytest.approx(0.931267, abs=1e-6)
    assert truth.scores().mean().item() == pytest.approx(0.9029, abs=1e-4)   # the README's 90.29%
    for key in ("10120212", "21021000", "00000000"):
        canonical = SPACE.canonical(SPACE.from_key(key))
        q = truth.query(key)
        assert q["arc"] == SPACE.to_arc_string(canonical)
        assert q["test_per_seed"] == [round(a / 100, 4) for a in published[key]["test_acc"]]
        assert q["params"] == published[key]["params"] and q["flops"] == published[key]["flops"]
    damaged = tmp_path / "copy.json"
    damaged.write_bytes(gzip.decompress(nas_bench_macro.FILE.read_bytes()).replace(b"93.2", b"99.2", 1))
    with pytest.raises(ValueError, match="SHA-256"):
        nas_bench_macro.load(damaged)
    assert "Apache License" in (nas_bench_macro.FOLDER / "LICENSE").read_text()[:300]
    assert "xiusu/NAS-Bench-Macro" in (nas_bench_macro.FOLDER / "README.md").read_text()


# ------------------------------------------------------------------ the strategies
def test_oracle_counts_trainings_and_scores_on_the_seeds_it_did_not_see(truth):
    from enas_edu.bench.strategies import BudgetSpent
    oracle = Oracle(truth, run=4, budget=3)
    assert oracle.seed == 1                              # run 4 observes seed 4 mod 3
    best = SPACE.from_key("22212220")
    row = truth.index(best)
    assert oracle.observe(best) == float(truth.per_seed["test"][row, 1])
    oracle.observe(SPACE.from_key("22212202"))           # the same network (an inner identity moved)
    oracle.observe(best)                                 # asked again
    assert oracle.spent == 1                             # both free
    oracle.observe(SPACE.from_key("00000000"))
    oracle.observe(SPACE.from_key("11111111"))
    with pytest.raises(BudgetSpent):
        oracle.observe(SPACE.from_key("21212121"))       # a fourth training
    assert float(oracle.held_out[row]) == pytest.approx(float(truth.per_seed["test"][row, [0, 2]].mean()))
    assert oracle.trace == [row, row, row]               # the best network stays the incumbent


@pytest.mark.parametrize("strategy", [random_search, regularized_evolution, local_search])
def test_each_strategy_spends_its_budget_exactly(truth, strategy):
    oracle = Oracle(truth, run=0, budget=150)
    strategy(oracle, torch.Generator().manual_seed(0))
    assert oracle.spent == 150 == len(oracle.trace)
    values = [oracle.cache[r] for r in oracle.trace]
    assert values == sorted(values)                     # the incumbent never gets worse (observed)


def test_flops_bar_and_run_records(truth):
    bar = flops_pick(truth)
    assert bar["arc"] == "2 2 2 2 2 2 2 2"
    run = run_strategy("random", truth, 2, [10, 40])
    assert set(run["budgets"]) == {10, 40} and run["spent"] == 40
    assert run["budgets"][40]["held_out"] >= run["budgets"][10]["held_out"] - 0.01


def test_the_fast_controller_learns_from_table_rewards_and_the_official_one_barely_moves(truth):
    # the mechanism: after a few hundred trainings the controller's samples are better networks
    # (by the held-out seeds) than uniform ones, and its policy has concentrated
    space_mean = float(truth.scores().mean())
    for run in range(3):
        record = []
        reinforce_search(Oracle(truth, run, 400), torch.Generator().manual_seed(run),
                         REINFORCE_SETTINGS["fast"], record)
        late = record[-10:]
        assert sum(r["held_out"] for r in late) / len(late) > space_mean + 0.01
        assert late[-1]["policy_entropy"] < 0.8 * 8 * math.log(3)
        official = []
        reinforce_search(Oracle(truth, run, 400), torch.Generator().manual_seed(run),
                         REINFORCE_SETTINGS["official"], official)
        assert official[-1]["policy_entropy"] > 0.99 * 8 * math.log(3)


# ------------------------------------------------------------------ the search on it
def test_search_derive_train_and_rank_at_the_smoke_profile(tmp_path, truth):
    from enas_edu.config import final_config, search_config
    from enas_edu.derive import derive
    from enas_edu.final import run_final
    from enas_edu.ranking import rank_against_truth
    from enas_edu.search import run_search
    search = run_search(search_config("nbmacro", "smoke", device="cpu"), tmp_path / "search", progress=False)
    assert isinstance(search.net, NBMacroNet) and search.net.arch is None       # the supernet
    records = [r for r in search.run_dir.read("metrics.jsonl") if r.get("phase") == "controller"]
    assert len(records) == 2 * 2 and all(r["policy_entropy"] <= 8 * math.log(3) + 1e-4 for r in records)
    chosen = derive(tmp_path / "search", num_samples=8, top_k=2)
    arch = SPACE.from_arc_string(chosen.arc)
    result = run_final(final_config("nbmacro", chosen.arc, "smoke", device="cpu"), tmp_path / "final", progress=False)
    assert 0.0 <= result["test_accuracy"] <= 1.0
    ranked = rank_against_truth(tmp_path / "search", truth, limit=30)
    assert ranked["n"] == 30 and ranked["truth"] == truth.scores()[:30].tolist()
    assert all(abs(s * 150 - round(s * 150)) < 1e-9 for s in ranked["shared"])   # whole images of 150
    sampled = rank_against_truth(tmp_path / "search", truth, sample=30, seed=1)   # a uniform sample instead
    chosen_rows = [truth.index(a) for a in sampled["arcs"]]
    assert sampled["n"] == 30 == len(set(chosen_rows)) and max(chosen_rows) > 30 * 10   # not a corner
    assert sampled["arcs"] == rank_against_truth(tmp_path / "search", truth, sample=30, seed=1)["arcs"]
    assert sampled["arcs"] != rank_against_truth(tmp_path / "search", truth, sample=30, seed=2)["arcs"]
    assert sampled["data_kind"] == "digits"
    with pytest.raises(ValueError, match="not both"):
        rank_against_truth(tmp_path / "search", truth, limit=3, sample=3)
    assert truth.query(arch)["arc"] == SPACE.to_arc_string(SPACE.canonical(arch))


def test_paper_profiles_are_the_benchmark_and_the_macro_script():
    from enas_edu.config import final_config, search_config
    final = final_config("nbmacro", "2 2 2 1 2 2 2 0")
    assert (final.epochs, final.data.batch_size, final.optim.lr, final.optim.weight_decay) == (50, 256, 0.1, 5e-4)
    assert not final.optim.nesterov and final.data.cutout == 0 and final.data.dataset == "cifar10"
    assert count_parameters(NBMacroNet(final.net, SPACE.from_arc_string(final.arc))) == 1985514
    search = search_config("nbmacro")
    macro = search_config("macro")
    assert search.optim == macro.optim and search.data == macro.data and search.epochs == macro.epochs
    assert search.reinforce.skip_weight == 0.0 and search.controller.skip_target is None
    with pytest.raises(ValueError, match="8 numbers"):
        final_config("nbmacro", "2 2 2 1 2 2 2")
