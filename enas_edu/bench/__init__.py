"""Ground truths for the search: tables of networks trained alone, and what is read from them.

- :mod:`~enas_edu.bench.recipe`: the digits table's space (ENAS macro, 3 layers: 1,728
  children), data (the shipped digits at 8 x 8) and the one recipe every child is trained with;
- :mod:`~enas_edu.bench.table`: a table of results and its queries (:class:`GroundTruth`),
  and the shipped digits table (made by this project, issue #14);
- :mod:`~enas_edu.bench.nas_bench_macro`: NAS-Bench-Macro (Su et al. 2021), real CIFAR-10,
  3,969 networks x 3 seeds, shipped with its licence, behind the same :class:`GroundTruth`;
- :mod:`~enas_edu.bench.reliability`: how much of a table's ranking is seed noise;
- :mod:`~enas_edu.bench.strategies` and :mod:`~enas_edu.bench.stats`: search strategies at
  equal budgets on a table, compared paired by seed;
- :mod:`~enas_edu.bench.study`: ENAS and its baselines run on the digits space and scored by the
  digits table (``enas-edu study``).

``tools/make_ground_truth.py`` regenerates the digits table from scratch, in resumable shards.
"""

from .recipe import SPACE, Recipe, train_alone
from .table import GroundTruth

__all__ = ["SPACE", "Recipe", "train_alone", "GroundTruth"]
