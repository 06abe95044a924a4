"""Rank correlations, and the shared-weights vs stand-alone comparison."""

import numpy as np
import pytest
import torch

from enas_edu.config import search_config
from enas_edu.ranking import rank_correlation, shared_vs_standalone
from enas_edu.search import run_search


def test_rank_correlation_against_hand_computed_values():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40])["kendall_tau"] == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1])["spearman_rho"] == pytest.approx(-1.0)
    # tau-b with a tie in y: C = 2, D = 0, one pair tied in y -> 2 / sqrt(2 * 3)
    r = rank_correlation([1, 2, 3], [1, 1, 2])
    assert r["kendall_tau"] == pytest.approx(2 / 6 ** 0.5)
    assert r["spearman_rho"] == pytest.approx(np.corrcoef([1, 2, 3], [1.5, 1.5, 3])[0, 1])
    r = rank_correlation([0.9, 0.1, 0.5, 0.7, 0.3], [0.8, 0.2, 0.1, 0.9, 0.3], top_k=2)
    assert r["top2_overlap"] == 1.0 and r["n"] == 5
    with pytest.raises(ValueError, match="two scorings of the same"):
        rank_correlation([1.0], [1.0])


def test_shared_vs_standalone_scores_each_child_twice(tmp_path):
    run_search(search_config("macro", "smoke"), tmp_path / "run", progress=False)
    space = search_config("macro", "smoke").net.space()
    archs = [space.sample(torch.Generator().manual_seed(s)) for s in range(3)]
    rows = shared_vs_standalone(tmp_path / "run", archs, epochs=1, out=tmp_path / "ranking.jsonl")
    assert [r["arc"] for r in rows] == [space.to_arc_string(a) for a in archs]
    assert all(0 <= r["shared"] <= 1 and 0 <= r["standalone"] <= 1 for r in rows)
    assert len((tmp_path / "ranking.jsonl").read_text().splitlines()) == 3
