"""Execute every chapter in place, so the committed outputs come from the code as it is.

Usage: ``python tools/execute_book.py [--profile book] [notebooks/01_why_search.ipynb ...]``

Runs each notebook top to bottom with ``ENAS_EDU_PROFILE`` set (``book`` by default: a CPU and
the data shipped with the package), in the ``notebooks/`` folder, and stores the widget state so
the rendered book shows the widgets. Each results cell prints what produced its numbers.
"""

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--profile", default="book")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args()
    os.environ["ENAS_EDU_PROFILE"] = args.profile
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        t0 = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(ROOT / "notebooks")}},
                                store_widget_state=True)
        client.execute()
        nbformat.write(nb, path)
        print(f"{path.name}: executed at profile {args.profile} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
