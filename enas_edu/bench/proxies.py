"""Zero-cost proxies: scoring a network at initialisation, without training it.

After ENAS, a line of work asked whether a network's quality can be guessed before any training
(Mellor et al. 2021; Abdelfattah et al. 2021, "Zero-cost proxies for lightweight NAS"). Each
proxy is one forward and backward pass of the freshly initialised child on one minibatch:

- ``grad_norm``: the norm of the gradient of the loss with respect to all weights;
- ``synflow`` (Tanaka et al. 2020): with every weight replaced by its absolute value and an
  all-ones input, the sum over weights of ``weight * d(sum of outputs) / d(weight)``, computed
  in float64 with batch norm in evaluation mode (fresh statistics), so it needs no data;
- ``params``: the number of parameters, the simplest proxy of all.

Because the digits table (:mod:`enas_edu.bench.table`) holds every child of its space, a proxy
can be judged on all 1,728 at once: its Kendall tau with the table's accuracies, against the
table's own ceiling and against the shared weights' tau (chapter 4), and the true accuracy of
the child it ranks first (chapter 13).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from ..supernets import MacroNet
from ..supernets.cost import count_parameters
from .recipe import NET, SPACE

PROXIES = ("grad_norm", "synflow", "params")


def grad_norm(net: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """L2 norm of the loss's gradient over all weights, on one minibatch (training mode)."""
    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(images), labels).backward()
    return float(torch.sqrt(sum(p.grad.pow(2).sum() for p in net.parameters() if p.grad is not None)).detach())


def synflow(net: torch.nn.Module, image_shape: tuple[int, ...]) -> float:
    """SynFlow: sum of |w| * d(sum of outputs)/d|w| with an all-ones input, no data read (on a
    float64 copy of ``net``: the network passed in is left as it is)."""
    net = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    net(torch.ones(1, *image_shape, dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        return float(sum((p * p.grad).sum() for p in net.parameters() if p.grad is not None))


def score(arch, proxy: str, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """``proxy`` of the child ``arch`` of the digits space, initialised with ``seed``."""
    if proxy not in PROXIES:
        raise ValueError(f"proxy must be one of {PROXIES}, got {proxy!r}")
    torch.manual_seed(seed)
    net = MacroNet(NET, arch)
    if proxy == "params":
        return float(count_parameters(net))
    if proxy == "grad_norm":
        return grad_norm(net, images, labels)
    return synflow(net, tuple(images.shape[1:]))


def score_table(truth, proxy: str, images: torch.Tensor, labels: torch.Tensor, seed: int = 0,
                rows: list[int] | None = None) -> torch.Tensor:
    """``proxy`` of every child the table lists (or of ``rows`` of it), in the table's order: [A]."""
    rows = range(len(truth.arcs)) if rows is None else rows
    return torch.tensor([score(SPACE.from_arc_string(truth.arcs[i]), proxy, images, labels, seed) for i in rows],
                        dtype=torch.float64)
