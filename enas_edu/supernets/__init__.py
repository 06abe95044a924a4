"""Shared-weight supernets: one set of weights, many children (paper section 2).

Each network runs ``forward(x, arch)``. Built with an architecture, the same class holds only
that child's weights; ``extract_child(arch)`` copies them out of a supernet.
"""

from .base import Supernet
from .macro import MacroNet, MacroNetConfig
from .micro import MicroNet, MicroNetConfig
from .nbmacro import NBMacroNet, NBMacroNetConfig
from .rnn import RNNNet, RNNNetConfig, RNNOutput

__all__ = ["Supernet", "RNNNet", "RNNNetConfig", "RNNOutput", "MacroNet", "MacroNetConfig",
           "MicroNet", "MicroNetConfig", "NBMacroNet", "NBMacroNetConfig"]
