"""The recurrent language model around a searched cell (paper section 2.1; google-research
``enas_lm/src/child.py`` for the search, ``fixed_lib.py`` for the final model).

Every node is a highway node: reading state p it computes ``[h, c] = p W``, then
``s = p + sigmoid(c) * (f(h) - p)``. State 0 is, in the ``enas_lm`` layout, a fixed highway node
over (x_t, h_{t-1}) with tanh: ``[h, c] = [x_t, h_{t-1}] W_prev``, ``s0 = h_{t-1} + sigmoid(c) *
(tanh(h) - h_{t-1})``; in the paper layout node 1 is that node with its searched function, and
state 0 stands for the pair (x_t, h_{t-1}). The new hidden state h_t is the mean of nodes 1..N
(``enas_lm``) or of the loose ends (paper).

Shared weights (``arch=None``): ``enas_lm`` keeps one H x 2H matrix per (node, function, previous
state): ``w_skip[j]`` has shape [num_funcs, j, H, 2H] in ``child.py``. The paper layout keeps one
per (node, previous node), shared by the functions (section 2.1: W^(h)_{l,j}). A child (``arch``
given) keeps one matrix per node, the layout of ``fixed_lib.py``.

The language model: tied input embedding and softmax (no bias), and the enas_lm regularisers:
dropout of whole embedding rows (``drop_e``), variational dropout (one mask per sequence, the same
at every time step) on the embedded words (``drop_i``), on the cell input x_t (``drop_x``), on
every state a node reads (``drop_l``) and on the outputs (``drop_o``); activation L2 (``alpha``),
slowness L2 on consecutive outputs (``beta``) and weight decay (:meth:`RNNNet.regularizer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..spaces.rnn import RNNArch, RNNCellSpace, rnn_loose_ends
from .base import Supernet

FUNCTIONS = (torch.tanh, torch.relu, torch.sigmoid, lambda h: h)  # RNN_FUNCS order


@dataclass(frozen=True)
class RNNNetConfig:
    """Defaults: the enas_lm search child (``child.py`` ``_set_default_params``).

    The published final model (``fixed_lib.py``): ``hidden_size=800, init_range=0.05,
    drop_e=0.125, drop_i=0.175, drop_x=0.725, drop_l=0.225, drop_o=0.75, alpha=0.7, beta=0.0,
    weight_decay=8e-7, search_l2_quirk=False``.
    """

    vocab_size: int = 10000
    hidden_size: int = 200
    num_nodes: int | None = None    # None: the layout's search default (9 for enas_lm)
    layout: str = "enas_lm"
    num_funcs: int = 4
    init_range: float = 0.04        # U[-init_range, init_range] for every weight
    drop_e: float = 0.10            # word rows of the embedding
    drop_i: float = 0.20            # embedded words (variational)
    drop_x: float = 0.75            # x_t into the cell (variational)
    drop_l: float = 0.25            # states read by nodes (variational)
    drop_o: float = 0.75            # cell outputs (variational)
    alpha: float = 0.0              # activation L2: alpha * mean(h_t^2)
    beta: float = 1.0               # slowness: beta * mean((h_t - h_{t-1})^2)
    weight_decay: float = 8e-7
    #: child.py quirk: its decay is ``l2_loss(w ** 2)`` = sum(w^4) / 2 over W_prev and the
    #: sampled node matrices *except node 1's*. False: sum(w^2) over all weights the child
    #: uses, the embedding included, as ``fixed_lib.py`` does.
    search_l2_quirk: bool = True
    #: Fast path (issue #7): pick each node's matrix once per window instead of once per time
    #: step, and multiply all T inputs by the x-half of ``w_prev`` in one product before the
    #: time loop. Same numbers up to float rounding; False keeps the naive loop for benchmarks.
    hoist: bool = True

    def __post_init__(self):
        for name in ("drop_e", "drop_i", "drop_x", "drop_l", "drop_o"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} is a drop probability in [0, 1), got {getattr(self, name)}")
        if self.vocab_size < 2 or self.hidden_size < 1:
            raise ValueError("vocab_size must be >= 2 and hidden_size >= 1")

    def space(self) -> RNNCellSpace:
        return RNNCellSpace(num_nodes=self.num_nodes, layout=self.layout, num_funcs=self.num_funcs)


def _function_masks(funcs: list[int], device) -> list[tuple[int, torch.Tensor]]:
    """(function, [A, 1, 1] mask of the cells that apply it) for each function present."""
    return [(f, torch.tensor([x == f for x in funcs], device=device).view(-1, 1, 1)) for f in sorted(set(funcs))]


def _highway_mixed(p: torch.Tensor, hc: torch.Tensor, masks: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
    """The highway node for A cells at once: p [A, B, H], hc [A, B, 2H] -> [A, B, H].

    Each cell applies its own function: one kernel per function present (not per cell), merged
    by the masks of :func:`_function_masks`.
    """
    h, c = hc.chunk(2, dim=-1)
    f = FUNCTIONS[masks[0][0]](h)
    for func, mask in masks[1:]:
        f = torch.where(mask, FUNCTIONS[func](h), f)
    return p + torch.sigmoid(c) * (f - p)


@dataclass
class RNNOutput:
    logits: torch.Tensor   # [T, B, vocab]
    hidden: torch.Tensor   # [B, H]: the last h_t, to carry into the next window
    states: torch.Tensor   # [T, B, H]: every h_t, for the activation regularisers


def _variational_mask(shape, p: float, like: torch.Tensor) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability p, else 1 / (1 - p)."""
    return like.new_empty(shape).bernoulli_(1 - p) / (1 - p)


class RNNNet(Supernet):
    """``RNNNet(config, arch=None)``: the RNN language-model supernet, or the child of ``arch``.

    ``forward(tokens [T, B], hidden [B, H] or None, arch=None)`` returns an :class:`RNNOutput`.
    """

    def __init__(self, config: RNNNetConfig | None = None, arch: RNNArch | None = None):
        super().__init__()
        config = config or RNNNetConfig()
        self._set_arch(config, arch)
        H, F_, N = config.hidden_size, config.num_funcs, self.space.num_nodes
        self.paper = config.layout == "paper"
        self.encoder = nn.Embedding(config.vocab_size, H)
        self.w_prev = nn.Parameter(torch.empty(2 * H, 2 * H))   # [x_t, h_{t-1}] -> [h, c]
        self.nodes = nn.ParameterList()                          # node j = nodes[j - 1]
        for j in range(1, N + 1):
            if self.paper and j == 1:
                self.nodes.append(nn.Parameter(torch.empty(0)))  # node 1 uses w_prev
            elif arch is not None:
                self.nodes.append(nn.Parameter(torch.empty(1, 1, H, 2 * H)))
            else:
                funcs = 1 if self.paper else F_
                prevs = j - 1 if self.paper else j
                self.nodes.append(nn.Parameter(torch.empty(funcs, prevs, H, 2 * H)))
        for p in self.parameters():
            nn.init.uniform_(p, -config.init_range, config.init_range)

    # ------------------------------------------------------------------ weights of one node
    def _slot(self, j: int, prev: int, func: int) -> tuple[int, int]:
        """Index of node j's matrix for (prev, func) in the shared tensor."""
        if self.arch is not None:
            return 0, 0
        if self.paper:
            return 0, prev - 1
        return func, prev

    def node_weight(self, j: int, prev: int, func: int) -> torch.Tensor:
        """The H x 2H matrix node j uses when it reads ``prev`` with function ``func``."""
        f, p = self._slot(j, prev, func)
        return self.nodes[j - 1][f, p]

    def _child_state(self, child, arch: RNNArch) -> dict:
        state = {"encoder.weight": self.encoder.weight, "w_prev": self.w_prev}
        for j, (prev, func) in enumerate(zip(arch.prevs, arch.funcs), start=1):
            if self.paper and j == 1:
                state["nodes.0"] = self.nodes[0]
            else:
                state[f"nodes.{j - 1}"] = self.node_weight(j, prev, func)[None, None]
        return {k: v.detach().clone() for k, v in state.items()}

    # ------------------------------------------------------------------ the cell
    @staticmethod
    def _highway(p: torch.Tensor, hc: torch.Tensor, func: int) -> torch.Tensor:
        h, c = hc.chunk(2, dim=-1)
        return p + torch.sigmoid(c) * (FUNCTIONS[func](h) - p)

    def _node_weights(self, arch: RNNArch) -> dict[int, torch.Tensor]:
        """Node j's H x 2H matrix for each searched node j."""
        return {j: self.node_weight(j, arch.prevs[j - 1], arch.funcs[j - 1])
                for j in range(2 if self.paper else 1, len(arch.funcs) + 1)}

    def cell(self, x: torch.Tensor, h_prev: torch.Tensor, arch: RNNArch,
             mask_x: torch.Tensor | None = None, mask_l: torch.Tensor | None = None,
             x_proj: torch.Tensor | None = None, weights: dict | None = None) -> torch.Tensor:
        """One time step: x [B, H], h_prev [B, H] -> h_t [B, H].

        ``x_proj`` ([B, 2H], the masked x times the x-rows of ``w_prev``) and ``weights`` (from
        :meth:`_node_weights`) are the hoisted fast path's precomputed parts.
        """
        h_in = h_prev * mask_l if mask_l is not None else h_prev
        if x_proj is None:
            x = x * mask_x if mask_x is not None else x
            hc = torch.cat([x, h_in], -1) @ self.w_prev                          # [B, 2H]
        else:
            hc = x_proj + h_in @ self.w_prev[x_proj.shape[-1] // 2:]             # [B, 2H]
        first = self._highway(h_prev, hc, arch.funcs[0] if self.paper else 0)
        states = [None, first] if self.paper else [first]
        for j in range(2 if self.paper else 1, len(arch.funcs) + 1):
            p = states[arch.prevs[j - 1]]
            p_in = p * mask_l if mask_l is not None else p
            w = weights[j] if weights is not None else self.node_weight(j, arch.prevs[j - 1], arch.funcs[j - 1])
            states.append(self._highway(p, p_in @ w, arch.funcs[j - 1]))
        outputs = [states[e] for e in rnn_loose_ends(arch)] if self.paper else states[1:]
        return torch.stack(outputs).mean(0)

    # ------------------------------------------------------------------ the language model
    def forward(self, tokens: torch.Tensor, hidden: torch.Tensor | None = None,
                arch: RNNArch | None = None) -> RNNOutput:
        arch = self._resolve(arch)
        cfg = self.config
        T, B = tokens.shape
        weight = self.encoder.weight                                             # [V, H]
        mask_x = mask_l = None
        if self.training:
            emb_w = weight * _variational_mask((weight.shape[0], 1), cfg.drop_e, weight)
            x = F.embedding(tokens, emb_w)                                       # [T, B, H]
            x = x * _variational_mask((1, B, x.shape[-1]), cfg.drop_i, x)
            mask_x = _variational_mask((B, x.shape[-1]), cfg.drop_x, x)
            mask_l = _variational_mask((B, x.shape[-1]), cfg.drop_l, x)
        else:
            x = F.embedding(tokens, weight)
        h = x.new_zeros(B, x.shape[-1]) if hidden is None else hidden
        states = []
        if cfg.hoist:   # one product for all T inputs; each node's matrix picked once
            H = x.shape[-1]
            x_in = x * mask_x if mask_x is not None else x
            x_proj = x_in @ self.w_prev[:H]                                      # [T, B, 2H]
            weights = self._node_weights(arch)
            for t in range(T):
                h = self.cell(x[t], h, arch, None, mask_l, x_proj[t], weights)
                states.append(h)
        else:
            for t in range(T):
                h = self.cell(x[t], h, arch, mask_x, mask_l)
                states.append(h)
        states = torch.stack(states)                                             # [T, B, H]
        top = states * _variational_mask((1, B, states.shape[-1]), cfg.drop_o, states) if self.training else states
        return RNNOutput(top @ weight.t(), h, states)                            # logits [T, B, V]

    def compile_cell(self, mode: str | None = None) -> None:
        """``torch.compile`` one time step of this child's cell (final training, issue #7).

        Compiling the whole ``forward`` would unroll its loop over time into one graph per window
        length, and enas_lm draws a new length for nearly every window; one time step has the
        same shapes at every call, so its ~6 kernels per node fuse once and serve every step.
        """
        if self.arch is None:
            raise ValueError("compile_cell() is for a fixed child: the supernet's cell changes every step")
        self.cell = torch.compile(self.cell, mode=mode, dynamic=False)

    @torch.no_grad()
    def forward_archs(self, tokens: torch.Tensor, archs: list[RNNArch]) -> torch.Tensor:
        """Run A different cells at once, each on its own windows: tokens [T, A, B] -> the
        hidden states h_t [T, A, B, H], from a zero hidden state, without dropout (how rewards
        are scored). Cell a's logits are ``states[:, a] @ encoder.weight.t()``, left to the
        caller: for all cells at once they would take A times the memory of one window's.

        The controller scores ``num_aggregate`` cells per update (issue #7). Run one by one,
        each time step costs every cell ~6 small kernels per node; here node j's matrices of all
        A cells are picked once into a [A, H, 2H] stack, and each step costs one batched product
        per node for all the cells, plus one kernel per function the cells use at that node.
        Equals the states of ``forward`` of each cell on its windows, up to float rounding.
        """
        if self.training:
            raise ValueError("forward_archs() scores cells without dropout: call net.eval() first")
        if self.arch is not None:
            raise ValueError("forward_archs() is for the supernet (built without arch)")
        archs = [self.space.validate(a) for a in archs]
        T, A, B = tokens.shape
        if len(archs) != A:
            raise ValueError(f"tokens hold windows for {A} cells but {len(archs)} architectures were given")
        weight = self.encoder.weight                                             # [V, H]
        H, N, device = weight.shape[1], self.space.num_nodes, weight.device
        rows = torch.arange(A, device=device)
        first = 2 if self.paper else 1
        w_nodes, prevs, masks = {}, {}, {}
        for j in range(first, N + 1):                                            # node j, all cells
            slots = torch.tensor([self._slot(j, a.prevs[j - 1], a.funcs[j - 1]) for a in archs], device=device)
            stacked = self.nodes[j - 1].flatten(0, 1)                            # [funcs * prevs, H, 2H]
            w_nodes[j] = stacked[slots[:, 0] * self.nodes[j - 1].shape[1] + slots[:, 1]]   # [A, H, 2H]
            prevs[j] = torch.tensor([a.prevs[j - 1] for a in archs], device=device)
            masks[j] = _function_masks([a.funcs[j - 1] for a in archs], device)
        # the fixed first node: tanh in enas_lm; node 1 with its searched function in the paper
        masks[0] = _function_masks([a.funcs[0] if self.paper else 0 for a in archs], device)
        if self.paper:   # the mean over each cell's loose ends, as weights over nodes 1..N
            ends = torch.zeros(N, A, 1, 1, device=device)
            for i, a in enumerate(archs):
                loose = rnn_loose_ends(a)
                ends[[e - 1 for e in loose], i] = 1.0 / len(loose)
        x_proj = F.embedding(tokens, weight) @ self.w_prev[:H]                   # [T, A, B, 2H]
        h = x_proj.new_zeros(A, B, H)
        states = x_proj.new_zeros(N + 1, A, B, H)                                # this step's states
        outputs = []
        for t in range(T):
            hc = x_proj[t] + h @ self.w_prev[H:]                                 # [A, B, 2H]
            states[first - 1] = _highway_mixed(h, hc, masks[0])
            for j in range(first, N + 1):
                p = states[prevs[j], rows]                                       # [A, B, H]: each cell's input
                states[j] = _highway_mixed(p, torch.bmm(p, w_nodes[j]), masks[j])
            h = (states[1:] * ends).sum(0) if self.paper else states[1:].mean(0)
            outputs.append(h)
        return torch.stack(outputs)                                              # [T, A, B, H]

    def regularizer(self, output: RNNOutput, arch: RNNArch | None = None) -> torch.Tensor:
        """Activation L2 + slowness + weight decay, to add to the training loss."""
        arch = self._resolve(arch)
        cfg, s = self.config, output.states
        loss = cfg.alpha * s.pow(2).mean()
        if s.shape[0] > 1:
            loss = loss + cfg.beta * (s[1:] - s[:-1]).pow(2).mean()
        used = [self.node_weight(j, p, f) for j, (p, f) in enumerate(zip(arch.prevs, arch.funcs), 1)
                if not (self.paper and j == 1)]
        if cfg.search_l2_quirk:   # child.py: var_s = [w_prev] + w_skip[1:], l2_loss(w ** 2)
            skip_first = 0 if self.paper else 1
            decay = sum(w.pow(4).sum() / 2 for w in [self.w_prev] + used[skip_first:])
        else:
            decay = sum(w.pow(2).sum() for w in [self.encoder.weight, self.w_prev] + used)
        return loss + cfg.weight_decay * decay
