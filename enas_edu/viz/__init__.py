"""Drawings of architectures, plots of runs, and the notebook widgets."""

from .concepts import draw_controller_unrolled, draw_estimates, draw_search_loop, draw_search_parts
from .draw import draw, draw_supernet
from .learning import plot_controller_learning
from .nas import NASTreeCell, draw_nas_cnn, draw_nas_rnn, sample_nas_cnn
from .plots import LivePlot, choice_counts, choice_shares, plot_choices, plot_search, search_summary
from .widgets import decision_figure, explorer

__all__ = ["draw", "draw_supernet", "plot_search", "search_summary", "plot_choices", "choice_counts", "choice_shares", "LivePlot", "explorer", "decision_figure",
           "NASTreeCell", "draw_nas_cnn", "draw_nas_rnn", "sample_nas_cnn", "plot_controller_learning",
           "draw_search_parts", "draw_controller_unrolled", "draw_search_loop", "draw_estimates"]
