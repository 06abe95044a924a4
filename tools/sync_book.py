"""Write the repository address and the library version into every place that repeats them.

Usage: ``python tools/sync_book.py`` (rewrite), ``python tools/sync_book.py --check`` (exit 1
and list what is stale; the test suite runs the same check), ``--version`` (print the version).

Two facts live in one place each:
- the repository address: ``repository.url`` and ``repository.branch`` in ``_config.yml``
  (Jupyter Book's own launch buttons read them there too);
- the library version: ``__version__`` in ``enas_edu/__init__.py`` (the wheel reads it there,
  ``enas-edu info`` prints it).

From them this script generates, so that publishing under another address is one edit and one
command:
- each chapter's Colab badge, which opens that chapter from the repository's branch;
- each chapter's setup cell, which on Colab installs the release the book was executed with
  (``pip install enas-edu==X.Y.Z``, as course books pin their library), falls back to the
  repository at the matching tag ``vX.Y.Z``, then to the branch, and prints one line if all
  three fail. All leave Colab's own torch alone: the package asks for ``torch>=2.4`` and pip
  keeps an installed torch that satisfies it. Google Drive is mounted only with
  ``USE_DRIVE = True`` (off, so a new runtime does not ask for authorisation in every chapter);
- the ``[project.urls]`` table of ``pyproject.toml`` (source, book, changelog).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = "notebooks/[0-9][0-9]_*.ipynb"
BADGE = re.compile(r"^\[!\[Open In Colab\]\([^)]*colab-badge\.svg\)\]\(.*\)$", re.MULTILINE)
#: the badge's image ships with the book (``book/_static``), so a page loads nothing from Google
BADGE_IMAGE = "../book/_static/colab-badge.svg"
URLS = re.compile(r"^\[project\.urls\]\n(?:.+\n)*", re.MULTILINE)


def repository(root: Path = ROOT) -> tuple[str, str, str]:
    """(owner, name, branch) of the book's repository, from ``_config.yml``."""
    import yaml
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config.get("repository") or {}
    url, branch = str(repo.get("url", "")).rstrip("/"), str(repo.get("branch", "main"))
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?", url)
    if not m:
        raise ValueError(f"_config.yml: repository.url is {url!r}; it must read https://github.com/OWNER/NAME "
                         "(Colab opens notebooks from GitHub)")
    return m.group(1), m.group(2), branch


def version(root: Path = ROOT) -> str:
    """``__version__`` of ``enas_edu/__init__.py``, read as text (no torch import)."""
    m = re.search(r'^__version__ = "([^"]+)"$', (root / "enas_edu" / "__init__.py").read_text(), re.MULTILINE)
    if not m:
        raise ValueError('enas_edu/__init__.py must hold one line: __version__ = "X.Y.Z"')
    return m.group(1)


def badge(owner: str, name: str, branch: str, chapter: str) -> str:
    return (f"[![Open In Colab]({BADGE_IMAGE})]"
            f"(https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{chapter})")


def setup_cell(owner: str, name: str, release: str, branch: str) -> str:
    """The first code cell of every chapter, each line within 72 columns: every chapter shows
    it first, so it fits the page even in a narrow window. On Colab it installs the release,
    else the repository at the release's tag, else the default branch, and says in one line
    if none could be installed; Google Drive only when the reader turns it on."""
    return (
        "# On Colab: install enas-edu (Colab's torch is kept): the release\n"
        "# this book was executed with, else its tag, else the branch.\n"
        "# USE_DRIVE = True keeps runs on Google Drive, so a new runtime\n"
        "# resumes them (Colab then asks for authorisation).\n"
        "import subprocess, sys\n"
        "USE_DRIVE = False\n"
        'if "google.colab" in sys.modules:\n'
        f'    git = "enas-edu @ git+https://github.com/{owner}/{name}"\n'
        f'    for spec in ("enas-edu=={release}", git + "@v{release}",\n'
        f'                 git + "@{branch}"):\n'
        '        pip = [sys.executable, "-m", "pip", "install", "-q", spec]\n'
        "        if subprocess.run(pip).returncode == 0:\n"
        "            break\n"
        "    else:\n"
        '        print("enas-edu could not be installed from PyPI or "\n'
        '              "GitHub: check the runtime is online, rerun")\n'
        "from enas_edu.book import chapter_setup\n"
        "# the profile, the device, the runs folder\n"
        "book = chapter_setup(drive=USE_DRIVE)"
    )


def project_urls(owner: str, name: str, branch: str) -> str:
    return ("[project.urls]\n"
            f'Source = "https://github.com/{owner}/{name}"\n'
            f'Book = "https://{owner.lower()}.github.io/{name}"\n'
            f'Changelog = "https://github.com/{owner}/{name}/blob/{branch}/CHANGELOG.md"\n')


def _set_source(cell, text: str) -> bool:
    old = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    cell["source"] = text
    return old != text


def expected_files(root: Path = ROOT) -> dict[Path, str]:
    """Every generated file as it should read: {path: text}."""
    import nbformat
    owner, name, branch = repository(root)
    release = version(root)
    files = {}
    for path in sorted(root.glob(CHAPTERS)):
        chapter = path.relative_to(root).as_posix()
        nb = nbformat.read(path, as_version=4)
        title = "".join(nb.cells[0].source)
        if not BADGE.search(title):
            raise ValueError(f"{chapter}: its first cell has no Colab badge line to update")
        _set_source(nb.cells[0], BADGE.sub(badge(owner, name, branch, chapter).replace("\\", r"\\"), title))
        setup = next(c for c in nb.cells if c.cell_type == "code")
        if "chapter_setup(" not in "".join(setup.source):
            raise ValueError(f"{chapter}: its first code cell must be the setup cell (book = chapter_setup())")
        _set_source(setup, setup_cell(owner, name, release, branch))
        text = nbformat.writes(nb)
        files[path] = text if text.endswith("\n") else text + "\n"
    pyproject = (root / "pyproject.toml").read_text()
    if not URLS.search(pyproject):
        raise ValueError("pyproject.toml has no [project.urls] table to update")
    files[root / "pyproject.toml"] = URLS.sub(project_urls(owner, name, branch), pyproject, count=1)
    return files


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files that differ from what ``_config.yml`` and ``__version__`` say."""
    return [p for p, text in expected_files(root).items() if p.read_text() != text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is stale")
    parser.add_argument("--version", action="store_true", help="print the library's version and exit")
    args = parser.parse_args()
    if args.version:
        print(version())
        return 0
    if args.check:
        out = stale()
        for p in out:
            print(f"stale: {p.relative_to(ROOT)} (run python tools/sync_book.py)", file=sys.stderr)
        return 1 if out else 0
    for path, text in expected_files().items():
        if path.read_text() != text:
            path.write_text(text)
            print(f"updated {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
