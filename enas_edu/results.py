"""Recorded runs: the small files of a run directory, kept so that the book can show them.

A full GPU search or final training is too long to run while the book is executed. Its run
directory can instead be *recorded*: :func:`record_run` (or ``enas-edu record RUN_DIR``) copies
the files that describe it (no checkpoint) into ``results/<name>/`` of the repository, and the
chapters plot every recorded run of their space beside the book's own small runs. The results
page of the book lists them all. What a recorded run holds:

- ``config.json``: the exact config (its ``profile`` says smoke, book, colab or paper);
- ``metrics.jsonl``: every record the run logged (rewards, entropy, losses, epoch times);
- ``environment.jsonl``: hardware, versions, data and date of each start or resume;
- when present: ``data.json`` (what the data was, with a fingerprint of its files),
  ``architectures.jsonl``, ``derived.json``, ``candidates.jsonl``, ``result.json``,
  ``baseline.json``.

``RECORD.json`` lists the copied files with their SHA-256, so a hand-edited number is detected.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .runs import RunDir, RunError, current_umask, in_place, read_json

REQUIRED = ("config.json", "metrics.jsonl", "environment.jsonl")
OPTIONAL = ("run.json", "data.json", "architectures.jsonl", "derived.json", "candidates.jsonl", "result.json",
            "baseline.json")


def _sha256(path: Path) -> str:
    in_place(path, "log")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _json(path: Path) -> dict | None:
    return read_json(path) if os.path.lexists(path) else None


@dataclass
class RecordedRun:
    """One run directory (recorded or live), read into memory."""

    name: str
    path: Path
    config: dict
    metrics: list[dict]
    environment: list[dict]
    derived: dict | None = None
    result: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def space(self) -> str:
        return self.config["space"]

    @property
    def kind(self) -> str:
        """``"search"`` or ``"final"``."""
        return "search" if self.config["kind"] == "SearchConfig" else "final"

    @property
    def profile(self) -> str:
        return self.config["profile"]

    @property
    def hardware(self) -> str:
        return ", ".join(dict.fromkeys(e["hardware"] for e in self.environment)) or "unknown"

    @property
    def data(self) -> str:
        return ", ".join(dict.fromkeys(e["data"] for e in self.environment)) or "unknown"

    def summary(self) -> dict:
        """One row of the results table: what ran, where, how long, and what it found."""
        epochs = [r for r in self.metrics if r.get("phase") == "epoch"]
        row = {"run": self.name, "space": self.space, "job": self.kind, "profile": self.profile,
               "data": self.data, "hardware": self.hardware, "seed": self.config["seed"],
               "epochs": f"{len(epochs)}/{self.config['epochs']}",
               "hours": round(sum(r.get("seconds", 0.0) for r in epochs) / 3600, 3)}
        if self.derived:
            metric = next(k for k in self.derived if k.startswith("full_valid_"))
            row.update(arc=self.derived["arc"], **{metric.replace("full_", ""): self.derived[metric]})
        if self.result:
            metric = next(k for k in self.result if k.startswith("test_"))
            row.update(arc=self.result["arc"], params=self.result["params"], **{metric: self.result[metric]})
        return row


def load_run(path: str | Path, name: str | None = None, verify: bool = True) -> RecordedRun:
    """Read a run directory (read-only); a recorded one (with ``RECORD.json``) is checked file by file."""
    path = Path(path)
    missing = [f for f in ("config.json", "metrics.jsonl") if not (path / f).exists()]
    if missing:
        raise FileNotFoundError(f"{path} is not a run directory: {missing} missing")
    record = path / "RECORD.json"
    if verify and record.exists():
        for file, digest in read_json(record)["sha256"].items():
            if not (path / file).is_file() or _sha256(path / file) != digest:
                raise RunError(f"{path / file} differs from the checksum in {record}: a recorded run "
                               "must hold the files its run wrote; record it again with `enas-edu record`")
    run = RunDir(path, read_only=True)
    config = read_json(path / "config.json")
    if (not isinstance(config, dict) or config.get("kind") not in ("SearchConfig", "FinalConfig")
            or any(k not in config for k in ("space", "profile", "seed", "epochs"))):
        raise RunError(f"{path / 'config.json'} is not the config of an enas_edu search or final training")
    return RecordedRun(name or path.name, path, config, run.read("metrics.jsonl"), run.read("environment.jsonl"),
                       _json(path / "derived.json"), _json(path / "result.json"),
                       {"baseline": _json(path / "baseline.json")} if (path / "baseline.json").exists() else {})


def recorded_runs(root: str | Path, space: str | None = None, kind: str | None = None) -> list[RecordedRun]:
    """Every run directory directly under ``root`` (sorted by name), optionally of one space/kind.

    A damaged run is skipped with a warning that names it and says why, so one bad folder does
    not hide every other run.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    # a recorded run holds its config and metrics; other folders (the ground-truth study) are not runs
    for p in sorted(root.iterdir()):
        if not ((p / "config.json").exists() and (p / "metrics.jsonl").exists()):
            continue
        try:
            runs.append(load_run(p))
        except (OSError, ValueError) as exc:
            warnings.warn(f"skipped the damaged run {p}: {exc}", stacklevel=2)
    return [r for r in runs if (space is None or r.space == space) and (kind is None or r.kind == kind)]


def record_run(run_dir: str | Path, results_root: str | Path, name: str | None = None) -> Path:
    """Copy a run directory's describing files into ``results_root/name`` with their checksums."""
    run_dir = Path(run_dir)
    missing = [f for f in REQUIRED if not os.path.lexists(run_dir / f)]
    if missing:
        raise FileNotFoundError(f"{run_dir} lacks {missing}: record a run directory written by "
                                "`enas-edu search` or `enas-edu train` (enas_edu 0.1 or later)")
    results_root = Path(results_root)
    if results_root.exists() and not results_root.is_dir():
        raise RunError(f"--results {results_root} is a file; give the results folder (default ./results)")
    name = name if name is not None else run_dir.resolve().name
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise RunError(f"--name {name!r} must be a plain folder name (no '/', not starting with '.'): the record "
                       f"goes directly under --results {results_root}")
    load_run(run_dir)                # a damaged run is refused here, not recorded
    dest = results_root / name
    if dest.exists():
        raise FileExistsError(f"{dest} exists; choose another name or delete it first")
    files = [f for f in REQUIRED + OPTIONAL if os.path.lexists(run_dir / f)]
    for f in files:              # the files themselves: a link could copy a private file into results/
        in_place(run_dir / f, "log" if f.endswith(".jsonl") else "json")
    results_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=results_root, prefix=f".{name}.", suffix=".tmp"))   # a new name, never a user's
    tmp.chmod(0o777 & ~current_umask())                   # mkdtemp's folder is owner-only
    try:
        for f in files:
            shutil.copyfile(run_dir / f, tmp / f, follow_symlinks=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / "RECORD.json").write_text(json.dumps(
        {"source": str(run_dir.resolve()), "sha256": {f: _sha256(tmp / f) for f in files}}, indent=2) + "\n")
    tmp.rename(dest)            # appears whole or not at all
    return dest


def _score(row: dict, split: str) -> str:
    """A search's derived child (valid) or a final training's result (test), with its unit."""
    if f"{split}_accuracy" in row:
        return f"{row[f'{split}_accuracy']:.3f} accuracy"
    if f"{split}_perplexity" in row:
        return f"{row[f'{split}_perplexity']:.1f} perplexity"
    return ""


def runs_table(runs: list[RecordedRun]) -> tuple[list[dict], dict[tuple[str, str, str], list[str]]]:
    """The book's table of runs, narrow enough for its text column.

    Returns one short row per run (run, job, seed, epochs, hours; a search's derived child
    scored on the validation split with the shared weights; a final training's test result)
    and, apart, the runs grouped by profile, data and hardware: most runs share those, and the
    last two are long, so the chapters print them once per group above the table.
    """
    rows, sources = [], {}
    for row in (run.summary() for run in runs):
        sources.setdefault((row["profile"], row["data"], row["hardware"]), []).append(row["run"])
        rows.append({"run": row["run"], "job": f"{row['space']} {row['job']}", "seed": row["seed"],
                     "epochs": row["epochs"], "hours": row["hours"],
                     "derived: valid (shared weights)": _score(row, "valid"),
                     "final: test": _score(row, "test")})
    return rows, sources


def _cell(value, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def markdown_table(rows: list[dict], columns: list[str] | None = None, digits: int = 3) -> str:
    """Rows of dicts as a Markdown table (``IPython.display.Markdown`` renders it in the book)."""
    if not rows:
        return "_(none)_"
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))

    def cell(value) -> str:
        return _cell(value, digits).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


SHORT_CELL = 20  # characters; a cell this short (a number, "0.9086 ± 0.0131") is never broken


def html_table(rows: list[dict], columns: list[str] | None = None, digits: int = 3) -> str:
    """Rows of dicts as an HTML table (``IPython.display.HTML``): the rendered book shows it as a
    table whatever its Markdown renderer does with a notebook's Markdown outputs.

    Short cells carry ``class="short"``, which the book's stylesheet keeps on one line, so a
    number and its spread never split across lines while long text (a data description) wraps.
    """
    if not rows:
        return "<p><em>(none)</em></p>"
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))

    def td(value) -> str:
        text = _cell(value, digits)
        short = ' class="short"' if len(text) <= SHORT_CELL else ""
        return f"<td{short}>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(td(row.get(c)) for c in columns) + "</tr>" for row in rows)
    return f'<table class="enas-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
