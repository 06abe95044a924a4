"""The search-space explorer of the book (core ipywidgets only: Colab ships ipywidgets 7.7).

``explorer()`` shows one architecture sampled from an untrained official controller, decision
by decision: the slider walks through the decisions, a bar chart shows the controller's
probabilities at that decision (the chosen value in orange), and the drawing shows the whole
architecture. "sample" draws a new one; the dropdown changes the space.

A rendered page can show the widget only while its two scripts (require.js and the widget
manager) load from their CDNs. For a page read offline, ``explorer`` first displays a picture of
its first state inside a hidden block; the book's ``_static/widget_fallback.js`` shows that block
when no widget rendered, and a running notebook (Jupyter, Colab) keeps it hidden.
"""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import torch

from ..controller import Controller
from ..spaces import MacroSpace, MicroSpace, RNNCellSpace
from .draw import draw

SMALL_SPACES = {
    "micro (3 nodes)": lambda: MicroSpace(num_nodes=3),
    "macro (6 layers)": lambda: MacroSpace(num_layers=6),
    "rnn (enas_lm, 5 nodes)": lambda: RNNCellSpace(num_nodes=5),
    "rnn (paper, 5 nodes)": lambda: RNNCellSpace(num_nodes=5, layout="paper"),
}


def decision_figure(space, sample, k: int):
    """Probabilities of decision ``k`` (0-based, in sampling order) beside the architecture."""
    d = sample.decisions[k]
    probs = d.logits.softmax(-1)
    fig = plt.figure(figsize=(6.9, 4.8))          # the width of the book's text column
    ax = fig.add_axes([0.08, 0.14, 0.22, 0.7])
    colors = ["#e07b39" if v == d.choice else "#6b8fb3" for v in d.values]
    ax.bar([str(v) for v in d.values], probs.numpy(), color=colors)
    ax.set(title=f"decision {k + 1} of {len(sample.decisions)}:\n{d.name}", ylabel="probability",
           xlabel="choice", ylim=(0, 1))
    if isinstance(space, MicroSpace):
        draw(space, sample.arch, [fig.add_axes([0.34, 0.0, 0.33, 1.0]), fig.add_axes([0.67, 0.0, 0.33, 1.0])])
    else:
        draw(space, sample.arch, fig.add_axes([0.34, 0.0, 0.64, 1.0]))
    return fig


FALLBACK_CLASS = "enas-widget-fallback"


def static_fallback(fig, caption: str) -> str:
    """HTML of ``fig`` as an inline PNG in a block hidden until the book's script reveals it.

    Without JavaScript the ``noscript`` rule reveals it too.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")   # 1 point = 1 CSS pixel
    png = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (f'<div class="{FALLBACK_CLASS}" style="display:none">'
            f'<noscript><style>.{FALLBACK_CLASS} {{display:block !important}}</style></noscript>'
            f'<p><em>{caption}</em></p><img src="data:image/png;base64,{png}" alt="{caption}" '
            f'style="max-width:100%"></div>')


def explorer(seed: int = 0, fallback: bool = True):
    """An interactive explorer of the three spaces (needs a running kernel to react).

    ``fallback``: display first, hidden, a static picture of the explorer's first state for
    rendered pages whose widget scripts cannot load (see the module docstring).
    """
    import ipywidgets as W
    from IPython.display import HTML, clear_output, display

    choice = W.Dropdown(options=list(SMALL_SPACES), description="space")
    button = W.Button(description="sample")
    slider = W.IntSlider(value=1, min=1, max=1, description="decision")
    out = W.Output()
    state = {"seed": seed}

    def show(*_):
        with out:
            clear_output(wait=True)
            fig = decision_figure(state["space"], state["sample"], slider.value - 1)
            display(fig)
            plt.close(fig)
            s = state["sample"]
            print(f"arc string: {state['space'].to_arc_string(s.arch)}   "
                  f"log-probability {s.log_prob.item():.2f}, policy entropy {s.policy_entropy.item():.2f} nats")

    def resample(*_):
        space = SMALL_SPACES[choice.value]()
        torch.manual_seed(0)
        controller = Controller(space)
        with torch.no_grad():
            sample = controller.sample(generator=torch.Generator().manual_seed(state["seed"]), record=True)
        state["seed"] += 1
        state.update(space=space, sample=sample)
        slider.max = len(sample.decisions)
        slider.value = 1
        show()

    button.on_click(resample)
    choice.observe(resample, names="value")
    slider.observe(show, names="value")
    resample()
    if fallback:
        fig = decision_figure(state["space"], state["sample"], 0)
        display(HTML(static_fallback(fig, f"The explorer's first state ({choice.value}, decision 1), a static "
                                          "picture: the interactive widget needs a running notebook or its "
                                          "scripts from the web.")))
        plt.close(fig)
    return W.VBox([W.HBox([choice, button]), slider, out])
