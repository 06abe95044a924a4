"""Execute every chapter in place, so the committed outputs come from the code as it is.

Usage: ``python tools/execute_book.py [--profile book] [notebooks/01_why_search.ipynb ...]``
and ``python tools/execute_book.py --stamp-only`` (rewrite the running-time lines from
``notebooks/timings.json`` without executing anything).

Runs each notebook top to bottom with ``ENAS_EDU_PROFILE`` set (``book`` by default: a CPU and
the data shipped with the package), in the ``notebooks/`` folder, and stores the widget state so
the rendered book shows the widgets. Each results cell prints what produced its numbers.

Every execution also records how long the chapter took, on which hardware and at which commit,
in ``notebooks/timings.json``, and rewrites the chapter's **Running time.** line (in its first
cell) from that file. The file also holds, per chapter, an *estimate* for a Colab T4 at the
``colab`` profile with the basis of the estimate; the line says it is an estimate until a run
on a T4 replaces it with a measurement. So no running time in the book is typed by hand. A
chapter reuses the runs it finds in ``notebooks/runs``: measure from an empty one (a fresh
clone), and pass ``--keep-timings`` to a re-execution that reuses finished runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
TIMINGS = ROOT / "notebooks" / "timings.json"
LINE = re.compile(r"^\*\*Running time\.\*\*.*?(?:\n\n|\Z)", re.MULTILINE | re.DOTALL)
BADGE_END = re.compile(r"^\[!\[Open In Colab\].*\n\n", re.MULTILINE)


def commit() -> str:
    """The commit measured, with ``-dirty`` when code differs from it (executed notebooks and the
    timings file do not count: executing the book changes them)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no",
                                  "--", ".", ":!notebooks/*.ipynb", ":!notebooks/timings.json"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def t4_measured(entry: dict) -> dict | None:
    """The chapter's ``colab`` timing if it was measured on a T4 (another GPU's is no T4 time)."""
    t4 = entry.get("colab")
    return t4 if t4 and "T4" in t4["hardware"] else None


def running_time(entry: dict) -> str:
    """The **Running time.** paragraph of one chapter, from its entry in ``timings.json``."""
    parts = []
    cpu = entry.get("book")
    if cpu:
        parts.append(f"CPU at the `book` profile: {minutes(cpu['seconds'])}, measured on {cpu['hardware']} "
                     f"(torch {cpu['torch']}, {cpu['date']}, commit {cpu['commit']}).")
    t4 = t4_measured(entry)
    if t4:
        parts.append(f"Colab T4 at the `colab` profile: {minutes(t4['seconds'])}, measured "
                     f"({t4['date']}, commit {t4['commit']}).")
    elif entry.get("colab_t4_estimate"):
        e = entry["colab_t4_estimate"]
        parts.append(f"Colab T4 at the `colab` profile: {e['time']}, an estimate, not yet measured "
                     f"(basis: {e['basis']}).")
    if entry.get("note"):
        parts.append(entry["note"])
    return f"**Running time.** {' '.join(parts)}\n\n" if parts else ""


INSTRUCTORS = ROOT / "book" / "instructors.md"
SCHEDULE = re.compile(r"(<!-- schedule:start -->\n).*?(<!-- schedule:end -->)", re.DOTALL)
#: The course plan of the instructors' page: six sessions of the chapters, two or three a week.
SESSIONS = [("1", ["01_why_search", "02_nas_with_rl"]),
            ("2", ["03_search_spaces", "04_parameter_sharing"]),
            ("3", ["05_rnn_cell_search", "06_macro_search"]),
            ("4", ["07_micro_search", "08_derive_and_train"]),
            ("5", ["09_costs_and_baselines", "10_discussion"]),
            ("6", ["13_search_strategies", "11_recorded_runs", "12_own_data"])]


def schedule(timings: dict) -> str:
    """The instructors' page's table: per session, its chapters and their running times, the CPU
    time summed from ``timings.json`` (measured), the T4 time measured or estimated."""
    rows = ["| session | chapters | CPU at the `book` profile (measured) | Colab T4 at the `colab` profile |",
            "|---|---|---|---|"]
    for session, chapters in SESSIONS:
        names, cpu, t4 = [], [], []
        for c in chapters:
            title = nbformat.read(ROOT / "notebooks" / f"{c}.ipynb", as_version=4).cells[0].source.splitlines()[0]
            names.append(f"{int(c[:2])}. {title.lstrip('# ')}")
            entry = timings.get(c, {})
            cpu.append(entry.get("book", {}).get("seconds"))
            measured = t4_measured(entry)
            t4.append(f"{minutes(measured['seconds'])} (measured)" if measured else
                      f"{entry.get('colab_t4_estimate', {}).get('time', 'not estimated')} (estimate)")
        cpu_text = minutes(sum(cpu)) if None not in cpu else "not measured"
        rows.append(f"| {session} | {'; '.join(names)} | {cpu_text} | {'; '.join(t4)} |")
    return "\n".join(rows) + "\n"


def stamp_schedule(timings: dict, page: Path = INSTRUCTORS) -> bool:
    """Write :func:`schedule` between the page's schedule markers; True if it changed."""
    text = page.read_text()
    new = SCHEDULE.sub(lambda m: m.group(1) + schedule(timings) + m.group(2), text, count=1)
    if new == text:
        return False
    page.write_text(new)
    return True


def stamp(path: Path, timings: dict) -> bool:
    """Write the running-time line into the first cell of ``path``; True if it changed."""
    entry = timings.get(path.stem)
    if entry is None:
        return False
    nb = nbformat.read(path, as_version=4)
    source = nb.cells[0].source.rstrip("\n") + "\n\n"
    line = running_time(entry)
    if LINE.search(source):
        new = LINE.sub(line.replace("\\", "\\\\"), source, count=1)
    else:
        m = BADGE_END.search(source)
        at = m.end() if m else len(source)
        new = source[:at] + line + source[at:]
    new = new.rstrip("\n")
    if new == nb.cells[0].source:
        return False
    nb.cells[0].source = new
    nbformat.write(nb, path)
    return True


def record(timings: dict, path: Path, profile: str, seconds: float, at_commit: str) -> None:
    """Keep this execution's time of ``path`` at ``profile`` (the chapters' hardware label names the machine)."""
    import torch
    from enas_edu.training import hardware_name
    timings.setdefault(path.stem, {})[profile] = {
        "seconds": round(seconds), "hardware": hardware_name(), "torch": torch.__version__.split("+")[0],
        "date": datetime.date.today().isoformat(), "commit": at_commit}


def coalesce_streams(nb) -> None:
    """Join each code cell's consecutive outputs to the same stream into one, as a notebook shows
    them: the kernel may send one cell's printed lines in several messages, and the book would
    draw each as a separate block."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            last = outputs[-1] if outputs else None
            if (out.output_type == "stream" and last is not None and last.output_type == "stream"
                    and last.name == out.name):
                last.text += out.text
            else:
                outputs.append(out)
        cell.outputs = outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default="book")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    parser.add_argument("--stamp-only", action="store_true",
                        help="only rewrite the running-time lines from notebooks/timings.json")
    parser.add_argument("--keep-timings", action="store_true",
                        help="execute, but do not record this run's times (a re-execution that reuses "
                             "finished runs is not a measurement of the chapter)")
    args = parser.parse_args()
    os.environ["ENAS_EDU_PROFILE"] = args.profile
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    at_commit = commit()        # before this run writes any notebook
    for path in paths:
        if not args.stamp_only:
            from nbclient import NotebookClient
            t0 = time.perf_counter()
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                    resources={"metadata": {"path": str(ROOT / "notebooks")}},
                                    store_widget_state=True)
            client.execute()
            coalesce_streams(nb)
            nbformat.write(nb, path)
            seconds = time.perf_counter() - t0
            if not args.keep_timings:
                record(timings, path, args.profile, seconds, at_commit)
                TIMINGS.write_text(json.dumps(timings, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
            print(f"{path.name}: executed at profile {args.profile} in {seconds:.0f} s")
        if stamp(path, timings):
            print(f"{path.name}: running-time line rewritten")
    if stamp_schedule(timings):
        print(f"{INSTRUCTORS.relative_to(ROOT)}: schedule rewritten")


if __name__ == "__main__":
    main()
