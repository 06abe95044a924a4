"""What the search and the final training share: device and precision, the learning-rate
schedule, gradient clipping, and a run directory that survives interruption.

A run directory holds ``config.json``, ``metrics.jsonl`` (one JSON record per line),
``checkpoint.pt`` (written to a temporary name, then renamed: never half-written; loaded only
after its SHA-256 matches ``checkpoint.sha256``, because loading unpickles it),
``environment.jsonl`` (one line per start or resume: hardware, versions, data, date) and whatever
the job adds. A checkpoint records how long the JSONL files were, so a resumed run first cuts off the
records written after it and then continues: the files end the same as in an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .data.download import file_hash


# ---------------------------------------------------------------------------------- device
def hardware_name(device: torch.device | str | None = None) -> str:
    """The machine as every record names it: the GPU's name, or the CPU and its thread count
    (``device`` None: the GPU if there is one)."""
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present, else the CPU; anything else is passed to torch.device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was asked for, but no CUDA device is visible; use --device cpu")
    return device


class Precision:
    """Mixed precision on CUDA: bf16 where supported, else fp16 with a gradient scaler. CPU: fp32."""

    def __init__(self, device: torch.device, enabled: bool):
        self.device = device
        self.enabled = enabled and device.type == "cuda"
        self.dtype = None
        if self.enabled:
            self.dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.enabled and self.dtype == torch.float16)

    def autocast(self):
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.dtype)

    @property
    def name(self) -> str:
        return str(self.dtype).replace("torch.", "") if self.enabled else "float32"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------------- schedule
def sgdr_lr(epoch: int, lr_max: float, lr_min: float, T0: int, Tmul: int) -> float:
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017) per epoch, as src/utils.py.

    The first cycle lasts T0 epochs, each next one Tmul times longer: with T0 = 10, Tmul = 2 the
    restarts fall at epochs 10, 30, 70, 150, 310, 630 (hence the official epoch counts).
    """
    t, length = epoch, T0
    while t >= length:
        t -= length
        length *= Tmul
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t / length))


def learning_rate(optim_config, epoch: int) -> float:
    if optim_config.schedule == "constant":
        return optim_config.lr
    return sgdr_lr(epoch, optim_config.lr, optim_config.lr_min, optim_config.T0, optim_config.Tmul)


def make_sgd(parameters, optim_config) -> torch.optim.SGD:
    """The SGD of the shared (or final) weights, as :class:`~enas_edu.config.OptimConfig` says."""
    o = optim_config
    return torch.optim.SGD(parameters, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov and o.momentum > 0,
                           weight_decay=o.weight_decay, foreach=o.foreach)


def trainable_parameters(net, optim_config) -> list:
    """The parameters SGD updates. With ``freeze_aux_head`` the auxiliary head is left out, as
    ``micro_child.py`` leaves its variables out of the optimiser's list (they keep their initial
    values; the aux loss still trains the trunk below the head)."""
    if optim_config.freeze_aux_head and getattr(net, "aux_head", None) is not None:
        net.aux_head.requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def zero_gradients(optimizer: torch.optim.Optimizer, dense: bool) -> None:
    """Clear the gradients before a backward pass.

    ``dense=False``: set them to None, so a parameter the child does not use gets no update at
    all. ``dense=True`` (``OptimConfig.dense_updates``, the official CNN searches): every
    parameter holds a zero gradient, so SGD applies weight decay and the momentum step to the
    shared weights the child did not use too, as TensorFlow's dense gradients of the official
    ``l2_reg * sum(w^2)`` over all variables do.
    """
    optimizer.zero_grad(set_to_none=not dense)    # dense: one multi-tensor zero of the gradients
    if dense:
        for group in optimizer.param_groups:      # a gradient for every parameter, once
            for p in group["params"]:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)


def clip_gradients(parameters, max_norm: float | None, noop: bool = False) -> torch.Tensor:
    """Clip the global gradient norm to ``max_norm``; returns the norm before clipping.

    ``noop`` reproduces the official CIFAR code, which computes the clipped gradients and then
    applies the unclipped ones (``src/utils.py`` appends ``g``, not ``c_g``).
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return torch.zeros(())
    if max_norm is None or noop:
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    return torch.nn.utils.clip_grad_norm_(params, max_norm)


# ---------------------------------------------------------------------------------- run directory
class RunDir:
    """A run directory with append-only JSONL logs and an atomic checkpoint."""

    LOGS = ("metrics.jsonl", "architectures.jsonl")

    def __init__(self, path: str | os.PathLike, callbacks: list[Callable[[dict], Any]] | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.callbacks = list(callbacks or [])

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    def log(self, record: dict, file: str = "metrics.jsonl") -> None:
        record = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in record.items()}
        with open(self.path / file, "a") as f:
            f.write(json.dumps(record) + "\n")
        if file == "metrics.jsonl":
            for callback in self.callbacks:
                callback(record)

    def log_environment(self, device: torch.device, data: str, data_source: dict | None = None) -> None:
        """Say what ran this (re)start: a recorded number must name its hardware and data.

        ``data_source`` (:func:`enas_edu.tasks.describe`): the data actually read, with its kind,
        folder, whether its checksums were checked, and its sizes.
        """
        from . import __version__
        self.log({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "hardware": hardware_name(device),
                  "device": str(device),
                  "data": data, "data_source": data_source, "enas_edu": __version__, "torch": torch.__version__,
                  "python": sys.version.split()[0]}, file="environment.jsonl")

    def log_sizes(self) -> dict:
        return {name: (self.path / name).stat().st_size if (self.path / name).exists() else 0
                for name in self.LOGS}

    def truncate_logs(self, sizes: dict) -> None:
        """Cut the logs back to the sizes a checkpoint recorded (drop what came after it)."""
        for name in self.LOGS:
            path = self.path / name
            if path.exists():
                with open(path, "r+b") as f:
                    f.truncate(sizes.get(name, 0))

    @property
    def checksum_path(self) -> Path:
        return self.path / "checkpoint.sha256"

    def save_checkpoint(self, state: dict) -> None:
        """Write the checkpoint atomically, with its SHA-256 beside it.

        ``checkpoint.sha256`` lists the digests a valid checkpoint may have: the new one and
        the one it replaces. It is renamed into place *before* the checkpoint, so a crash between
        the two renames leaves the previous checkpoint, whose digest is still listed.
        """
        state = dict(state, logs=self.log_sizes())
        tmp = self.checkpoint_path.with_suffix(".pt.tmp")
        torch.save(state, tmp)
        digests = [file_hash(tmp, "sha256")]
        if self.checkpoint_path.exists():
            digests.append(file_hash(self.checkpoint_path, "sha256"))
        self._write_digests(digests)
        os.replace(tmp, self.checkpoint_path)

    def _write_digests(self, digests: list[str]) -> None:
        """Replace ``checkpoint.sha256`` atomically with ``digests``, one per line."""
        tmp = self.checksum_path.with_suffix(".sha256.tmp")
        tmp.write_text("\n".join(digests) + "\n")
        os.replace(tmp, self.checksum_path)

    def load_checkpoint(self, map_location=None) -> dict:
        """Load the checkpoint after checking its SHA-256: it is unpickled (it holds RNG states and
        configs, not only tensors), so only a file this library wrote may be loaded."""
        if not self.checkpoint_path.exists():
            raise FileNotFoundError(f"no checkpoint to resume from: {self.checkpoint_path} does not exist")
        if not self.checksum_path.exists():
            raise ValueError(f"{self.checkpoint_path} has no {self.checksum_path.name} beside it (written by "
                             "enas_edu 0.1, or copied without it), and a checkpoint is unpickled, which runs code. "
                             "If you wrote this file yourself, trust it once with "
                             f"enas_edu.training.trust_checkpoint({str(self.path)!r}) and resume again")
        if file_hash(self.checkpoint_path, "sha256") not in self.checksum_path.read_text().split():
            raise ValueError(f"{self.checkpoint_path} does not match {self.checksum_path.name}: the file was changed "
                             "or damaged after the run wrote it, so it is not loaded. Restore it from a backup, or "
                             "start the run again in a new directory")
        return torch.load(self.checkpoint_path, map_location=map_location, weights_only=False)

    def read(self, file: str = "metrics.jsonl") -> list[dict]:
        path = self.path / file
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trust_checkpoint(run_dir: str | os.PathLike) -> str:
    """Record the SHA-256 of ``run_dir``'s checkpoint as valid (for a checkpoint you wrote yourself
    that has no checksum: one from enas_edu 0.1, or one edited on purpose). Returns the digest."""
    run = RunDir(run_dir)
    if not run.checkpoint_path.exists():
        raise FileNotFoundError(f"no checkpoint in {run.path}")
    digest = file_hash(run.checkpoint_path, "sha256")
    run._write_digests([digest])
    return digest


def rng_state(generators: dict[str, torch.Generator]) -> dict:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
             "generators": {k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
