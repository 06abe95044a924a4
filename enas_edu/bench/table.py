"""The ground-truth table: every child of :data:`~enas_edu.bench.recipe.SPACE` trained alone.

The table ships inside the package (``macro3_digits8.json.gz``, about 250 kB: 12 seeds) and is checked
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
TABLE_SHA256 = "22e435451db2650359960ddc6b9b71280580aa5ce5eb3ab79f5ee2344e6e7ad3"   # tools/make_ground_truth.py
FORMATS = ("enas_edu ground truth 1", "enas_edu ground truth 2")
#: Per child and seed: correct images of each split (integers), mean cross-entropies, seconds.
COLUMNS = ("valid_correct", "test_correct", "valid_loss", "test_loss", "seconds")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_table(path: str | Path, meta: dict, rows: list[dict]) -> str:
    """Write a table atomically (gzip with no timestamp, so the bytes depend only on the
    content) and return its SHA-256. ``meta`` names the ``seeds`` and the ``images`` per split;
    ``rows``: one dict per architecture with ``arc``, ``params``, ``flops`` and per-seed lists of
    :data:`COLUMNS` (correct images as integers, so equal counts are equal scores)."""
    seeds = len(meta["seeds"])
    for r in rows:
        if any(len(r[k]) != seeds for k in COLUMNS):
            raise ValueError(f"architecture {r['arc']!r} lacks a result for some of the seeds {meta['seeds']}")
        if any(not isinstance(c, int) for k in ("valid_correct", "test_correct") for c in r[k]):
            raise ValueError(f"architecture {r['arc']!r}: correct images must be integers")
    body = {"format": FORMATS[-1], **meta, "columns": ["arc", "params", "flops", *COLUMNS],
            "rows": [[r["arc"], r["params"], r["flops"], *[r[k] for k in COLUMNS]] for r in rows]}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(json.dumps(body, separators=(",", ":")).encode())
    os.replace(tmp, path)
    return sha256(path)


def percentile_in(scores: torch.Tensor, row: int) -> float:
    """Share (%) of the other entries of ``scores`` [A] below entry ``row``, ties counted half."""
    v = scores[row]
    return float(100.0 * ((scores < v).sum() + 0.5 * ((scores == v).sum() - 1)) / (len(scores) - 1))


class GroundTruth:
    """A table of architectures trained alone: per architecture its per-seed scores.

    ``per_seed[metric]`` is a [A, S] tensor (accuracies as fractions, higher is better; losses);
    ``arcs`` lists the distinct architectures as arc strings. ``canonical`` (optional) maps any
    architecture of ``space`` to the one the table lists for the same network.
    Loaded by :meth:`load` (the digits table) or :func:`enas_edu.bench.nas_bench_macro.load`.
    """

    def __init__(self, meta: dict, arcs: list[str], per_seed: dict[str, torch.Tensor], params, flops,
                 seconds=None, space=None, canonical=None):
        self.meta, self.arcs, self.space, self._canonical = meta, list(arcs), space or SPACE, canonical
        self._index = {arc: i for i, arc in enumerate(self.arcs)}
        if len(self._index) != len(self.arcs):
            raise ValueError("the table lists an architecture twice")
        self.per_seed = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in per_seed.items()}   # [A, S]
        self.metrics = tuple(k for k in self.per_seed if not k.endswith("_loss"))
        self.params = torch.as_tensor(params, dtype=torch.long)              # [A]
        self.flops = torch.as_tensor(flops, dtype=torch.long)                # [A]
        self.seconds = None if seconds is None else torch.as_tensor(seconds, dtype=torch.float64)   # [A, S]

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
        if body.get("format") not in FORMATS:
            raise ValueError(f"{path} is not an enas_edu ground-truth table (format {body.get('format')!r})")
        columns, rows = body.pop("columns"), body.pop("rows")
        column = {name: [r[j] for r in rows] for j, name in enumerate(columns)}
        if body["format"] == FORMATS[0]:        # accuracies as floats (the first table, seeds 0 and 1)
            per_seed = {"valid": column["valid"], "test": column["test"]}
        else:
            images = body["images"]
            per_seed = {"valid": torch.tensor(column["valid_correct"], dtype=torch.float64) / images["valid"],
                        "test": torch.tensor(column["test_correct"], dtype=torch.float64) / images["test"],
                        "valid_loss": column["valid_loss"], "test_loss": column["test_loss"]}
        return cls(body, column["arc"], per_seed, column["params"], column["flops"], column["seconds"])

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.arcs)

    def _arc(self, arch) -> str:
        if isinstance(arch, str):
            arch = " ".join(arch.split())
            if self._canonical is None:
                return arch
            arch = self.space.from_arc_string(arch)
        if self._canonical is not None:
            arch = self._canonical(arch)
        return self.space.to_arc_string(arch)

    def index(self, arch) -> int:
        """Row of an architecture (an architecture object or its arc string)."""
        arc = self._arc(arch)
        if arc not in self._index:
            raise KeyError(f"architecture {arc!r} is not in the table (it lists {len(self)} of "
                           f"space {self.meta['space']})")
        return self._index[arc]

    def _metric(self, metric: str) -> str:
        if metric not in self.per_seed:
            raise ValueError(f"metric must be one of {tuple(self.per_seed)}, got {metric!r}")
        return metric

    def scores(self, metric: str = "test") -> torch.Tensor:
        """Mean over seeds of ``metric`` for every architecture: [A]."""
        return self.per_seed[self._metric(metric)].mean(1)

    def query(self, arch) -> dict:
        """Everything recorded for one architecture, with means over the seeds."""
        i = self.index(arch)
        out = {"arc": self.arcs[i], "params": int(self.params[i]), "flops": int(self.flops[i])}
        for m, values in self.per_seed.items():
            out[m] = float(values[i].mean())
            out[f"{m}_per_seed"] = values[i].tolist()
        if self.seconds is not None:
            out["seconds"] = float(self.seconds[i].sum())
        return out

    def best(self, k: int = 1, metric: str = "test") -> list[dict]:
        """The ``k`` best architectures by mean ``metric`` (ties in table order)."""
        s = self.scores(metric)
        order = sorted(range(len(self)), key=lambda i: (-float(s[i]), i))
        return [self.query(self.arcs[i]) for i in order[:k]]

    def held_out(self, seed: int, metric: str = "test") -> torch.Tensor:
        """Mean ``metric`` over every seed column but ``seed``: [A]. A method that chose on one
        seed's results is scored with the others: a mean that includes the seed it chose on is
        biased up (it picked that seed's lucky draws)."""
        values = self.per_seed[self._metric(metric)]                            # [A, S]
        if not 0 <= seed < values.shape[1] or values.shape[1] < 2:
            raise ValueError(f"held-out scoring needs a seed column in 0..{values.shape[1] - 1} of a table "
                             f"with at least 2 seeds, got {seed}")
        keep = [s for s in range(values.shape[1]) if s != seed]
        return values[:, keep].mean(1)

    def percentile(self, arch, metric: str = "test") -> float:
        """Share (%) of the space with a lower mean ``metric``, ties counted half."""
        return percentile_in(self.scores(metric), self.index(arch))

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
