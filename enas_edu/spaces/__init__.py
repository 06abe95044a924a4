"""Search spaces: what an architecture is, how many there are, and the official string format."""

from __future__ import annotations

from .base import SearchSpace
from .macro import MACRO_OPS, MacroArch, MacroSpace
from .micro import MICRO_OPS, MicroArch, MicroNode, MicroSpace, loose_ends
from .nbmacro import NBMACRO_OPS, NBMacroArch, NBMacroSpace
from .published import published
from .rnn import RNN_FUNCS, RNNArch, RNNCellSpace, rnn_loose_ends

SPACES = {"rnn": RNNCellSpace, "macro": MacroSpace, "micro": MicroSpace}


def space_from_config(name: str, config: dict) -> SearchSpace:
    """Rebuild a space from its ``name`` and ``config()`` (as saved in a run directory)."""
    if name not in SPACES:
        raise ValueError(f"unknown search space {name!r}; choose one of {sorted(SPACES)}")
    return SPACES[name](**config)


__all__ = [
    "SearchSpace", "RNNCellSpace", "MacroSpace", "MicroSpace", "NBMacroSpace",
    "RNNArch", "MacroArch", "MicroArch", "MicroNode", "NBMacroArch",
    "RNN_FUNCS", "MACRO_OPS", "MICRO_OPS", "NBMACRO_OPS",
    "loose_ends", "rnn_loose_ends", "published", "space_from_config", "SPACES",
]
