"""A run trains on the data the user named, or refuses: never on other data, never writing into
the user's folder; own files in the built-in formats; the two entropies under their own names."""

import hashlib
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import enas_edu.data.cifar10 as cifar10
from enas_edu.cli import main
from enas_edu.config import DataConfig, final_config, search_config
from enas_edu.controller import Controller
from enas_edu.data import DatasetUnavailableError
from enas_edu.data.cifar10 import enas_split, load_cifar10, read_batch
from enas_edu.data.synthetic import _dump_py2, write_cifar10, write_ptb
from enas_edu.final import FinalTraining
from enas_edu.search import run_search
from enas_edu.spaces import MacroSpace, MicroSpace, RNNCellSpace
from enas_edu.runs import RunDir


def snapshot(folder: Path) -> dict:
    """Every file under ``folder`` with its sha256: what "nothing was written there" compares."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(*args) -> int:
    return main([*map(str, args), "--quiet", "--device", "cpu"])


def data_source(run: Path) -> dict:
    return RunDir.open(run).read("environment.jsonl")[-1]["data_source"]


# ------------------------------------------------------------------------- a named folder is read
def test_a_corpus_named_by_data_dir_is_read_or_refused_never_replaced_by_the_profile(tmp_path, capsys):
    corpus = write_ptb(tmp_path, (400, 200, 200), folder="my_corpus")   # flat layout: my_corpus/ptb.train.txt
    before = snapshot(corpus)
    # the smoke profile ships the King James text; a named folder is PTB, checked, and these are not
    assert cli("search", "rnn", "--profile", "smoke", "--data-dir", corpus, "--out", tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "checksums did not match" in err and "--no-verify" in err and "ptb_format" in err
    assert not (tmp_path / "a" / "checkpoint.pt").exists()
    # said to be own files, they are read and recorded as such
    assert cli("search", "rnn", "--profile", "smoke", "--data-dir", corpus, "--no-verify",
               "--out", tmp_path / "b") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cpu threads: ")
    assert out[1].startswith(f"data: own PTB-format text from {corpus} (not Penn Treebank) [ptb_format]: 61-word")
    source = data_source(tmp_path / "b")
    assert source["kind"] == "ptb_format" and source["path"] == str(corpus.resolve())
    assert source["checksums_verified"] is False and source["vocabulary"] == 61   # KJV at smoke: 500
    assert source["words"]["train"] == sum(len(line.split()) + 1 for line in
                                           (corpus / "ptb.train.txt").read_text().splitlines())
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["data"]["dataset"] == "ptb_format" and config["net"]["vocab_size"] == 61
    assert snapshot(corpus) == before                          # nothing written into the user's folder


def test_images_named_by_data_dir_are_read_or_refused(tmp_path, capsys):
    images = write_cifar10(tmp_path, num_train=200, num_test=50, folder="my_images")
    before = snapshot(images)
    assert cli("search", "micro", "--profile", "smoke", "--data-dir", images, "--out", tmp_path / "a") == 2
    err = capsys.readouterr().err
    assert "nothing was unpickled" in err and "cifar_format" in err and "--no-verify" in err
    assert cli("search", "micro", "--profile", "smoke", "--data-dir", images, "--no-verify",
               "--out", tmp_path / "b") == 0
    source = data_source(tmp_path / "b")
    assert source["kind"] == "cifar_format" and source["path"] == str(images.resolve())
    assert source["images"] == {"train": 180, "valid": 20, "test": 50}   # a tenth validates
    assert source["classes"] == 10 and source["image_shape"] == [3, 32, 32]
    assert snapshot(images) == before


def test_shipped_data_refuses_a_data_dir_and_own_formats_need_one(tmp_path):
    for shipped in ("kjv", "digits"):
        with pytest.raises(ValueError, match="shipped inside the package and reads no folder"):
            DataConfig(shipped, data_dir=str(tmp_path))
    for own in ("ptb_format", "cifar_format"):
        with pytest.raises(ValueError, match="set data_dir to their folder"):
            DataConfig(own)
    with pytest.raises(ValueError, match="has nothing to download"):
        DataConfig("cifar_format", data_dir=str(tmp_path), download=True)
    assert cli("search", "rnn", "--profile", "smoke", "--no-verify", "--out", tmp_path / "x") == 2


# ------------------------------------------------------------------------- synthetic data
@pytest.mark.parametrize("space", ["rnn", "micro"])
def test_synthetic_data_is_written_only_into_the_run_directory(space, tmp_path, capsys):
    user = tmp_path / "user_data"        # a folder in a flat layout the real loaders accept
    if space == "rnn":
        write_ptb(tmp_path, (400, 200, 200), folder="user_data")
    else:
        write_cifar10(tmp_path, folder="user_data")
    before = snapshot(user)
    kind = "synthetic_ptb" if space == "rnn" else "synthetic_cifar"
    with pytest.raises(ValueError, match="generated into the run directory"):
        DataConfig(kind, data_dir=str(user))
    assert cli("search", space, "--profile", "smoke", "--synthetic", "--data-dir", user, "--out", tmp_path / "a") == 2
    assert "--synthetic generates its data into the run directory" in capsys.readouterr().err
    assert cli("search", space, "--profile", "smoke", "--synthetic", "--out", tmp_path / "b") == 0
    assert snapshot(user) == before
    source = data_source(tmp_path / "b")
    assert source["kind"] == kind and Path(source["path"]).is_relative_to((tmp_path / "b" / "synthetic_data").resolve())


# ------------------------------------------------------------------------- own images: sizes, classes
def test_own_images_take_their_number_of_classes_from_the_labels(tmp_path):
    folder = write_cifar10(tmp_path, num_train=200, num_test=40, num_classes=8, folder="eight")
    data = DataConfig("cifar_format", data_dir=str(folder), batch_size=16, eval_batch_size=16, augment=False)
    search = run_search(search_config("micro", "smoke", data=data), tmp_path / "search", progress=False)
    assert search.net.classifier.out_features == 8 and search.config.net.num_classes == 8
    assert json.loads((tmp_path / "search" / "config.json").read_text())["net"]["num_classes"] == 8
    final = final_config("micro", "0 0 1 2 0 3 1 4 1 1 0 1 0 0 1 2 0 3 1 4 1 1 0 1", "smoke", data=data)
    training = FinalTraining(final, tmp_path / "final", progress=False)
    assert training.net.classifier.out_features == 8 and training.net.aux_head.fc.out_features == 8
    assert data_source(tmp_path / "final")["images"] == {"train": 200, "valid": 0, "test": 40}


def _batch(path: Path, data, labels) -> Path:
    _dump_py2({b"data": data, b"labels": labels, b"batch_label": b"x"}, path)
    return path


def test_wrong_image_sizes_and_labels_get_clear_errors(tmp_path):
    big = np.zeros((4, 3 * 64 * 64), dtype=np.uint8)
    with pytest.raises(DatasetUnavailableError, match=r"rows of 12,288 values are 64 x 64 colour images: "
                                                      r"resize them to 32 x 32"):
        read_batch(_batch(tmp_path / "big", big, [0, 1, 2, 3]))
    with pytest.raises(DatasetUnavailableError, match="4 images but 'labels' is int64 of shape \\(3,\\)"):
        read_batch(_batch(tmp_path / "short", np.zeros((4, 3072), dtype=np.uint8), [0, 1, 2]))
    with pytest.raises(DatasetUnavailableError, match="'data' is float64"):
        read_batch(_batch(tmp_path / "float", np.zeros((4, 3072)), [0, 1, 2, 3]))
    x = torch.zeros(6, 3, 32, 32, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"classes 0..K-1, each with at least one image; found \[0, 1, 3\]"):
        enas_split("mine", x, torch.tensor([0, 1, 3, 0, 1, 3]), x[:2], torch.tensor([0, 1]), num_valids=0)
    with pytest.raises(ValueError, match=r"test labels \[2\] never occur"):
        enas_split("mine", x, torch.tensor([0, 1, 0, 1, 0, 1]), x[:2], torch.tensor([0, 2]), num_valids=0)
    with pytest.raises(ValueError, match="all training images have label 0"):
        enas_split("mine", x, torch.zeros(6, dtype=torch.long), x[:2], torch.zeros(2, dtype=torch.long), num_valids=0)


def test_an_unchecked_batch_cannot_run_code(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({"data": Evil(), "labels": [0]}))
    with pytest.raises(DatasetUnavailableError, match=r"refused to unpickle (posix|os)\.system"):
        read_batch(tmp_path / "data_batch_1")
    assert not marker.exists()


def test_verifying_real_cifar10_writes_nothing_into_its_folder(tmp_path, monkeypatch):
    folder = write_cifar10(tmp_path / "data", num_train=100, num_test=20)
    monkeypatch.setattr(cifar10, "BATCH_FILES", {name: hashlib.md5((folder / name).read_bytes()).hexdigest()
                                                 for name in cifar10.BATCH_FILES})
    monkeypatch.setattr(cifar10, "DEFAULT_ROOT", tmp_path / "cache")
    before = snapshot(folder)
    assert len(load_cifar10(tmp_path / "data")[0]) == 100            # checksums match: read
    assert snapshot(folder) == before
    assert len(list((tmp_path / "cache" / "verified").glob("cifar10-*.json"))) == 1   # the stamp lives here


# ------------------------------------------------------------------------- the two entropies
@pytest.mark.parametrize("space", [MacroSpace(num_layers=2, num_ops=3), RNNCellSpace(num_nodes=2),
                                   MicroSpace(num_nodes=1, num_ops=2)], ids=repr)
def test_policy_entropy_is_the_entropy_of_the_policy_and_the_official_term_is_not(space):
    """Over every architecture of a small space, exactly: sum_a p(a) policy_entropy(a) equals
    H = -sum_a p(a) log p(a) (the chain rule), while the official "sampled" term's mean does not."""
    torch.manual_seed(0)
    controller = Controller(space, entropy_mode="sampled")
    with torch.no_grad():
        batch = controller.evaluate(list(space.enumerate()))
    p = batch.log_prob.double().exp()
    assert p.sum().item() == pytest.approx(1.0, abs=1e-5)
    exact = -(p * batch.log_prob.double()).sum()
    assert (p * batch.policy_entropy.double()).sum().item() == pytest.approx(exact.item(), rel=1e-5)
    assert abs((p * batch.entropy.double()).sum().item() - exact.item()) > 0.1
    full = Controller(space, entropy_mode="full")
    full.load_state_dict(controller.state_dict())
    with torch.no_grad():
        b = full.evaluate(list(space.enumerate()))
    torch.testing.assert_close(b.entropy, b.policy_entropy)


def test_a_search_logs_both_entropies_under_their_own_names(tmp_path):
    search = run_search(search_config("macro", "smoke"), tmp_path / "run", progress=False)
    for phase in ("controller", "epoch"):
        records = [r for r in search.run_dir.read() if r["phase"] == phase]
        assert records and all("policy_entropy" in r and "entropy_term" in r and "entropy" not in r
                               for r in records), phase
    # macro's official term is sum -p(a) log p(a) of the sampled choices: smaller than the entropy
    first = next(r for r in search.run_dir.read() if r["phase"] == "controller")
    assert first["entropy_term"] < first["policy_entropy"]
    from enas_edu.viz import plot_search, search_summary
    fig = plot_search(tmp_path / "run")
    assert fig.axes[1].get_title() == "policy entropy (nats)"
    last = [r for r in search.run_dir.read() if r["phase"] == "epoch"][-1]
    assert search_summary(tmp_path / "run").endswith(
        f"epoch {last['epoch']}: reward {last['reward']:.3f}, policy entropy {last['policy_entropy']:.3f} nats")


def test_own_text_that_is_not_utf8_names_the_file_and_the_fix(tmp_path):
    corpus = write_ptb(tmp_path, (400, 200, 200), folder="latin1")
    (corpus / "ptb.valid.txt").write_bytes(" caf\xe9 au lait \n".encode("latin1"))
    with pytest.raises(ValueError, match=r"ptb\.valid\.txt is not UTF-8 text \(byte 4: .*iconv -f latin1"):
        run_search(search_config("rnn", "smoke", data=DataConfig("ptb_format", data_dir=str(corpus))),
                   tmp_path / "run", progress=False)


def test_printed_data_paths_are_relative_inside_the_working_directory(tmp_path, monkeypatch):
    from enas_edu.tasks import shown_path
    inside = tmp_path / "runs" / "own" / "pngs"
    inside.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert shown_path(inside) == os.path.join("runs", "own", "pngs")      # no folder of this machine
    outside = tmp_path.parent / "elsewhere"
    assert shown_path(outside) == str(outside)                             # outside it: as given
    assert shown_path("") == "" and shown_path(None) == "None"
