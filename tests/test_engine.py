"""derive, final training (also under torchrun with gloo), the baselines and the command line."""

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from enas_edu.baselines import (enas_without_controller_training, nas_without_weight_sharing,
                                random_search_weight_sharing)
from enas_edu.cli import main
from enas_edu.config import final_config, search_config
from enas_edu.derive import derive
from enas_edu.final import FinalTraining, asgd_starts, run_final
from enas_edu.search import Search, run_search


@pytest.fixture(scope="module")
def macro_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "macro"
    # scored in evaluation mode, as the official macro code does (the small profiles use batch
    # statistics and dropout, which make the independent recomputation below random)
    run_search(search_config("macro", "smoke", reward_bn_train_mode=False), path, progress=False)
    return path


def test_derive_chooses_the_best_full_validation_score_among_the_top_k(macro_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(macro_run, run)
    chosen = derive(run, num_samples=40, top_k=5)
    rows = [json.loads(line) for line in (run / "candidates.jsonl").read_text().splitlines()]
    assert len({r["arc"] for r in rows}) == len(rows) <= 40
    rewards = [r["one_batch_reward"] for r in rows]
    assert rewards == sorted(rewards, reverse=True)              # ranked by the one-batch reward
    top = [r for r in rows if r["full_valid_accuracy"] is not None]
    assert [r["rank_one_batch"] for r in top] == [0, 1, 2, 3, 4]
    best = max(top, key=lambda r: r["full_valid_accuracy"])
    assert chosen.arc == best["arc"] and (run / "derived_arc.txt").read_text().strip() == best["arc"]
    assert all(r["params"] > 0 and r["flops"] > 0 for r in top)
    # the full-validation score is the child's accuracy, recomputed independently
    search = Search(None, run, resume=True, progress=False)
    search.net.eval()
    arch = search.space.from_arc_string(best["arc"])
    x, y = search.task.data.valid_x, search.task.data.valid_y
    from enas_edu.data import normalize
    with torch.no_grad():
        accuracy = (search.net(normalize(x, search.task.data.mean, search.task.data.std), arch).argmax(1) == y).float().mean()
    assert accuracy.item() == pytest.approx(best["full_valid_accuracy"], abs=1e-6)


def _final(tmp_path, name, shuffle_labels=False):
    config = final_config("macro", "0 3 0 2 0 1 1 1 0 0", "smoke", epochs=4)
    config = dataclasses.replace(config, net=dataclasses.replace(config.net, out_filters=12))
    training = FinalTraining(config, tmp_path / name, progress=False)
    if shuffle_labels:
        g = torch.Generator().manual_seed(0)
        training.task.train.y = training.task.train.y[torch.randperm(len(training.task.train.y), generator=g)]
    return training.run()


def test_final_training_on_the_digits_beats_a_shuffled_label_control(tmp_path):
    real, control = _final(tmp_path, "real"), _final(tmp_path, "control", shuffle_labels=True)
    # measured at 1 and 2 threads, AVX2 and AVX-512, torch 2.13 and 2.14: 0.93-0.96 against 0.07-0.13
    assert real["test_accuracy"] > 0.7 and control["test_accuracy"] < 0.3, (real, control)
    assert "digits" in real["data"] and real["profile"] == "smoke" and real["world_size"] == 1
    assert json.loads((tmp_path / "real" / "result.json").read_text())["test_accuracy"] == real["test_accuracy"]


def test_final_training_resumes_exactly(tmp_path):
    """Final training stopped after one epoch and resumed equals the straight run.

    Exact on one machine: both runs execute here, with the same kernels and thread count, so
    every weight must be bit-identical; no tolerance. (Across machines the floats differ, which
    is why the test compares two runs made in the same process.)
    """
    config = final_config("macro", "0 3 0 2 0 1 1 1 0 0", "smoke", epochs=2)
    straight = run_final(config, tmp_path / "a", progress=False)
    run_final(config, tmp_path / "b", progress=False, stop_at=1)
    resumed = run_final(None, tmp_path / "b", resume=True, progress=False)
    assert straight["test_accuracy"] == resumed["test_accuracy"]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)["net"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["net"]
    assert all(torch.equal(a[k], b[k]) for k in a)


COMPILED = {   # (arc, graphs allowed)
    # micro child with drop-path (its keep probability changes every step) and the auxiliary
    # head: one graph for the full batches, at most one more for an epoch's last, smaller batch
    "micro": ("0 0 1 2 0 3 1 4 1 1 0 1 0 0 1 2 0 3 1 4 1 1 0 1", 2),
    # RNN: one time step of the cell, three graphs whatever the window lengths: a window's first
    # step (its carried state needs no gradient), the later steps, and evaluation (no gradient)
    "rnn": ("0 1 1 0 1 2", 3),
}


@pytest.mark.parametrize("space", sorted(COMPILED))
def test_compiled_final_training_compiles_once_and_trains_as_the_eager_one(space, tmp_path, monkeypatch):
    """``FinalConfig.compile`` compiles a fixed number of graphs however many steps run, logs its
    first step apart, and computes the eager losses. The test runs Dynamo and AOT autograd
    without code generation (``aot_eager``), which checks the graphs and their guards in seconds
    instead of minutes."""
    from torch._dynamo.utils import counters
    compile_ = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, mode=None, **kw: compile_(model, backend="aot_eager", **kw))
    arc, graphs = COMPILED[space]
    config = final_config(space, arc, "smoke", epochs=1, precision="fp32")
    if space == "micro":
        assert config.net.drop_path_keep_prob is not None and config.net.aux_head
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, batch_size=64))
    losses = {}
    for mode in (None, "default"):
        torch._dynamo.reset()
        counters.clear()
        run = tmp_path / str(mode)
        FinalTraining(dataclasses.replace(config, compile=mode), run, progress=False).run()
        records = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
        losses[mode] = [r["train_loss"] for r in records if r["phase"] == "epoch"]
        events = [r for r in records if r.get("event") == "compiled"]
        if mode is None:
            assert events == []
        else:
            assert len(events) == 1 and events[0]["step"] == 0 and events[0]["first_step_seconds"] > 0
            assert 1 <= counters["stats"]["unique_graphs"] <= graphs, counters["stats"]
    assert losses["default"] == pytest.approx(losses[None], rel=1e-4)
    with pytest.raises(ValueError, match="compile must be one of"):
        dataclasses.replace(config, compile="fast")


def test_final_training_under_torchrun_with_two_gloo_processes(tmp_path):
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun) if torchrun.exists() else sys.executable, *([] if torchrun.exists() else ["-m", "torch.distributed.run"]),
           "--standalone", "--nproc_per_node", "2", "-m", "enas_edu.cli", "train", "macro",
           "--arc", "0 3 0 2 0 1 1 1 0 0", "--profile", "smoke", "--epochs", "1", "--device", "cpu",
           "--out", str(out), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["world_size"] == 2 and result["replicas_in_sync"] is True
    assert 0.0 <= result["test_accuracy"] <= 1.0


def test_baselines_share_the_engine_and_leave_the_controller_alone(tmp_path):
    config = search_config("macro", "smoke")
    initial = Search(config, tmp_path / "fresh", progress=False).controller.state_dict()
    for name, fn in (("rsws", random_search_weight_sharing), ("frozen", enas_without_controller_training)):
        result = fn(config, tmp_path / name, num_samples=20, top_k=3, progress=False)
        assert result["arc"] and (tmp_path / name / "baseline.json").exists()
        state = torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)
        assert all(torch.equal(initial[k], state["controller"][k]) for k in initial), name
        records = [json.loads(l) for l in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        assert not any(r["phase"] == "controller" for r in records)
    sampler = json.loads((tmp_path / "rsws" / "derived.json").read_text())["sampler"]
    assert sampler == "uniform"
    result = nas_without_weight_sharing(config, tmp_path / "nosharing", num_children=7, progress=False)
    records = [json.loads(l) for l in (tmp_path / "nosharing" / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["phase"] == "child" for r in records) == 7
    assert sum(r["phase"] == "controller" for r in records) == 2      # num_aggregate 5: 5 + 2
    assert result["best_reward"] == max(r["reward"] for r in records if r["phase"] == "child")


def test_the_command_line_runs_search_derive_train(tmp_path, capsys):
    run = str(tmp_path / "search")
    assert main(["search", "rnn", "--profile", "smoke", "--out", run, "--quiet"]) == 0
    assert main(["derive", run, "--samples", "20", "--top-k", "2"]) == 0
    assert main(["train", "rnn", "--from", run, "--profile", "smoke", "--out", str(tmp_path / "final"),
                 "--quiet", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "chosen architecture" in out and "test_perplexity" in out
    result = json.loads((tmp_path / "final" / "result.json").read_text())
    assert result["arc"] == (Path(run) / "derived_arc.txt").read_text().strip()
    assert main(["search", "rnn", "--out", run, "--resume", "--quiet"]) == 0      # as it was started
    assert main(["info"]) == 0


def test_the_command_line_reports_bad_input_clearly(tmp_path, capsys):
    assert main(["train", "micro", "--profile", "smoke", "--out", str(tmp_path / "x")]) == 2
    assert "say which architecture to train" in capsys.readouterr().err
    assert main(["train", "micro", "--arc", "0 0 9 0", "--profile", "smoke", "--out", str(tmp_path / "y")]) == 2
    assert "8 numbers per node" in capsys.readouterr().err
    assert main(["search", "micro", "--profile", "paper", "--data-dir", str(tmp_path), "--device", "cpu",
                 "--out", str(tmp_path / "z"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 is not available" in err and "c58f30108f718f92721af3b95e74349a" in err
    with pytest.raises(SystemExit):
        main(["search", "nasnet"])


def test_the_averaging_triggers_follow_their_rules():
    # official (enas_lm fixed.py): worse than the best of all epochs but the last p
    history = [100.0, 90.0, 85.0, 84.0, 86.0]
    assert asgd_starts(history, 91.0, 2, 3, "official")          # 91 > min(100, 90)
    assert not asgd_starts(history, 89.0, 2, 3, "official")      # 89 < 90
    assert not asgd_starts(history[:3], 1e9, 0, 3, "official")   # not more than p epochs yet
    assert asgd_starts([100.0], 101.0, 1, 0, "official") and not asgd_starts([], 1.0, 1, 0, "official")
    # patience: p epochs in a row without a new best
    assert asgd_starts(history, 91.0, 3, 3, "patience") and not asgd_starts(history, 91.0, 2, 3, "patience")
    assert final_config("rnn", "0 1 1 0 1 2", "paper").optim.asgd_trigger == "official"


def test_averaged_sgd_starts_after_the_patience_and_averages_every_later_step(tmp_path):
    config = final_config("rnn", "0 1 1 0 1 2", "smoke", epochs=2)
    config = dataclasses.replace(config, optim=dataclasses.replace(config.optim, asgd_patience=0,
                                                                   asgd_trigger="patience"),
                                 data=dataclasses.replace(config.data, dataset="synthetic_ptb"))
    training = FinalTraining(config, tmp_path / "run", progress=False)
    result = training.run()
    steps = sum(1 for _ in training.task.train_epoch(1))
    assert training.averaged is not None and training.averaged.n_averaged.item() == steps
    assert result["averaged_weights"] is True and math.isfinite(result["test_perplexity"])
    events = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in events if e["phase"] == "event"] == [0]   # after epoch 0 is validated
    averaged = dict(training.averaged.module.named_parameters())
    assert any(not torch.equal(p, averaged[n]) for n, p in training.net.named_parameters())


def test_precision_is_a_setting_with_a_clear_error_and_old_run_folders_still_load():
    from enas_edu.config import config_from_dict, config_to_dict
    from enas_edu.training import Precision
    config = search_config("macro", "smoke", precision="fp32")
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))).precision == "fp32"
    old = config_to_dict(search_config("macro", "smoke"))
    del old["precision"]
    for amp, precision in ((True, "auto"), (False, "fp32")):   # config.json written before the setting
        assert config_from_dict({**old, "amp": amp}).precision == precision
    with pytest.raises(ValueError, match="precision must be one of"):
        search_config("macro", "smoke", precision="int8")
    for choice in ("auto", "bf16", "fp16", "fp32"):            # a CPU runs fp32 whatever is asked
        cpu = Precision(torch.device("cpu"), choice)
        assert not cpu.enabled and cpu.name == "float32" and not cpu.scaler.is_enabled()
