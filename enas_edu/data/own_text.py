"""The reader's own text for the RNN cell search: files in any language, or a Hugging Face corpus.

It becomes what Penn Treebank becomes (:class:`~enas_edu.data.ptb.TextData`): words split at
white space, ``<eos>`` after every line, ids from the training split's vocabulary, so the
windows, regularisers and rewards are PTB's. Unlike PTB, own text always has ``<unk>``: the
validation and test splits may hold words that training lacks, and ``max_vocab`` (the CPU
profiles' cap) maps the rarer words to it too.

Sources (``DataConfig.dataset``):

- ``"text"`` with ``data_dir`` a **folder** holding a training file and optionally a validation
  and a test file, named by their split: ``train.txt``, ``valid.txt`` / ``validation.txt`` /
  ``val.txt`` / ``dev.txt``, ``test.txt`` (also with a prefix, ``ptb.train.txt``,
  ``wiki.train.tokens``, or no suffix);
- ``"text"`` with ``data_dir`` **one file**;
- ``"hf_text"``: a Hugging Face ``datasets`` corpus (``data_name``, ``data_config``, the
  ``text_column``), when that library is installed.

A missing validation or test split is cut from the end of the training text, whole lines, in
order (``valid_fraction``, ``test_fraction`` of its lines): text is a stream, and PTB's splits
are contiguous stretches too.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .download import DatasetUnavailableError
from .ptb import SPLITS, TextData, line_words, read_lines, words_data

SPLIT_NAMES = {"train": ("train", "training"), "valid": ("valid", "validation", "val", "dev"),
               "test": ("test", "testing")}
TEXT_SUFFIXES = (".txt", ".tokens", ".raw", "")


def _split_of(filename: str) -> str | None:
    """Which split a file name says: ``train.txt``, ``ptb.valid.txt``, ``wiki.test.tokens``, ``dev``."""
    name = filename.lower()
    for suffix in TEXT_SUFFIXES:
        if suffix and name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    for split, aliases in SPLIT_NAMES.items():
        for alias in aliases:
            if name == alias or any(name.endswith(sep + alias) for sep in ".-_"):
                return split
    return None


def find_split_files(folder: Path) -> dict[str, Path]:
    """The folder's training file and, if present, its validation and test files."""
    found: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for p in sorted(folder.iterdir()):
        split = _split_of(p.name) if p.is_file() and not p.name.startswith(".") else None
        if split is not None and p.suffix.lower() in TEXT_SUFFIXES:
            found[split].append(p)
    for split, paths in found.items():
        if len(paths) > 1:
            raise ValueError(f"{folder}: {len(paths)} files look like the {split} split ({', '.join(p.name for p in paths)}); "
                             "keep one")
    if not found["train"]:
        names = ", ".join(p.name for p in sorted(folder.iterdir())[:8]) or "nothing"
        raise ValueError(f"{folder} has no training file (it holds {names}); name it train.txt (and the others "
                         "valid.txt, test.txt), or pass the one file itself to split it")
    return {s: paths[0] for s, paths in found.items() if paths}


def cut_lines(lines: dict[str, list[str]], valid_fraction: float, test_fraction: float,
              where: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The missing validation and test splits cut from the end of the training lines, in order."""
    lines, how = dict(lines), {}
    train, total = lines["train"], len(lines["train"])
    cuts = [(s, f) for s, f in (("test", test_fraction), ("valid", valid_fraction)) if s not in lines]
    for split, fraction in cuts:                      # test is the very end; validation just before it
        k = int(round(fraction * total))
        if k < 1 or k >= len(train):
            raise ValueError(f"{where}: {split}_fraction={fraction:g} of {len(train):,} lines gives {k} lines for the "
                             f"{split} split; give a {split} file, change the fraction, or add text")
        lines[split], train = train[-k:], train[:-k]
        how[split] = f"the last {fraction:g} of the training lines ({k:,} lines), in order"
    lines["train"] = train
    for split in SPLITS:
        how.setdefault(split, "given")
    return lines, how


def own_text(cfg) -> TextData:
    """The text ``cfg`` (a :class:`~enas_edu.config.DataConfig`, dataset "text") names."""
    path = Path(cfg.data_dir).expanduser()
    if path.is_dir():
        files = find_split_files(path)
    elif path.is_file():
        files = {"train": path}
    else:
        raise FileNotFoundError(f"{path} is neither a text file nor a folder of train/valid/test files")
    digest = hashlib.sha256()
    lines = {}
    for split, file in files.items():
        lines[split] = read_lines(file)
        digest.update(f"{split}:{file.name}:".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    if not any(line.split() for line in lines["train"]):
        raise ValueError(f"{files['train']} holds no words; a language model needs training text")
    lines, how = cut_lines(lines, cfg.valid_fraction, cfg.test_fraction, str(files["train"]))
    facts = {"format": "text folder" if path.is_dir() else "one text file",
             "files": {s: str(p.resolve()) for s, p in files.items()}, "splits": how,
             "lines": {s: len(lines[s]) for s in SPLITS}, "fingerprint": "sha256:" + digest.hexdigest()}
    name = f"own text from {path.name}{'/' if path.is_dir() else ''}"
    return _text_data(name, lines, cfg.max_vocab, str(path.resolve()), facts)


def hf_text(cfg) -> TextData:
    """A Hugging Face ``datasets`` corpus (cfg.data_name, cfg.data_config, cfg.text_column); its
    cache is ``data_dir`` when set, else the library's own."""
    try:
        import datasets
    except ImportError:
        raise DatasetUnavailableError(f"dataset='hf_text' ({cfg.data_name}) needs the Hugging Face datasets library: "
                                      "pip install datasets (or enas-edu[hf]; Colab has it)") from None
    label = cfg.data_name + (f" ({cfg.data_config})" if cfg.data_config else "")
    try:
        corpus = datasets.load_dataset(cfg.data_name, cfg.data_config, cache_dir=cfg.data_dir)
    except Exception as exc:   # the library raises many kinds (no network, unknown name, missing config)
        raise DatasetUnavailableError(f"Hugging Face datasets could not load {label}: {type(exc).__name__}: {exc}") from None
    names = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}
    lines, digest = {}, hashlib.sha256(label.encode())
    for split, candidates in names.items():
        hit = next((n for n in candidates if n in corpus), None)
        if hit is None:
            continue
        columns = list(corpus[hit].column_names)
        if cfg.text_column not in columns:
            raise ValueError(f"{label} [{hit}] has no column {cfg.text_column!r}; its columns are {columns} "
                             "(set text_column, --text-column)")
        lines[split] = [str(t) for t in corpus[hit][cfg.text_column]]
        for line in lines[split]:
            digest.update(line.encode("utf-8") + b"\n")
    if "train" not in lines:
        raise ValueError(f"{label} has no 'train' split (it has {list(corpus)})")
    lines, how = cut_lines(lines, cfg.valid_fraction, cfg.test_fraction, label)
    facts = {"format": "Hugging Face datasets", "corpus": label, "column": cfg.text_column, "splits": how,
             "lines": {s: len(lines[s]) for s in SPLITS}, "fingerprint": "sha256:" + digest.hexdigest()}
    return _text_data(f"Hugging Face {label}", lines, cfg.max_vocab, f"hf:{label}", facts)


def _text_data(name: str, lines: dict[str, list[str]], max_vocab: int | None, source: str, facts: dict) -> TextData:
    data = words_data(name, {s: line_words(lines[s]) for s in SPLITS}, max_vocab, source, unk=True, facts=facts)
    unk = data.vocab.index["<unk>"]
    data.facts.update(vocabulary=len(data.vocab), max_vocab=max_vocab,
                      unk_share={s: round(float((getattr(data, s) == unk).float().mean()), 4) for s in SPLITS})
    return data


def write_text_splits(folder: str | os.PathLike, lines: dict[str, list[str]]) -> Path:
    """Write ``{split: lines}`` as ``folder/{train,valid,test}.txt`` (UTF-8), the layout
    ``DataConfig(dataset="text", data_dir=folder)`` reads."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for split, split_lines in lines.items():
        if split not in SPLITS:
            raise ValueError(f"splits are {SPLITS}, got {split!r}")
        tmp = folder / f".{split}.txt.tmp"
        tmp.write_text("".join(line.rstrip("\n") + "\n" for line in split_lines), encoding="utf-8")
        os.replace(tmp, folder / f"{split}.txt")
    return folder
