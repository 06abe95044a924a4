"""The architectures the ENAS authors published, as their official ``fixed_arc`` strings.

Sources: melodyguan/enas ``scripts/cifar10_macro_final.sh`` and ``scripts/cifar10_micro_final.sh``;
google-research ``enas_lm/README.md`` (``--fixed_arc`` of ``fixed.py``). Loading them through the
spaces checks that this library reads the official format unchanged.
"""

from __future__ import annotations

from .base import SearchSpace
from .macro import MacroSpace
from .micro import MicroSpace
from .rnn import RNNCellSpace

# cifar10_macro_final.sh: 24 layers, ops within 0..3 (--child_num_branches=4). The search
# itself runs 12 layers (melodyguan/enas#24); the script joins these lines into one string.
MACRO_FINAL_ARC = """
0
3 0
0 1 0
2 0 0 1
2 0 0 0 0
3 1 1 0 1 0
2 0 0 0 0 0 1
2 0 1 1 0 1 1 1
1 0 1 1 1 0 1 0 1
0 0 0 0 0 0 0 0 0 0
2 0 0 0 0 0 1 0 0 0 0
0 1 0 0 1 1 0 0 0 0 1 1
2 0 1 0 0 0 0 0 1 0 1 1 0
1 0 0 1 0 0 0 1 1 1 0 1 0 1
0 1 1 0 1 0 1 0 0 0 0 0 1 0 0
2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1
2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0
2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1
3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0
3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1
0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0
3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0
0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0
0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0
"""

# cifar10_micro_final.sh: normal cell (5 nodes x 4 numbers), then the reduction cell.
MICRO_FINAL_ARC = "0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1"

# enas_lm README / fixed.py --fixed_arc: 8 searched nodes, `prev func` each (enas_lm layout).
RNN_ENAS_LM_ARC = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"

PUBLISHED = {
    "macro": (MacroSpace(num_layers=24, num_ops=4), MACRO_FINAL_ARC),
    "micro": (MicroSpace(num_nodes=5), MICRO_FINAL_ARC),
    "rnn": (RNNCellSpace(num_nodes=8, layout="enas_lm"), RNN_ENAS_LM_ARC),
}


def published(name: str) -> tuple[SearchSpace, object]:
    """``(space, arch)`` of the published ``"macro"``, ``"micro"`` or ``"rnn"`` architecture."""
    if name not in PUBLISHED:
        raise ValueError(f"no published architecture {name!r}; choose one of {sorted(PUBLISHED)}")
    space, arc = PUBLISHED[name]
    return space, space.from_arc_string(arc)
