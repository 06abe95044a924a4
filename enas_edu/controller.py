"""The ENAS controller: one LSTM that emits an architecture decision by decision (paper section 2).

At every decision the LSTM's hidden state h is turned into logits over the choices, one choice is
sampled, and its embedding is the next input. Choices of an *earlier node or layer* are made by
attention (a pointer network, Vinyals et al. 2015): each earlier node k left an anchor a_k, and
the logit of k is ``v^T tanh(W_1 a_k + W_2 h)``. The same class drives all three search spaces;
each space has a short "program" below that follows the official sampler of that space:

- macro: melodyguan/enas ``src/cifar10/general_controller.py`` (``search_whole_channels``);
- micro: melodyguan/enas ``src/cifar10/micro_controller.py``;
- rnn:   google-research ``enas_lm/src/controller.py``.

Before sampling, logits pass through ``logits / temperature`` and then
``tanh_constant * tanh(logits)`` (paper section 3.2: both keep the controller from collapsing
too early). The official code's quirks are switches of :class:`ControllerConfig` whose defaults,
from :meth:`ControllerConfig.official`, are those of the scripts.

Every program runs a batch of ``n`` architectures at once and can be *teacher forced*: given
architectures, it makes their decisions instead of sampling and so scores them. That is how
:meth:`Controller.log_prob` equals the value returned when the architecture was sampled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn as nn

from .spaces import MacroSpace, MicroSpace, RNNCellSpace, SearchSpace
from .spaces.nbmacro import NBMacroSpace

ENTROPY_MODES = ("sampled", "full")


@dataclass(frozen=True)
class ControllerConfig:
    """Shape of the controller and the official quirks, each a named switch.

    Use :meth:`official` for the scripts' values; the field defaults are a plain controller.
    """

    #: LSTM size; 64 x 1 layer in all official searches (cifar10 ``main.py``, enas_lm
    #: ``controller_hidden_size``).
    hidden_size: int = 64
    #: Weights start at U[-init_range, init_range]: 0.1 for CIFAR, 0.01 in enas_lm.
    init_range: float = 0.1
    #: ``logits / temperature`` (None: off). enas_lm 5.0; the CIFAR scripts set none.
    temperature: float | None = None
    #: ``tanh_constant * tanh(logits)`` (None: off). Macro 1.5, micro 1.10, enas_lm 2.25.
    tanh_constant: float | None = None
    #: Micro op logits use ``tanh_constant / op_tanh_reduce`` (``--controller_op_tanh_reduce``,
    #: 2.5 in the micro script), so with 1.10 they stay within +-0.44.
    op_tanh_reduce: float = 1.0
    #: Micro quirk (melodyguan/enas#46): the learned op bias starts at [10, 10, 0, 0, 0] and the
    #: normal cell adds a fixed [+.25, +.25, -.25, -.25, -.25], both favouring separable
    #: convolutions. Off: the learned bias starts at zero and no fixed bias is added.
    micro_op_bias: bool = False
    #: Macro skip penalty target rho (``--controller_skip_target=0.4``); None: no penalty.
    skip_target: float | None = None
    #: Macro quirk: the official penalty is KL(sigmoid(l) || [1-rho, rho]) on the skip logits l,
    #: while skips are sampled from softmax([-q, q]) = sigmoid(2q). True uses the sampling
    #: probability instead, a true KL between Bernoulli(p_skip) and Bernoulli(rho).
    skip_penalty_on_sampling_prob: bool = False
    #: enas_lm quirk: subtract (j - k)^2 / 6 from the logit of node j choosing state k, a prior
    #: toward recent nodes.
    recency_prior: bool = False
    #: The entropy *term* the bonus adds to the reward (``SampleBatch.entropy``): "sampled",
    #: -p(a) log p(a) of each sampled choice summed over the decisions (general_controller.py,
    #: enas_lm), which is not an entropy; "full", the softmax entropy of each decision summed over
    #: the decisions (micro_controller.py). Whatever the mode, ``SampleBatch.policy_entropy`` is
    #: the latter, logged as the policy's entropy.
    entropy_mode: str = "sampled"

    def __post_init__(self):
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be >= 1, got {self.hidden_size}")
        if not self.init_range > 0:
            raise ValueError(f"init_range must be > 0, got {self.init_range}")
        for name in ("temperature", "tanh_constant"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be > 0 or None, got {value}")
        if not self.op_tanh_reduce > 0:
            raise ValueError(f"op_tanh_reduce must be > 0, got {self.op_tanh_reduce}")
        if self.skip_target is not None and not 0 < self.skip_target < 1:
            raise ValueError(f"skip_target must be in (0, 1) or None, got {self.skip_target}")
        if self.entropy_mode not in ENTROPY_MODES:
            raise ValueError(f"entropy_mode must be one of {ENTROPY_MODES}, got {self.entropy_mode!r}")

    @classmethod
    def official(cls, space: SearchSpace | str) -> "ControllerConfig":
        """The official scripts' controller for a space (reference table: enas.md section 2a)."""
        name = space if isinstance(space, str) else space.name
        if name == "macro":  # scripts/cifar10_macro_search.sh
            return cls(init_range=0.1, tanh_constant=1.5, skip_target=0.4, entropy_mode="sampled")
        if name == "nbmacro":  # no official run: the macro script's controller, without skips to target
            return cls(init_range=0.1, tanh_constant=1.5, entropy_mode="sampled")
        if name == "micro":  # scripts/cifar10_micro_search.sh
            return cls(init_range=0.1, tanh_constant=1.10, op_tanh_reduce=2.5,
                       micro_op_bias=True, entropy_mode="full")
        if name == "rnn":  # enas_lm/src/controller.py flags
            return cls(init_range=0.01, temperature=5.0, tanh_constant=2.25,
                       recency_prior=True, entropy_mode="sampled")
        raise ValueError(f"unknown search space {name!r}; expected 'macro', 'micro', 'rnn' or 'nbmacro'")


@dataclass
class Decision:
    """One recorded decision of a single architecture: for drawing, teaching and tests."""

    position: int            # index in the arc string
    name: str                # e.g. "normal cell node 3 x_op"
    values: range            # the allowed values; logits[i] belongs to values[i]
    logits: torch.Tensor     # [len(values)], after temperature, tanh and biases
    choice: int              # the value taken


@dataclass
class Sample:
    """One architecture with the differentiable quantities REINFORCE needs (0-dim tensors).

    ``entropy`` is the term the official code adds to the reward (``entropy_mode``);
    ``policy_entropy`` is the sum over the decisions of the entropy of each decision's softmax,
    given the decisions before it. By the chain rule its mean over samples is an unbiased
    estimate of the entropy of the whole policy (exact in expectation; see the tests).
    """

    arch: Any
    log_prob: torch.Tensor
    entropy: torch.Tensor
    policy_entropy: torch.Tensor
    skip_penalty: torch.Tensor
    decisions: list[Decision] | None = None


@dataclass
class SampleBatch:
    """``n`` architectures; ``log_prob``, ``entropy``, ``policy_entropy`` and ``skip_penalty``
    have shape [n] (see :class:`Sample` for the two entropies)."""

    archs: list
    log_prob: torch.Tensor
    entropy: torch.Tensor
    policy_entropy: torch.Tensor
    skip_penalty: torch.Tensor

    def __len__(self) -> int:
        return len(self.archs)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.archs[i], self.log_prob[i], self.entropy[i], self.policy_entropy[i], self.skip_penalty[i])


class _Tape:
    """Collects the decisions of one batched run: values, log-probabilities and entropies."""

    def __init__(self, controller: "Controller", n: int, forced: torch.Tensor | None,
                 greedy: bool, generator: torch.Generator | None, record: bool):
        device = controller.g_emb.device
        self.space = controller.space
        self.entropy_mode = controller.config.entropy_mode
        self.forced, self.greedy, self.generator = forced, greedy, generator
        self.values = torch.zeros(n, controller.space.num_decisions(), dtype=torch.long, device=device)
        self.log_prob = torch.zeros(n, device=device)
        self.entropy = torch.zeros(n, device=device)          # the official term (entropy_mode)
        self.policy_entropy = torch.zeros(n, device=device)   # sum of the decisions' softmax entropies
        self.decisions: list[Decision] | None = [] if record else None
        self.skip_penalty = torch.zeros(n, device=device)   # the macro program sets it

    def decide(self, logits: torch.Tensor, positions: Sequence[int], offset: int = 0) -> torch.Tensor:
        """Take one decision per row for each position; ``logits``: [n, len(positions), c].

        Returns the chosen values [n, len(positions)] (``offset`` + index into the last dim).
        """
        n, m, c = logits.shape
        if self.forced is not None:
            index = self.forced[:, positions] - offset                      # [n, m]
        elif self.greedy:
            index = logits.argmax(-1)
        else:
            probs = logits.detach().float().softmax(-1).reshape(n * m, c)
            index = torch.multinomial(probs, 1, generator=self.generator).reshape(n, m)
        log_p = logits.log_softmax(-1)                                      # [n, m, c]
        chosen = log_p.gather(-1, index.unsqueeze(-1)).squeeze(-1)          # [n, m]
        self.log_prob = self.log_prob + chosen.sum(-1)
        decision_entropy = -(log_p.exp() * log_p).sum((-1, -2))           # [n]
        self.policy_entropy = self.policy_entropy + decision_entropy
        if self.entropy_mode == "full":
            self.entropy = self.entropy + decision_entropy
        else:
            self.entropy = self.entropy - (chosen.exp() * chosen).sum(-1)
        values = index + offset
        self.values[:, positions] = values
        if self.decisions is not None:
            for j, pos in enumerate(positions):
                self.decisions.append(Decision(
                    pos, self.space.position_name(pos), self.space.positions[pos],
                    logits[0, j].detach().clone(), int(values[0, j])))
        return values


class Controller(nn.Module):
    """``Controller(space, config=None, **overrides)``: an LSTM policy over ``space``.

    ``config`` defaults to :meth:`ControllerConfig.official` for the space; keyword overrides
    replace single fields, e.g. ``Controller(space, micro_op_bias=False)``.
    """

    def __init__(self, space: SearchSpace, config: ControllerConfig | None = None, **overrides):
        super().__init__()
        if not isinstance(space, (MacroSpace, MicroSpace, RNNCellSpace, NBMacroSpace)):
            raise ValueError(f"Controller needs a MacroSpace, MicroSpace, RNNCellSpace or NBMacroSpace, got {space!r}")
        config = config or ControllerConfig.official(space)
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.space = space
        H = self.config.hidden_size
        num_choices = space.num_funcs if isinstance(space, RNNCellSpace) else space.num_ops

        self.lstm = nn.LSTMCell(H, H, bias=False)      # one layer, no bias, as stack_lstm
        self.g_emb = nn.Parameter(torch.empty(1, H))    # input when nothing has been chosen
        self.w_emb = nn.Embedding(num_choices, H)       # embedding of the chosen op / function
        self.w_attn_1 = nn.Linear(H, H, bias=False)     # anchors of earlier nodes
        self.w_attn_2 = nn.Linear(H, H, bias=False)     # the current query
        self.v_attn = nn.Linear(H, 1, bias=False)
        if not isinstance(space, RNNCellSpace):         # enas_lm reuses w_emb as its softmax
            self.w_soft = nn.Linear(H, num_choices, bias=False)
        for p in self.parameters():
            nn.init.uniform_(p, -self.config.init_range, self.config.init_range)
        if isinstance(space, MicroSpace):
            bias, fixed = torch.zeros(num_choices), torch.zeros(num_choices)
            if self.config.micro_op_bias:               # micro_controller.py b_soft, b_soft_no_learn
                bias[:2], fixed[:2], fixed[2:] = 10.0, 0.25, -0.25
            self.b_soft = nn.Parameter(bias)
            self.register_buffer("b_soft_fixed", fixed)

    # ------------------------------------------------------------------ public API
    def sample(self, generator: torch.Generator | None = None, greedy: bool = False,
               record: bool = False) -> Sample:
        """Sample one architecture; ``greedy`` takes the most likely choice at every step."""
        tape = self._run(1, None, greedy, generator, record)
        batch = self._finish(tape)
        return Sample(batch.archs[0], batch.log_prob[0], batch.entropy[0], batch.policy_entropy[0],
                      batch.skip_penalty[0], tape.decisions)

    def sample_batch(self, n: int, generator: torch.Generator | None = None) -> SampleBatch:
        """Sample ``n`` architectures at once (one LSTM pass for the whole batch)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return self._finish(self._run(n, None, False, generator, False))

    def evaluate(self, archs: Sequence[Any]) -> SampleBatch:
        """Score given architectures: their log-probabilities, entropies and skip penalties."""
        if len(archs) == 0:
            raise ValueError("evaluate() needs at least one architecture")
        forced = torch.tensor([self.space.encode(self.space.validate(a)) for a in archs],
                              dtype=torch.long, device=self.g_emb.device)
        return self._finish(self._run(len(archs), forced, False, None, False))

    def log_prob(self, arch: Any) -> torch.Tensor:
        """log pi(arch), a differentiable 0-dim tensor."""
        return self.evaluate([arch]).log_prob[0]

    # ------------------------------------------------------------------ shared steps
    def _run(self, n, forced, greedy, generator, record) -> _Tape:
        tape = _Tape(self, n, forced, greedy, generator, record)
        if isinstance(self.space, MacroSpace):
            tape.skip_penalty = self._run_macro(tape, n)
        elif isinstance(self.space, MicroSpace):
            self._run_micro(tape, n)
        elif isinstance(self.space, NBMacroSpace):
            self._run_ops(tape, n)
        else:
            self._run_rnn(tape, n)
        return tape

    def _finish(self, tape: _Tape) -> SampleBatch:
        archs = [self.space.decode(row) for row in tape.values.tolist()]
        return SampleBatch(archs, tape.log_prob, tape.entropy, tape.policy_entropy, tape.skip_penalty)

    def _squash(self, logits: torch.Tensor, tanh_constant: float | None = None) -> torch.Tensor:
        """Temperature, then tanh constant (the order of all three official samplers)."""
        if self.config.temperature is not None:
            logits = logits / self.config.temperature
        c = self.config.tanh_constant if tanh_constant is None else tanh_constant
        if c is not None:
            logits = c * torch.tanh(logits)
        return logits

    def _attend(self, anchors_w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Pointer logits over earlier anchors: [n, k, H], [n, H] -> [n, k]."""
        return self.v_attn(torch.tanh(anchors_w + self.w_attn_2(h).unsqueeze(1))).squeeze(-1)

    def _start(self, n: int):
        H = self.config.hidden_size
        zeros = self.g_emb.new_zeros(n, H)
        return self.g_emb.expand(n, H), (zeros, zeros)

    # ------------------------------------------------------------------ macro
    def _run_macro(self, tape: _Tape, n: int) -> torch.Tensor:
        """Per layer: LSTM -> op; LSTM -> one attention query for all skip bits at once."""
        inputs, state = self._start(n)
        anchors, anchors_w, penalties = [], [], []
        rho = self.config.skip_target
        pos = 0
        for k in range(self.space.num_layers):
            state = self.lstm(inputs, state)
            op = tape.decide(self._squash(self.w_soft(state[0])).unsqueeze(1), [pos])   # [n, 1]
            inputs = self.w_emb(op[:, 0])
            pos += 1
            state = self.lstm(inputs, state)
            h = state[0]
            if k > 0:
                q = self._attend(torch.stack(anchors_w, 1), h)                          # [n, k]
                logits = self._squash(torch.stack([-q, q], -1))                         # [n, k, 2]
                bits = tape.decide(logits, list(range(pos, pos + k))).to(h.dtype)       # [n, k]
                pos += k
                if rho is not None:
                    target = logits.new_tensor([1.0 - rho, rho])
                    p = logits.softmax(-1) if self.config.skip_penalty_on_sampling_prob else torch.sigmoid(logits)
                    penalties.append((p * torch.log(p / target)).sum((-1, -2)))
                # the next input is the mean of the chosen layers' anchors
                inputs = (bits.unsqueeze(1) @ torch.stack(anchors, 1)).squeeze(1)
                inputs = inputs / (1.0 + bits.sum(-1, keepdim=True))
            else:
                inputs = self.g_emb.expand(n, -1)
            anchors.append(h)
            anchors_w.append(self.w_attn_1(h))
        if penalties:  # general_controller.py: the mean over layers of the per-layer KL
            return torch.stack(penalties, -1).mean(-1)
        return self.g_emb.new_zeros(n)

    def _run_ops(self, tape: _Tape, n: int) -> None:
        """NAS-Bench-Macro: the macro program with no skips, one op decision per layer."""
        inputs, state = self._start(n)
        for k in range(self.space.num_layers):
            state = self.lstm(inputs, state)
            op = tape.decide(self._squash(self.w_soft(state[0])).unsqueeze(1), [k])        # [n, 1]
            inputs = self.w_emb(op[:, 0])

    # ------------------------------------------------------------------ micro
    def _run_micro(self, tape: _Tape, n: int) -> None:
        """Normal cell, then reduction cell; the second continues the first's LSTM state."""
        inputs, state = self._start(n)
        B = self.space.num_nodes
        for cell_index in range(2):
            anchors, anchors_w = [], []
            for _ in range(2):  # the two cell inputs: zero anchors, attention keys from the LSTM
                state = self.lstm(inputs, state)
                anchors.append(torch.zeros_like(state[0]))
                anchors_w.append(self.w_attn_1(state[0]))
            for i in range(B):
                base = cell_index * 4 * B + 4 * i  # arc order: x_input x_op y_input y_op
                for j in range(2):                  # the two inputs first
                    state = self.lstm(inputs, state)
                    q = self._attend(torch.stack(anchors_w, 1), state[0])               # [n, i+2]
                    idx = tape.decide(self._squash(q).unsqueeze(1), [base + 2 * j])[:, 0]
                    inputs = torch.stack(anchors, 1)[torch.arange(n), idx]
                for j in range(2):                  # then the two ops
                    state = self.lstm(inputs, state)
                    logits = self.w_soft(state[0]) + self.b_soft
                    c = self.config.tanh_constant
                    logits = self._squash(logits, None if c is None else c / self.config.op_tanh_reduce)
                    if cell_index == 0:             # fixed bias: normal cell only
                        logits = logits + self.b_soft_fixed
                    op = tape.decide(logits.unsqueeze(1), [base + 2 * j + 1])[:, 0]
                    inputs = self.w_emb(op)
                state = self.lstm(inputs, state)
                anchors.append(state[0])
                anchors_w.append(self.w_attn_1(state[0]))
                inputs = self.g_emb.expand(n, -1)

    # ------------------------------------------------------------------ rnn
    def _run_rnn(self, tape: _Tape, n: int) -> None:
        """Per node j: LSTM -> which earlier state to read (pointer); LSTM -> which function.

        State 0 has a zero anchor (enas_lm ``all_h[0]``). The paper layout runs the same steps
        with candidates 1..j-1 and no choice at node 1, whose input is state 0.
        """
        inputs, state = self._start(n)
        lo = 1 if self.space.layout == "paper" else 0
        zeros = self.g_emb.new_zeros(n, self.config.hidden_size)
        anchors, anchors_w = [zeros], [zeros]
        rows = torch.arange(n, device=zeros.device)
        pos = 0
        for j in range(1, self.space.num_nodes + 1):
            state = self.lstm(inputs, state)
            h = state[0]
            anchors.append(h)
            anchors_w.append(self.w_attn_1(h))
            if j > lo:
                logits = self._squash(self._attend(torch.stack(anchors_w[lo:j], 1), h))  # [n, j-lo]
                if self.config.recency_prior:
                    distance = j - torch.arange(lo, j, device=h.device, dtype=h.dtype)
                    logits = logits - distance**2 / 6.0
                prev = tape.decide(logits.unsqueeze(1), [pos], offset=lo)[:, 0]
                pos += 1
            else:
                prev = torch.zeros(n, dtype=torch.long, device=h.device)
            # enas_lm: the chosen state's anchor, scaled down by its distance
            inputs = torch.stack(anchors[:j], 1)[rows, prev]
            inputs = inputs / (0.1 + (j - prev).to(h.dtype)).unsqueeze(-1)
            state = self.lstm(inputs, state)
            logits = self._squash(state[0] @ self.w_emb.weight.t())                     # [n, funcs]
            func = tape.decide(logits.unsqueeze(1), [pos])[:, 0]
            pos += 1
            inputs = self.w_emb(func)
