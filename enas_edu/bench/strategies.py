"""Search strategies on a table of real results, each given the same number of trainings.

On a tabular benchmark (NAS-Bench-Macro: :mod:`enas_edu.bench.nas_bench_macro`) "training" a
network is a lookup, so a strategy runs in seconds and a comparison can use hundreds of seeds.
The rules here, the same for every strategy:

- **What a search sees.** A run observes one seed of the table (seed ``run % S``): each network
  it asks for costs one *training* the first time and returns that seed's accuracy; asking again
  returns the same number for free (a real search would not train it twice).
- **What it is scored on.** After every new training its incumbent is the best network it has
  observed. The incumbent is scored on the mean of the *other* seeds, which the run never saw,
  so selecting on noise earns nothing (on the same seed, picking the best of n observations is
  biased up). Regret is the best held-out mean of the space minus the incumbent's.
- **The budget unit** is trainings (distinct networks observed): 10 to 1,000 of 3,969 here.

Strategies:

- :func:`random_search`: networks drawn uniformly over the space's arc strings.
- :func:`regularized_evolution`: Real et al. (2019), aging evolution: a population of
  ``population`` networks, a tournament of ``sample``, the winner's one-layer mutation joins and
  the oldest leaves.
- :func:`local_search`: from a random network, train all one-layer neighbours, move to the best
  if it is better, else restart from a random network (White et al. 2021 found this strong on
  NAS benchmarks).
- :func:`reinforce_search`: the ENAS controller (:class:`~enas_edu.controller.Controller`)
  trained by REINFORCE (:class:`~enas_edu.reinforce.Reinforce`) on the observed accuracies, with
  ``num_aggregate`` samples per update. :data:`REINFORCE_SETTINGS` holds the official macro
  settings and a faster one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Callable

import torch

from ..controller import Controller
from ..reinforce import Reinforce, ReinforceConfig
from .table import GroundTruth

#: The ENAS controller's optimisation on table rewards. ``official``: cifar10_macro_search.sh's
#: controller (TF1's Adam: lr 1e-3, beta1 0, eps 1e-3; baseline decay 0.99 from 0, entropy weight
#: 1e-4, 20 samples per update); ``fast``: 200 times the learning rate, the baseline started at
#: the first rewards, 10 samples per update, chosen to learn within a few hundred trainings (with
#: TF's epsilon, lr 0.03 barely moved the policy in 400 trainings, 0.1 and 0.2 did).
REINFORCE_SETTINGS = {
    "official": ReinforceConfig.official("macro"),
    "fast": dataclasses.replace(ReinforceConfig.official("macro"), lr=0.2, num_aggregate=10,
                                baseline_start="first", skip_weight=0.0),
}


class BudgetSpent(Exception):
    """Raised by :meth:`Oracle.observe` once the run has used its trainings."""


class Oracle:
    """The table as one search run sees it: one seed observed, trainings counted.

    ``observe(arch)`` returns the observed accuracy; ``trace`` holds, after each new training,
    the incumbent's row in the table.
    """

    def __init__(self, truth: GroundTruth, run: int, budget: int):
        self.truth, self.budget = truth, budget
        self.seed = run % truth.per_seed["test"].shape[1]
        self._observed = truth.per_seed["test"][:, self.seed]                   # [A]
        self.held_out = truth.held_out(self.seed)                               # [A]
        self.cache: dict[int, float] = {}
        self.best_row, self.best_value = None, -math.inf
        self.trace: list[int] = []

    @property
    def spent(self) -> int:
        return len(self.cache)

    def observe(self, arch) -> float:
        row = self.truth.index(arch)
        if row not in self.cache:
            if self.spent >= self.budget:
                raise BudgetSpent
            value = float(self._observed[row])
            self.cache[row] = value
            if value > self.best_value:
                self.best_row, self.best_value = row, value
            self.trace.append(self.best_row)
        return self.cache[row]


def _mutate(space, arch, generator: torch.Generator):
    """One layer's choice changed to another value, uniformly."""
    ops = list(space.encode(arch))
    k = int(torch.randint(len(ops), (1,), generator=generator))
    choices = [v for v in space.positions[k] if v != ops[k]]
    ops[k] = choices[int(torch.randint(len(choices), (1,), generator=generator))]
    return space.decode(ops)


def _neighbours(space, arch) -> list:
    ops = space.encode(arch)
    return [space.decode(ops[:k] + (v,) + ops[k + 1:]) for k in range(len(ops)) for v in space.positions[k]
            if v != ops[k]]


def _until_spent(step: Callable[[], None], max_steps: int) -> None:
    for _ in range(max_steps):
        try:
            step()
        except BudgetSpent:
            return


def random_search(oracle: Oracle, generator: torch.Generator) -> None:
    space = oracle.truth.space
    _until_spent(lambda: oracle.observe(space.sample(generator)), 50 * oracle.budget)


def regularized_evolution(oracle: Oracle, generator: torch.Generator, population: int = 20,
                          sample: int = 5) -> None:
    space = oracle.truth.space
    alive: list = []

    def step():
        if len(alive) < population:                      # the initial population: random networks
            arch = space.sample(generator)
        else:
            picks = torch.randperm(len(alive), generator=generator)[:sample].tolist()
            parent = max((alive[i] for i in picks), key=oracle.observe)
            arch = _mutate(space, parent, generator)
        oracle.observe(arch)
        alive.append(arch)
        if len(alive) > population:
            alive.pop(0)                                 # aging: the oldest leaves
    _until_spent(step, 50 * oracle.budget)


def local_search(oracle: Oracle, generator: torch.Generator) -> None:
    space = oracle.truth.space
    state = {"here": None}

    def step():
        if state["here"] is None:
            state["here"] = space.sample(generator)
        here = state["here"]
        value = oracle.observe(here)
        around = _neighbours(space, here)
        order = torch.randperm(len(around), generator=generator).tolist()
        best = max((around[i] for i in order), key=oracle.observe)     # trains every neighbour
        state["here"] = best if oracle.observe(best) > value else None  # a local optimum: restart
    _until_spent(step, 50 * oracle.budget)


@contextlib.contextmanager
def one_thread():
    """Run the controller on one intra-op thread: a 64-unit LSTM is bound by per-op latency, and
    a second thread only adds waiting (benchmarks/controller.py); with another process busy on
    the other core, 2 threads made a 400-training run 180x slower (1.6 s against 281 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def reinforce_search(oracle: Oracle, generator: torch.Generator, config: ReinforceConfig,
                     record: list | None = None) -> None:
    """The ENAS controller on the observed accuracies. ``record`` (a list) receives, per update,
    the mean held-out accuracy of the samples and the policy's entropy."""
    with one_thread():
        _reinforce(oracle, generator, config, record)


def _reinforce(oracle: Oracle, generator: torch.Generator, config: ReinforceConfig, record: list | None) -> None:
    space = oracle.truth.space
    with torch.random.fork_rng():                        # the initial weights, from the run's seed
        torch.manual_seed(int(torch.randint(2 ** 31, (1,), generator=generator)))
        controller = Controller(space)
    trainer = Reinforce(controller, config)

    def step():
        batch = controller.sample_batch(config.num_aggregate, generator=generator)
        rows = [oracle.truth.index(a) for a in batch.archs]
        try:
            rewards = [oracle.observe(a) for a in batch.archs]
        finally:
            if record is not None:
                record.append({"spent": oracle.spent, "held_out": float(oracle.held_out[rows].mean()),
                               "policy_entropy": float(batch.policy_entropy.detach().mean())})
        trainer.update(batch, torch.tensor(rewards))
    # a policy that has concentrated samples networks it has seen (free): stop at 10 samples per training
    _until_spent(step, 10 * oracle.budget // config.num_aggregate)


STRATEGIES = {
    "random": random_search,
    "evolution": regularized_evolution,
    "local": local_search,
    "reinforce_official": lambda o, g: reinforce_search(o, g, REINFORCE_SETTINGS["official"]),
    "reinforce_fast": lambda o, g: reinforce_search(o, g, REINFORCE_SETTINGS["fast"]),
}


def run_strategy(name: str, truth: GroundTruth, run: int, budgets: list[int]) -> dict:
    """One run of strategy ``name`` (seed ``run``) up to ``max(budgets)`` trainings; the held-out
    accuracy and regret of its incumbent at each budget."""
    oracle = Oracle(truth, run, max(budgets))
    generator = torch.Generator().manual_seed(1_000_003 * run + 17)
    STRATEGIES[name](oracle, generator)
    best = float(oracle.held_out.max())
    out = {"strategy": name, "run": run, "observed_seed": oracle.seed, "spent": oracle.spent, "budgets": {}}
    for b in budgets:   # a run that stopped short of b (its policy collapsed) keeps its last incumbent
        row = oracle.trace[min(b, len(oracle.trace)) - 1]
        out["budgets"][b] = {"held_out": float(oracle.held_out[row]), "regret": best - float(oracle.held_out[row]),
                             "arc": truth.arcs[row]}
    return out


def flops_pick(truth: GroundTruth) -> dict:
    """The bar: no training at all, the network with the most multiply-adds (held-out scoring
    as for a run, averaged over the observed seeds)."""
    row = int(torch.argmax(truth.flops))
    seeds = truth.per_seed["test"].shape[1]
    held = []
    for s in range(seeds):
        mean = truth.held_out(s)
        held.append((float(mean[row]), float(mean.max()) - float(mean[row])))
    return {"arc": truth.arcs[row], "held_out": sum(h for h, _ in held) / seeds,
            "regret": sum(r for _, r in held) / seeds}


def compare(truth: GroundTruth, strategies: list[str], runs: int, budgets: list[int],
            baseline: str = "random", progress: bool = False) -> dict:
    """Every strategy over runs ``0 .. runs-1`` (paired: run r observes the same seed in each).

    Returns per strategy and budget the held-out accuracy and regret of the incumbent (mean,
    bootstrap interval) and the paired comparison with ``baseline``; the FLOPs bar; the runs.
    """
    from .stats import paired, summary
    results = {}
    for name in strategies:
        if progress:
            print(f"  {name}: {runs} runs", flush=True)
        results[name] = [run_strategy(name, truth, r, budgets) for r in range(runs)]
    out = {"budgets": budgets, "runs": runs, "unit": "trainings (distinct networks observed)",
           "flops_bar": flops_pick(truth), "strategies": {}}
    for name, rows in results.items():
        per_budget = {}
        for b in budgets:
            held = [r["budgets"][b]["held_out"] for r in rows]
            entry = {"held_out": summary(held), "regret": summary([r["budgets"][b]["regret"] for r in rows]),
                     "short_of_budget": sum(r["spent"] < b for r in rows)}
            if name != baseline and baseline in results:
                entry["vs_" + baseline] = paired(held, [r["budgets"][b]["held_out"] for r in results[baseline]])
            per_budget[b] = entry
        out["strategies"][name] = per_budget
    out["results"] = results
    return out
