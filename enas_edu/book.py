"""What the book's chapters need at their top: the profile, the device and where runs go.

Every chapter starts with ``book = chapter_setup()``:
- the profile comes from ``ENAS_EDU_PROFILE`` (CI sets ``smoke``); without it, ``colab`` on a
  GPU and ``book`` on a CPU;
- on Colab the runs go to Google Drive, so a disconnected runtime resumes where it stopped;
- ``book.label(...)`` writes the line every results cell prints: which data, profile, hardware
  and seed produced the numbers.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__
from .config import PROFILES


@dataclass
class Chapter:
    profile: str
    device: str
    runs: Path
    in_colab: bool

    def run_dir(self, name: str) -> Path:
        """The run directory of ``name`` at this profile (reused on resume)."""
        return self.runs / f"{name}-{self.profile}"

    def hardware(self) -> str:
        if self.device == "cuda":
            return torch.cuda.get_device_name(0)
        return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"

    def label(self, data: str, seed: int = 0) -> str:
        return (f"[data: {data}; profile: {self.profile}; hardware: {self.hardware()}; seed: {seed}; "
                f"enas_edu {__version__}, torch {torch.__version__}]")


def chapter_setup(runs: str | None = None) -> Chapter:
    in_colab = "google.colab" in sys.modules
    cuda = torch.cuda.is_available()
    profile = os.environ.get("ENAS_EDU_PROFILE") or ("colab" if cuda else "book")
    if profile not in PROFILES:
        raise ValueError(f"ENAS_EDU_PROFILE={profile!r}; choose one of {PROFILES}")
    if runs is None:
        if in_colab:
            from google.colab import drive  # noqa: the Colab runtime provides it
            drive.mount("/content/drive")
            runs = "/content/drive/MyDrive/enas_edu/runs"
        else:
            runs = "runs/book"
    chapter = Chapter(profile, "cuda" if cuda else "cpu", Path(runs), in_colab)
    print(f"profile {profile} on {chapter.hardware()}; runs in {chapter.runs}")
    return chapter
