"""Small real data shipped inside the package (see ``embedded/README.md`` for sources and licences).

- :func:`digits`: the UCI handwritten digits as a CIFAR-shaped task (32 x 32 x 3, 10 classes), or
  at their native 8 x 8 in one channel (``native=True``: the ground-truth table's data, where a
  child trains alone in under two seconds).
- :func:`kjv_text`: the King James New Testament in PTB format (180k words, 5,000-word vocabulary).

They let the demo, the book's CPU profile and the tests learn from real data. Numbers measured on
them are about these data sets and are labelled so; they are never CIFAR-10 or PTB numbers.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from .cifar10 import ImageData, enas_split
from .download import DatasetUnavailableError, check_file
from .ptb import SPLITS, TextData, text_data

FOLDER = Path(__file__).parent / "embedded"
DIGITS_MD5 = "9b335364a7bfd63947c7480a5bd51f2d"
KJV_MD5 = {"train": "e2869714df8ec961392c3290af3f1b2e", "valid": "7537255dc9f0d6e2243d61dc81b36aa5",
           "test": "6715cf81c7ebca10c38c82b1cc138177"}
DIGITS_NAME = "UCI handwritten digits (shipped; 8x8 upscaled to 32x32)"
DIGITS8_NAME = "UCI handwritten digits (shipped; native 8x8, one channel)"
KJV_NAME = "King James New Testament (shipped; PTB format)"
NUM_TEST_DIGITS = 297   # 1,797 = 1,500 train + 297 test


def _checked(path: Path, md5: str) -> Path:
    problem = check_file(path, md5)
    if problem is not None:
        raise DatasetUnavailableError(f"the shipped data is damaged: {problem}; reinstall enas-edu")
    return path


def digits_arrays(native: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as uint8 [N, 3, 32, 32] (0..16 scaled to 0..255, x4 nearest) and labels;
    ``native=True``: uint8 [N, 1, 8, 8], the pixels as recorded."""
    with gzip.open(_checked(FOLDER / "digits.csv.gz", DIGITS_MD5), "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    pixels = table[:, :64].reshape(-1, 1, 8, 8) * (255.0 / 16.0)                  # [N, 1, 8, 8]
    images = pixels if native else np.repeat(np.repeat(pixels, 4, axis=2), 4, axis=3).repeat(3, axis=1)
    return torch.from_numpy(images.round().astype(np.uint8)), torch.from_numpy(table[:, 64].astype(np.int64))


def digits(mode: str = "search", num_valids: int = 150, native: bool = False) -> ImageData:
    """The digits split like CIFAR-10: the last 297 test; for the search, the last 150 of the
    remaining 1,500 validate (statistics from the rest); for final training, all 1,500 train.
    ``native=True`` keeps them 8 x 8 in one channel."""
    if mode not in ("search", "final"):
        raise ValueError(f"mode must be 'search' or 'final', got {mode!r}")
    x, y = digits_arrays(native)
    cut = len(x) - NUM_TEST_DIGITS
    return enas_split(DIGITS8_NAME if native else DIGITS_NAME, x[:cut], y[:cut], x[cut:], y[cut:],
                      num_valids=num_valids if mode == "search" else 0, source=str(FOLDER / "digits.csv.gz"))


def kjv_text(max_vocab: int | None = None) -> TextData:
    """The shipped text as token ids; ``max_vocab`` shrinks the 5,000-word vocabulary further."""
    files = {s: _checked(FOLDER / "kjv_nt" / f"ptb.{s}.txt", KJV_MD5[s]) for s in SPLITS}
    return text_data(KJV_NAME, files, max_vocab)
