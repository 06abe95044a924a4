"""Drawings, plots, the explorer and the chapter setup used by the book."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from enas_edu.book import chapter_setup
from enas_edu.config import search_config
from enas_edu.controller import Controller
from enas_edu.search import run_search
from enas_edu.spaces import MacroSpace, MicroSpace, RNNCellSpace, published
from enas_edu.viz import LivePlot, choice_shares, decision_figure, draw, explorer, plot_choices, plot_search


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_drawings_show_every_choice_of_the_architecture():
    space, arch = published("micro")
    labels = texts(draw(space, arch))
    ops = [space.op_names[n.x_op] for n in arch.normal + arch.reduce] + \
          [space.op_names[n.y_op] for n in arch.normal + arch.reduce]
    for op in set(ops):
        assert labels.count(op) == ops.count(op), op            # one label per edge
    assert labels.count("concat") == 2
    space, arch = published("rnn")
    labels = texts(draw(space, arch))
    assert [l for l in labels if l in ("tanh", "relu", "sigmoid", "identity")].__len__() == 8
    space = MacroSpace(num_layers=5)
    arch = space.sample(torch.Generator().manual_seed(0))
    fig = draw(space, arch)
    assert [space.op_names[o] for o in arch.ops] == [t for t in texts(fig) if t in space.op_names]
    paper = RNNCellSpace(num_nodes=4, layout="paper")
    assert "x_t, h_t-1" in texts(draw(paper, paper.sample(torch.Generator().manual_seed(1))))
    with pytest.raises(ValueError, match="expected a MicroArch"):
        draw(MicroSpace(), arch)


def test_decision_figure_and_explorer():
    space = MicroSpace(num_nodes=2)
    sample = Controller(space).sample(record=True)
    fig = decision_figure(space, sample, 3)
    bars = fig.axes[0].patches
    assert len(bars) == len(sample.decisions[3].values)
    assert sum(b.get_height() for b in bars) == pytest.approx(1.0, abs=1e-5)
    widget = explorer(fallback=False)
    assert len(widget.children) == 3


def test_the_explorer_displays_a_hidden_static_picture_of_its_first_state(monkeypatch):
    import base64
    import re
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    explorer()
    html = [o.data for o in shown if isinstance(o, IPython.display.HTML)]
    assert len(html) == 1, "one static picture, displayed before the widget"
    assert html[0].startswith('<div class="enas-widget-fallback" style="display:none">')
    png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', html[0]).group(1))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "decision 1" in html[0] and "micro (3 nodes)" in html[0]
    script = (Path(__file__).resolve().parents[1] / "book" / "_static" / "widget_fallback.js").read_text()
    assert ".enas-widget-fallback" in script and 'style.display = "block"' in script


def test_plot_search_and_choice_shares_read_a_run(tmp_path, monkeypatch):
    config = search_config("macro", "smoke")
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda fig, display_id=None: shown.append(fig) or _Handle(shown))
    search = run_search(config, tmp_path / "run", progress=False, callbacks=[LivePlot(every=3)])
    monkeypatch.undo()
    assert len(shown) >= config.epochs            # one display, then updates in place
    fig = plot_search(tmp_path / "run")
    reward_line = fig.axes[0].lines[0]
    assert len(reward_line.get_xdata()) == 2 * config.reinforce.train_steps
    shares = choice_shares(tmp_path / "run")
    assert set(shares) == {"layer operation", "skip connections"}
    for by_name in shares.values():               # per epoch, the shares of a kind sum to 1
        assert all(abs(sum(v[e] for v in by_name.values()) - 1) < 1e-9 for e in range(config.epochs))
    # recompute epoch 0's skip share from the arc strings themselves
    arcs = [search.space.from_arc_string(r["arc"]) for r in search.run_dir.read("architectures.jsonl")
            if r["epoch"] == 0]
    bits = [b for a in arcs for bits in a.skips for b in bits]
    assert shares["skip connections"]["on"][0] == pytest.approx(sum(bits) / len(bits))
    assert len(plot_choices(tmp_path / "run").axes) == 2


class _Handle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, fig):
        self.shown.append(fig)


def test_chapter_setup_reads_the_profile(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ENAS_EDU_PROFILE", "smoke")
    chapter = chapter_setup(str(tmp_path))
    assert chapter.profile == "smoke" and chapter.run_dir("x") == tmp_path / "x-smoke"
    assert "profile: smoke" in chapter.label("digits") and "seed: 0" in chapter.label("digits")
    monkeypatch.setenv("ENAS_EDU_PROFILE", "huge")
    with pytest.raises(ValueError, match="ENAS_EDU_PROFILE='huge'"):
        chapter_setup(str(tmp_path))
