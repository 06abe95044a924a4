"""What every ENAS search space has in common.

An architecture in ENAS is nothing but the sequence of decisions the controller emits
(Pham et al. 2018, section 2). The official code writes that sequence out as a string of
integers, the ``fixed_arc`` flag of its scripts. A search space here is therefore described by
its *positions*: one ``range`` of allowed values per integer of that string, in the string's order.

Because no position's range depends on an earlier decision in any of the three ENAS spaces,
everything else follows from the positions alone:

- ``size()`` is the product of the range lengths (an exact Python int, no floating point);
- ``enumerate()`` is their Cartesian product;
- ``sample()`` draws each position uniformly;
- ``validate()`` checks each value against its range and names the position that is wrong.

Each concrete space adds the structure: how the flat sequence maps to a readable, immutable,
hashable architecture object (``encode`` / ``decode``), what each position means
(``position_name``), and the count printed in the paper (``paper_size``).
"""

from __future__ import annotations

import operator

import itertools
import math
from abc import ABC, abstractmethod
from typing import Any, Iterator, Sequence

import torch


class SearchSpace(ABC):
    """Base class of ``RNNCellSpace``, ``MacroSpace`` and ``MicroSpace``."""

    #: Short name used in configs, run directories and JSON ("rnn", "macro", "micro").
    name: str = ""
    #: The architecture class of this space (a frozen dataclass, so immutable and hashable).
    arch_type: type = object

    # ------------------------------------------------------------------ structure
    @property
    @abstractmethod
    def positions(self) -> tuple[range, ...]:
        """Allowed values of each integer of the arc string, in the string's order."""

    @abstractmethod
    def position_name(self, index: int) -> str:
        """What position ``index`` of the arc string decides, for error messages and drawings."""

    @abstractmethod
    def encode(self, arch: Any) -> tuple[int, ...]:
        """The architecture as its flat decision sequence (arc-string order)."""

    @abstractmethod
    def decode(self, decisions: Sequence[int]) -> Any:
        """Inverse of :meth:`encode`; the caller has checked the values against the positions."""

    @abstractmethod
    def paper_size(self) -> int:
        """The size of the space as the formula printed in the paper gives it."""

    @abstractmethod
    def config(self) -> dict:
        """Constructor arguments, so ``space_from_config`` can rebuild this space."""

    @abstractmethod
    def _check_structure(self, arch: Any) -> None:
        """Raise ``ValueError`` if ``arch`` has the wrong shape for this space."""

    # ------------------------------------------------------------------ counting
    def num_decisions(self) -> int:
        """Length of the arc string."""
        return len(self.positions)

    def size(self) -> int:
        """Exact number of distinct decision sequences (= architectures) in the space."""
        return math.prod(len(r) for r in self.positions)

    def enumerate(self, limit: int = 1_000_000) -> Iterator[Any]:
        """Every architecture of the space, in lexicographic order of the arc string.

        Only for tiny spaces: ``limit`` guards against enumerating 10^29 macro networks.
        """
        n = self.size()
        if n > limit:
            raise ValueError(
                f"{type(self).__name__} has {n:,} architectures, more than limit={limit:,}; "
                "enumerate() is for tiny spaces: shrink the space or raise `limit`."
            )
        for decisions in itertools.product(*self.positions):
            yield self.decode(decisions)

    def sample(self, generator: torch.Generator | None = None) -> Any:
        """One architecture drawn uniformly at random (each position independently)."""
        device = generator.device if generator is not None else None
        cards = torch.tensor([len(r) for r in self.positions], dtype=torch.float64, device=device)
        u = torch.rand(len(cards), generator=generator, dtype=torch.float64, device=device)
        offsets = (u * cards).floor().long().clamp_max(cards.long() - 1).tolist()
        return self.decode([r.start + o for r, o in zip(self.positions, offsets)])

    # ------------------------------------------------------------------ checking
    def validate(self, arch: Any) -> Any:
        """Return ``arch`` unchanged if it belongs to this space, else raise ``ValueError``."""
        if not isinstance(arch, self.arch_type):
            raise ValueError(
                f"expected a {self.arch_type.__name__} for {type(self).__name__}, "
                f"got {type(arch).__name__}"
            )
        self._check_structure(arch)
        self._check_values(self.encode(arch))
        return arch

    def _check_values(self, decisions: Sequence[int]) -> None:
        if len(decisions) != len(self.positions):
            raise ValueError(
                f"{type(self).__name__}({self._config_str()}) has {len(self.positions)} "
                f"decisions, got {len(decisions)}"
            )
        for i, (value, allowed) in enumerate(zip(decisions, self.positions)):
            if value not in allowed:
                raise ValueError(
                    f"position {i} ({self.position_name(i)}) is {value}; expected an integer "
                    f"in {allowed.start}..{allowed.stop - 1}"
                )

    def _config_str(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._config_str()})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.config() == other.config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.config().items()))))

    # ------------------------------------------------------------------ formats
    def from_decisions(self, decisions: Sequence[int]) -> Any:
        """Build an architecture from its decision sequence, checking every value."""
        if isinstance(decisions, (str, bytes)):
            raise ValueError(f"decisions must be a sequence of integers, got the string {decisions!r}; "
                             "for an official arc string (numbers separated by spaces) use from_arc_string")
        values = []
        for i, d in enumerate(decisions):
            try:
                value = None if isinstance(d, bool) else operator.index(d)   # 1.7 is no decision
            except TypeError:
                value = None
            if value is None:
                name = self.position_name(i) if i < len(self.positions) else "beyond the end"
                raise ValueError(f"decision {i} ({name}) is {d!r}; expected a whole number")
            values.append(value)
        decisions = tuple(values)
        self._check_values(decisions)
        return self.decode(decisions)

    def to_arc_string(self, arch: Any) -> str:
        """The official ``fixed_arc`` string: the decisions joined by single spaces."""
        return " ".join(str(d) for d in self.encode(self.validate(arch)))

    def from_arc_string(self, text: str) -> Any:
        """Parse an official ``fixed_arc`` string (any whitespace, newlines included)."""
        if not isinstance(text, str):
            raise ValueError(f"an arc string must be a str, got {type(text).__name__}")
        tokens = text.split()
        values = []
        for i, token in enumerate(tokens):
            try:
                values.append(int(token))
            except ValueError:
                name = self.position_name(i) if i < len(self.positions) else "beyond the end"
                raise ValueError(
                    f"position {i} ({name}) is {token!r}; expected an integer"
                ) from None
        if len(values) != len(self.positions):
            raise ValueError(
                f"{type(self).__name__}({self._config_str()}) expects an arc string of "
                f"{len(self.positions)} integers, got {len(values)}"
            )
        return self.from_decisions(values)

    def to_json(self, arch: Any) -> dict:
        """A JSON-ready dict: the space, its config and the arc string."""
        return {"space": self.name, "config": self.config(), "arc": self.to_arc_string(arch)}

    def from_json(self, obj: dict) -> Any:
        """Inverse of :meth:`to_json`; refuses an architecture of another space or size."""
        if not isinstance(obj, dict) or "arc" not in obj:
            raise ValueError("expected a dict with keys 'space', 'config' and 'arc' (see to_json)")
        if obj.get("space") != self.name or obj.get("config", self.config()) != self.config():
            raise ValueError(
                f"architecture is from space {obj.get('space')!r} with config "
                f"{obj.get('config')}, not {self!r}"
            )
        return self.from_arc_string(obj["arc"])
