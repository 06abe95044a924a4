"""What the book's chapters need at their top: the profile, the device and where runs go.

Every chapter starts with ``book = chapter_setup()``:
- the profile comes from ``ENAS_EDU_PROFILE`` (CI sets ``smoke``); without it, ``colab`` on a
  GPU and ``book`` on a CPU;
- on Colab the runs go to Google Drive when the setup cell's ``USE_DRIVE = True`` (then a new
  runtime resumes where the last stopped), else to ``/content/runs``;
- ``book.label(...)`` writes the line every results cell prints: which data, profile, hardware
  and seed produced the numbers;
- ``book.recorded(space)`` reads the runs recorded in the repository's ``results/`` folder (full
  GPU runs, see :mod:`enas_edu.results`), which the chapters plot beside their own small runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from . import __version__
from .config import PROFILES, final_config, search_config


@dataclass
class Chapter:
    profile: str
    device: str
    runs: Path
    in_colab: bool

    def run_dir(self, name: str) -> Path:
        """The run directory of ``name`` at this profile (reused on resume)."""
        return self.runs / f"{name}-{self.profile}"

    @property
    def results(self) -> Path | None:
        """The repository's ``results/`` folder (the chapters run in ``notebooks/``), if present."""
        for folder in (Path.cwd(), *Path.cwd().parents[:2]):
            if (folder / "results" / "README.md").exists():
                return folder / "results"
        return None

    def recorded(self, space: str, kind: str = "search"):
        """Recorded runs of ``space`` (``kind`` "search" or "final"); none on a bare Colab runtime."""
        from .results import recorded_runs
        return recorded_runs(self.results, space, kind) if self.results else []

    def pick(self, smoke, book, gpu):
        """A size by profile: ``smoke`` (CI), ``book`` (the committed CPU run), ``gpu`` (colab, paper)."""
        return {"smoke": smoke, "book": book}.get(self.profile, gpu)

    def search_config(self, space: str, **overrides):
        """The search config at this chapter's profile; CIFAR-10 and PTB are downloaded if missing."""
        return _downloading(search_config(space, self.profile, **overrides))

    def final_config(self, space: str, arc: str, **overrides):
        """The final-training config at this chapter's profile (downloads as above)."""
        return _downloading(final_config(space, arc, self.profile, **overrides))

    def search(self, name: str, space: str, callbacks=None, progress: bool = True, **overrides):
        """Run (or resume, or just reopen when finished) the search ``name`` of ``space``.

        A chapter that needs an earlier chapter's search names the same run: it reuses it, and
        runs it only when the reader starts here.
        """
        from .search import Search, run_search
        run = self.run_dir(name)
        resume = (run / "checkpoint.pt").exists()
        if resume:   # a finished search is only read: nothing in its folder is written
            done = Search(None, run, read_only=True, progress=progress)
            if done.finished:
                _close(callbacks)
                return done
            del done
        try:
            return run_search(None if resume else self.search_config(space, **overrides), run, resume=resume,
                              callbacks=callbacks, progress=progress)
        finally:
            _close(callbacks)

    def derive(self, name: str, uniform: bool = False):
        """:func:`enas_edu.derive.derive` on the run ``name``, sized by profile, kept once done."""
        from .derive import Derived, derive
        run = self.run_dir(name)
        saved = run / "derived.json"
        if saved.exists():
            d = json.loads(saved.read_text())
            metric = next(k for k in d if k.startswith("full_valid_"))
            return Derived(d["arc"], d["one_batch_reward"], d[metric], metric.replace("full_valid_", ""), run)
        return derive(run, num_samples=self.pick(20, 200, 1000), top_k=self.pick(3, 10, 10), uniform=uniform)

    def final(self, name: str, config, callbacks=None, progress: bool = True) -> dict:
        """Train (or resume) the final model ``name``; returns ``result.json`` once trained."""
        from .final import run_final
        run = self.run_dir(name)
        if (run / "result.json").exists():
            return json.loads((run / "result.json").read_text())
        resume = (run / "checkpoint.pt").exists()
        try:
            return run_final(None if resume else config, run, resume=resume, callbacks=callbacks,
                             progress=progress)
        finally:
            _close(callbacks)

    def baseline(self, name: str, which: str, config, **kwargs) -> dict:
        """Run the baseline ``which`` (see :data:`enas_edu.baselines.BASELINES`) once; reuse its result."""
        from .baselines import BASELINES
        run = self.run_dir(name)
        if (run / "baseline.json").exists():
            return json.loads((run / "baseline.json").read_text())
        return BASELINES[which](config, run, **kwargs)

    def study(self, workers: int | None = None):
        """The ground-truth study (:mod:`enas_edu.bench.study`): ``(summary, runs, config, source)``.

        At ``smoke`` a tiny one runs here (seconds). Otherwise the study recorded in the
        repository's ``results/ground_truth_study`` (``enas-edu study --profile book``) is read;
        where there is none (a bare Colab runtime) the book study runs here, in ``workers``
        processes (default: every core), which takes tens of minutes.
        """
        from .bench.study import StudyConfig, load_study, run_study
        if self.profile == "smoke":
            folder, source = self.run_dir("study"), "run here at the smoke profile (2 seeds, 2 epochs)"
            if not (folder / "summary.json").exists():
                run_study(StudyConfig.profile("smoke"), folder, progress=False)
        elif self.results and (self.results / "ground_truth_study" / "summary.json").exists():
            folder, source = self.results / "ground_truth_study", "recorded in results/ground_truth_study"
        else:
            folder, source = self.run_dir("study"), "run here at the book profile"
            if not (folder / "summary.json").exists():
                run_study(StudyConfig.profile("book", workers=workers or os.cpu_count() or 1), folder)
        return (*load_study(folder), source)

    def hardware(self) -> str:
        from .training import hardware_name
        return hardware_name(self.device)

    def label(self, data: str, seed: int | str = 0) -> str:
        """The line a results cell prints under its numbers; ``seed`` may name several ("0-2")."""
        return (f"[data: {data}; profile: {self.profile}; hardware: {self.hardware()}; seed: {seed}; "
                f"enas_edu {__version__}, torch {torch.__version__}]")


def show_source(*objects, width: int = 88) -> None:
    """Print the source of functions or classes as the chapters show them: a line longer than
    ``width`` wraps onto continuation lines indented four spaces deeper than it, so the
    printed code keeps its shape on the page instead of wrapping to column 0."""
    import inspect
    import textwrap
    for obj in objects:
        for line in inspect.getsource(obj).rstrip("\n").splitlines():
            indent = line[:len(line) - len(line.lstrip())]
            if len(line) <= width:
                print(line)
                continue
            print(textwrap.fill(line.strip(), width, initial_indent=indent, subsequent_indent=indent + "    ",
                                break_long_words=False, break_on_hyphens=False))
        print()


def _close(callbacks) -> None:
    """Close the callbacks that display something (LivePlot) once their run has returned."""
    for callback in callbacks or []:
        if hasattr(callback, "close"):
            callback.close()


def _downloading(config):
    if config.data.dataset in ("cifar10", "ptb") and not config.data.download:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, download=True))
    return config


def chapter_setup(runs: str | None = None, drive: bool = False) -> Chapter:
    """The chapter's profile, device and runs folder. ``drive=True`` (on Colab) keeps the runs
    on Google Drive, so a new runtime resumes them; off by default, because mounting asks for
    authorisation each time. Elsewhere ``drive`` is ignored and runs go to ``runs/book``."""
    in_colab = "google.colab" in sys.modules
    cuda = torch.cuda.is_available()
    profile = os.environ.get("ENAS_EDU_PROFILE") or ("colab" if cuda else "book")
    if profile not in PROFILES:
        raise ValueError(f"ENAS_EDU_PROFILE={profile!r}; choose one of {PROFILES}")
    if runs is None:
        if in_colab and drive:
            from google.colab import drive as colab_drive  # noqa: the Colab runtime provides it
            colab_drive.mount("/content/drive")
            runs = "/content/drive/MyDrive/enas_edu/runs"
        elif in_colab:
            runs = "/content/runs"   # lost with the runtime; USE_DRIVE = True keeps them
        else:
            runs = "runs/book"
    chapter = Chapter(profile, "cuda" if cuda else "cpu", Path(runs), in_colab)
    print(f"profile {profile} on {chapter.hardware()}; runs in {chapter.runs}")
    return chapter
