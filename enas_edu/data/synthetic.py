"""Small, seeded files in the exact on-disk formats of CIFAR-10 and PTB.

They exist so that the real loaders can be tested without the real data, and so that a dry run
can be made on purpose. Both carry a learnable signal (class templates; a Markov chain of words),
so a test can check that training lowers the loss. Nothing here is ever used in place of the real
data without being asked for.

CIFAR-10's batches are pickles written by Python 2's cPickle: their keys are Python 2 ``str``,
which Python 3 reads as ``b'data'`` with ``encoding="bytes"`` and as ``'data'`` with
``encoding="latin1"``. Python 3's pickler cannot write that (a ``bytes`` key stays bytes under
latin1), so :class:`_Py2StrPickler` writes every ``bytes`` object as a Python 2 string opcode.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

from .cifar10 import BATCH_FILES, LABEL_NAMES


class _Py2StrPickler(pickle._Pickler):
    """Writes ``bytes`` as Python 2 ``str`` (SHORT_BINSTRING / BINSTRING), like cPickle did."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def _dump_py2(obj, path: Path) -> None:
    with open(path, "wb") as f:
        _Py2StrPickler(f, protocol=2).dump(obj)


def cifar_like_images(num: int, seed: int, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """``num`` images [num, 3, 32, 32] uint8 and labels: a per-class template plus noise."""
    rng = np.random.default_rng(seed)
    templates = np.random.default_rng(12345).integers(0, 256, (num_classes, 3, 32, 32))
    labels = rng.integers(0, num_classes, num)
    noise = rng.normal(0, 60, (num, 3, 32, 32))
    images = np.clip(0.5 * templates[labels] + 64 + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


def write_cifar10(root: str | Path, num_train: int = 500, num_test: int = 100, seed: int = 0,
                  folder: str = "cifar-10-batches-py", num_classes: int = 10) -> Path:
    """Write ``data_batch_1..5``, ``test_batch`` and ``batches.meta`` under ``root/folder``.

    ``num_train`` is split evenly over the five training batches; ``num_classes`` classes (a
    user's own data set may have fewer than CIFAR-10's ten). Returns the folder.
    """
    if num_train % 5:
        raise ValueError(f"num_train must be a multiple of 5 (five training batches), got {num_train}")
    out = Path(root) / folder
    out.mkdir(parents=True, exist_ok=True)
    x, y = cifar_like_images(num_train + num_test, seed, num_classes)
    per = num_train // 5
    chunks = [(f"data_batch_{i + 1}", slice(i * per, (i + 1) * per), f"training batch {i + 1} of 5")
              for i in range(5)] + [("test_batch", slice(num_train, None), "testing batch 1 of 1")]
    for name, part, label in chunks:
        assert name in BATCH_FILES
        images, labels = x[part], y[part]
        _dump_py2({
            b"batch_label": label.encode(),
            b"labels": [int(v) for v in labels],
            b"data": images.reshape(len(images), 3072),     # channel-major rows, as the real files
            b"filenames": [f"synthetic_{name}_{i:05d}.png".encode() for i in range(len(images))],
        }, out / name)
    names = LABEL_NAMES if num_classes == 10 else tuple(f"class{k}" for k in range(num_classes))
    _dump_py2({b"label_names": [n.encode() for n in names],
               b"num_cases_per_batch": per, b"num_vis": 3072}, out / "batches.meta")
    return out


def write_ptb(root: str | Path, num_lines: tuple[int, int, int] = (400, 40, 40), vocab_size: int = 60,
              seed: int = 0, folder: str = "ptb") -> Path:
    """Write ``ptb.{train,valid,test}.txt`` in PTB's format under ``root/folder``.

    Every line starts with a space and ends with " \\n"; the vocabulary includes ``<unk>`` and
    ``N``. Words follow a sparse first-order Markov chain, so a language model can beat the
    unigram perplexity. All words of valid and test also occur in train (as in PTB).
    """
    rng = np.random.default_rng(seed)
    words = ["<unk>", "N"] + [f"w{i}" for i in range(vocab_size - 2)]
    # each word has 3 likely successors
    successors = rng.integers(0, vocab_size, (vocab_size, 3))
    out = Path(root) / folder
    out.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), num_lines):
        lines = []
        for _ in range(n):
            length = int(rng.integers(3, 15))
            w = int(rng.integers(0, vocab_size))
            toks = [w]
            for _ in range(length - 1):
                w = int(successors[w, rng.integers(0, 3)]) if rng.random() < 0.9 else int(rng.integers(0, vocab_size))
                toks.append(w)
            lines.append(" " + " ".join(words[t] for t in toks) + " \n")
        (out / f"ptb.{split}.txt").write_text("".join(lines), encoding="ascii")
    if num_lines[0]:  # make every word appear in train, as PTB's valid/test words all do
        with open(out / "ptb.train.txt", "a", encoding="ascii") as f:
            f.write(" " + " ".join(words) + " \n")
    return out
