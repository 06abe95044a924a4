"""A ground truth for the search: a tiny NAS benchmark made by this project (issue #14).

- :mod:`~enas_edu.bench.recipe`: the space (ENAS macro, 3 layers: 1,728 children), the data
  (the shipped digits at 8 x 8) and the one recipe every child is trained alone with;
- :mod:`~enas_edu.bench.table`: the shipped table of results and its queries (:class:`GroundTruth`);
- :mod:`~enas_edu.bench.study`: ENAS and its baselines run on that space and scored by the table
  (``enas-edu study``).

``tools/make_ground_truth.py`` regenerates the table from scratch.
"""

from .recipe import SPACE, Recipe, train_alone
from .table import GroundTruth

__all__ = ["SPACE", "Recipe", "train_alone", "GroundTruth"]
