"""Build the book without the exercises' solutions, for a course that hands out the exercises.

Usage: ``python tools/build_without_solutions.py [--out _build/student]``

Copies the book's sources (``_config.yml``, ``_toc.yml``, ``references.bib``, ``book/`` and the
chapters) into a temporary folder, removes every solution (the ``{admonition} Solution``
dropdowns that follow each exercise) from the chapters' Markdown cells and the pages, and
builds that copy with Jupyter Book into ``--out``. The exercises, and the asserts of the
checked ones, stay; nothing in the repository changes. The committed outputs are kept, as in the
normal build (``execute_notebooks: off``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
#: a solution: from its opening fence (four backticks, ``{admonition} Solution``) to the next
#: line that holds only four backticks; the code blocks inside use three, so they cannot end it
SOLUTION = re.compile(r"^[ \t]*````\{admonition\} Solution[^\n]*\n.*?^[ \t]*````[ \t]*(?:\n|\Z)",
                      re.MULTILINE | re.DOTALL)
SOURCES = ("_config.yml", "_toc.yml", "references.bib", "book", "notebooks")
#: written into every student build, so that a later build replaces only a folder it made
MARKER = ".enas-edu-student-build"


def strip_solutions(text: str) -> tuple[str, int]:
    """``text`` without its solutions, and how many were removed."""
    out, count = SOLUTION.subn("", text)
    return re.sub(r"\n{3,}", "\n\n", out), count


def strip_notebook(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    removed = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source, n = strip_solutions(cell.source)
            removed += n
    nbformat.write(nb, path)
    return removed


def copy_sources(dest: Path) -> None:
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, dest / name)


def check_out(out: Path) -> str | None:
    """Why ``out`` cannot receive the build (it would replace something this tool did not
    write), or None: it does not exist yet, or holds an earlier student build."""
    if out.exists() and not (out.is_dir() and (out / MARKER).is_file()):
        return (f"--out {out} exists and is not an earlier student build (no {MARKER} in it); "
                "give a new folder, or delete that one yourself")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student",
                        help="where the HTML goes (default _build/student); replaced only if an "
                             "earlier run of this tool wrote it")
    args = parser.parse_args()
    out = args.out.resolve()
    problem = check_out(out)
    if problem:
        print(f"build_without_solutions: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        copy = Path(work) / "book"
        copy.mkdir()
        copy_sources(copy)
        removed = sum(strip_notebook(p) for p in sorted((copy / "notebooks").glob("[0-9][0-9]_*.ipynb")))
        for page in sorted((copy / "book").glob("*.md")):
            text, n = strip_solutions(page.read_text())
            page.write_text(text)
            removed += n
        print(f"removed {removed} solutions; building the copy")
        build = subprocess.run(["jupyter-book", "build", str(copy), "--path-output", str(copy)])
        if build.returncode != 0:
            return build.returncode
        (copy / "_build" / "html" / MARKER).write_text("written by tools/build_without_solutions.py\n")
        shutil.rmtree(out, ignore_errors=True)             # an earlier student build (check_out)
        shutil.copytree(copy / "_build" / "html", out)
    print(f"the book without solutions: {out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
