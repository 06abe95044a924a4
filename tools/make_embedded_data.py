"""Regenerate the small real data shipped in enas_edu/data/embedded/ (run once, by hand).

1. UCI handwritten digits: ``digits.csv.gz`` and its description, copied unchanged from the
   scikit-learn 1.9.1 wheel (``sklearn/datasets/data/digits.csv.gz``, md5
   9b335364a7bfd63947c7480a5bd51f2d; ``sklearn/datasets/descr/digits.rst``).
2. The King James Bible's New Testament in PTB format: the text of Debian's ``bible-kjv-text``
   4.38 (public domain), dumped with Debian's ``bible`` program
   (``bible -l100000 -p LIBDIR "Gen1:1-Rev22:21"``), processed like PTB.

Usage:
    pip download --no-deps scikit-learn==1.9.1 && unzip scikit_learn-*.whl 'sklearn/datasets/*'
    apt-get download bible-kjv-text bible-kjv && dpkg -x bible-kjv-text_*.deb kjv && dpkg -x bible-kjv_*.deb kjv
    kjv/usr/bin/bible -l100000 -p kjv/usr/lib "Gen1:1-Rev22:21" > kjv.txt
    python tools/make_embedded_data.py kjv.txt sklearn/datasets
"""

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "enas_edu" / "data" / "embedded"
VOCAB = 5000          # PTB keeps 10,000 of ~1M words; this text has ~180k
FIRST_BOOK = "Matthew"


def verses(dump: Path):
    """(book, text) of every verse, in order."""
    book = None
    for line in dump.read_text(encoding="latin-1").splitlines():
        header = re.match(r"^([1-3]?\s?[A-Za-z ]+?) (\d+)$", line.strip())
        if header and not line.startswith(" "):
            book = header.group(1)
            continue
        verse = re.match(r"^\s+\d+ (.*)$", line)
        if verse and book:
            yield book, verse.group(1)


def ptb_tokens(text: str) -> list[str]:
    """Lower case, words of letters and apostrophes, numbers as N, other punctuation dropped."""
    out = []
    for tok in re.findall(r"[A-Za-z']+|\d+", text):
        tok = tok.lower().strip("'")
        if tok.isdigit():
            out.append("N")
        elif tok:
            out.append(tok)
    return out


def main(dump: str, sklearn_datasets: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    src = Path(sklearn_datasets)
    shutil.copyfile(src / "data" / "digits.csv.gz", OUT / "digits.csv.gz")
    shutil.copyfile(src / "descr" / "digits.rst", OUT / "digits.rst")

    lines, started = [], False
    for book, text in verses(Path(dump)):
        started = started or book == FIRST_BOOK
        if started:
            lines.append(ptb_tokens(text))
    n = len(lines)
    splits = {"train": lines[: int(0.9 * n)], "valid": lines[int(0.9 * n): int(0.95 * n)],
              "test": lines[int(0.95 * n):]}
    counts = Counter(w for line in splits["train"] for w in line)
    keep = {w for w, _ in counts.most_common(VOCAB - 2)}   # room for <unk> and <eos>
    folder = OUT / "kjv_nt"
    folder.mkdir(exist_ok=True)
    for name, part in splits.items():
        with open(folder / f"ptb.{name}.txt", "w", encoding="ascii") as f:
            for line in part:
                f.write(" " + " ".join(w if w in keep else "<unk>" for w in line) + " \n")
    print(f"{n} verses; train/valid/test lines {[len(p) for p in splits.values()]}")


if __name__ == "__main__":
    main(*sys.argv[1:])
