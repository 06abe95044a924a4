"""The ground-truth table: every child of :data:`~enas_edu.bench.recipe.SPACE` trained alone.

The table ships inside the package (``macro3_digits8.json.gz``, about 100 kB) and is checked
against :data:`TABLE_SHA256` before it is parsed. ``tools/make_ground_truth.py`` regenerates it
from scratch; the file's ``cost`` field records what that took and on which machine.

>>> truth = GroundTruth.load()
>>> truth.query("0 1 0 1 0 1")["test"]         # mean test accuracy over the seeds
>>> truth.best(3)                              # the three best children by mean test accuracy
>>> truth.percentile("0 1 0 1 0 1")            # share of the space (%) it beats

Scores are accuracies (higher is better) on the shipped digits, never CIFAR-10 numbers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import torch

from .recipe import SPACE

FILE = Path(__file__).parent / "macro3_digits8.json.gz"
TABLE_SHA256 = "40e5f1960940e5cdb23397ea60e2a0461e4ceb781ef32f47f530241f72f9b49e"   # tools/make_ground_truth.py
FORMAT = "enas_edu ground truth 1"
METRICS = ("valid", "test")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_table(path: str | Path, meta: dict, rows: list[dict]) -> str:
    """Write a table atomically (gzip with no timestamp, so the bytes depend only on the
    content) and return its SHA-256. ``rows``: one dict per architecture with ``arc``,
    ``params``, ``flops`` and per-seed lists ``valid``, ``test``, ``seconds``."""
    seeds = len(meta["seeds"])
    for r in rows:
        if any(len(r[k]) != seeds for k in ("valid", "test", "seconds")):
            raise ValueError(f"architecture {r['arc']!r} lacks a result for some of the seeds {meta['seeds']}")
    body = {"format": FORMAT, **meta, "columns": ["arc", "params", "flops", "valid", "test", "seconds"],
            "rows": [[r["arc"], r["params"], r["flops"], r["valid"], r["test"], r["seconds"]] for r in rows]}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(json.dumps(body, separators=(",", ":")).encode())
    os.replace(tmp, path)
    return sha256(path)


class GroundTruth:
    """The table in memory: per architecture (enumeration order) its per-seed accuracies."""

    def __init__(self, meta: dict, rows: list[list]):
        self.meta = meta
        self.arcs = [r[0] for r in rows]
        self._index = {arc: i for i, arc in enumerate(self.arcs)}
        if len(self._index) != len(self.arcs):
            raise ValueError("the table lists an architecture twice")
        self.params = torch.tensor([r[1] for r in rows], dtype=torch.long)          # [A]
        self.flops = torch.tensor([r[2] for r in rows], dtype=torch.long)           # [A]
        self.per_seed = {"valid": torch.tensor([r[3] for r in rows], dtype=torch.float64),   # [A, S]
                         "test": torch.tensor([r[4] for r in rows], dtype=torch.float64)}
        self.seconds = torch.tensor([r[5] for r in rows], dtype=torch.float64)      # [A, S]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path | None = None, sha256_hex: str | None = None) -> "GroundTruth":
        """The shipped table (checked against :data:`TABLE_SHA256`), or the one at ``path``,
        checked against ``sha256_hex`` (the digest :func:`write_table` returned)."""
        if path is None:
            path, sha256_hex = FILE, TABLE_SHA256
            if sha256_hex is None or not FILE.is_file():
                raise FileNotFoundError(f"no ground-truth table is shipped at {FILE}; generate it with "
                                        "python tools/make_ground_truth.py")
        path = Path(path)
        if sha256_hex is None:
            raise ValueError(f"give the SHA-256 of {path} (write_table returns it), so a damaged or "
                             "altered table is refused before it is read")
        digest = sha256(path)
        if digest != sha256_hex:
            raise ValueError(f"{path} has SHA-256 {digest}, expected {sha256_hex}: the table is damaged or "
                             "was changed; reinstall enas-edu or regenerate it (tools/make_ground_truth.py)")
        with gzip.open(path, "rt") as f:
            body = json.load(f)
        if body.get("format") != FORMAT:
            raise ValueError(f"{path} is not a {FORMAT!r} table (format {body.get('format')!r})")
        rows = body.pop("rows")
        body.pop("columns")
        return cls(body, rows)

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.arcs)

    def _arc(self, arch) -> str:
        if isinstance(arch, str):
            return " ".join(arch.split())
        return SPACE.to_arc_string(arch)

    def index(self, arch) -> int:
        """Row of an architecture (a ``MacroArch`` or its ``fixed_arc`` string)."""
        arc = self._arc(arch)
        if arc not in self._index:
            raise KeyError(f"architecture {arc!r} is not in the table (it lists {len(self)} of "
                           f"space {self.meta['space']})")
        return self._index[arc]

    def scores(self, metric: str = "test") -> torch.Tensor:
        """Mean over seeds of ``metric`` for every architecture: [A]."""
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        return self.per_seed[metric].mean(1)

    def query(self, arch) -> dict:
        """Everything recorded for one architecture, with means over the seeds."""
        i = self.index(arch)
        out = {"arc": self.arcs[i], "params": int(self.params[i]), "flops": int(self.flops[i])}
        for m in METRICS:
            out[m] = float(self.per_seed[m][i].mean())
            out[f"{m}_per_seed"] = self.per_seed[m][i].tolist()
        out["seconds"] = float(self.seconds[i].sum())
        return out

    def best(self, k: int = 1, metric: str = "test") -> list[dict]:
        """The ``k`` best architectures by mean ``metric`` (ties in table order)."""
        s = self.scores(metric)
        order = sorted(range(len(self)), key=lambda i: (-float(s[i]), i))
        return [self.query(self.arcs[i]) for i in order[:k]]

    def percentile(self, arch, metric: str = "test") -> float:
        """Share (%) of the space with a lower mean ``metric``, ties counted half."""
        s = self.scores(metric)
        v = s[self.index(arch)]
        return float(100.0 * ((s < v).sum() + 0.5 * ((s == v).sum() - 1)) / (len(self) - 1))

    def regret(self, arch, metric: str = "test") -> float:
        """How far below the best mean ``metric`` of the space the architecture is."""
        s = self.scores(metric)
        return float(s.max() - s[self.index(arch)])

    def distribution(self, metric: str = "test") -> dict:
        """Quantiles of mean ``metric`` over the space, and the seed-to-seed spread."""
        s = self.scores(metric)
        q = torch.quantile(s, torch.tensor([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], dtype=torch.float64))
        per_seed = self.per_seed[metric]
        spread = (per_seed - per_seed.mean(1, keepdim=True)).pow(2).sum(1).div(max(per_seed.shape[1] - 1, 1)).sqrt()
        return {"min": float(q[0]), "p10": float(q[1]), "p25": float(q[2]), "median": float(q[3]),
                "p75": float(q[4]), "p90": float(q[5]), "max": float(q[6]), "mean": float(s.mean()),
                "seed_std_mean": float(spread.mean()), "n": len(self)}
