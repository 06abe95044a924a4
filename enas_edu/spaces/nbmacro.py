"""The space of NAS-Bench-Macro (Su et al. 2021): 8 layers, 3 choices each, 3^8 = 6,561 strings.

NAS-Bench-Macro trained every network of this space alone on CIFAR-10, three times, and
published the test accuracies (:mod:`enas_edu.bench.nas_bench_macro`). It is the smallest real
CIFAR-10 truth there is: a search run over this space can be scored by looking its choices up.

The network (:mod:`enas_edu.supernets.nbmacro`) is a MobileNetV2-like chain: a stem, three stages
of 2, 3 and 3 searched layers (the first layer of a stage halves the resolution and doubles the
width), a head. Each layer is one of:

- 0 ``identity`` (a 1 x 1 convolution with stride 2 at the first layer of a stage),
- 1 ``mb3_k3``: an inverted residual block, expansion 3, 3 x 3 depthwise kernel,
- 2 ``mb6_k5``: the same with expansion 6 and a 5 x 5 kernel.

The arc string is the benchmark's key written with spaces: ``"2 2 2 1 2 2 2 0"`` is its best
network ``22212220``. It is ENAS's macro space with no skip connections and a smaller menu of
operations, so the same controller (one op decision per layer) searches it.

**Canonical forms.** An identity inside a stage (not its first layer) passes its input on
unchanged, so where it sits in the stage does not matter: ``1 0 1 ...`` and ``1 1 0 ...`` are the
same network. The benchmark moved the identities of each stage to its end before training, so
its 6,561 keys hold 3,969 distinct networks. :meth:`NBMacroSpace.canonical` does the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .base import SearchSpace

NBMACRO_OPS = ("identity", "mb3_k3", "mb6_k5")
#: Searched layers per stage (NAS-Bench-Macro ``train/model.py``).
STAGES = (2, 3, 3)


@dataclass(frozen=True)
class NBMacroArch:
    """``ops[k]`` is layer k's choice: 0 identity, 1 MB3_K3, 2 MB6_K5."""

    ops: tuple[int, ...]

    @property
    def key(self) -> str:
        """The benchmark's key: the digits without spaces, e.g. ``"22212220"``."""
        return "".join(str(op) for op in self.ops)


class NBMacroSpace(SearchSpace):
    """``NBMacroSpace()``: the 8-layer space of NAS-Bench-Macro (stages of 2, 3 and 3 layers)."""

    name = "nbmacro"
    arch_type = NBMacroArch
    num_ops = len(NBMACRO_OPS)
    op_names = NBMACRO_OPS

    def __init__(self, stages: tuple[int, ...] = STAGES):
        stages = tuple(stages)
        if not stages or any(not isinstance(n, int) or n < 1 for n in stages):
            raise ValueError(f"stages must be positive layer counts, got {stages!r}")
        self.stages = stages
        self.num_layers = sum(stages)
        self._positions = tuple(range(self.num_ops) for _ in range(self.num_layers))
        firsts, k = [], 0
        for n in stages:
            firsts.append(k)
            k += n
        self.stage_starts = tuple(firsts)

    @property
    def positions(self) -> tuple[range, ...]:
        return self._positions

    def position_name(self, index: int) -> str:
        stage = max(s for s, start in enumerate(self.stage_starts) if start <= index)
        return f"layer {index} op (stage {stage}, {'first' if index in self.stage_starts else 'inside'})"

    def config(self) -> dict:
        return {"stages": list(self.stages)}

    def paper_size(self) -> int:
        return self.num_ops ** self.num_layers          # 3^8 = 6,561 keys

    def encode(self, arch: NBMacroArch) -> tuple[int, ...]:
        return tuple(arch.ops)

    def decode(self, decisions: Sequence[int]) -> NBMacroArch:
        return NBMacroArch(tuple(int(d) for d in decisions))

    def _check_structure(self, arch: NBMacroArch) -> None:
        if len(arch.ops) != self.num_layers:
            raise ValueError(f"architecture has {len(arch.ops)} layers; this space has {self.num_layers}")

    # ------------------------------------------------------------------ the benchmark's keys
    def canonical(self, arch: NBMacroArch) -> NBMacroArch:
        """The same network with each stage's inner identities moved to the stage's end."""
        self.validate(arch)
        ops = []
        for start, n in zip(self.stage_starts, self.stages):
            inner = arch.ops[start + 1:start + n]
            ops += [arch.ops[start], *[op for op in inner if op != 0], *[0] * inner.count(0)]
        return NBMacroArch(tuple(ops))

    def distinct(self) -> list[NBMacroArch]:
        """One architecture per distinct network (its canonical form), in enumeration order."""
        return [a for a in self.enumerate() if self.canonical(a) == a]

    def from_arc_string(self, text: str) -> NBMacroArch:
        """An arc string (``"2 2 2 1 2 2 2 0"``) or the benchmark's key (``"22212220"``)."""
        if isinstance(text, str) and text.strip().isdigit() and len(text.strip()) == self.num_layers:
            return self.from_key(text.strip())
        return super().from_arc_string(text)

    def from_key(self, key: str) -> NBMacroArch:
        """The architecture of a benchmark key such as ``"22212220"``."""
        if not isinstance(key, str) or not key.isdigit():
            raise ValueError(f"a NAS-Bench-Macro key is {self.num_layers} digits 0-2, got {key!r}")
        return self.from_decisions([int(c) for c in key])
