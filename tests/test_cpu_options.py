"""The options that fit real data to a CPU (issue #40): fewer training images, fewer steps per
epoch, the thread count; each recorded in the run folder."""

import json

import pytest
import torch

from enas_edu.cli import main
from enas_edu.config import DataConfig, final_config, search_config
from enas_edu.final import FinalTraining
from enas_edu.tasks import ImageTask


def _task(**data):
    return ImageTask(DataConfig("digits", batch_size=32, augment=False, **data), "search", 0, torch.device("cpu"))


def test_max_train_images_keeps_the_same_share_of_every_class_and_the_same_images():
    full, part = _task(), _task(max_train_images=200)
    n = len(full.data.train_y)
    counts = torch.bincount(full.data.train_y, minlength=10)
    expected = (counts.double() * 200 / n + 0.5).floor().long()               # each class's share, rounded
    assert torch.equal(torch.bincount(part.data.train_y, minlength=10), expected)
    assert abs(len(part.data.train_y) - 200) <= 5
    assert part.data.facts["train_subset"] == {"images": len(part.data.train_y), "of": n, "split_seed": 0,
                                               "per_class": "the same share of each class"}
    for split in ("valid", "test"):                                             # held-out splits untouched
        assert torch.equal(getattr(part.data, f"{split}_x"), getattr(full.data, f"{split}_x"))
    rows = {tuple(r.tolist()) for r in full.data.train_x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in part.data.train_x.flatten(1))  # a subset, not new images
    again = ImageTask(DataConfig("digits", batch_size=32, augment=False, max_train_images=200), "search", 7,
                      torch.device("cpu"))
    assert torch.equal(again.data.train_x, part.data.train_x)                  # fixed by the split seed, not the run's
    other = _task(max_train_images=200, split_seed=1)
    assert not torch.equal(other.data.train_x, part.data.train_x)
    assert torch.equal(_task(max_train_images=10**6).data.train_x, full.data.train_x)   # more than there are: all


@pytest.mark.parametrize("value,message", [(0, "whole number >= 1"), (True, "whole number >= 1"),
                                           (2.5, "whole number >= 1")])
def test_max_train_images_refuses_what_is_not_a_count(value, message):
    with pytest.raises(ValueError, match=message):
        DataConfig("digits", max_train_images=value)
    with pytest.raises(ValueError, match="setting of image data"):
        DataConfig("kjv", max_train_images=100)
    with pytest.raises(ValueError, match="fewer than the 10 classes"):
        _task(max_train_images=3)


def test_a_final_training_stops_each_epoch_at_its_step_cap(tmp_path):
    arc = search_config("macro", "smoke").net.space().to_arc_string(search_config("macro", "smoke").net.space().sample())
    cfg = final_config("macro", arc, "smoke", epochs=2, max_train_steps=3)
    training = FinalTraining(cfg, tmp_path / "f", progress=False)
    training.run()
    assert training.steps_done == 6 and training.task.num_train_steps() > 3
    with pytest.raises(ValueError, match="max_train_steps"):
        final_config("macro", arc, "smoke", max_train_steps=0)


def test_the_command_line_sets_records_and_refuses_to_change_them_on_resume(tmp_path, capsys):
    before = torch.get_num_threads()
    run = tmp_path / "s"
    try:
        assert main(["search", "macro", "--profile", "smoke", "--epochs", "1", "--quiet", "--out", str(run),
                     "--threads", "1", "--steps-per-epoch", "2", "--max-train-images", "300"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[1] == "cpu threads: 1 (--threads)"                           # after the SGDR note, first
        assert out[2].startswith("data: UCI handwritten digits") and "301 training, 150 validation and 297 test" in out[2]
        environment = [json.loads(line) for line in (run / "environment.jsonl").read_text().splitlines()]
        assert environment[-1]["cpu_threads"] == 1
        config = json.loads((run / "config.json").read_text())
        assert config["max_train_steps"] == 2 and config["data"]["max_train_images"] == 300
        assert json.loads((run / "data.json").read_text())["images"]["train"] == 301
        shared = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                  if json.loads(line)["phase"] == "epoch"]
        assert len(shared) == 1
        assert main(["search", "macro", "--resume", "--out", str(run), "--max-train-images", "100"]) == 2
        assert "--max-train-images would be ignored" in capsys.readouterr().err
        assert main(["search", "rnn", "--profile", "smoke", "--out", str(tmp_path / "r"),
                     "--max-train-images", "100"]) == 2
        assert "--max-train-images applies to images" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)
