"""Drawings of architectures, plots of runs, and the notebook widgets."""

from .draw import draw
from .plots import LivePlot, plot_search
from .widgets import decision_figure, explorer

__all__ = ["draw", "plot_search", "LivePlot", "explorer", "decision_figure"]
