"""Search against the truth: the library's real search on the ground-truth space, scored by the table.

Four methods at an equal budget, each over several seeds (issue #14; the baselines of
reference/enas.md section 5):

- ``enas``: the search as the book's macro profile runs it (controller trained with REINFORCE);
- ``no-controller``: the same, controller frozen at its initialisation (paper section 3);
- ``rsws``: random search with weight sharing (Li & Talwalkar 2019): uniform children;
- ``random``: no sharing: ``n`` children drawn uniformly, each trained alone once (the table's
  result for one seed), the best by validation accuracy kept.

**The budget unit is training images**: images that went through a backward pass. A
shared-weight search costs its shared steps' images (10 epochs x 1,350) plus one training of the
child it derives (the recipe's 4 epochs x 1,350), since the table's accuracy is that of the child
trained alone; random sampling costs ``n`` such trainings, and gets the largest ``n`` that does
not exceed that: ``n = floor(search images / child images) + 1``. Forward-only images (rewards,
derive) are not counted: they favour the shared-weight methods, which is said with the results.
CPU seconds are recorded beside, as measured.

**Scoring on seeds nobody chose on.** A run with study seed ``s`` is scored by the mean of the
table's seeds other than ``s mod S`` (:meth:`~enas_edu.bench.table.GroundTruth.held_out`): random
sampling chooses on that seed's validation accuracies, and a mean that included it would favour
its lucky draws. Every method of the same study seed is scored on the same held-out seeds, so
the comparisons are paired by seed (:func:`~enas_edu.bench.stats.paired`).

The three shared-weight methods train the same supernet for the same number of shared steps and
derive the same way (:func:`~enas_edu.derive.derive`: ``num_samples`` children scored on one
validation batch, the best ``top_k`` on the whole validation set). After chosen epochs every
child of the space is scored with the shared weights on the whole validation set and compared
with its true mean test accuracy (Kendall's tau, Spearman's rho, overlap of the top 10): how
well the shared weights rank children, and how that moves as they train. The scoring runs
with the random generators and batch-norm buffers saved and restored, so the search itself is
the one that would run without it.

Every number is the true test accuracy from the table (digits, 8 x 8), never CIFAR-10's.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..baselines import variant
from ..config import SearchConfig, config_to_dict, search_config
from ..derive import derive
from ..ranking import rank_correlation, shared_scores
from ..search import Search
from . import recipe as bench_recipe
from .stats import paired
from .table import GroundTruth, percentile_in, sha256

METHODS = ("enas", "no-controller", "rsws", "random")
SHARED = ("enas", "no-controller", "rsws")


@dataclass(frozen=True)
class StudyConfig:
    """One study: which methods, how many seeds, how long each search runs."""

    seeds: tuple[int, ...] = tuple(range(10))
    methods: tuple[str, ...] = METHODS
    epochs: int = 10                      # one whole SGDR cycle (T0 = 10); 43 batches of 32 per epoch
    snapshots: tuple[int, ...] = (1, 3, 10)          # after these epochs: every child scored
    num_samples: int = 1000               # derive: sampled, one batch each
    top_k: int = 10                       # derive: re-scored on the whole validation set
    score_archs: int | None = None        # children scored at each snapshot (None: the whole space)
    max_train_steps: int | None = None    # cap on shared steps per epoch (smoke)
    workers: int = 1

    def __post_init__(self):
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; the study knows {METHODS}")
        if "random" in self.methods and "enas" not in self.methods:
            raise ValueError("method 'random' gets the budget of an 'enas' search: run 'enas' with it")
        if not self.seeds or self.epochs < 1 or self.workers < 1:
            raise ValueError("need at least one seed, epochs >= 1 and workers >= 1")
        if any(not 1 <= e <= self.epochs for e in self.snapshots):
            raise ValueError(f"snapshots {self.snapshots} must lie in 1..epochs={self.epochs}")

    @classmethod
    def profile(cls, name: str, **overrides) -> "StudyConfig":
        """``book``: the recorded study (10 seeds); ``smoke``: seconds, for CI and nbval."""
        if name == "smoke":
            base = cls(seeds=(0, 1), epochs=2, snapshots=(1, 2), num_samples=40, top_k=3, score_archs=96,
                       max_train_steps=6)
        elif name == "book":
            base = cls()
        else:
            raise ValueError(f"a study profile is 'book' or 'smoke', got {name!r}")
        return dataclasses.replace(base, **overrides)


def study_search_config(cfg: StudyConfig, seed: int) -> SearchConfig:
    """The book profile's macro search (controller, REINFORCE, SGD), on the table's space and data."""
    base = search_config("macro", "book")
    data = dataclasses.replace(bench_recipe.DATA, batch_size=32)
    return dataclasses.replace(base, seed=seed, epochs=cfg.epochs, net=bench_recipe.NET, data=data,
                               eval_archs=0, checkpoint_every=1000, max_train_steps=cfg.max_train_steps,
                               device="cpu")



def run_method(method: str, seed: int, cfg: StudyConfig, truth: GroundTruth, work: Path,
               configure=None, name: str | None = None) -> dict:
    """One shared-weight search and its derivation, scored by the table.

    ``configure`` (a function of the search config) changes the search before it runs, to
    measure a switch against the truth (``benchmarks/fidelity.py``); ``name`` its run folder.
    """
    space = bench_recipe.SPACE
    search_cfg, uniform = variant(study_search_config(cfg, seed), method)
    if configure is not None:
        search_cfg = configure(search_cfg)
    run_dir = work / (name or f"{method}_seed{seed}")
    if run_dir.exists():
        shutil.rmtree(run_dir)            # each study starts its searches afresh
    arcs = truth.arcs
    if cfg.score_archs is not None:       # a fixed subset, the same for every run
        pick = torch.randperm(len(arcs), generator=torch.Generator().manual_seed(0))[:cfg.score_archs]
        arcs = [arcs[i] for i in sorted(pick.tolist())]
    archs = [space.from_arc_string(a) for a in arcs]
    true = truth.scores("test")[[truth.index(a) for a in arcs]]                 # [len(arcs)]
    seconds, correlation, policy = 0.0, [], []
    t0 = time.perf_counter()
    search = Search(search_cfg, run_dir, progress=False)
    seconds += time.perf_counter() - t0
    learns = search_cfg.train_controller and not uniform
    if learns:
        policy.append({"epoch": 0, **policy_snapshot(search, truth)})
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        search.run(stop_at=epoch)
        seconds += time.perf_counter() - t0
        if learns:
            policy.append({"epoch": epoch, **policy_snapshot(search, truth)})
        if epoch in cfg.snapshots:
            r = rank_correlation(shared_scores(search, archs), true, top_k=10)
            correlation.append({"epoch": epoch, "kendall_tau": r["kendall_tau"], "spearman_rho": r["spearman_rho"],
                                "top10_overlap": r[f"top{min(10, len(archs))}_overlap"], "n": r["n"]})
    advantages = [r["advantage"] for r in search.run_dir.read() if r.get("phase") == "controller"]
    t0 = time.perf_counter()
    chosen = derive(run_dir, cfg.num_samples, cfg.top_k, uniform=uniform, seed=seed, device="cpu")
    seconds += time.perf_counter() - t0
    return {"method": method, "seed": seed, **_scored(truth, chosen.arc, seed), "seconds": seconds,
            "train_images": search_images(search) + child_images(truth), "shared_valid": chosen.full_valid,
            "correlation": correlation, "policy": policy,
            "advantage_signs": {"positive": sum(a > 0 for a in advantages), "negative": sum(a < 0 for a in advantages)}}


@torch.no_grad()
def policy_snapshot(search: Search, truth: GroundTruth, samples: int = 200) -> dict:
    """Where the controller's policy stands, judged by the truth the search never reads: the mean
    true test accuracy (all seeds) of ``samples`` children it draws now, how many of them are
    distinct, and its mean policy entropy (nats). The draws use a generator of their own, so the
    search's random streams, and the search itself, are unchanged."""
    g = torch.Generator(device=search.device).manual_seed(2**31 - 1)
    batch = search.controller.sample_batch(samples, generator=g)
    arcs = [search.space.to_arc_string(a) for a in batch.archs]
    true = truth.scores("test")[[truth.index(a) for a in arcs]]
    return {"sample_true": float(true.mean()), "distinct": len(set(arcs)),
            "policy_entropy": float(batch.policy_entropy.mean())}


def search_images(search: Search) -> int:
    """Training images of a finished search's shared steps: per epoch the whole training split
    (its full batches only with ``drop_last``), or ``max_train_steps`` batches where that caps it."""
    task, cfg = search.task, search.config
    steps = task.num_train_steps()
    if cfg.max_train_steps is not None and cfg.max_train_steps < steps:
        per_epoch = cfg.max_train_steps * cfg.data.batch_size
    else:
        per_epoch = steps * cfg.data.batch_size if cfg.data.drop_last else len(task.data.train_x)
    return per_epoch * cfg.epochs


def child_images(truth: GroundTruth) -> int:
    """Training images of one child trained alone with the table's recipe."""
    return truth.meta["recipe"]["epochs"] * bench_recipe.TRAIN_IMAGES


def _scored(truth: GroundTruth, arc: str, seed: int) -> dict:
    """The child's true test accuracy, regret and percentile on the table's seeds other than
    ``seed`` mod S (every method of one study seed on the same held-out seeds)."""
    column = seed % truth.per_seed["test"].shape[1]
    held, row = truth.held_out(column), truth.index(arc)                        # [A]
    return {"arc": arc, "true_test": float(held[row]), "true_valid": float(truth.held_out(column, "valid")[row]),
            "regret": float(held.max() - held[row]), "percentile": percentile_in(held, row),
            "held_out_of": column}


def random_sampling(seed: int, n: int, truth: GroundTruth) -> dict:
    """``n`` distinct children drawn uniformly, each trained once (the table's seed ``seed`` mod S),
    the best by that training's validation accuracy kept (ties: the first drawn); scored on the
    other seeds."""
    which = seed % truth.per_seed["valid"].shape[1]
    order = torch.randperm(len(truth), generator=torch.Generator().manual_seed(seed))[:n]
    valid = truth.per_seed["valid"][order, which]
    best = int(order[int(torch.argmax(valid))])
    return {"method": "random", "seed": seed, **_scored(truth, truth.arcs[best], seed), "children_trained": n,
            "seconds": float(truth.seconds[order, which].sum()), "train_images": n * child_images(truth)}


def _job(args) -> dict:
    method, seed, cfg, table_path, table_sha, work = args
    torch.set_num_threads(1)
    truth = GroundTruth.load(table_path, table_sha)
    return run_method(method, seed, cfg, truth, Path(work))


def _spread(values: list[float]) -> dict:
    t = torch.tensor(values, dtype=torch.float64)
    return {"mean": float(t.mean()), "std": float(t.std()) if len(t) > 1 else 0.0,
            "min": float(t.min()), "max": float(t.max()), "n": len(t)}


def summarize(runs: list[dict], truth: GroundTruth) -> dict:
    """Per method: mean, std, min and max over seeds of the true test accuracy, regret and
    percentile of the derived child, and its cost; per method and snapshot, the rank
    correlations; for a trained controller, its policy per epoch (:func:`policy_snapshot`) and
    how many updates had a positive and a negative mean advantage; each other method against
    ENAS, paired by seed (``paired``)."""
    out = {"space_best_test": float(truth.scores("test").max()), "space": truth.distribution("test"),
           "reliability": truth.meta.get("reliability"), "methods": {}, "paired": {}}
    for method in dict.fromkeys(r["method"] for r in runs):
        rows = [r for r in runs if r["method"] == method]
        m = {k: _spread([r[k] for r in rows])
             for k in ("true_test", "regret", "percentile", "seconds", "train_images")}
        m["found_best"] = sum(r["regret"] == 0 for r in rows)
        if rows[0].get("correlation"):
            m["correlation"] = [
                {"epoch": c["epoch"], **{k: _spread([r["correlation"][i][k] for r in rows])
                                         for k in ("kendall_tau", "spearman_rho", "top10_overlap")}}
                for i, c in enumerate(rows[0]["correlation"])]
        if rows[0].get("policy"):
            m["policy"] = [{"epoch": e["epoch"], **{k: _spread([r["policy"][i][k] for r in rows])
                                                    for k in ("sample_true", "policy_entropy", "distinct")}}
                           for i, e in enumerate(rows[0]["policy"])]
            m["advantage_signs"] = {k: sum(r["advantage_signs"][k] for r in rows) for k in ("positive", "negative")}
        if method == "random":
            m["children_trained"] = rows[0]["children_trained"]
        out["methods"][method] = m
    by_seed = {(r["method"], r["seed"]): r["true_test"] for r in runs}
    seeds = sorted({r["seed"] for r in runs if r["method"] == "enas"})
    for method in out["methods"]:
        if method != "enas" and len(seeds) >= 2 and all((method, s) in by_seed for s in seeds):
            out["paired"][method] = paired([by_seed["enas", s] for s in seeds], [by_seed[method, s] for s in seeds])
    return out


def run_study(cfg: StudyConfig, out: str | Path, table_path: str | Path | None = None,
              table_sha: str | None = None, progress: bool = True) -> dict:
    """Run every (method, seed), write ``runs.jsonl``, ``summary.json`` and ``config.json`` to
    ``out`` (the searches' run directories go to ``out/searches``) and return the summary."""
    from .table import FILE, TABLE_SHA256
    table_path = Path(table_path) if table_path is not None else FILE
    table_sha = table_sha if table_sha is not None else (TABLE_SHA256 if table_path == FILE else None)
    truth = GroundTruth.load(table_path, table_sha)
    out = Path(out)
    work = out / "searches"
    work.mkdir(parents=True, exist_ok=True)
    jobs = [(m, s, cfg, str(table_path), table_sha, str(work)) for m in cfg.methods if m in SHARED for s in cfg.seeds]
    t0 = time.perf_counter()
    runs = []
    if cfg.workers > 1:
        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for r in pool.imap(_job, jobs):
                runs.append(r)
                _say(progress, r, len(runs), len(jobs))
    else:
        for job in jobs:
            runs.append(_job(job))
            _say(progress, runs[-1], len(runs), len(jobs))
    if "random" in cfg.methods:          # the most children whose training images fit ENAS's
        enas_images = max(r["train_images"] for r in runs if r["method"] == "enas")
        n = enas_images // child_images(truth)
        runs += [random_sampling(s, n, truth) for s in cfg.seeds]
    summary = summarize(runs, truth)
    summary.update(wall_seconds=time.perf_counter() - t0, workers=cfg.workers)
    _write(out / "runs.jsonl", "".join(json.dumps(r) + "\n" for r in runs))
    _write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write(out / "config.json", json.dumps({
        "study": dataclasses.asdict(cfg), "search": config_to_dict(study_search_config(cfg, 0)),
        "table": {"file": table_path.name, "sha256": sha256(table_path), "recipe": truth.meta["recipe"],
                  "data": truth.meta["data"]},
        "torch": torch.__version__, "cores": os.cpu_count()}, indent=2) + "\n")
    return summary


def load_study(folder: str | Path) -> tuple[dict, list[dict], dict]:
    """``(summary, runs, config)`` of a finished study folder (written by :func:`run_study`)."""
    folder = Path(folder)
    missing = [n for n in ("summary.json", "runs.jsonl", "config.json") if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} holds no finished study (missing {missing}); run `enas-edu study`")
    runs = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines() if line.strip()]
    return (json.loads((folder / "summary.json").read_text()), runs,
            json.loads((folder / "config.json").read_text()))


def _say(progress: bool, r: dict, done: int, total: int) -> None:
    if progress:
        print(f"  [{done}/{total}] {r['method']} seed {r['seed']}: {r['arc']} true test {r['true_test']:.4f} "
              f"(percentile {r['percentile']:.1f}), {r['seconds']:.0f} s", flush=True)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
