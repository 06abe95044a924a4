"""NAS-Bench-Macro (Su et al. 2021) on real CIFAR-10, shipped with the package.

Every one of the 3,969 distinct networks of :class:`~enas_edu.spaces.nbmacro.NBMacroSpace` was
trained alone three times on CIFAR-10 (50 epochs, SGD, cosine; the recipe is in the README
beside the file) and scored on the 10,000 test images. The file ships as published
(github.com/xiusu/NAS-Bench-Macro at 61a2bfc, ``data/nas-bench-macro_cifar10.json``, Apache-2.0,
``nas_bench_macro/LICENSE``), only gzip-compressed; it is checked against the SHA-256 of the
published JSON before it is parsed.

>>> truth = load()
>>> truth.query("2 2 2 1 2 2 2 0")["test"]      # 0.9313: the best network, mean of 3 seeds
>>> truth.query("22212220")["test"]             # the benchmark's own key works too

Scores are fractions (the file's percentages / 100). **The table holds test accuracy only**: it
has no validation split, so a search that reads it is selecting on the test set. That is fine
for comparing search strategies against each other (each sees the same numbers), not for
reporting the accuracy of what a search found as if it were a held-out result.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from ..spaces.nbmacro import NBMacroSpace
from .table import GroundTruth

FOLDER = Path(__file__).parent / "nas_bench_macro"
FILE = FOLDER / "nas-bench-macro_cifar10.json.gz"
#: SHA-256 of the published (uncompressed) JSON, as in the upstream repository.
SHA256 = "686dee8363cc21cca8c1f321ad5749454f2d9b9ca5972682e137e539bc522297"
SOURCE = "NAS-Bench-Macro (Su et al. 2021), github.com/xiusu/NAS-Bench-Macro at 61a2bfc, Apache-2.0"


def load(path: str | Path | None = None) -> GroundTruth:
    """The benchmark as a :class:`GroundTruth` over its 3,969 distinct networks.

    Keys of the same network (identities moved within a stage) hold identical values in the
    file; the table keeps one row per network, under its canonical form, and answers for any
    of its keys. ``path``: another copy of the published JSON (``.json`` or ``.json.gz``).
    """
    path = Path(path) if path is not None else FILE
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{path}: the JSON has SHA-256 {digest}, expected {SHA256} (the published "
                         "NAS-Bench-Macro file); it is damaged or another file; reinstall enas-edu")
    table = json.loads(raw)
    space = NBMacroSpace()
    rows = {}
    for key, value in table.items():
        arch = space.canonical(space.from_key(key))
        arc = space.to_arc_string(arch)
        if arc in rows:
            if rows[arc] != value:
                raise ValueError(f"keys {key} and {arch.key} are one network but hold different results")
            continue
        rows[arc] = value
    arcs = [space.to_arc_string(a) for a in space.distinct()]
    meta = {"space": {"name": space.name, **space.config()}, "data": "CIFAR-10 test split (10,000 images)",
            "source": SOURCE, "seeds": [0, 1, 2], "keys": len(table), "metric_note":
            "test accuracy only: the benchmark has no validation split"}
    per_seed = {"test": [[round(acc / 100, 4) for acc in rows[a]["test_acc"]] for a in arcs]}   # x.xx % in float32
    return GroundTruth(meta, arcs, per_seed, [rows[a]["params"] for a in arcs], [rows[a]["flops"] for a in arcs],
                       space=space, canonical=space.canonical)
