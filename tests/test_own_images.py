"""The reader's own images (issue 15): arrays, a folder of class folders, torchvision; the
splits, the errors, and a search, derive and final training on them from the command line."""

import dataclasses
import json
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from enas_edu.cli import detect_kind, main
from enas_edu.config import DataConfig, search_config
from enas_edu.data import save_arrays, use_arrays
from enas_edu.data.embedded import digits_arrays
from enas_edu.data.examples import write_digit_folder
from enas_edu.data.own_images import as_images, own_images, per_class_split, read_image_folder
from enas_edu.search import Search
from enas_edu.tasks import ImageTask


def _digits(per_class: int, classes: int = 10):
    """The digits write_digit_folder writes, in its order (class by class, file by file)."""
    x, y = digits_arrays(native=True)
    idx = torch.cat([(y == c).nonzero().flatten()[:per_class] for c in range(classes)])
    return x[idx], y[idx]


def _data(path, **kw):
    return DataConfig(dataset="images", data_dir=str(path), batch_size=kw.pop("batch_size", 8), **kw)


def test_layouts_and_dtypes_become_the_same_uint8_nchw():
    x = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8)
    assert torch.equal(as_images(x.permute(0, 2, 3, 1).numpy()), x)            # NHWC numpy
    assert torch.equal(as_images(x.float() / 255), x)                           # float 0..1, rounded
    assert torch.equal(as_images(x[:, 0]), x[:, :1])                            # [N, H, W]: grey
    assert as_images(np.zeros((2, 3, 4, 3)), layout="NHWC").shape == (2, 3, 3, 4)
    with pytest.raises(ValueError, match="layout='NCHW' or layout='NHWC'"):
        as_images(np.zeros((2, 3, 4, 3)))
    with pytest.raises(ValueError, match="must lie in 0..1.*undo any normalisation"):
        as_images(torch.randn(2, 3, 8, 8))


def test_the_split_holds_out_the_same_share_of_every_class():
    y = torch.tensor([0] * 20 + [1] * 10 + [2] * 1)
    keep, held = per_class_split(y, 0.2, seed=0)
    assert torch.bincount(y[held], minlength=3).tolist() == [4, 2, 0]           # a lone image stays in training
    assert sorted(keep.tolist() + held.tolist()) == list(range(31))
    assert torch.equal(held, per_class_split(y, 0.2, seed=0)[1])
    assert not torch.equal(held, per_class_split(y, 0.2, seed=1)[1])


def test_a_folder_reads_back_the_pixels_that_were_written(tmp_path):
    write_digit_folder(tmp_path / "d", per_class=4, classes=3)
    (tmp_path / "d" / "notes.txt").write_text("x")
    (tmp_path / "d" / "1" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "d" / "2" / "labels.csv").write_text("a,b")
    splits, facts = read_image_folder(tmp_path / "d")
    x, y = _digits(4, 3)
    assert torch.equal(splits["train"][0], x) and torch.equal(splits["train"][1], y)
    assert facts["classes"] == ["0", "1", "2"] and facts["files_read"] == {"train": 12}
    assert facts["files_skipped"] == {"files outside a class folder": 1, "hidden files and folders": 1,
                                      "not an image by its suffix (.csv)": 1}


def test_a_folder_and_the_same_images_as_arrays_give_the_same_batches(tmp_path):
    write_digit_folder(tmp_path / "folder", per_class=12, classes=4)
    x, y = _digits(12, 4)
    save_arrays(tmp_path / "arrays.npz", x, y)
    tasks = [ImageTask(_data(p), "search", 3, torch.device("cpu")) for p in (tmp_path / "folder", tmp_path / "arrays.npz")]
    a, b = tasks
    assert len(a.data.valid_x) == 4 and len(a.data.test_x) == 4 and len(a.data.train_x) == 40   # round(0.1 * 12) per class
    for (xa, ya), (xb, yb) in zip(a.train_epoch(1), b.train_epoch(1)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    for _ in range(3):
        assert all(torch.equal(u, v) for u, v in zip(a.reward_batch(), b.reward_batch()))
    assert torch.equal(a.data.test_x, b.data.test_x)
    assert a.describe()["fingerprint"] != b.describe()["fingerprint"]          # the sources differ, the data not


def test_final_training_trains_on_the_validation_images_and_tests_on_the_same_split(tmp_path):
    write_digit_folder(tmp_path / "d", per_class=10, classes=3)
    search, final = (own_images(_data(tmp_path / "d"), mode) for mode in ("search", "final"))
    assert torch.equal(search.test_x, final.test_x)
    assert len(final.train_x) == len(search.train_x) + len(search.valid_x) and final.valid_x is None


def test_train_and_test_folders_grey_and_colour_and_resizing(tmp_path):
    write_digit_folder(tmp_path / "d" / "train", per_class=5, classes=2)
    write_digit_folder(tmp_path / "d" / "test", per_class=2, classes=2, colour=True)
    data = own_images(_data(tmp_path / "d", batch_size=4), "search")
    assert data.train_x.shape[1:] == (3, 8, 8) and data.facts["grey_read_as_colour"] == 10
    assert data.facts["test_split"] == "given" and len(data.test_x) == 4
    assert torch.equal(data.train_x[:, 0], data.train_x[:, 2])                  # grey copied to R, G, B
    big = own_images(_data(tmp_path / "d", batch_size=4, image_size=20), "final")
    assert big.train_x.shape[1:] == (3, 20, 20) and big.facts["resized_to"] == 20


@pytest.mark.parametrize("problem, message", [
    ("empty class", "class folder .*empty.* holds no images"),
    ("one class", "1 class folder .*needs two or more"),
    ("unreadable", "broken.png could not be read as an image.*save it again"),
    ("mixed sizes", "images of different sizes.*set image_size"),
    ("test class unknown", "class folders \\['9'\\] that .* lacks"),
    ("too few for a batch", "fewer than one batch \\(batch_size=64\\).*--batch-size"),
])
def test_bad_folders_get_an_error_that_names_the_problem_and_the_fix(tmp_path, problem, message):
    root = tmp_path / "d"
    write_digit_folder(root / ("train" if problem == "test class unknown" else ""), per_class=6, classes=3)
    if problem == "empty class":
        (root / "empty").mkdir()
    elif problem == "one class":
        for c in "12":
            for p in (root / c).iterdir():
                p.unlink()
            (root / c).rmdir()
    elif problem == "unreadable":
        (root / "1" / "broken.png").write_bytes(b"not a png")
    elif problem == "mixed sizes":
        Image.new("L", (10, 12)).save(root / "2" / "big.png")
    elif problem == "test class unknown":
        write_digit_folder(root / "test", per_class=1, classes=3)
        (root / "test" / "2").rename(root / "test" / "9")
    with pytest.raises(ValueError, match=message):
        own_images(_data(root, batch_size=64 if problem == "too few for a batch" else 4), "search")


def test_bad_arrays_get_clear_errors(tmp_path):
    x, y = _digits(5, 3)
    with pytest.raises(ValueError, match="one label per image"):
        save_arrays(tmp_path / "a.npz", x, y[:-1])
    gap = y.clone()
    gap[gap == 1] = 2                                                            # no image of class 1
    save_arrays(tmp_path / "gap.npz", x, gap)
    with pytest.raises(ValueError, match="classes 0..K-1, each with at least one image"):
        own_images(_data(tmp_path / "gap.npz", batch_size=4), "search")
    np.savez(tmp_path / "pickled.npz", x=np.array([object()], dtype=object), y=np.zeros(1))
    with pytest.raises(ValueError, match="not an .npz file of arrays"):
        own_images(_data(tmp_path / "pickled.npz"), "search")                  # object arrays are never unpickled
    np.savez(tmp_path / "keys.npz", images=x.numpy())
    with pytest.raises(ValueError, match="needs 'x' \\(images\\) and 'y'"):
        own_images(_data(tmp_path / "keys.npz"), "search")


class _FakeMNIST:
    """torchvision.datasets.MNIST's interface: (root, train, download), .data [N, 28, 28], .targets."""

    def __init__(self, root, train=True, download=False):
        n = 40 if train else 10
        self.data = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
        self.targets = torch.arange(n) % 4
        self.classes = ["a", "b", "c", "d"]


class _FakeSVHN:
    """SVHN's interface: (root, split, download), .data numpy [N, 3, 32, 32], .labels."""

    def __init__(self, root, split="train", download=False):
        if not download:
            raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")
        n = 30 if split == "train" else 6
        self.data = np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        self.labels = np.arange(n) % 3


def test_torchvision_data_sets_through_their_interface(monkeypatch, tmp_path):
    fake = types.ModuleType("torchvision")
    fake.datasets = types.SimpleNamespace(MNIST=_FakeMNIST, SVHN=_FakeSVHN)
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake.datasets)
    mnist = own_images(DataConfig(dataset="torchvision", data_name="MNIST", data_dir=str(tmp_path), batch_size=8), "search")
    assert mnist.train_x.shape[1:] == (1, 28, 28) and mnist.num_classes == 4 and len(mnist.test_x) == 10
    assert mnist.facts["classes"] == ["a", "b", "c", "d"]
    cfg = DataConfig(dataset="torchvision", data_name="SVHN", data_dir=str(tmp_path), batch_size=8)
    with pytest.raises(Exception, match="You can use download=True.*--download"):
        own_images(cfg, "final")
    svhn = own_images(dataclasses.replace(cfg, download=True), "final")
    assert svhn.train_x.shape == (30, 3, 32, 32) and svhn.num_classes == 3
    with pytest.raises(ValueError, match="has no data set 'Imagenet9'"):
        own_images(dataclasses.replace(cfg, data_name="Imagenet9"), "final")


def test_without_torchvision_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)                      # import raises ImportError
    with pytest.raises(Exception, match="needs torchvision: pip install torchvision"):
        own_images(DataConfig(dataset="torchvision", data_name="MNIST"), "search")


def test_a_search_on_arrays_adapts_the_network_to_the_data_and_resumes_only_on_the_same_data(tmp_path):
    x = torch.rand(60, 12, 12, 2)                                               # float NHWC, two channels
    y = torch.arange(60) % 3
    config = use_arrays(search_config("micro", "smoke", epochs=1), tmp_path / "mine.npz", x, y)
    search = Search(config, tmp_path / "run", progress=False)
    net = search.config.net
    assert (net.in_channels, net.num_classes, net.image_size) == (2, 3, 12)
    search.run_to_end()
    saved = json.loads((tmp_path / "run" / "data.json").read_text())
    assert saved["image_shape"] == [2, 12, 12] and saved["images"] == {"train": 48, "valid": 6, "test": 6}
    Search(None, tmp_path / "run", resume=True, progress=False)                 # the same file: fine
    save_arrays(tmp_path / "mine.npz", x.flip(0), y)
    with pytest.raises(ValueError, match="other data than it reads now \\(changed: fingerprint"):
        Search(None, tmp_path / "run", resume=True, progress=False)


def test_the_command_line_detects_the_kind_of_data():
    assert detect_kind("torchvision:FashionMNIST", text=False) == ("torchvision", {"data_name": "FashionMNIST",
                                                                                     "data_dir": None})
    assert detect_kind("hf:wikitext:wikitext-2-raw-v1", text=True)[1]["data_config"] == "wikitext-2-raw-v1"
    with pytest.raises(ValueError, match="this space searches on text"):
        detect_kind("torchvision:MNIST", text=True)
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        detect_kind("/no/such/folder", text=False)


def test_search_derive_and_train_on_a_folder_from_the_command_line(tmp_path, capsys):
    write_digit_folder(tmp_path / "imgs", per_class=8, classes=3, size=10)
    run, final = str(tmp_path / "s"), str(tmp_path / "f")
    common = ["--profile", "smoke", "--epochs", "1", "--quiet", "--batch-size", "8"]
    assert main(["search", "micro", "--data", str(tmp_path / "imgs"), "--out", run, *common]) == 0
    assert ("own images from imgs/ [images]: 18 training, 3 validation and 3 test images of 1x10x10, 3 classes"
            in capsys.readouterr().out)
    assert main(["derive", run, "--samples", "4", "--top-k", "2"]) == 0
    with pytest.warns(UserWarning, match="10 x 10 images are 2 pixels wide.*turned off"):   # the final aux head
        assert main(["train", "micro", "--from", run, "--out", final, *common]) == 0    # on the search's data
    assert json.loads((tmp_path / "f" / "data.json").read_text())["fingerprint"] == \
        json.loads((tmp_path / "s" / "data.json").read_text())["fingerprint"]
    assert main(["search", "micro", "--image-size", "16", "--out", str(tmp_path / "x"), *common]) == 2
    assert "--image-size shape your own data: name it with --data PATH" in capsys.readouterr().err


def test_scores_do_not_depend_on_the_order_of_the_split(monkeypatch):
    # a folder read class by class gives batches of two or three classes; in batch-norm training
    # mode that changed which of ten candidates looked best (issue #28). Every split is read in a
    # canonical order, so a permuted split gives the same batches and the same scores
    import enas_edu.tasks as tasks
    from enas_edu.data.embedded import digits
    from enas_edu.supernets import MacroNet, MacroNetConfig
    cfg = DataConfig("digits8", batch_size=32, eval_batch_size=40, augment=False)
    task = ImageTask(cfg, "search", 0, torch.device("cpu"))
    torch.manual_seed(0)
    net = MacroNet(MacroNetConfig(num_layers=2, out_filters=8, in_channels=1, keep_prob=1.0))
    net.train()                                          # batch statistics, as the search's rewards
    arch = net.space.sample(torch.Generator().manual_seed(0))
    scores = task.evaluate_counts(net, arch, "valid")
    assert isinstance(scores["correct"], int) and scores["images"] == 150
    assert task.evaluate(net, arch, "valid") == scores["correct"] / 150
    rewards = [task.score(net, task.reward_batch(), arch).item() for _ in range(3)]
    data = digits("search", native=True)
    by_class = torch.argsort(data.valid_y, stable=True)
    shuffled = torch.randperm(150, generator=torch.Generator().manual_seed(1))
    for order in (by_class, shuffled):
        permuted = dataclasses.replace(data, valid_x=data.valid_x[order], valid_y=data.valid_y[order])
        monkeypatch.setattr(tasks, "digits", lambda *a, **k: permuted)
        other = ImageTask(cfg, "search", 0, torch.device("cpu"))
        assert not torch.equal(permuted.valid_y, task.data.valid_y)       # it did come in another order
        assert other.evaluate_counts(net, arch, "valid") == scores
        assert [other.score(net, other.reward_batch(), arch).item() for _ in range(3)] == rewards


# ------------------------------------------------------------------ large folders (issue #37, #40)
def _tree_digest(root):
    import hashlib
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_large_folder_is_decoded_once_and_then_read_from_a_checked_cache(tmp_path, monkeypatch, capsys):
    from enas_edu.data import own_images as oi
    write_digit_folder(tmp_path / "d", per_class=4, classes=3)
    before = _tree_digest(tmp_path / "d")
    monkeypatch.setattr(oi, "CACHE_MIN_FILES", 10)
    monkeypatch.setattr(oi, "PROGRESS_MIN_FILES", 10)
    cache = tmp_path / "cache"
    splits, facts = read_image_folder(tmp_path / "d", cache_dir=cache)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"decoding images: {k:,} / 12" for k in range(1, 13)]
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npz"]      # no temporary file left
    x, y = _digits(4, 3)
    assert torch.equal(splits["train"][0], x) and torch.equal(splits["train"][1], y)

    def no_decoding(*args):
        raise AssertionError("decoded although the cache holds the folder")
    with monkeypatch.context() as m:
        m.setattr(oi, "_read_image", no_decoding)
        cached, cached_facts = read_image_folder(tmp_path / "d", cache_dir=cache)
    assert cached_facts == facts and torch.equal(cached["train"][0], x) and torch.equal(cached["train"][1], y)
    assert capsys.readouterr().err == ""                                           # nothing decoded, nothing shown

    npz = next(cache.glob("*.npz"))                                                # a damaged cache is decoded anew
    raw = bytearray(npz.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    npz.write_bytes(bytes(raw))
    again, again_facts = read_image_folder(tmp_path / "d", cache_dir=cache, progress=False)
    assert again_facts == facts and torch.equal(again["train"][0], x)
    assert _tree_digest(tmp_path / "d") == before                                  # the image folder untouched

    target = tmp_path / "d" / "1" / sorted(p.name for p in (tmp_path / "d" / "1").iterdir())[0]
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(target)                 # a changed file: a new key
    changed, changed_facts = read_image_folder(tmp_path / "d", cache_dir=cache, progress=False)
    assert changed_facts["fingerprint"] != facts["fingerprint"]
    assert int(changed["train"][0][4].sum()) == 0 and len(list(cache.glob("*.npz"))) == 2


def test_a_folder_is_recognised_by_its_content_never_by_its_name(tmp_path, monkeypatch):
    from enas_edu.data import own_images as oi
    write_digit_folder(tmp_path / "cifar10-jpeg", per_class=12, classes=4)
    own = own_images(_data(tmp_path / "cifar10-jpeg"), "search")
    assert own.name == "own images from cifar10-jpeg/"                             # the name says nothing
    monkeypatch.setitem(oi.KNOWN_FOLDERS, own.facts["fingerprint"], "the digits (test copy)")
    (tmp_path / "cifar10-jpeg").rename(tmp_path / "renamed")
    known = own_images(_data(tmp_path / "renamed"), "search")
    assert known.name == "the digits (test copy)" and known.facts["known_as"] == "the digits (test copy)"
    resized = own_images(_data(tmp_path / "renamed", image_size=10), "search")     # other pixels: said so
    assert resized.name == resized.facts["known_as"] == "the digits (test copy), resized to 10 x 10"
    write_digit_folder(tmp_path / "other", per_class=13, classes=4)                 # other content, no label
    assert own_images(_data(tmp_path / "other"), "search").name == "own images from other/"


def test_the_shared_cifar_jpeg_copy_is_known_by_its_fingerprint():
    """The fingerprint of ../shared/data/cifar10-jpeg: the label its runs get ("CIFAR-10 (JPEG
    q75 copy)", never plain CIFAR-10). Checked against the archive where it is beside the repo."""
    import tarfile
    from pathlib import Path

    from enas_edu.data.own_images import KNOWN_FOLDERS
    labels = list(KNOWN_FOLDERS.values())
    assert labels == ["CIFAR-10 (JPEG q75 copy)"]
    archive = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg" / "cifar10-jpeg.tar.gz"
    if not archive.is_file():
        pytest.skip("../shared/data/cifar10-jpeg is not beside this checkout")
    import hashlib
    with tarfile.open(archive) as tar:      # the fingerprint's recipe, from the archive's bytes
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")}
        digest = hashlib.sha256()
        for split in ("train", "test"):
            names = sorted(n for n in members if n.startswith(split + "/"))
            for name in sorted(names, key=lambda n: (n.split("/")[1], n)):
                digest.update(name.encode())
                digest.update(hashlib.sha256(tar.extractfile(members[name]).read()).digest())
    assert "sha256:" + digest.hexdigest() in KNOWN_FOLDERS


def test_rank_labels_the_data_by_what_was_read_not_by_the_folder_name(tmp_path, monkeypatch, capsys):
    from enas_edu.data import own_images as oi
    write_digit_folder(tmp_path / "cifar10", per_class=12, classes=10)
    run = str(tmp_path / "s")
    assert main(["search", "nbmacro", "--data", str(tmp_path / "cifar10"), "--profile", "smoke", "--epochs", "1",
                 "--quiet", "--out", run, "--batch-size", "8"]) == 0
    capsys.readouterr()
    assert main(["rank", run, "--sample", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 children scored" in out and "read own images from cifar10/, not CIFAR-10" in out
    fingerprint = json.loads((tmp_path / "s" / "data.json").read_text())["fingerprint"]
    monkeypatch.setitem(oi.KNOWN_FOLDERS, fingerprint, "CIFAR-10 (JPEG q75 copy)")   # as if it were the copy
    (tmp_path / "cifar10").rename(tmp_path / "renamed")
    run2 = str(tmp_path / "s2")
    assert main(["search", "nbmacro", "--data", str(tmp_path / "renamed"), "--profile", "smoke", "--epochs", "1",
                 "--quiet", "--out", run2, "--batch-size", "8"]) == 0
    capsys.readouterr()
    assert main(["rank", run2, "--sample", "4"]) == 0
    assert "read CIFAR-10 (JPEG q75 copy): the truth was trained and tested on the original pixels" in \
        capsys.readouterr().out
