"""Small folders in the layouts a reader's own data comes in, written from the shipped data.

The book's "ENAS on your own data" page and the tests need a folder of images and a folder of
text to point ``--data`` at; these write them from the shipped UCI digits and King James text,
so what is learnt from them is real (and is about those data sets, not CIFAR-10 or PTB).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .embedded import FOLDER, KJV_MD5, _checked, digits_arrays
from .own_text import write_text_splits
from .ptb import SPLITS, read_lines

def write_digit_folder(folder: str | os.PathLike, per_class: int = 30, classes: int = 10, size: int | None = None,
                       colour: bool = False) -> Path:
    """The first ``per_class`` digits of each of the first ``classes`` classes as PNG files in
    ``folder/<digit>/NNNN.png`` (8 x 8 grey, or ``size`` x ``size``, or RGB if ``colour``)."""
    from PIL import Image
    folder = Path(folder)
    x, y = digits_arrays(native=True)                                      # uint8 [N, 1, 8, 8]
    for c in range(classes):
        (folder / str(c)).mkdir(parents=True, exist_ok=True)
        for i, index in enumerate(np.flatnonzero(y.numpy() == c)[:per_class]):
            img = Image.fromarray(x[index, 0].numpy())          # 2-D uint8: mode "L"
            if size is not None:
                img = img.resize((size, size), Image.Resampling.NEAREST)
            (img.convert("RGB") if colour else img).save(folder / str(c) / f"{i:04d}.png")
    return folder


def write_kjv_folder(folder: str | os.PathLike, lines: int | None = None) -> Path:
    """The shipped King James text (its first ``lines`` lines of each split, or all) as
    ``folder/{train,valid,test}.txt``."""
    files = {s: _checked(FOLDER / "kjv_nt" / f"ptb.{s}.txt", KJV_MD5[s]) for s in SPLITS}
    return write_text_splits(folder, {s: read_lines(p)[:lines] for s, p in files.items()})
