"""The benchmark script runs (it is what a scarce GPU session executes, so a crash there costs
the whole session): every path of every space for a few architectures, the controller and the
final-training step, at the tiny configs on this CPU. Timings are not checked; shapes of the
results and the equalities the paths promise are."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    """A benchmark script, imported as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _script("run")


@pytest.mark.parametrize("space", ["micro", "macro", "rnn"])
def test_every_path_times_the_same_fixed_architectures(bench, space):
    rows = bench.steps(space, "tiny", list(bench.PATHS), torch.device("cpu"), 3)
    assert list(rows) == ["naive", "fast", "amp"]
    for row in rows.values():
        assert row["archs_timed"] == 1 and row["step_s"] > 0 and row["reward_k_s"] > 0
        assert row["memory_mb"] is None                      # on a CPU: measured per process
        assert row["batch_items"] == (8 * 35 if space == "rnn" else 8)


def test_the_fixed_architectures_are_64_valid_arcs_per_space(bench):
    archs = json.loads((ROOT / "benchmarks" / "archs.json").read_text())
    for space in ("micro", "macro", "rnn"):
        net_space = bench.search_config(space, "paper").net.space()
        assert len(archs[space]) == 64 == len(set(archs[space]))
        for arc in archs[space]:
            net_space.from_arc_string(arc)                   # raises on an arc that does not fit


@pytest.mark.parametrize("space", ["micro", "rnn"])
def test_the_final_step_and_the_controller_run(bench, space, monkeypatch):
    final = bench.final_steps(space, "tiny", None, torch.device("cpu"), 2)
    assert final["first_s"] > 0 and final["step_s"] > 0
    # the compiled variant, with Dynamo + AOT autograd only (inductor would take minutes here)
    from torch._inductor import config as inductor_config
    compile_, caches = torch.compile, inductor_config.force_disable_caches
    monkeypatch.setattr(torch, "compile", lambda model, mode=None, **kw: compile_(model, backend="aot_eager", **kw))
    torch._dynamo.reset()
    try:
        compiled = bench.final_steps(space, "tiny", "default", torch.device("cpu"), 2)
    finally:
        inductor_config.force_disable_caches = caches   # final_steps turns the caches off
    assert compiled["first_s"] > 0 and compiled["step_s"] > 0
    ctrl = bench.controller(space, torch.device("cpu"))
    assert ctrl["phase_archs"] == {"micro": 300, "rnn": 250}[space]


def test_the_gpu_script_parses():
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks" / "gpu.sh")]).returncode == 0


def test_a_measured_smoke_epoch_reports_the_search_s_own_counts(bench):
    r = bench.measured_epoch("macro", "smoke")
    config = bench.search_config("macro", "smoke")
    assert r["shared_steps"] == config.max_train_steps and r["updates"] == config.reinforce.train_steps
    assert r["seconds"] > 0 and "digits" in r["data"]


def test_the_fidelity_benchmark_times_dense_and_sparse_updates_of_both_supernets():
    spec = importlib.util.spec_from_file_location("bench_fidelity", ROOT / "benchmarks" / "fidelity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = module.dense_cost(steps=2).splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["macro", "micro"]
    assert all(float(line.split("|")[5]) > 0 for line in lines[2:])      # the dense / sparse ratio
    from enas_edu.bench.study import StudyConfig, study_search_config
    base = study_search_config(StudyConfig.profile("book"), 0)
    changed = {name: change(base) for name, change in module.SETTINGS.items()}
    assert changed.pop("default (book profile)") == base
    assert all(c != base for c in changed.values())                    # every other row changes it
    assert changed['baseline_start="zero"'].reinforce.baseline_start == "zero" != base.reinforce.baseline_start
    assert changed["controller lr 0.001 (macro script)"].reinforce.lr == 0.001 != base.reinforce.lr


def test_the_precision_script_runs_and_finds_no_drift_on_a_cpu(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_precision", ROOT / "benchmarks" / "precision.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = module.compare("micro", "bf16", 4, "cpu", tmp_path)   # a CPU runs every precision in fp32
    assert r["against"] == "float32" and r["max_loss_drift"] == 0.0 and r["max_reward_drift"] == 0.0
    assert r["seconds_fp32"] > 0 and r["mean_reward_fp32"] == r["mean_reward_other"]


def test_the_step_benchmark_reads_each_versions_layout_and_times_a_step(tmp_path):
    spec = importlib.util.spec_from_file_location("step_speed", ROOT / "benchmarks" / "step_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.layout_rule(ROOT)                                    # this tree: channels_last on a CPU
    old = tmp_path / "enas_edu"
    old.mkdir()
    (old / "search.py").write_text("channels_last=cuda and config.channels_last, run_dir=...")
    assert not module.layout_rule(tmp_path)                            # before issue #30: CUDA only
    r = module.in_version(ROOT, "worker('rnn', 1, 1, False)")          # a process of its own
    assert r["step_s"] > 0 and r["peak_rss_mb"] > 100


# ------------------------------------------------------------------ benchmarks/nbmacro_real.py (issue #37)
@pytest.fixture(scope="module")
def real():
    return _script("nbmacro_real")


def test_real_image_scoring_leaves_the_shared_weights_as_they_were(real):
    """Both scores of a child (batch statistics; batch norm re-estimated) equal an independent
    computation, and the supernet's buffers are untouched afterwards."""
    import copy

    from enas_edu.supernets.nbmacro import NBMacroNet, NBMacroNetConfig
    torch.manual_seed(0)
    net = NBMacroNet(NBMacroNetConfig(stem=4, widths=(8, 8, 8), head=16))
    arch = net.space.from_arc_string("1 2 0 1 0 2 1 0")
    x, y = [torch.randn(6, 3, 16, 16)], [torch.randint(0, 10, (6,))]
    calib = [torch.randn(8, 3, 16, 16), torch.randn(4, 3, 16, 16)]
    before = copy.deepcopy(net.state_dict())
    got = real.score(net, arch, x, y, calib)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    child = net.extract_child(arch)          # the child alone, re-estimated the same way
    with torch.no_grad():
        child.train()
        expected_bs = (child(x[0]).argmax(1) == y[0]).float().mean().item()
        for m in child.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        for batch in calib:
            child(batch)
        child.eval()
        expected_re = (child(x[0]).argmax(1) == y[0]).float().mean().item()
    assert got == {"batch_stats": pytest.approx(expected_bs), "recalibrated": pytest.approx(expected_re)}


def test_the_real_image_sample_is_fixed_distinct_and_uniform_over_the_table(real):
    keys = real.sample_keys(1000)
    assert keys == real.sample_keys(1000) and len(set(keys)) == 1000
    from enas_edu.bench.nas_bench_macro import load
    truth = load()
    assert set(keys) <= set(truth.arcs)
    ranks = torch.tensor([truth.arcs.index(k) for k in keys], dtype=torch.float64)
    assert abs(ranks.mean().item() / (len(truth.arcs) - 1) - 0.5) < 0.05       # spread over the whole table


def test_the_real_image_correlation_reads_a_perfect_and_a_reversed_scorer(real):
    from enas_edu.bench.nas_bench_macro import load
    truth = load()
    arcs = real.sample_keys(60)
    true = truth.scores("test")[[truth.index(a) for a in arcs]]
    rows = [{"arc": a, "good": float(t), "bad": -float(t)} for a, t in zip(arcs, true)]
    good, bad = real.correlation(rows, truth, "good", resamples=50), real.correlation(rows, truth, "bad", resamples=50)
    assert good["spearman"] == pytest.approx(1.0) and bad["spearman"] == pytest.approx(-1.0)
    assert good["kendall_95ci"][0] > 0.9 and good["top10_overlap"] == 1.0 and good["n"] == 60
    assert min(good["shared_top10_true_percentiles"]) > max(bad["shared_top10_true_percentiles"])
