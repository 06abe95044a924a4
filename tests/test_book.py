"""Every chapter of the book opens on Colab from its own badge and starts with the setup cell."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = re.findall(r"file: (notebooks/\S+)", (ROOT / "_toc.yml").read_text())


def test_the_toc_lists_every_chapter_notebook():
    on_disk = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(CHAPTERS) == on_disk and len(on_disk) == 11


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_has_its_colab_badge_and_the_setup_cell_first(chapter):
    nb = json.loads((ROOT / f"{chapter}.ipynb").read_text())
    title = "".join(nb["cells"][0]["source"])
    assert title.startswith("# ")
    badge = re.search(r"colab\.research\.google\.com/github/([^)]+)\)", title)
    assert badge and badge.group(1).endswith(f"/blob/main/{chapter}.ipynb"), "badge must open this chapter"
    setup = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    assert 'if "google.colab" in sys.modules:\n    %pip install' in setup     # installs only on Colab
    assert "book = chapter_setup()" in setup                                # profile, device, Drive
