"""The ENAS search: shared-weight training and controller training, alternating (paper section 2.2).

Each epoch, as the official code runs it:

1. **Shared phase.** One pass over the training split. Every minibatch trains a *fresh* child
   sampled from the controller (M = 1) with SGD on the shared weights (Nesterov momentum and SGDR
   for the CNNs; plain SGD at lr 20, scaled by the window length, for the RNN).
2. **Controller phase.** ``train_steps`` REINFORCE updates, each on ``num_aggregate`` sampled
   children; each child's reward is measured on one validation minibatch (a new one each time).
3. **Report.** ``eval_archs`` children are sampled and scored on one validation batch, as the
   official code prints 10 per epoch; they go to ``architectures.jsonl``.

Everything needed to continue lives in ``checkpoint.pt`` (tensors and plain values only; see
:mod:`enas_edu.runs`): shared weights, controller, both
optimisers, the baseline, the position (epoch, phase, step), the data position and the state of
every random generator. ``Search(config, run_dir, resume=True).run()`` continues exactly.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch

from .config import SearchConfig, config_to_dict, load_config, save_config
from .controller import Controller
from .reinforce import NonFiniteRewardError, Reinforce
from .runs import RunDir, RunError, rng_state, set_rng_state
from .supernets import MacroNet, MicroNet, NBMacroNet, RNNNet
from .tasks import check_same_data, fit_to_data, make_task
from .training import (Precision, clip_gradients, learning_rate, make_sgd, resolve_device, seed_everything,
                       trainable_parameters, uses_channels_last, zero_gradients)

NETS = {"rnn": RNNNet, "macro": MacroNet, "micro": MicroNet, "nbmacro": NBMacroNet}


class NonFiniteLossError(RuntimeError):
    """The loss kept being NaN or inf and there was no checkpoint to roll back to."""


class Search:
    """``Search(config, run_dir)``; ``run()`` searches; ``resume=True`` continues a run directory.

    ``callbacks`` receive every metrics record (a dict) as it is written: the book's live plots.
    ``read_only=True`` opens a finished (or running) search to use its shared weights and
    controller, as ``derive`` does: nothing in the run folder is written or cut.
    """

    def __init__(self, config: SearchConfig | None, run_dir: str | Path, resume: bool = False,
                 callbacks: list[Callable[[dict], None]] | None = None, progress: bool = True,
                 device: str | None = None, read_only: bool = False):
        if read_only or resume:   # the run's own config; a given one must be the same
            self.run_dir = (RunDir.open(run_dir, "search") if read_only else
                            RunDir.resume(run_dir, "search", callbacks))
            saved = load_config(self.run_dir.path / "config.json")
            if config is not None and config_to_dict(config) != config_to_dict(saved):
                changed = [k for k, v in config_to_dict(config).items() if config_to_dict(saved).get(k) != v]
                raise RunError(f"{self.run_dir.path} holds a search with other settings ({', '.join(changed)} "
                               "differ); resume it as it was started, or start a new run in another folder")
            config = saved
        elif config is None:
            raise ValueError("a new search needs a config (see enas_edu.config.search_config)")
        else:
            self.run_dir = RunDir.create(run_dir, "search", callbacks)
        self.read_only = read_only
        self.progress = progress
        self.device = resolve_device(device or config.device)
        seed_everything(config.seed)
        channels_last = uses_channels_last(config)
        self.task = make_task(config.data, config.space, "search", config.seed, self.device,
                              channels_last=channels_last, run_dir=self.run_dir.path)
        check_same_data(self.run_dir.path, self.task.describe(), resume or read_only, write=not read_only)
        config = fit_to_data(config, self.task)
        self.config = config
        self.precision = Precision(self.device, config.precision)
        self.net = NETS[config.space](config.net).to(self.device)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.space = self.net.space
        self.controller = Controller(self.space, config.controller).to(self.device)
        self.reinforce = Reinforce(self.controller, config.reinforce)
        o = config.optim
        self.optimizer = make_sgd(trainable_parameters(self.net, o), o)
        self.arch_generator = torch.Generator(device=self.device).manual_seed(config.seed)
        self.position = {"epoch": 0, "phase": "shared", "step": 0}
        self.steps_done = 0                       # shared steps so far, all epochs (fixed_steps)
        self.step_budget = None if not config.fixed_steps else config.epochs * min(
            self.task.nominal_steps(), config.max_train_steps or self.task.nominal_steps())
        self.epoch_stats = _fresh_epoch_stats()   # what the epoch's record sums up, so far
        self.rollbacks = 0
        self.nonfinite = 0
        self.skipped: list[dict] = []
        if resume or read_only:
            self._restore(self.run_dir.load_checkpoint(map_location=self.device))
        else:
            save_config(config, self.run_dir.path / "config.json")
        if not read_only:
            self.run_dir.log_environment(self.device, self.task.name, self.task.describe())

    # ------------------------------------------------------------------ state
    def _state(self) -> dict:
        return {"version": 1, "position": dict(self.position), "steps_done": self.steps_done,
                "epoch_stats": self.epoch_stats,
                "net": self.net.state_dict(),
                "controller": self.controller.state_dict(), "reinforce": self.reinforce.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scaler": self.precision.scaler.state_dict(),
                "task": self.task.state_dict(), "rng": rng_state({"arch": self.arch_generator}),
                "rollbacks": self.rollbacks, "config": config_to_dict(self.config)}

    def _restore(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.controller.load_state_dict(state["controller"])
        self.reinforce.load_state_dict(state["reinforce"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.precision.scaler.load_state_dict(state["scaler"])
        self.task.load_state_dict(state["task"])
        set_rng_state(state["rng"], {"arch": self.arch_generator})
        self.position = dict(state["position"])
        self.steps_done = state.get("steps_done", 0)   # older checkpoints ran whole passes
        self.epoch_stats = {**_fresh_epoch_stats(), **state["epoch_stats"]}
        if "entropies" in self.epoch_stats:   # a checkpoint from before the two entropies: the official term
            self.epoch_stats["entropy_terms"] = self.epoch_stats.pop("entropies")
        self.rollbacks = state["rollbacks"]
        if self.read_only:
            self.run_dir.check_logs(state["logs"])
        else:
            self.run_dir.truncate_logs(state["logs"])

    def checkpoint(self) -> None:
        self.run_dir.save_checkpoint(self._state())

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_arch(self):
        """The child of the next shared step: from the controller, or uniform for the baselines."""
        if self.config.uniform_sampling:
            return self.space.sample(self.arch_generator)
        return self.controller.sample(generator=self.arch_generator).arch

    @torch.no_grad()
    def sampling_entropy(self, epoch: int) -> float:
        """The entropy (nats) of the policy the children come from, when no controller phase
        logs it (the baselines): uniform sampling has log(size); the frozen controller is
        estimated from 20 samples drawn with a generator of their own (the children's stream
        is left as it is)."""
        if self.config.uniform_sampling:
            return math.log(self.space.size())
        generator = torch.Generator(device=self.device).manual_seed(self.config.seed + 104729 * (epoch + 1))
        return self.controller.sample_batch(20, generator=generator).policy_entropy.mean().item()

    # ------------------------------------------------------------------ the loop
    def run_to_end(self, stop_at: int | None = None) -> "Search":
        """:meth:`run`, again after each rollback (which restored the last checkpoint)."""
        while True:
            try:
                return self.run(stop_at)
            except _RolledBack:
                continue

    @property
    def finished(self) -> bool:
        """All ``config.epochs`` run, or with ``fixed_steps`` the step budget spent."""
        spent = self.step_budget is not None and self.steps_done >= self.step_budget
        return spent or self.position["epoch"] >= self.config.epochs

    def run(self, stop_at: int | None = None) -> "Search":
        """Search until ``config.epochs`` (or until epoch ``stop_at``, for tests and notebooks)."""
        end = min(self.config.epochs, stop_at) if stop_at is not None else self.config.epochs
        while self.position["epoch"] < end and not self.finished:
            epoch = self.position["epoch"]
            t0 = time.perf_counter()
            if self.position["phase"] == "shared":
                self.epoch_stats = _fresh_epoch_stats()
                self.epoch_stats["shared"] = self._shared_phase(epoch)
                self.position.update(phase="controller", step=0)
            if not self.finished:   # enas_lm stops at its last step, before that pass's controller
                self._controller_phase(epoch, self.position["step"])
            sampled = self._report_archs(epoch)
            stats = self.epoch_stats
            controller = ({"reward": _mean(stats["rewards"]), "policy_entropy": _mean(stats["policy_entropies"]),
                           "entropy_term": _mean(stats["entropy_terms"])}
                          if stats["rewards"] else {"policy_entropy": self.sampling_entropy(epoch)})
            self.run_dir.log({"phase": "epoch", "epoch": epoch, **stats["shared"], **controller, **sampled,
                              "baseline": self.reinforce.baseline.item(), "seconds": time.perf_counter() - t0})
            self.position = {"epoch": epoch + 1, "phase": "shared", "step": 0}
            self.checkpoint()
        return self

    def _shared_phase(self, epoch: int) -> dict:
        cfg, o = self.config, self.config.optim
        self.net.train()
        base_lr = learning_rate(o, epoch)
        steps = self.task.num_train_steps()
        if cfg.max_train_steps is not None:
            steps = min(steps, cfg.max_train_steps)
        if self.step_budget is not None:
            steps = min(steps, self.step_budget - self.steps_done)
        totals = {"loss": torch.zeros((), device=self.device), "n": 0}
        window = []
        t0, examples, carry = time.perf_counter(), 0, None
        bar = _bar(steps, f"epoch {epoch} shared", self.progress)
        archs = self._sample_phase(steps) if cfg.sync_free else None
        for step, batch in enumerate(self.task.train_epoch(epoch)):
            if step >= steps:
                break
            self.steps_done += 1                  # a skipped non-finite step counts too
            arch = archs[step] if archs is not None else self.sample_arch()
            with self.precision.autocast():
                loss, new_carry, stats = self.task.loss(self.net, batch, arch, carry, aux_weight=o.aux_weight)
            if not cfg.sync_free and not torch.isfinite(loss):     # a host sync every step
                self._nonfinite(epoch, step, arch)
                carry = None
                bar.update(1)
                continue
            self.nonfinite, self.skipped, carry = 0, [], new_carry
            for group in self.optimizer.param_groups:
                group["lr"] = base_lr * stats["lr_scale"]
            zero_gradients(self.optimizer, o.dense_updates)
            self.precision.scaler.scale(loss).backward()
            self.precision.scaler.unscale_(self.optimizer)
            grad_norm = clip_gradients(self.net.parameters(), o.grad_clip, o.clip_noop)
            self.precision.scaler.step(self.optimizer)
            self.precision.scaler.update()
            totals["loss"] += loss.detach()
            totals["n"] += 1
            examples += batch[1].numel()
            window.append((loss.detach(), grad_norm.detach(), stats))
            if len(window) == cfg.log_every or step == steps - 1:
                self._log_window(epoch, step, window, base_lr)
                window = []
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - t0
        mean_loss = (totals["loss"] / max(1, totals["n"])).item()
        return {"train_loss": mean_loss, "lr": base_lr, "shared_steps": totals["n"],
                "shared_seconds": seconds, "examples_per_second": examples / max(seconds, 1e-9)}

    @torch.no_grad()
    def _sample_phase(self, steps: int) -> list:
        """``sync_free``: every child of the shared phase at once (the policy is fixed during it)."""
        if self.config.uniform_sampling:
            return [self.space.sample(self.arch_generator) for _ in range(steps)]
        return self.controller.sample_batch(steps, generator=self.arch_generator).archs

    def _log_window(self, epoch, step, window, base_lr) -> None:
        losses = torch.stack([w[0] for w in window])
        if self.config.sync_free and not torch.isfinite(losses).all():   # the window's one read
            self.nonfinite = self.config.max_nonfinite - 1
            self._nonfinite(epoch, step, None)
        record = {"phase": "shared", "epoch": epoch, "step": step, "loss": losses.mean().item(),
                  "grad_norm": torch.stack([w[1].float() for w in window]).max().item(), "lr": base_lr}
        metric = "acc" if "acc" in window[0][2] else "ppl"
        record[metric] = torch.stack([torch.as_tensor(w[2][metric]).float() for w in window]).mean().item()
        self.run_dir.log(record)

    def _nonfinite(self, epoch: int, step: int, arch) -> None:
        """Skip the step; after ``max_nonfinite`` in a row, roll back to the last checkpoint."""
        self.nonfinite += 1
        self.optimizer.zero_grad(set_to_none=True)
        event = ({"phase": "event", "event": "nonfinite_loss_skipped", "epoch": epoch, "step": step,
                  "arc": self.space.to_arc_string(arch)} if arch is not None else
                 {"phase": "event", "event": "nonfinite_loss_in_window", "epoch": epoch, "step": step})
        self.run_dir.log(event)
        self.skipped.append(event)
        if self.nonfinite < self.config.max_nonfinite:
            return
        if not self.run_dir.checkpoint_path.exists():
            raise NonFiniteLossError(
                f"{self.nonfinite} non-finite losses in a row before the first checkpoint (epoch {epoch}, "
                f"step {step}); lower the learning rate or check the data")
        state = self.run_dir.load_checkpoint(map_location=self.device)
        rollbacks = self.rollbacks + 1
        self._restore(state)                     # this also cuts the logs back to the checkpoint
        for skipped in self.skipped:             # but the events that caused it stay on record
            self.run_dir.log(skipped)
        self.skipped = []
        self.rollbacks = rollbacks
        self.nonfinite = 0
        # a different stream of children from here, or the same NaN would come back
        self.arch_generator.manual_seed(self.config.seed + 7919 * rollbacks)
        self.run_dir.log({"phase": "event", "event": "rolled_back_to_checkpoint", "epoch": epoch,
                          "step": step, "to_epoch": self.position["epoch"], "rollbacks": rollbacks})
        raise _RolledBack()

    def scoring_mode(self) -> None:
        """Put the shared weights in the mode children are scored in (``reward_bn_train_mode``)."""
        self.net.train(self.config.reward_bn_train_mode)

    def rewards(self, archs) -> torch.Tensor:
        """One reward per architecture, each on its own validation minibatch."""
        self.scoring_mode()
        batches = [self.task.reward_batch() for _ in archs]
        cfg = self.config
        with self.precision.autocast():
            if cfg.batched_rewards and cfg.space == "rnn" and not cfg.reward_bn_train_mode and len(archs) > 1:
                # as many cells at once as one controller update scores, which is known to fit
                # (derive scores a thousand: all at once would need a thousand stacked matrices)
                k = cfg.reinforce.num_aggregate
                return torch.cat([self.task.score_archs(self.net, batches[i:i + k], archs[i:i + k]).float()
                                  for i in range(0, len(archs), k)])
            return torch.stack([self.task.score(self.net, b, a).float() for b, a in zip(batches, archs)])

    def _controller_phase(self, epoch: int, start: int) -> None:
        cfg, r = self.config, self.config.reinforce
        if not cfg.train_controller or start >= r.train_steps:
            return
        bar = _bar(r.train_steps - start, f"epoch {epoch} controller", self.progress)
        for step in range(start, r.train_steps):
            # sampled with gradients, as the official controllers build their sample op: the
            # update differentiates the log-probs of this very pass (no second, teacher-forced one)
            batch = self.controller.sample_batch(r.num_aggregate, generator=self.arch_generator)
            reward = self.rewards(batch.archs)
            try:
                stats = self.reinforce.update(batch, reward)
            except NonFiniteRewardError:
                # skipped and logged, as enas_lm skips a step whose loss is not finite
                self.run_dir.log({"phase": "event", "event": "nonfinite_reward_skipped", "epoch": epoch,
                                  "step": step, "rewards": reward.tolist()})
            else:
                self.run_dir.log({"phase": "controller", "epoch": epoch, "step": step, **stats})
                self.epoch_stats["rewards"].append(stats["reward"].item())
                self.epoch_stats["policy_entropies"].append(stats["policy_entropy"].item())
                self.epoch_stats["entropy_terms"].append(stats["entropy_term"].item())
            self.position.update(phase="controller", step=step + 1)
            if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < r.train_steps:
                self.checkpoint()
            bar.update(1)
        bar.close()

    @torch.no_grad()
    def _report_archs(self, epoch: int) -> dict:
        if self.config.eval_archs == 0:
            return {}
        archs = [self.sample_arch() for _ in range(self.config.eval_archs)]
        scores = self.rewards(archs)
        for arch, score in zip(archs, scores.tolist()):
            self.run_dir.log({"epoch": epoch, "arc": self.space.to_arc_string(arch), "reward": score},
                             "architectures.jsonl")
        return {"sampled_reward_mean": scores.mean().item(), "sampled_reward_max": scores.max().item()}


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _fresh_epoch_stats() -> dict:
    return {"shared": {}, "rewards": [], "policy_entropies": [], "entropy_terms": []}


class _RolledBack(Exception):
    """Raised inside an epoch after a rollback; ``run`` restarts from the restored position."""


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False, disable=not enabled)


def run_search(config: SearchConfig | None, run_dir: str | Path, resume: bool = False,
               callbacks=None, progress: bool = True, stop_at: int | None = None, device: str | None = None) -> Search:
    """Run (or resume) a search; a rollback after repeated NaNs restarts from the checkpoint."""
    return Search(config, run_dir, resume=resume, callbacks=callbacks, progress=progress,
                  device=device).run_to_end(stop_at)
