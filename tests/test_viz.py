"""Drawings, plots, the explorer and the chapter setup used by the book."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.patches import FancyArrowPatch
import torch

from enas_edu.book import chapter_setup
from enas_edu.controller import Controller
from enas_edu.spaces import RNN_FUNCS, MacroSpace, MicroSpace, RNNCellSpace, published
from enas_edu.viz import LivePlot, choice_shares, decision_figure, draw, explorer, plot_choices, plot_search


def texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_drawings_show_every_choice_of_the_architecture():
    short = {"sep3x3": "sep3", "sep5x5": "sep5", "avgpool3x3": "avg", "maxpool3x3": "max", "identity": "id"}
    space, arch = published("micro")
    labels = texts(draw(space, arch))
    for cell in (arch.normal, arch.reduce):                     # every node says what it computes
        for i, n in enumerate(cell):
            expected = (f"{i + 2} = {short[space.op_names[n.x_op]]}({n.x_input})"
                        f" + {short[space.op_names[n.y_op]]}({n.y_input})")
            assert expected in labels, expected
    assert "concat 2, 3, 4, 5, 6" in labels and "concat 2, 4, 5, 6" in labels   # the loose ends
    space, arch = published("rnn")
    labels = texts(draw(space, arch))
    # every node's box names the node and its function, in the order of the arc string
    assert [l for l in labels if l.split(" ")[-1] in ("tanh", "relu", "sigmoid", "identity")] == [
        f"{j + 1} {RNN_FUNCS[f]}" for j, f in enumerate(arch.funcs)]
    space = MacroSpace(num_layers=5)
    arch = space.sample(torch.Generator().manual_seed(0))
    fig = draw(space, arch)
    names = {"conv3x3": "conv 3x3", "sep3x3": "sep 3x3", "conv5x5": "conv 5x5", "sep5x5": "sep 5x5",
             "avgpool3x3": "avg", "maxpool3x3": "max"}
    assert [names[space.op_names[o]] for o in arch.ops] == [t for t in texts(fig) if t in names.values()]
    from enas_edu.viz.draw import SKIP_COLORS
    skips = [(i, k) for k, bits in enumerate(arch.skips) for i, bit in enumerate(bits) if bit]
    arcs = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor() != (
        matplotlib.colors.to_rgba("#445"))]
    assert sorted(p.get_edgecolor() for p in arcs) == sorted(matplotlib.colors.to_rgba(SKIP_COLORS[i])
                                                             for i, _ in skips)   # one colour per source
    assert len([ln for ln in fig.axes[0].lines if ln.get_marker() == "o"]) == len(skips)   # a dot at each start
    paper = RNNCellSpace(num_nodes=4, layout="paper")
    assert "x, h" in texts(draw(paper, paper.sample(torch.Generator().manual_seed(1))))
    for fig_ in (draw(*published("micro")), draw(*published("rnn")), fig):   # the width of the text column
        assert fig_.get_size_inches()[0] <= 6.9 + 1e-9
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
    monkeypatch.setenv("ENAS_EDU_PROFILE", "smoke")
    book = chapter_setup(str(tmp_path))
    config = book.search_config("macro")
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda fig, display_id=None: shown.append(fig) or _Handle(shown))
    live = LivePlot(every=3)
    search = book.search("run", "macro", callbacks=[live], progress=False)
    monkeypatch.undo()
    assert len(shown) >= config.epochs            # one display, then updates in place
    # once the search returns, the live panels give way to one line, so the chapter's next cell
    # (plot_search of the finished run) is not a second copy of the same figure
    assert type(shown[-2]).__name__ == "Figure"
    assert type(shown[-1]).__name__ == "HTML" and f"{len(live.records)} records" in shown[-1].data
    LivePlot().close()                            # a plot that never displayed closes quietly
    assert search.run_dir.path == tmp_path / "run-smoke"
    fig = plot_search(search.run_dir.path)
    reward_line = fig.axes[0].lines[0]
    assert len(reward_line.get_xdata()) == 2 * config.reinforce.train_steps
    shares = choice_shares(search.run_dir.path)
    assert set(shares) == {"layer operation", "skip connections"}
    for by_name in shares.values():               # per epoch, the shares of a kind sum to 1
        assert all(abs(sum(v[e] for v in by_name.values()) - 1) < 1e-9 for e in range(config.epochs))
    # recompute epoch 0's skip share from the arc strings themselves
    arcs = [search.space.from_arc_string(r["arc"]) for r in search.run_dir.read("architectures.jsonl")
            if r["epoch"] == 0]
    bits = [b for a in arcs for bits in a.skips for b in bits]
    assert shares["skip connections"]["on"][0] == pytest.approx(sum(bits) / len(bits))
    assert len(plot_choices(search.run_dir.path).axes) == 2
    # a later chapter naming the same finished run only reads it: no byte of its folder changes
    before = {f.name: f.read_bytes() for f in search.run_dir.path.iterdir() if f.is_file()}
    search.run_dir.close()
    again = book.search("run", "macro", progress=False)
    assert again.read_only and again.position["epoch"] == config.epochs
    assert {f.name: f.read_bytes() for f in again.run_dir.path.iterdir() if f.is_file()} == before


def test_plot_search_writes_flat_series_without_an_offset():
    # an entropy that moves by 0.001 nats around 13.38 once drew "+1.338e1" in the corner
    records = [{"phase": "controller", "reward": 0.5, "baseline": 0.4, "policy_entropy": 13.38 + 1e-3 * (i % 2)}
               for i in range(20)]
    records += [{"phase": "shared", "loss": 2.3}, {"phase": "epoch", "lr": 0.05}]
    fig = plot_search(records)
    fig.canvas.draw()
    entropy_axis = fig.axes[1]
    assert entropy_axis.yaxis.get_offset_text().get_text() == ""
    assert any("13.38" in t.get_text() for t in entropy_axis.get_yticklabels())


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


def test_the_supernet_drawing_holds_every_choice_and_marks_the_child():
    from enas_edu.viz import draw_supernet
    space = MacroSpace(num_layers=5)
    arch = space.sample(torch.Generator().manual_seed(3))
    ax = draw_supernet(space, arch).axes[0]
    boxes = [p for p in ax.patches if not isinstance(p, FancyArrowPatch)]
    orange = matplotlib.colors.to_rgba("#f5b971")
    assert len(boxes) == 5 * 6 + 2 and sum(b.get_facecolor() == orange for b in boxes) == 5
    arcs = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor() in
            (matplotlib.colors.to_rgba("#c55"), matplotlib.colors.to_rgba("#ccc"))]
    assert len(arcs) == 5 * 4 // 2                                   # every possible skip
    assert sum(a.get_edgecolor() == matplotlib.colors.to_rgba("#c55") for a in arcs) == sum(map(sum, arch.skips))
    with pytest.raises(ValueError, match="macro space"):
        draw_supernet(MicroSpace(num_nodes=2), MicroSpace(num_nodes=2).sample())


def test_nas_tree_cell_reads_figure_5_of_the_nas_paper():
    from enas_edu.viz.nas import FIGURE5_CELL, NASTreeCell
    cell = NASTreeCell.from_decisions(FIGURE5_CELL)
    # NAS section 3.4, written out by hand from the paper's walk through its Figure 5
    assert cell.equations() == [
        "a0 = tanh(W1 x_t + W2 h_{t-1})",
        "a0' = relu(a0 + c_{t-1})   (cell inject)",
        "a1 = relu((W3 x_t) ⊙ (W4 h_{t-1}))",
        "a2 = sigmoid(a0' ⊙ a1)",
        "h_t = a2",
        "c_t = (W3 x_t) ⊙ (W4 h_{t-1})   (node 1 before its relu)",
    ]
    big = NASTreeCell.from_decisions(["add", "tanh"] * 15 + ["mul", "relu", 13, 14], base=8)
    parents = [k for k in range(15) for _ in (big.children(k) or ())]
    assert [big.children(k) for k in range(8)] == [None] * 8
    assert big.children(8) == (0, 1) and big.children(12) == (8, 9) and big.children(14) == (12, 13)
    assert sorted(c for k in range(15) for c in (big.children(k) or ())) == list(range(14))   # one parent each
    assert len(parents) == 14
    eq = big.equations()
    assert eq[-2] == "h_t = a14'" and eq[-1].startswith("c_t = a10 + a11")   # inject at the root
    for bad, match in ((FIGURE5_CELL[:-1], "emits 10 decisions"), (("add", "cos") + FIGURE5_CELL[2:], "node 0"),
                       (FIGURE5_CELL[:-1] + (3,), "node index 0..2")):
        with pytest.raises(ValueError, match=match):
            NASTreeCell.from_decisions(bad)
    with pytest.raises(ValueError, match="power of two"):
        NASTreeCell.from_decisions(FIGURE5_CELL, base=3)
    # count(2) against enumeration: every sequence from_decisions accepts, no other
    from itertools import product
    from enas_edu.viz.nas import ACTIVATIONS, COMBINE
    pairs = list(product(COMBINE, ACTIVATIONS))
    cells = {NASTreeCell.from_decisions(sum(p, ()) + (i, j)) for p in product(pairs, repeat=4)
             for i in range(3) for j in range(3)}
    assert len(cells) == NASTreeCell.count(2) == 8 ** 4 * 9
    assert NASTreeCell.count(8) == 8 ** 16 * 15 ** 2 and round(NASTreeCell.count(8) / 1e16) == 6


def test_nas_drawings_show_every_decision():
    from enas_edu.viz.nas import (FIGURE5_CELL, FILTER_SIZES, NUM_FILTERS, NASTreeCell, draw_nas_cnn,
                                  draw_nas_rnn, sample_nas_cnn)
    cell = NASTreeCell.from_decisions(FIGURE5_CELL)
    fig = draw_nas_rnn(cell)
    labels = texts(fig)
    assert [l for l in labels if l.startswith("node ")] == ["node 0\nadd, then tanh", "node 1\nmul, then relu",
                                                            "node 2\nmul, then sigmoid"]
    assert "inject: add, relu" in labels and sorted(l for l in labels if l.startswith("$W")) == \
        ["$W_1$", "$W_2$", "$W_3$", "$W_4$"]
    assert fig.get_size_inches()[0] <= 6.9 + 1e-9
    layers = sample_nas_cnn(4, generator=torch.Generator().manual_seed(0))
    assert layers == sample_nas_cnn(4, generator=torch.Generator().manual_seed(0))
    for i, layer in enumerate(layers, start=1):
        assert set(layer.inputs) <= set(range(1, i)) and layer.num_filters in NUM_FILTERS
    fixed = sample_nas_cnn(50, predict_strides=False, generator=torch.Generator().manual_seed(1))
    assert {l.stride for l in fixed} == {(1, 1)}
    heights = [l.filter_height for l in fixed]
    assert all(heights.count(v) >= 5 for v in FILTER_SIZES)          # every size drawn (expected 12.5 each)
    ax = draw_nas_cnn(layers).axes[0]
    red, gray = matplotlib.colors.to_rgba("#c55"), matplotlib.colors.to_rgba("#bbb")
    arcs = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor() in (red, gray)]
    assert len(arcs) == 4 * 3 // 2                                   # one sigmoid per pair of layers
    assert sum(a.get_edgecolor() == red for a in arcs) == sum(len(l.inputs) for l in layers)
    boxes = [t for t in texts(ax.figure) if t.startswith("filter\nheight")]
    assert boxes == [f"filter\nheight\n{l.filter_height}" for l in layers]
    assert len([t for t in texts(draw_nas_cnn(layers, predict_strides=False)) if t.startswith("stride")]) == 0
    with pytest.raises(ValueError, match="at least 1"):
        sample_nas_cnn(0)


def test_plot_found_keeps_its_legend_off_the_dots():
    from enas_edu.bench import GroundTruth
    from enas_edu.viz.study import plot_found

    truth = GroundTruth.load()
    methods = ["enas", "no-controller", "rsws", "random"]
    runs = [{"method": m, "true_test": 0.88 + 0.005 * k} for m in methods for k in range(10)]
    fig = plot_found(runs, truth)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())      # below the axes, never over a dot
    assert legend.y0 >= 0 and legend.x0 >= 0                # and still inside the figure
    assert [t.get_text() for t in ax.get_legend().get_texts()][0].startswith("best child of the space")
    dots = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert [len(c.get_offsets()) for c in dots] == [10] * len(methods)   # one scatter per method


def test_plot_ranking_draws_each_shared_method_with_its_legend_below():
    from enas_edu.viz.study import SHARED, plot_ranking

    rows = [{"epoch": e, "kendall_tau": {"mean": 0.01 * e, "std": 0.02}} for e in (1, 3, 10)]
    summary = {"methods": {m: {"correlation": rows} for m in SHARED}}
    summary["methods"]["random"] = {}                      # no shared weights: nothing to draw
    fig = plot_ranking(summary)
    fig.canvas.draw()
    ax = fig.axes[0]
    means = [bars.lines[0] for bars in ax.containers]     # one errorbar per method sharing weights
    assert len(means) == len(SHARED)
    assert list(means[0].get_xdata()) == [1, 3, 10] and list(means[0].get_ydata()) == [0.01, 0.03, 0.1]
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent()) and legend.y0 >= 0
    # with the table's reliability recorded, its ceiling is drawn as a dashed line at that tau
    summary["reliability"] = {"ceiling_kendall": 0.75}
    ax = plot_ranking(summary).axes[0]
    assert [tuple(line.get_ydata()) for line in ax.lines if line.get_linestyle() == "--"] == [(0.75, 0.75)]


@pytest.mark.parametrize("name", ["micro", "rnn"])
def test_every_label_of_a_cell_drawing_fits_inside_its_box(name):
    from matplotlib.patches import FancyBboxPatch

    fig = draw(*published(name))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    checked = 0
    for ax in fig.axes:
        boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
        for text in ax.texts:
            t = text.get_window_extent(renderer)
            holder = [b for b in boxes if b.x0 <= (t.x0 + t.x1) / 2 <= b.x1 and b.y0 <= (t.y0 + t.y1) / 2 <= b.y1]
            assert len(holder) == 1, text.get_text()
            assert holder[0].x0 < t.x0 and t.x1 < holder[0].x1, f"{text.get_text()!r} overflows its box"
            checked += 1
    assert checked == {"micro": 2 * (5 + 3), "rnn": 8 + 2}[name]


def test_controller_learning_panel_draws_each_run_and_the_uniform_references():
    from enas_edu.viz import plot_controller_learning
    runs = {"a": [{"spent": i, "held_out": 0.90 + 0.001 * i, "policy_entropy": 8.0 - 0.1 * i} for i in range(10)],
            "b": [{"spent": i, "held_out": 0.90, "policy_entropy": 8.0} for i in range(5)]}
    fig = plot_controller_learning(runs, uniform=0.9, max_entropy=8.79)
    top, bottom = fig.axes
    assert [len(line.get_xdata()) for line in top.lines] == [10, 5, 2]      # two runs, the uniform line
    assert list(top.lines[2].get_ydata()) == [0.9, 0.9]
    assert list(bottom.lines[2].get_ydata()) == [8.79, 8.79] and bottom.get_ylim()[0] == 0
    assert list(bottom.lines[0].get_ydata()) == [8.0 - 0.1 * i for i in range(10)]


def test_shown_source_wraps_long_lines_under_their_own_indentation(capsys):
    from enas_edu.book import show_source
    from enas_edu.search import Search
    show_source(Search._controller_phase, width=60)
    printed = capsys.readouterr().out.splitlines()
    import inspect
    original = inspect.getsource(Search._controller_phase).splitlines()
    assert max(len(line) for line in printed) <= 60 or all(" " not in line.strip() for line in printed
                                                            if len(line) > 60)
    assert " ".join(" ".join(printed).split()) == " ".join(" ".join(original).split())   # nothing lost
    depth = {line.strip(): len(line) - len(line.lstrip()) for line in original if line.strip()}
    long = next(line for line in original if len(line) > 60)
    at = printed.index(next(p for p in printed if p.strip() and long.strip().startswith(p.strip())))
    assert len(printed[at + 1]) - len(printed[at + 1].lstrip()) == depth[long.strip()] + 4   # hangs under it


def test_the_unrolled_controller_shows_the_sampled_choices_and_one_attention_arc_per_skip_bit():
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from enas_edu.controller import Controller
    from enas_edu.viz import draw_controller_unrolled
    ax = draw_controller_unrolled(num_layers=4, seed=2).axes[0]
    torch.manual_seed(2)
    arch = Controller(MacroSpace(num_layers=4)).sample(generator=torch.Generator().manual_seed(2)).arch
    texts = [t.get_text() for t in ax.texts]
    assert MacroSpace(num_layers=4).to_arc_string(arch) in ax.get_title()          # the same sample
    assert [t for t in texts if t.startswith("skips")] == [f"skips {k + 1}:\n" + " ".join(map(str, arch.skips[k]))
                                                          for k in range(1, 4)]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    dashed = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_linestyle() == "--"]
    assert len(boxes) == 2 * 4 * 2 and len(dashed) == 1 + 2 + 3     # 8 LSTM steps + 8 outputs; k arcs at layer k


@pytest.mark.parametrize("name", ["draw_search_parts", "draw_search_loop", "draw_estimates"])
def test_the_conceptual_figures_fit_the_column(name):
    import enas_edu.viz as viz
    from enas_edu.viz.draw import COLUMN_INCHES
    fig = getattr(viz, name)()
    assert fig.get_size_inches()[0] == pytest.approx(COLUMN_INCHES) and len(fig.axes[0].patches) >= 5
