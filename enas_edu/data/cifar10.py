"""CIFAR-10, read from the official "python version" batches (no torchvision).

Facts from reference/data-formats.md section 1: the archive ``cifar-10-python.tar.gz`` unpacks to
``cifar-10-batches-py/`` with five training batches, a test batch and ``batches.meta``. Each batch
is a Python 2 pickle: ``data`` is uint8 [10000, 3072], one image per row, channel-major (1024 R,
1024 G, 1024 B), so ``reshape(-1, 3, 32, 32)`` is NCHW; ``labels`` is a list of ints.

Unpickling can run code, so every file's md5 is checked *before* it is unpickled, unless the
caller passes ``verify=False``: for files it wrote itself (``enas_edu.data.synthetic``) or a
user's own images in this format (``DataConfig(dataset="cifar_format")``), which have no published
checksum. Every batch, checked or not, is read by :class:`_BatchUnpickler`, which builds dicts,
lists, strings and numpy arrays and refuses any other global, so an unchecked file cannot run code.

Splits, as the official code makes them (melodyguan/enas ``data_utils.read_data``):
- search: the 50,000 training images in file order, the last 5,000 (the end of data_batch_5,
  not shuffled) as validation, 45,000 to train; mean and std from the 45,000;
- final training: all 50,000 to train (``num_valids=0``), the 10,000 test images to test.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from .download import (DEFAULT_ROOT, DatasetUnavailableError, RemoteFile, check_file, data_root,
                       download, safe_extract, unavailable)

FOLDER = "cifar-10-batches-py"
ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
     "http://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    md5="c58f30108f718f92721af3b95e74349a",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    size=170_498_071,
)
# md5 of each file (torchvision's train_list / test_list / meta)
BATCH_FILES = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MANUAL_FIX = ("mkdir -p DATA_ROOT && curl -L https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
              "| tar xz -C DATA_ROOT")


def _stamp_path(folder: Path) -> Path:
    """Where the (size, mtime) stamp of a verified folder is kept: in the library's own cache
    (``~/.cache/enas_edu/verified``), never in the data folder, which may be the user's."""
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return DEFAULT_ROOT.expanduser() / "verified" / f"cifar10-{key}.json"


@dataclass
class ImageData:
    """Images as uint8 [N, 3, H, W] and labels int64 [N], with the statistics to normalise them.

    ``mean`` and ``std`` (per channel, pixel values scaled to 0..1) come from the training split.
    ``valid_x`` is None for final training. ``name`` says what the data is, for every report.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor | None
    valid_y: torch.Tensor | None
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    num_classes: int = 10
    source: str = ""          # the folder (or file) the images were read from
    facts: dict = field(default_factory=dict)   # own data: files, splits, checksum (data.json)

    def to(self, device: torch.device | str) -> "ImageData":
        """The same data on ``device`` (still uint8: 150 MB for CIFAR-10 on a GPU)."""
        move = lambda t: None if t is None else t.to(device)
        return replace(self, **{k: move(getattr(self, k)) for k in
                                ("train_x", "train_y", "valid_x", "valid_y", "test_x", "test_y", "mean", "std")})


def find_cifar10(root: Path) -> Path | None:
    """The folder holding ``data_batch_1``: ``root/cifar-10-batches-py`` (torchvision's layout)
    or ``root`` itself (the official ENAS ``--data_path`` layout)."""
    for folder in (root / FOLDER, root):
        if (folder / "data_batch_1").is_file():
            return folder
    return None


def _verify_folder(folder: Path) -> list[str]:
    """Problems with the seven files; a stamp of (size, mtime) skips re-hashing unchanged files."""
    stamp_path = _stamp_path(folder)
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    problems, fresh = [], {}
    for name, md5 in BATCH_FILES.items():
        path = folder / name
        if path.is_file():
            st = path.stat()
            key = [st.st_size, st.st_mtime_ns, md5]
            if stamp.get(name) == key:
                fresh[name] = key
                continue
            problem = check_file(path, md5)
            if problem is None:
                fresh[name] = key
                continue
            problems.append(problem)
        else:
            problems.append(f"{path} is missing")
    if not problems:
        try:
            stamp_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = stamp_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(fresh))
            os.replace(tmp, stamp_path)
        except OSError:
            pass  # a read-only copy of the data is fine; it is just hashed again next time
    return problems


class _BatchUnpickler(pickle.Unpickler):
    """Builds what a CIFAR-10 batch holds (dicts, lists, strings, numpy arrays) and nothing else.

    The only globals a batch needs are numpy's array reconstructors (``numpy.core`` when written by
    an old numpy, ``numpy._core`` by numpy 2); any other global (``os.system``, ``builtins.eval``)
    is refused, so a file that was not checked against a published checksum cannot run code.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused to unpickle {module}.{name}: a CIFAR-10 batch holds only "
                                         "dicts, lists, strings and numpy arrays")
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images uint8 [N, 3, 32, 32], labels int64 [N]); either key encoding."""
    try:
        with open(path, "rb") as f:
            obj = _BatchUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DatasetUnavailableError(f"{path} is not a CIFAR-10 python batch: {exc}") from None
    if not isinstance(obj, dict):
        raise DatasetUnavailableError(f"{path} is not a CIFAR-10 python batch: it holds a {type(obj).__name__}, "
                                      "not a dict with 'data' and 'labels'")
    obj = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in obj or "labels" not in obj:
        raise DatasetUnavailableError(f"{path} is not a CIFAR-10 batch: keys {sorted(obj)}")
    data = np.asarray(obj["data"])
    labels = np.asarray(obj["labels"])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        raise DatasetUnavailableError(
            f"{path}: 'data' is {data.dtype} of shape {tuple(data.shape)}, but a CIFAR-10 batch holds uint8 rows "
            "of 3 x 32 x 32 = 3,072 values (the red, then green, then blue 32 x 32 plane of one image); "
            + (f"rows of {data.shape[1]:,} values are {_side(data.shape[1])} images: resize them to 32 x 32 "
               "pixels before writing the batches" if data.ndim == 2 else "write one image per row"))
    if labels.ndim != 1 or len(labels) != len(data) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetUnavailableError(f"{path}: {len(data):,} images but 'labels' is {labels.dtype} of shape "
                                      f"{tuple(labels.shape)}; it must hold one integer class per image")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _side(values: int) -> str:
    side = round((values / 3) ** 0.5)
    return f"{side} x {side} colour" if 3 * side * side == values else "not 32 x 32 colour"


def load_cifar10(data_dir: str | os.PathLike | None = None, download_missing: bool = False,
                 verify: bool = True, progress: bool = True) -> tuple[torch.Tensor, ...]:
    """(train_x, train_y, test_x, test_y): uint8 [50000, 3, 32, 32], int64, [10000, ...].

    ``verify=False`` skips the checksums; only for files you wrote (synthetic data).
    """
    root = data_root(data_dir)
    folder = find_cifar10(root)
    if folder is None and download_missing:
        try:
            archive = download(ARCHIVE, root, progress)
        except DatasetUnavailableError as exc:
            raise unavailable("CIFAR-10", [root / FOLDER, root], ["data_batch_1"], [ARCHIVE],
                              MANUAL_FIX.replace("DATA_ROOT", str(root)), str(exc)) from None
        safe_extract(archive, root)
        folder = find_cifar10(root)
    if folder is None:
        raise unavailable("CIFAR-10", [root / FOLDER, root], list(BATCH_FILES), [ARCHIVE],
                          MANUAL_FIX.replace("DATA_ROOT", str(root)))
    if verify:
        problems = _verify_folder(folder)
        if problems:
            raise unavailable("CIFAR-10", [folder], problems, [ARCHIVE],
                              MANUAL_FIX.replace("DATA_ROOT", str(root)),
                              "checksums did not match, so nothing was unpickled", own="cifar_format")
    train = [read_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = read_batch(folder / "test_batch")
    train_x = np.concatenate([x for x, _ in train])
    train_y = np.concatenate([y for _, y in train])
    return (torch.from_numpy(train_x), torch.from_numpy(train_y),
            torch.from_numpy(test_x), torch.from_numpy(test_y))


def channel_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of uint8 images [N, 3, H, W], in 0..1 units (over all pixels)."""
    v = x.permute(1, 0, 2, 3).reshape(x.shape[1], -1).double() / 255.0
    return v.mean(1).float(), v.std(1, unbiased=False).float()


def num_classes_of(train_y: torch.Tensor, test_y: torch.Tensor, where: str = "the data") -> int:
    """The number of classes the labels say: K when the training labels are exactly 0..K-1.

    A gap (a class with no training image) or a test label the training split lacks is an error,
    not a silent classifier output that nothing trains.
    """
    present = torch.unique(train_y).tolist()
    if not present or present[0] < 0 or present != list(range(len(present))):
        raise ValueError(f"{where}: the training labels must be the classes 0..K-1, each with at least one image; "
                         f"found {present[:20]}{' ...' if len(present) > 20 else ''}")
    if len(present) < 2:
        raise ValueError(f"{where}: all training images have label {present[0]}; a classifier needs two classes")
    extra = sorted(set(torch.unique(test_y).tolist()) - set(present))
    if extra:
        raise ValueError(f"{where}: test labels {extra[:20]} never occur in the training labels 0..{len(present) - 1}")
    return len(present)


def enas_split(name: str, train_x, train_y, test_x, test_y, num_valids: int = 5000, source: str = "") -> ImageData:
    """The official split: the last ``num_valids`` training images (file order) validate."""
    if not 0 <= num_valids < len(train_x):
        raise ValueError(f"num_valids must be in 0..{len(train_x) - 1} (the {len(train_x):,} training images "
                         f"of {name}), got {num_valids}")
    cut = len(train_x) - num_valids
    valid = (train_x[cut:], train_y[cut:]) if num_valids else (None, None)
    mean, std = channel_stats(train_x[:cut])
    classes = num_classes_of(train_y, test_y, name)
    return ImageData(name, train_x[:cut], train_y[:cut], *valid, test_x, test_y, mean, std, classes, source)


def cifar10_splits(mode: str = "search", data_dir=None, download_missing: bool = False, verify: bool = True,
            name: str = "CIFAR-10", num_valids: int | None = None) -> ImageData:
    """CIFAR-10 split as the official code splits it: ``mode`` "search" (45k/5k) or "final" (50k).

    ``num_valids`` overrides the 5,000 of the search split (for small synthetic copies).
    """
    if mode not in ("search", "final"):
        raise ValueError(f"mode must be 'search' or 'final', got {mode!r}")
    arrays = load_cifar10(data_dir, download_missing, verify)
    if num_valids is None:
        num_valids = 5000 if mode == "search" else 0
    folder = find_cifar10(data_root(data_dir))
    return enas_split(name, *arrays, num_valids=num_valids if mode == "search" else 0, source=str(folder))
