"""What the three supernets share: the architecture they run, and copying a child out."""

from __future__ import annotations

from typing import Any

import torch.nn as nn


class Supernet(nn.Module):
    """Base of ``RNNNet``, ``MacroNet`` and ``MicroNet``.

    Built without an architecture, a network holds the shared weights of every child and needs
    ``forward(x, arch)``. Built with one (``Net(config, arch)``), it holds only that child's
    weights and runs that child.
    """

    def _set_arch(self, config: Any, arch: Any) -> None:
        self.config, self.space = config, config.space()
        if arch is not None:
            self.space.validate(arch)
        elif getattr(config, "style", "search") == "final":
            raise ValueError("style='final' builds one fixed child: pass its architecture as `arch`")
        self.arch = arch

    def _resolve(self, arch: Any) -> Any:
        """The architecture to run: the one given to forward(), or the child's own."""
        if self.arch is None:
            if arch is None:
                raise ValueError("the supernet needs an architecture: forward(x, arch)")
            return self.space.validate(arch)
        if arch is not None and arch != self.arch:
            raise ValueError("this network is the fixed child of another architecture")
        return self.arch

    def extract_child(self, arch: Any) -> "Supernet":
        """A network holding only ``arch``'s weights, copied from these shared weights.

        In eval mode it gives exactly the outputs of ``self(x, arch)``.
        """
        if self.arch is not None:
            raise ValueError("extract_child() is for the supernet (built without arch)")
        device = next(self.parameters()).device
        child = type(self)(self.config, arch).to(device)
        child.load_state_dict(self._child_state(child, arch))
        return child

    def _child_state(self, child: "Supernet", arch: Any) -> dict:
        """The child's state dict taken from the shared one; the default matches names."""
        shared = self.state_dict()
        return {k: shared[k].clone() for k in child.state_dict()}
