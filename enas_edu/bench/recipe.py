"""The one fixed recipe that trains every child of the ground-truth table alone.

A NAS benchmark (NAS-Bench-101, Ying et al. 2019; NAS-Bench-201, Dong & Yang 2020) trains every
architecture of a space with one recipe, so any search can be scored by looking its choice up.
This module is that recipe for :data:`SPACE`: ENAS's macro space with 3 layers (6^3 x 2^3 = 1,728
children) on the shipped digits at their native 8 x 8. Each child is the network the search
samples (``MacroNet(NET, arch)``, search style: the same branches, skips added and
batch-normalised), trained from scratch; the study (:mod:`enas_edu.bench.study`) runs the
library's real search on the same space and data and looks its choices up here.

The recipe is short on purpose (1.7 s per child on one CPU core, BENCHMARKS.md): it is a
low-fidelity ground truth, like NAS-Bench-201's 12-epoch numbers: one seed ranks the children with a
Kendall tau of about 0.19 against another, so the table trains every child with 12 seeds: their
mean has a split-half reliability of 0.84 (:mod:`enas_edu.bench.reliability`, chapter 4).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import torch

from ..config import DataConfig, OptimConfig
from ..spaces import MacroSpace
from ..supernets import MacroNet, MacroNetConfig
from ..supernets.cost import count_flops, count_parameters
from ..tasks import ImageTask
from ..training import make_sgd

SPACE = MacroSpace(num_layers=3, num_ops=6)
#: The search-style child of the book's macro search, 3 layers, at the digits' one channel.
NET = MacroNetConfig(num_layers=3, out_filters=16, in_channels=1, keep_prob=0.9)
#: The 1,350 / 150 / 297 split of the shipped digits; no augmentation (a flipped digit is another).
DATA = DataConfig("digits8", batch_size=64, eval_batch_size=150, augment=False)
#: Images in that training split: one epoch of the recipe or of a search on this data.
TRAIN_IMAGES = 1350


@dataclass(frozen=True)
class Recipe:
    """How every child is trained: SGD with Nesterov momentum, one cosine decay to zero."""

    epochs: int = 4                  # 4 x 22 = 88 steps of (up to) 64 of the 1,350 images
    lr: float = 0.1                  # cosine over the steps, from lr to 0 (no restart)
    momentum: float = 0.9            # script: Nesterov 0.9
    weight_decay: float = 5e-4       # script: 2 x --child_l2_reg 2.5e-4 (macro search)
    net: MacroNetConfig = field(default_factory=lambda: NET)
    data: DataConfig = field(default_factory=lambda: DATA)

    def to_dict(self) -> dict:
        return asdict(self)


def make_task(recipe: Recipe, seed: int) -> ImageTask:
    """The digits task whose batch order is fixed by ``seed``."""
    return ImageTask(recipe.data, "search", seed, torch.device("cpu"))


def train_alone(arch, recipe: Recipe, seed: int, task: ImageTask | None = None) -> dict:
    """Train ``arch`` from scratch with ``recipe``; ``seed`` fixes the initial weights and batches.

    Returns its validation accuracy (the 150 images the search's rewards come from), test
    accuracy (297 images), both as correct images too, the mean cross-entropy of each split
    and the training seconds. Everything is scored with the running BN statistics.
    """
    task = task or make_task(recipe, seed)
    torch.manual_seed(seed)
    net = MacroNet(recipe.net, arch)
    optim = OptimConfig(lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    opt = make_sgd(net.parameters(), optim)
    steps = recipe.epochs * task.num_train_steps()
    t0, step = time.perf_counter(), 0
    net.train()
    for epoch in range(recipe.epochs):
        for batch in task.train_epoch(epoch):
            for group in opt.param_groups:                        # cosine per step, to zero
                group["lr"] = 0.5 * recipe.lr * (1 + math.cos(math.pi * step / steps))
            loss, _, _ = task.loss(net, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    seconds = time.perf_counter() - t0
    net.eval()
    out = {"seconds": seconds}
    for split in ("valid", "test"):
        counts = task.evaluate_counts(net, split=split)
        out.update({split: counts["correct"] / counts["images"], f"{split}_correct": counts["correct"],
                    f"{split}_loss": counts["loss"] / counts["images"]})
    return out


def child_cost(arch, recipe: Recipe) -> dict:
    """Parameters and forward FLOPs of one 8 x 8 image, of the child as trained."""
    net = MacroNet(recipe.net, arch)
    x = torch.zeros(1, recipe.net.in_channels, 8, 8)
    return {"params": count_parameters(net), "flops": count_flops(net, x)}
