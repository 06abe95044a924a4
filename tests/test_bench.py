"""The ground-truth table and the study that scores searches with it (issue #14)."""

import json

import pytest
import torch

from enas_edu.bench import recipe, table
from enas_edu.bench.study import (StudyConfig, policy_snapshot, random_sampling, run_study, shared_scores,
                                  study_search_config)
from enas_edu.bench.table import GroundTruth, write_table
from enas_edu.data.embedded import digits_arrays
from enas_edu.ranking import rank_correlation
from enas_edu.search import Search

SPACE = recipe.SPACE


def hand_table(tmp_path, rows, seeds=(0, 1)):
    meta = {"space": {"name": "macro", "num_layers": 3, "num_ops": 6}, "recipe": recipe.Recipe().to_dict(),
            "data": "hand-made",
            "seeds": list(seeds), "images": {"valid": 100, "test": 100}, "cost": {}}
    path = tmp_path / "hand.json.gz"
    return path, write_table(path, meta, rows)


def row(arc, valid, test, seconds=(1.0, 1.0), params=10, flops=20):
    """Accuracies given as fractions of the hand table's 100 images per split."""
    return {"arc": arc, "params": params, "flops": flops, "valid_correct": [round(100 * v) for v in valid],
            "test_correct": [round(100 * t) for t in test], "valid_loss": [0.5] * len(valid),
            "test_loss": [0.5] * len(test), "seconds": list(seconds)}


def full_fake_table(tmp_path):
    """Every child of the space with an accuracy that is a known function of the architecture,
    and three seeds that disagree (by a function of the child and the seed)."""
    rows = []
    for i, a in enumerate(SPACE.enumerate()):
        test = 0.5 + 0.1 * sum(op < 4 for op in a.ops) + 0.01 * sum(map(sum, a.skips))
        noise = [0.01 * ((i * (s + 2)) % 3 - 1) for s in range(3)]
        rows.append(row(SPACE.to_arc_string(a), [test - 0.01 + e for e in noise], [test + e for e in noise],
                        seconds=(1.0, 1.0, 1.0)))
    return hand_table(tmp_path, rows, seeds=(0, 1, 2))


# ------------------------------------------------------------------ the shipped table
def test_shipped_table_verifies_and_covers_the_whole_space(tmp_path):
    truth = GroundTruth.load()
    assert table.TABLE_SHA256 == table.sha256(table.FILE)
    assert len(truth) == 6**3 * 2**3 == 1728
    assert set(truth.arcs) == {SPACE.to_arc_string(a) for a in SPACE.enumerate()}
    assert truth.per_seed["test"].shape == (1728, 12) == truth.per_seed["valid"].shape
    # accuracies are counts over 297 test and 150 validation images
    assert torch.allclose((truth.per_seed["test"] * 297).round() / 297, truth.per_seed["test"], atol=1e-5)
    assert torch.allclose((truth.per_seed["valid"] * 150).round() / 150, truth.per_seed["valid"], atol=1e-5)
    assert truth.meta["seeds"] == list(range(12)) and truth.meta["cost"]["core_seconds_training"] > 0
    # the reliability the issue asks for (>= 0.8), recomputed here from the table's own columns
    from enas_edu.bench.reliability import split_half_reliability
    counts = (truth.per_seed["test"] * 297).round().double()
    assert split_half_reliability(counts)["seed_mean"] == pytest.approx(truth.meta["reliability"]["seed_mean"])
    assert truth.meta["reliability"]["seed_mean"] >= 0.8
    # the recorded cost of one child matches the recipe: same parameter count when rebuilt
    arc = truth.arcs[100]
    assert truth.query(arc)["params"] == recipe.child_cost(SPACE.from_arc_string(arc), recipe.Recipe())["params"]
    damaged = tmp_path / "damaged.json.gz"
    data = bytearray(table.FILE.read_bytes())
    data[len(data) // 2] ^= 1
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        GroundTruth.load(damaged, table.TABLE_SHA256)
    with pytest.raises(ValueError, match="give the SHA-256"):
        GroundTruth.load(damaged)


# ------------------------------------------------------------------ the API, exactly
def test_queries_are_exact_on_a_hand_made_table(tmp_path):
    path, digest = hand_table(tmp_path, [
        row("a", (0.9, 0.8), (0.70, 0.80), params=5),
        row("b", (0.6, 0.6), (0.90, 0.90)),
        row("c", (1.0, 1.0), (0.75, 0.75)),
        row("d", (0.5, 0.7), (0.60, 0.50)),
    ])
    truth = GroundTruth.load(path, digest)
    q = truth.query("a")
    assert q["test"] == pytest.approx(0.75) and q["valid"] == pytest.approx(0.85)
    assert q["test_per_seed"] == [0.70, 0.80] and q["params"] == 5 and q["seconds"] == 2.0
    assert [r["arc"] for r in truth.best(2)] == ["b", "a"]           # a and c tie at 0.75: table order
    assert [r["arc"] for r in truth.best(1, "valid")] == ["c"]
    assert truth.regret("b") == 0.0 and truth.regret("d") == pytest.approx(0.35)
    # percentile: share of the other three with a lower mean, ties counted half
    assert truth.percentile("b") == pytest.approx(100.0)
    assert truth.percentile("d") == pytest.approx(0.0)
    assert truth.percentile("a") == pytest.approx(100 * (1 + 0.5) / 3)
    dist = truth.distribution("test")
    assert dist["median"] == pytest.approx(0.75) and dist["max"] == pytest.approx(0.9) and dist["n"] == 4
    assert dist["seed_std_mean"] == pytest.approx((0.1 / 2**0.5 + 0 + 0 + 0.1 / 2**0.5) / 4)
    with pytest.raises(KeyError, match="not in the table"):
        truth.query("e")
    with pytest.raises(ValueError, match="metric must be"):
        truth.scores("train")
    with pytest.raises(ValueError, match="lacks a result"):
        hand_table(tmp_path, [row("a", (0.9,), (0.7, 0.8))])


def test_rank_statistics_agree_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 30, (400,), generator=g).double()           # many ties, as accuracies have
    y = x + torch.randint(0, 40, (400,), generator=g).double()
    r = rank_correlation(x, y, top_k=10)
    assert r["kendall_tau"] == pytest.approx(stats.kendalltau(x.numpy(), y.numpy()).statistic, abs=1e-12)
    assert r["spearman_rho"] == pytest.approx(stats.spearmanr(x.numpy(), y.numpy()).statistic, abs=1e-12)


# ------------------------------------------------------------------ the data the table is about
def test_native_digits_are_the_upscaled_ones_unscaled():
    small, labels = digits_arrays(native=True)
    big, labels32 = digits_arrays()
    assert small.shape == (1797, 1, 8, 8) and small.dtype == torch.uint8
    assert torch.equal(big[:, :1, ::4, ::4], small) and torch.equal(labels, labels32)
    task = recipe.make_task(recipe.Recipe(), 0)
    assert task.data.train_x.shape == (recipe.TRAIN_IMAGES, 1, 8, 8) and len(task.data.valid_x) == 150 and len(task.data.test_x) == 297


# ------------------------------------------------------------------ the study
def test_scoring_every_child_leaves_the_search_unchanged(tmp_path):
    cfg = StudyConfig.profile("smoke")
    search_cfg = study_search_config(cfg, seed=3)
    archs = [SPACE.sample(torch.Generator().manual_seed(i)) for i in range(5)]
    plain = Search(search_cfg, tmp_path / "plain", progress=False)
    plain.run()
    scored = Search(search_cfg, tmp_path / "scored", progress=False)
    assert scored.net.stem[0].in_channels == 1               # the stem fits the one-channel digits
    scored.run(stop_at=1)
    first = shared_scores(scored, archs)
    assert torch.equal(first, shared_scores(scored, archs))   # scoring twice gives the same scores
    snapshot = policy_snapshot(scored, GroundTruth.load())    # so does looking at the policy
    assert snapshot == policy_snapshot(scored, GroundTruth.load()) and 1 <= snapshot["distinct"] <= 200
    scored.run()
    for a, b in zip(plain.net.state_dict().values(), scored.net.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(plain.controller.state_dict().values(), scored.controller.state_dict().values()):
        assert torch.equal(a, b)


def test_a_tiny_study_scores_each_choice_from_the_table(tmp_path):
    path, digest = full_fake_table(tmp_path)
    truth = GroundTruth.load(path, digest)
    cfg = StudyConfig.profile("smoke")
    summary = run_study(cfg, tmp_path / "study", path, digest, progress=False)
    runs = [json.loads(line) for line in (tmp_path / "study" / "runs.jsonl").read_text().splitlines()]
    assert [(r["method"], r["seed"]) for r in runs] == [(m, s) for m in cfg.methods for s in cfg.seeds]
    for r in runs:
        # scored on the table's seeds other than the run's seed mod 3, computed here by hand
        others = [c for c in range(3) if c != r["seed"] % 3]
        held = truth.per_seed["test"][:, others].mean(1)
        mine = float(held[truth.arcs.index(r["arc"])])
        assert not torch.equal(held, truth.scores("test"))
        assert r["true_test"] == pytest.approx(mine) and r["regret"] == pytest.approx(float(held.max()) - mine)
        assert r["percentile"] == pytest.approx(
            100 * (float((held < mine).sum()) + 0.5 * (float((held == mine).sum()) - 1)) / (len(truth) - 1))
        if r["method"] == "enas":             # the policy before the search and after every epoch
            assert [p["epoch"] for p in r["policy"]] == list(range(cfg.epochs + 1))
            signs = r["advantage_signs"]
            updates = cfg.epochs * study_search_config(cfg, 0).reinforce.train_steps
            assert signs["positive"] + signs["negative"] == updates
        if r["method"] != "random":
            assert [c["epoch"] for c in r["correlation"]] == list(cfg.snapshots)
            assert all(-1 <= c["kendall_tau"] <= 1 and c["n"] == cfg.score_archs for c in r["correlation"])
            # budget: 2 epochs capped at 6 shared steps of 32 images, plus one child of 4 x 1,350
            assert r["train_images"] == 2 * 6 * 32 + 4 * 1350
    for method, m in summary["methods"].items():
        values = [r["true_test"] for r in runs if r["method"] == method]
        assert m["true_test"]["mean"] == pytest.approx(sum(values) / len(values))
        assert m["true_test"]["std"] == pytest.approx(torch.tensor(values, dtype=torch.float64).std().item())
    # paired by seed: ENAS minus each other method, seed for seed
    for method in ("no-controller", "rsws", "random"):
        diffs = [a["true_test"] - b["true_test"] for a in runs if a["method"] == "enas"
                 for b in runs if b["method"] == method and b["seed"] == a["seed"]]
        assert summary["paired"][method]["mean_difference"] == pytest.approx(sum(diffs) / len(diffs))
        assert summary["paired"][method]["n"] == len(cfg.seeds)
    # random sampling: as many children as fit in ENAS's training images, never more
    n = summary["methods"]["random"]["children_trained"]
    assert n == (2 * 6 * 32 + 4 * 1350) // (4 * 1350) == 1
    assert summary["methods"]["random"]["train_images"]["max"] <= summary["methods"]["enas"]["train_images"]["min"]
    # the best validation accuracy of the drawn children, on the table's seed column 1 (seed 4 mod 3)
    drawn = torch.randperm(len(truth), generator=torch.Generator().manual_seed(4))[:7]
    valid = truth.per_seed["valid"][drawn, 1]
    assert random_sampling(4, 7, truth)["arc"] == truth.arcs[int(drawn[int(valid.argmax())])]
    assert json.loads((tmp_path / "study" / "config.json").read_text())["table"]["sha256"] == digest


def test_study_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="unknown method"):
        StudyConfig(methods=("enas", "darts"))
    with pytest.raises(ValueError, match="budget of an 'enas' search"):
        StudyConfig(methods=("random",))
    with pytest.raises(ValueError, match="snapshots"):
        StudyConfig(epochs=5, snapshots=(10,))


# ------------------------------------------------------------------ reliability and paired statistics
def test_split_half_reliability_recovers_a_known_signal_to_noise_ratio():
    from enas_edu.bench.reliability import seeds_needed, spearman_brown, split_half_reliability
    g = torch.Generator().manual_seed(0)
    signal = torch.randn(3000, 1, generator=g, dtype=torch.float64)
    scores = signal + torch.randn(3000, 4, generator=g, dtype=torch.float64)    # one seed: reliability 1/2
    r = split_half_reliability(scores, splits=20)
    # (Spearman on normal scores is close to Pearson's 0.5 for one seed, 0.8 for the mean of 4)
    assert r["single_seed"] == pytest.approx(0.48, abs=0.04)
    assert r["seed_mean"] == pytest.approx(0.79, abs=0.04)
    assert r["ceiling_spearman"] == pytest.approx(r["seed_mean"] ** 0.5)
    assert spearman_brown(0.5, 4) == pytest.approx(0.8) and seeds_needed(0.5, 0.8) == 4
    assert seeds_needed(0.2659, 0.8) == 12


def test_paired_comparison_reads_known_differences():
    from enas_edu.bench.stats import bootstrap_ci, paired, sign_flip_p
    a = torch.arange(20, dtype=torch.float64)
    assert paired(a + 1, a)["verdict"] == "higher" and paired(a + 1, a)["mean_difference"] == pytest.approx(1)
    assert paired(a, a + 1)["verdict"] == "lower"
    # ten equal positive differences: only the all-positive sign pattern (of 1,024) is as extreme
    assert sign_flip_p(torch.ones(10), resamples=20_000) == pytest.approx(2 / 1024, abs=0.002)
    noise = torch.randn(30, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    r = paired(noise, torch.zeros(30))
    lo, hi = bootstrap_ci(noise)
    assert r["ci"] == [lo, hi] and lo < float(noise.mean()) < hi
    assert r["resolution"] == pytest.approx((hi - lo) / 2)
    # two seeds with the same sign: the bootstrap interval excludes 0, but no test at 2 seeds can
    # reach p < 0.05 (the sign-flip p is at least 2 / 2^2), so the verdict does not claim a difference
    two = paired([1.0, 2.0], [0.0, 0.0])
    assert two["ci"][0] > 0 and two["p"] > 0.45 and two["verdict"] == "cannot be told apart"
    with pytest.raises(ValueError, match="same >= 2 seeds"):
        paired([1.0, 2.0], [1.0])


def test_paired_t_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    from enas_edu.bench.stats import paired_t, t_quantile
    for dof in (1, 2, 5, 30):
        assert t_quantile(0.975, dof) == pytest.approx(stats.t.ppf(0.975, dof), rel=1e-9)
    g = torch.Generator().manual_seed(1)
    for n in (3, 5, 12):
        a = torch.randn(n, generator=g, dtype=torch.float64)
        b = a - 0.4 + 0.3 * torch.randn(n, generator=g, dtype=torch.float64)
        r, ref = paired_t(a, b), stats.ttest_rel(a.numpy(), b.numpy())
        assert r["p"] == pytest.approx(ref.pvalue, rel=1e-7)
        lo, hi = ref.confidence_interval(0.95)
        assert r["ci"] == pytest.approx([lo, hi], rel=1e-7)
        assert r["verdict"] == ("cannot be told apart" if ref.pvalue >= 0.05 else
                                "higher" if ref.statistic > 0 else "lower")


def test_generator_shards_resume_past_a_torn_line_and_refuse_another_recipe(tmp_path, monkeypatch):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "make_ground_truth", Path(__file__).resolve().parents[1] / "tools" / "make_ground_truth.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(tool, "SHARDS", tmp_path)
    header, lines = tool.shard_paths(3)
    header.write_text(json.dumps({"seed": 3, "recipe": {"epochs": 4, "net": {"out_filters": 16}}, "sessions": []}))
    lines.write_text('{"arc": "0 0 0 0 0 0", "test_correct": 250}\n{"arc": "0 0 0 0 0 1", "test_co')
    _, done = tool.read_shard(3)
    assert list(done) == ["0 0 0 0 0 0"]                     # the line a killed run was writing is left out
    tool._drop_torn_line(lines)
    assert lines.read_text().endswith("250}\n")
    lines.write_text('{"arc": "0 0 0 0 0 0"\n{"arc": "0 0 0 0 0 1"}\n')
    with pytest.raises(SystemExit, match="line 1 is damaged"):
        tool.read_shard(3)
    stored = {"epochs": 4, "net": {"out_filters": 16, "widths": [1, 2]}}
    assert tool.same_recipe(stored, {"epochs": 4, "net": {"out_filters": 16, "widths": (1, 2), "new": 0}})
    assert not tool.same_recipe(stored, {"epochs": 8, "net": {"out_filters": 16, "widths": (1, 2)}})
    assert not tool.same_recipe(stored, {"epochs": 4, "net": {"widths": (1, 2)}})


def test_synflow_is_euler_s_sum_for_homogeneous_linear_networks():
    """With |w| and an all-ones input, a bias-free linear net of depth d is homogeneous of degree d
    in its weights, so sum(w * dR/dw) = d * R (Euler): an independent check of the proxy."""
    from enas_edu.bench.proxies import synflow
    torch.manual_seed(0)
    one = torch.nn.Linear(5, 3, bias=False)
    two = torch.nn.Sequential(torch.nn.Linear(5, 4, bias=False), torch.nn.Linear(4, 3, bias=False))
    w, w1, w2 = (m.weight.detach().double().abs() for m in (one, two[0], two[1]))
    r1, r2 = w.sum().item(), (w2 @ w1).sum().item()                      # R = 1^T |W| 1, 1^T |W2||W1| 1
    assert synflow(one, (5,)) == pytest.approx(r1, rel=1e-12)
    assert synflow(two, (5,)) == pytest.approx(2 * r2, rel=1e-12)
    assert two[0].weight.dtype == torch.float32 and (two[0].weight < 0).any()   # the net passed is untouched


def test_grad_norm_and_params_match_a_direct_computation():
    from enas_edu.bench.proxies import grad_norm, score
    from enas_edu.bench.recipe import NET, SPACE
    from enas_edu.supernets import MacroNet
    from enas_edu.supernets.cost import count_parameters
    arch = SPACE.sample(torch.Generator().manual_seed(4))
    images, labels = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    torch.manual_seed(0)
    net = MacroNet(NET, arch).train()
    params = [p for p in net.parameters()]
    grads = torch.autograd.grad(torch.nn.functional.cross_entropy(net(images), labels), params, allow_unused=True)
    direct = torch.sqrt(sum(g.pow(2).sum() for g in grads if g is not None)).item()
    torch.manual_seed(0)
    assert grad_norm(MacroNet(NET, arch), images, labels) == pytest.approx(direct, rel=1e-5)
    assert score(arch, "params", images, labels) == count_parameters(MacroNet(NET, arch))
    with pytest.raises(ValueError, match="proxy must be one of"):
        score(arch, "jacob", images, labels)
