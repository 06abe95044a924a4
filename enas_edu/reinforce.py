"""REINFORCE for the controller (Williams 1992; paper section 2.2).

The reward of an architecture (validation accuracy, or 80 / perplexity for the RNN) is not a
differentiable function of the controller's parameters theta, so ENAS follows the score-function
gradient  grad E[R] = E[(R - b) grad log pi(arch)],  with an exponential moving average b of past
rewards as the baseline that lowers the variance. The loss to *minimise* is therefore
``-(R - b) * log pi(arch)``. As in the official code:

- the entropy bonus is added to the reward, not to the loss (``reward += entropy_weight *
  sample_entropy``), and its gradient is stopped;
- the baseline is updated with each reward *before* the advantage is formed
  (``baseline -= (1 - bl_dec) * (baseline - reward)`` under a control dependency);
- the macro skip penalty is added to the loss with weight ``skip_weight``;
- ``num_aggregate`` architectures form one update, their gradients averaged
  (``SyncReplicasOptimizer(replicas_to_aggregate=num_aggregate)``);
- Adam, with beta1 = 0 and eps = 1e-3 for CIFAR (melodyguan/enas ``src/utils.py``) and the
  default betas in enas_lm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .controller import Controller, SampleBatch


BASELINE_STARTS = ("zero", "first")


@dataclass(frozen=True)
class ReinforceConfig:
    """The controller's optimisation; :meth:`official` gives the scripts' values."""

    lr: float = 1e-3
    #: EMA decay of the baseline (``--controller_bl_dec``).
    baseline_decay: float = 0.99
    #: Weight of the sample entropy added to the reward (``--controller_entropy_weight``).
    entropy_weight: float = 0.0
    #: Weight of the macro skip penalty in the loss (``--controller_skip_weight``).
    skip_weight: float = 0.0
    adam_betas: tuple[float, float] = (0.0, 0.999)
    adam_eps: float = 1e-3
    #: Where Adam's epsilon enters (issue #27). ``"tf"``: TF1's ``AdamOptimizer`` (the official
    #: code) adds it to sqrt(v) *before* bias correction, ``lr sqrt(1-b2^t)/(1-b1^t) m/(sqrt(v)+eps)``;
    #: ``"torch"``: ``torch.optim.Adam`` adds it after, ``lr/(1-b1^t) m/(sqrt(v)/sqrt(1-b2^t)+eps)``.
    #: With eps = 1e-3 and b2 = 0.999 the torch steps are many times larger early on (the first
    #: update ~20x); "tf" runs torch's Adam with eps_t = eps / sqrt(1 - b2^t), which is TF's rule.
    adam_eps_form: str = "torch"
    #: Architectures per update (``--controller_num_aggregate``).
    num_aggregate: int = 1
    #: Updates per search epoch (``--controller_train_steps``).
    train_steps: int = 1
    #: Where the baseline starts: ``"zero"`` (official: ``tf.Variable(0.0)``) or ``"first"``, the
    #: first update's mean reward. From 0, with decay 0.99 and rewards near 0.9, the baseline
    #: needs ~300 rewards to come within 5% of them; until then every advantage is positive and
    #: every sample is reinforced (issue #28). "first" is for runs too short for that.
    baseline_start: str = "zero"

    def __post_init__(self):
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
        if self.entropy_weight < 0 or self.skip_weight < 0:
            raise ValueError("entropy_weight and skip_weight must be >= 0")
        if self.num_aggregate < 1 or self.train_steps < 1:
            raise ValueError("num_aggregate and train_steps must be >= 1")
        if self.adam_eps_form not in ("tf", "torch"):
            raise ValueError(f"adam_eps_form must be 'tf' or 'torch', got {self.adam_eps_form!r}")
        if self.baseline_start not in BASELINE_STARTS:
            raise ValueError(f"baseline_start must be one of {BASELINE_STARTS}, got {self.baseline_start!r}")

    @classmethod
    def official(cls, space_name: str) -> "ReinforceConfig":
        """Reference table: enas.md section 2a (flags of the official scripts)."""
        # every official controller is trained by TF1's AdamOptimizer: adam_eps_form="tf"
        if space_name == "macro":  # cifar10_macro_search.sh
            return cls(lr=1e-3, baseline_decay=0.99, entropy_weight=1e-4, skip_weight=0.8,
                       adam_betas=(0.0, 0.999), adam_eps=1e-3, adam_eps_form="tf", num_aggregate=20,
                       train_steps=50)
        if space_name == "micro":  # cifar10_micro_search.sh
            return cls(lr=3.5e-3, baseline_decay=0.99, entropy_weight=1e-4, skip_weight=0.0,
                       adam_betas=(0.0, 0.999), adam_eps=1e-3, adam_eps_form="tf", num_aggregate=10,
                       train_steps=30)
        if space_name == "rnn":  # enas_lm/src/controller.py (TF Adam defaults)
            return cls(lr=5e-5, baseline_decay=0.999, entropy_weight=1e-5, skip_weight=0.0,
                       adam_betas=(0.9, 0.999), adam_eps=1e-8, adam_eps_form="tf", num_aggregate=10,
                       train_steps=25)
        raise ValueError(f"unknown search space {space_name!r}; expected 'macro', 'micro' or 'rnn'")


def ema_baseline(baseline: torch.Tensor, rewards: torch.Tensor, decay: float) -> torch.Tensor:
    """The baseline after each of ``rewards`` in turn, without a Python loop.

    b_k = decay * b_{k-1} + (1 - decay) * r_k, so
    b_k = decay^(k+1) * b_{-1} + (1 - decay) * sum_{i<=k} decay^(k-i) * r_i.
    ``baseline``: 0-dim; ``rewards``: [n]; returns [n].
    """
    n = rewards.shape[0]
    k = torch.arange(n, device=rewards.device, dtype=rewards.dtype)
    exponent = (k.unsqueeze(1) - k.unsqueeze(0)).clamp_min(0)               # [n, n]: k - i
    weights = torch.tril(decay**exponent) * (1.0 - decay)
    return decay ** (k + 1) * baseline + weights @ rewards


def reinforce_loss(log_prob: torch.Tensor, advantage: torch.Tensor,
                   skip_penalty: torch.Tensor, skip_weight: float) -> torch.Tensor:
    """Mean over the batch of -(R - b) log pi(arch) + skip_weight * skip_penalty."""
    return (-advantage.detach() * log_prob).mean() + skip_weight * skip_penalty.mean()


def tf_epsilon(eps: float, beta2: float, step: int) -> float:
    """The epsilon that makes ``torch.optim.Adam``'s step ``step`` (1, 2, ...) TF1's.

    torch divides by sqrt(v_hat) + e with v_hat = v / (1 - b2^t); TF by sqrt(v) + eps after
    folding the corrections into the learning rate. They agree when e = eps / sqrt(1 - b2^t).
    """
    return eps / (1.0 - beta2 ** step) ** 0.5


class NonFiniteRewardError(ValueError):
    """A NaN or inf reward: refused before it reaches the controller's weights."""


class Reinforce:
    """Trains a :class:`~enas_edu.controller.Controller` from rewards.

    ``update(batch, rewards)`` takes the architectures (with their differentiable log-probs) and
    one reward per architecture, and makes one optimiser step.
    """

    def __init__(self, controller: Controller, config: ReinforceConfig | None = None, **overrides):
        config = config or ReinforceConfig.official(controller.space.name)
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.controller = controller
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=self.config.lr,
                                          betas=self.config.adam_betas, eps=self.config.adam_eps)
        self.baseline = torch.zeros((), device=controller.g_emb.device)  # tf.Variable(0.0)
        self.updates = 0                                                  # Adam's t

    def update(self, batch: SampleBatch, rewards: torch.Tensor) -> dict[str, torch.Tensor]:
        """One REINFORCE step; returns detached statistics as tensors. Its one host sync is the
        check that every reward is finite (a NaN would turn every controller weight into NaN)."""
        rewards = torch.as_tensor(rewards, dtype=torch.float32, device=self.baseline.device)
        if rewards.shape != (len(batch),):
            raise ValueError(f"expected one reward per architecture ({len(batch)}), got shape "
                             f"{tuple(rewards.shape)}")
        if not torch.isfinite(rewards).all():
            raise NonFiniteRewardError(f"a reward is not finite ({rewards.tolist()}): the controller was not "
                                       "updated (a diverged shared-weight network or a broken reward)")
        total = rewards + self.config.entropy_weight * batch.entropy.detach()
        if self.config.baseline_start == "first" and not self.started:
            self.baseline = total.mean().detach()
        baselines = ema_baseline(self.baseline, total, self.config.baseline_decay)
        advantage = total - baselines
        loss = reinforce_loss(batch.log_prob, advantage, batch.skip_penalty, self.config.skip_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.updates += 1
        if self.config.adam_eps_form == "tf":
            eps = tf_epsilon(self.config.adam_eps, self.config.adam_betas[1], self.updates)
            for group in self.optimizer.param_groups:
                group["eps"] = eps
        self.optimizer.step()
        self.baseline = baselines[-1].detach()
        return {"loss": loss.detach(), "reward": rewards.mean(), "baseline": self.baseline,
                "advantage": advantage.mean().detach(),
                # two entropies, each under its own name: the term the bonus adds to the reward
                # (official, entropy_mode) and the policy's entropy (see controller.Sample)
                "entropy_term": batch.entropy.mean().detach(),
                "policy_entropy": batch.policy_entropy.mean().detach(),
                "skip_penalty": batch.skip_penalty.mean().detach()}

    @property
    def started(self) -> bool:
        """Whether an update has been made (the baseline then no longer starts)."""
        return self.updates > 0

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "baseline": self.baseline.clone(),
                "updates": torch.tensor(self.updates)}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"].to(self.baseline.device)
        steps = [int(s["step"]) for s in state["optimizer"]["state"].values() if "step" in s]
        self.updates = int(state["updates"]) if "updates" in state else max(steps, default=0)
