"""Training a fixed architecture from scratch (paper section 3; the official ``*_final.sh``).

The child is built in its final style (``MicroNet``/``MacroNet`` with ``style="final"``; the
enas_lm cell for PTB) at the final width and depth, trained on the whole training split (CIFAR:
all 50,000 images, as ``read_data(num_valids=0)``), and tested once at the end. Where the data has
a validation split (PTB), it is evaluated every epoch; nothing is chosen on the test set.

Launched under ``torchrun``, it trains with DistributedDataParallel: every process takes its
share of each batch (``x[rank::world]``), gradients are averaged, rank 0 writes the run
directory, and at the end the replicas' weights are compared (``replicas_in_sync``).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from .config import FinalConfig, config_to_dict, load_config, save_config
from .runs import RunDir, atomic_write_text, rng_state, set_rng_state
from .search import NETS, _bar
from .tasks import check_same_data, fit_to_data, make_task
from .training import (Precision, clip_gradients, learning_rate, make_sgd, resolve_device, seed_everything,
                       trainable_parameters, uses_channels_last, zero_gradients)


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) under torchrun, else (0, 1, 0)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0"))


class FinalTraining:
    """``FinalTraining(config, run_dir)``; ``run()`` trains and tests; ``resume=True`` continues."""

    def __init__(self, config: FinalConfig | None, run_dir: str | Path, resume: bool = False,
                 callbacks: list[Callable[[dict], None]] | None = None, progress: bool = True,
                 device: str | None = None):
        self.rank, self.world, local_rank = _distributed()
        run_path = Path(run_dir)
        if not resume and config is None:
            raise ValueError("a new final training needs a config (see enas_edu.config.final_config)")
        if self.rank > 0:             # rank 0 owns the folder; the others only read its checkpoint
            self.run_dir = RunDir(run_path, read_only=True)
        elif resume:
            self.run_dir = RunDir.resume(run_path, "final", callbacks)
        else:
            self.run_dir = RunDir.create(run_path, "final", callbacks)
        if resume:
            config = load_config(run_path / "config.json")
        self.device = resolve_device(device or config.device)
        if self.world > 1:
            if self.device.type == "cuda":
                self.device = torch.device("cuda", local_rank)
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.progress = progress and self.rank == 0
        seed_everything(config.seed)
        cuda = self.device.type == "cuda"
        channels_last = uses_channels_last(config)
        self.task = make_task(config.data, config.space, "final", config.seed, self.device,
                              channels_last=channels_last, run_dir=run_path)
        if self.rank == 0:
            check_same_data(run_path, self.task.describe(), resume)
        config = fit_to_data(config, self.task)
        self.config = config
        self.precision = Precision(self.device, config.precision)
        self.arch = config.net.space().from_arc_string(config.arc)
        self.net = NETS[config.space](config.net, self.arch).to(self.device)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        o = config.optim
        params = trainable_parameters(self.net, o)
        self.model = self.net
        if self.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.device.index] if cuda else None)
        if config.compile is not None and config.space == "rnn":
            self.net.compile_cell(config.compile)           # one time step; see RNNNet.compile_cell
        elif config.compile is not None:  # after DDP, which then keeps its gradient hooks outside the graph
            self.model = torch.compile(self.model, mode=config.compile)
        self.compiled_at_step = None     # set by the first step of this process when compiling
        self.optimizer = make_sgd(params, o)
        self.epoch = 0
        self.steps_done = 0           # training steps so far, all epochs (fixed_steps)
        per_epoch = min(self.task.nominal_steps(), config.max_train_steps or self.task.nominal_steps())
        self.step_budget = config.epochs * per_epoch if config.fixed_steps else None
        self.averaged = None          # torch.optim.swa_utils.AveragedModel once ASGD starts
        self.best_valid, self.bad_epochs = float("inf"), 0
        self.valid_history: list[float] = []   # validation perplexity per epoch (the ASGD trigger)
        if resume:
            self._restore(self.run_dir.load_checkpoint(map_location=self.device))
        elif self.rank == 0:
            save_config(config, run_path / "config.json")
        if self.rank == 0:
            self.run_dir.log_environment(self.device, self.task.name, self.task.describe())

    def _state(self) -> dict:
        return {"version": 1, "epoch": self.epoch, "steps_done": self.steps_done, "net": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scaler": self.precision.scaler.state_dict(),
                "averaged": None if self.averaged is None else self.averaged.state_dict(),
                "best_valid": self.best_valid, "bad_epochs": self.bad_epochs, "valid_history": self.valid_history,
                "rng": rng_state({}), "config": config_to_dict(self.config)}

    def _restore(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.precision.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"], {})
        self.epoch = state["epoch"]
        self.steps_done = state.get("steps_done", 0)   # older checkpoints ran whole passes
        self.best_valid, self.bad_epochs = state["best_valid"], state["bad_epochs"]
        self.valid_history = list(state.get("valid_history", []))   # older checkpoints: none kept
        if state["averaged"] is not None:
            self.averaged = torch.optim.swa_utils.AveragedModel(self.net)
            self.averaged.load_state_dict(state["averaged"])
        if self.rank == 0:
            self.run_dir.truncate_logs(state["logs"])

    def _shard(self, batch):
        """This process's share of a batch: every world-th example (text: column)."""
        if self.world == 1:
            return batch
        x, y = batch
        if self.task.kind == "text":
            return x[:, self.rank::self.world], y[:, self.rank::self.world]
        return x[self.rank::self.world], y[self.rank::self.world]

    def run(self, stop_at: int | None = None) -> dict | None:
        """Train to ``config.epochs`` (or ``stop_at``), then test once; returns the result."""
        cfg, o = self.config, self.config.optim
        end = min(cfg.epochs, stop_at) if stop_at is not None else cfg.epochs
        steps = self.task.num_train_steps()
        if cfg.max_train_steps is not None:
            steps = min(steps, cfg.max_train_steps)
        total_steps = cfg.epochs * steps
        while self.epoch < end and not self.finished:
            epoch, t0 = self.epoch, time.perf_counter()
            self.model.train()
            base_lr = learning_rate(o, epoch)
            losses, carry = [], None
            bar = _bar(steps, f"epoch {epoch}", self.progress)
            left = cfg.max_train_steps            # None: the whole pass
            if self.step_budget is not None:
                left = min(left or self.step_budget, self.step_budget - self.steps_done)
            # fixed_steps: the pass ends where the budget does (enas_lm tests at its last step)
            for step, batch in enumerate(itertools.islice(self.task.train_epoch(epoch), left)):
                self.steps_done += 1
                self.net.drop_path_progress = (epoch * steps + step) / total_steps
                with self.precision.autocast():
                    loss, carry, stats = self.task.loss(self.model, self._shard(batch), carry=carry,
                                                        aux_weight=o.aux_weight)
                for group in self.optimizer.param_groups:
                    group["lr"] = base_lr * stats["lr_scale"]
                zero_gradients(self.optimizer, o.dense_updates)
                self.precision.scaler.scale(loss).backward()
                self.precision.scaler.unscale_(self.optimizer)
                clip_gradients(self.net.parameters(), o.grad_clip, o.clip_noop)
                self.precision.scaler.step(self.optimizer)
                self.precision.scaler.update()
                if self.averaged is not None:
                    self.averaged.update_parameters(self.net)
                losses.append(loss.detach())
                if self.config.compile is not None and self.compiled_at_step is None:
                    self._log_compile(epoch, step, t0)
                bar.update(1)
            bar.close()
            record = {"phase": "epoch", "epoch": epoch, "train_loss": torch.stack(losses).mean().item(),
                      "lr": base_lr, "seconds": time.perf_counter() - t0}
            if self.task.kind == "text":   # PTB has a validation split even for final training
                record["valid_perplexity"] = self._validate()
            self.epoch = epoch + 1
            if self.rank == 0:
                self.run_dir.log(record)
                self.run_dir.save_checkpoint(self._state())
        if not self.finished:
            return None
        return self._test()

    @property
    def finished(self) -> bool:
        """All ``config.epochs`` trained, or with ``fixed_steps`` the step budget spent."""
        spent = self.step_budget is not None and self.steps_done >= self.step_budget
        return spent or self.epoch >= self.config.epochs

    def _log_compile(self, epoch: int, step: int, t0: float) -> None:
        """The first compiled step pays for compilation: its seconds go on record apart."""
        float(self.optimizer.param_groups[0]["params"][0].detach().sum())   # wait for the device
        self.compiled_at_step = (epoch, step)
        if self.rank == 0:
            self.run_dir.log({"phase": "event", "event": "compiled", "mode": self.config.compile, "epoch": epoch,
                              "step": step, "first_step_seconds": time.perf_counter() - t0})

    def _evaluated_net(self):
        """The averaged weights once ASGD has started, else the trained ones."""
        net = self.net if self.averaged is None else self.averaged.module
        net.eval()
        return net

    def _validate(self) -> float:
        ppl = self.task.evaluate(self._evaluated_net(), split="valid")
        if ppl < self.best_valid:
            self.best_valid, self.bad_epochs = ppl, 0
        else:
            self.bad_epochs += 1
        o = self.config.optim
        start = (o.asgd_patience is not None and self.averaged is None and
                 asgd_starts(self.valid_history, ppl, self.bad_epochs, o.asgd_patience, o.asgd_trigger))
        self.valid_history.append(ppl)
        if start:
            self.averaged = torch.optim.swa_utils.AveragedModel(self.net)   # starts from these weights
            if self.rank == 0:
                self.run_dir.log({"phase": "event", "event": "averaging_started", "epoch": self.epoch})
        return ppl

    def _test(self) -> dict:
        """Test once, after the last epoch."""
        score = self.task.evaluate(self._evaluated_net(), split="test")
        metric = "test_perplexity" if self.task.kind == "text" else "test_accuracy"
        result = {"space": self.config.space, "arc": self.config.arc, metric: score,
                  "averaged_weights": self.averaged is not None,
                  "params": sum(p.numel() for n, p in self.net.named_parameters() if not n.startswith("aux_head")),
                  "data": self.task.name, "profile": self.config.profile, "seed": self.config.seed,
                  "device": str(self.device), "precision": self.precision.name, "world_size": self.world}
        if self.world > 1:
            flat = torch.cat([p.detach().flatten().double() for p in self.net.parameters()])
            gathered = [torch.zeros_like(flat) for _ in range(self.world)]
            dist.all_gather(gathered, flat)
            result["replicas_in_sync"] = all(torch.equal(gathered[0], g) for g in gathered)
        if self.rank == 0:
            self.run_dir.log({"phase": "test", metric: score})
            atomic_write_text(self.run_dir.path / "result.json", json.dumps(result, indent=2) + "\n")
        return result


def asgd_starts(history: list[float], ppl: float, bad_epochs: int, patience: int, trigger: str) -> bool:
    """Whether averaged SGD starts after an epoch with validation perplexity ``ppl``.

    ``history``: the earlier epochs' perplexities. "official" (enas_lm ``fixed.py``):
    ``len(history) > patience and ppl > min(history[:-patience])`` (with ``patience`` 0, all of
    them). "patience": ``bad_epochs`` (epochs in a row without a new best, this one counted)
    has reached ``patience``.
    """
    if trigger == "patience":
        return bad_epochs >= patience
    return len(history) > patience and ppl > min(history[:len(history) - patience])


def run_final(config: FinalConfig | None, run_dir, resume: bool = False, callbacks=None, progress=True,
              stop_at: int | None = None, device: str | None = None) -> dict | None:
    return FinalTraining(config, run_dir, resume, callbacks, progress, device).run(stop_at)
