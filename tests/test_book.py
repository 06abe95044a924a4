"""The book's chapters, their generated Colab badges and setup cells, and the publishing workflows."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = re.findall(r"file: (notebooks/\S+)", (ROOT / "_toc.yml").read_text())


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_book = _tool("sync_book")


def test_the_toc_lists_every_chapter_notebook():
    on_disk = sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(CHAPTERS) == on_disk and len(on_disk) == 13


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_has_its_colab_badge_and_the_setup_cell_first(chapter):
    nb = json.loads((ROOT / f"{chapter}.ipynb").read_text())
    title = "".join(nb["cells"][0]["source"])
    assert title.startswith("# ")
    owner, name, branch = sync_book.repository()
    badge = re.search(r"colab\.research\.google\.com/github/([^)]+)\)", title)
    assert badge and badge.group(1) == f"{owner}/{name}/blob/{branch}/{chapter}.ipynb", "badge must open this chapter"
    image = re.search(r"\[!\[Open In Colab\]\(([^)]+)\)\]", title).group(1)
    assert image == "../book/_static/colab-badge.svg" and (ROOT / "notebooks" / image).is_file()   # no request to Google
    setup = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    version = sync_book.version()
    assert "\nUSE_DRIVE = False\n" in setup                                    # Drive is opt-in
    guard = setup.index('if "google.colab" in sys.modules:\n')                # only on Colab
    git = setup.index(f'\n    git = "enas-edu @ git+https://github.com/{owner}/{name}"\n')
    order = setup.index(f'("enas-edu=={version}", git + "@v{version}",\n                 git + "@{branch}")')
    failed = setup.index("    else:\n        print(\"enas-edu could not be installed")
    assert guard < git < order < failed                      # release, then its tag, then the branch
    assert setup.endswith("\nbook = chapter_setup(drive=USE_DRIVE)")         # profile, device, runs
    assert max(len(line) for line in setup.splitlines()) <= 72             # the page's code column


def test_the_setup_cell_installs_in_order_and_says_when_all_fail(monkeypatch, capsys):
    """The cell's own code, run as on Colab with a pip that fails for the first n specs."""
    import subprocess
    import sys
    import types
    nb = json.loads((ROOT / f"{CHAPTERS[0]}.ipynb").read_text())
    setup = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    install = setup[:setup.index("from enas_edu.book import")]
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    for failing in (0, 1, 2, 3):
        tried = []

        def pip(cmd, failing=failing):
            tried.append(cmd[-1])
            return types.SimpleNamespace(returncode=1 if len(tried) <= failing else 0)
        monkeypatch.setattr(subprocess, "run", pip)
        exec(install, {})
        assert len(tried) == min(failing + 1, 3) and tried[0] == f"enas-edu=={sync_book.version()}"
        said = "could not be installed" in capsys.readouterr().out
        assert said == (failing == 3)


def test_drive_is_mounted_only_when_asked(monkeypatch, tmp_path):
    import sys
    import types
    from enas_edu.book import chapter_setup
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setenv("ENAS_EDU_PROFILE", "smoke")
    assert chapter_setup().runs == Path("/content/runs") and mounted == []
    assert chapter_setup(drive=True).runs == Path("/content/drive/MyDrive/enas_edu/runs")
    assert mounted == ["/content/drive"]


def test_badges_setup_cells_and_urls_agree_with_the_config_and_the_version():
    assert sync_book.stale() == [], "run python tools/sync_book.py"
    import enas_edu
    assert sync_book.version() == enas_edu.__version__


def test_publishing_under_another_address_is_one_edit_and_one_command(tmp_path):
    for rel in ["_config.yml", "pyproject.toml", "enas_edu/__init__.py", *(f"{c}.ipynb" for c in CHAPTERS)]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    config = tmp_path / "_config.yml"
    config.write_text(config.read_text().replace("url: https://github.com/enas-edu/enas_edu",
                                                 "url: https://github.com/SomeUni/nas-course"))
    assert len(sync_book.stale(tmp_path)) == len(CHAPTERS) + 1          # every chapter and pyproject
    for path, text in sync_book.expected_files(tmp_path).items():
        path.write_text(text)
    assert sync_book.stale(tmp_path) == []
    text = "".join(p.read_text() for p in tmp_path.rglob("*.ipynb")) + (tmp_path / "pyproject.toml").read_text()
    assert "enas-edu/enas_edu" not in text and "enas_edu.git" not in text
    assert text.count("colab.research.google.com/github/SomeUni/nas-course/blob/main/notebooks/") == len(CHAPTERS)
    assert 'Book = "https://someuni.github.io/nas-course"' in text
    config.write_text(config.read_text().replace("https://github.com/SomeUni/nas-course", "gitlab.com/x/y"))
    with pytest.raises(ValueError, match="must read https://github.com/OWNER/NAME"):
        sync_book.expected_files(tmp_path)


# ------------------------------------------------------------------------------------ publishing
WORKFLOWS = ROOT / ".github" / "workflows"


def _steps(workflow):
    data = yaml.safe_load((WORKFLOWS / workflow).read_text())
    return data, [s for job in data["jobs"].values() for s in job.get("steps", [])]


def _readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command:start -->")[1].split("<!-- test-command:end -->")[0]
    return "\n".join(line for line in block.strip().splitlines() if not line.startswith("```"))


def test_the_test_workflow_runs_ci_which_runs_the_readme_command():
    data, steps = _steps("tests.yml")
    assert [s["run"] for s in steps if "run" in s] == ["bash .ci/run"]
    assert "README.md" in (ROOT / ".ci" / "run").read_text()
    assert _readme_test_command() == 'pip install -e ".[test,book]" && bash tools/test.sh'
    # yaml reads the key `on` as True
    assert set(data[True]) == {"push", "pull_request"}


def test_the_book_workflow_builds_as_the_tests_do_and_deploys_to_pages():
    data, steps = _steps("book.yml")
    runs = [s["run"] for s in steps if "run" in s]
    assert "bash tools/test.sh book" in runs
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    assert data["permissions"]["pages"] == "write" and data["permissions"]["id-token"] == "write"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert "[book]=\"jupyter-book build . -W -n --keep-going\"" in (ROOT / "tools" / "test.sh").read_text()


def test_the_release_workflow_publishes_the_checked_wheel_by_trusted_publishing():
    data, steps = _steps("release.yml")
    assert data[True] == {"push": {"tags": ["v*"]}}
    runs = [s["run"] for s in steps if "run" in s]
    assert "bash tools/check_release.sh dist" in runs          # the same check as tools/test.sh release
    assert any("tools/sync_book.py --version" in r and "GITHUB_REF_NAME" in r for r in runs)
    publish = data["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"}     # trusted publishing, no stored token
    assert [s["uses"] for s in publish["steps"]][-1].startswith("pypa/gh-action-pypi-publish@")
    assert "password" not in json.dumps(publish) and "secrets." not in (WORKFLOWS / "release.yml").read_text()
    assert "[release]=\"bash tools/check_release.sh\"" in (ROOT / "tools" / "test.sh").read_text()


def test_the_book_bundles_mathjax_and_the_widget_fallback_script():
    """The built book renders math offline: sphinx.ext.mathjax loads the bundled MathJax, the
    file SOURCE.txt names (checked by its sha256), instead of the CDN default."""
    import hashlib
    sphinx = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    static = [ROOT / p for p in sphinx["html_static_path"]]
    mathjax = next(p / sphinx["mathjax_path"] for p in static if (p / sphinx["mathjax_path"]).exists())
    digest = hashlib.sha256(mathjax.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in (mathjax.parent / "SOURCE.txt").read_text()
    assert not sphinx["mathjax_path"].startswith("http")
    assert all(any((p / js).exists() for p in static) for js in sphinx["html_js_files"])


execute_book = _tool("execute_book")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_opens_with_its_running_time_written_from_the_timings_file(chapter):
    """No running time is typed by hand: the line is the one the tool writes from timings.json."""
    timings = json.loads(execute_book.TIMINGS.read_text())
    entry = timings[Path(chapter).name]
    assert entry["colab_t4_estimate"]["basis"] or "colab" in entry
    nb = json.loads((ROOT / f"{chapter}.ipynb").read_text())
    first = "".join(nb["cells"][0]["source"])
    assert execute_book.running_time(entry).strip() in first, "run python tools/execute_book.py --stamp-only"


def test_the_running_time_line_says_what_was_measured_and_what_is_estimated(tmp_path):
    measured = {"seconds": 150, "hardware": "CPU (x86_64, 2 threads)", "torch": "2.13.0",
                "date": "2026-12-03", "commit": "abc1234"}
    estimate = {"time": "10–20 minutes", "basis": "30 epochs at 20–40 s"}
    line = execute_book.running_time({"book": measured, "colab_t4_estimate": estimate})
    assert line.startswith("**Running time.** CPU at the `book` profile: 2 min, measured on CPU (x86_64, 2 threads)")
    assert "10–20 minutes, an estimate, not yet measured (basis: 30 epochs at 20–40 s)" in line
    # a run on a T4 replaces the estimate; a run on another GPU does not
    t4 = dict(measured, seconds=45, hardware="Tesla T4")
    assert "45 s, measured" in execute_book.running_time({"colab": t4, "colab_t4_estimate": estimate})
    a100 = dict(t4, hardware="NVIDIA A100-SXM4-40GB")
    assert "estimate" in execute_book.running_time({"colab": a100, "colab_t4_estimate": estimate})
    # stamping inserts the line after the badge once, and rewrites it in place afterwards
    path = tmp_path / "01_x.ipynb"
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "id": "a",
                     "source": "# T\n\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](u)\n\nText."}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    timings = {"01_x": {"colab_t4_estimate": estimate}}
    assert execute_book.stamp(path, timings) and not execute_book.stamp(path, timings)
    timings["01_x"]["book"] = measured
    assert execute_book.stamp(path, timings)
    source = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert source.count("**Running time.**") == 1 and source.endswith("\n\nText.")
    assert source.index("colab-badge") < source.index("Running time") < source.index("Text.")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_chapter_keeps_its_code_within_88_columns(chapter):
    # book/_static/enas.css sets code at a size that shows about 90 columns in the text column of
    # a 1280-pixel window; a longer line would wrap in the middle of an expression there
    nb = json.loads((ROOT / f"{chapter}.ipynb").read_text())
    long = [(i, line) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
            for line in "".join(c["source"]).splitlines() if len(line) > 88]
    assert not long, f"{chapter}: code lines over 88 columns (cell, line): {long}"


def test_execution_joins_a_cells_consecutive_prints_into_one_output():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(1); print(2)")
    stream = nbformat.v4.new_output
    cell.outputs = [stream("stream", name="stdout", text="a\n"), stream("stream", name="stdout", text="b\n"),
                    stream("stream", name="stderr", text="warning\n"), stream("stream", name="stdout", text="c\n"),
                    stream("display_data", data={"text/plain": "fig"}), stream("stream", name="stdout", text="d\n")]
    nb.cells = [nbformat.v4.new_markdown_cell("text"), cell]
    execute_book.coalesce_streams(nb)
    assert [(o.output_type, o.get("name"), o.get("text")) for o in cell.outputs] == [
        ("stream", "stdout", "a\nb\n"), ("stream", "stderr", "warning\n"), ("stream", "stdout", "c\n"),
        ("display_data", None, None), ("stream", "stdout", "d\n")]


def _nosol():
    spec = importlib.util.spec_from_file_location("nosol", ROOT / "tools" / "build_without_solutions.py")
    nosol = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nosol)
    return nosol


def test_the_student_build_replaces_only_a_folder_it_wrote(tmp_path, monkeypatch, capsys):
    nosol = _nosol()
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("a reader's own files")
    monkeypatch.setattr("sys.argv", ["build_without_solutions.py", "--out", str(mine)])
    assert nosol.main() == 2                                        # refused before building anything
    assert "not an earlier student build" in capsys.readouterr().err
    assert (mine / "keep.txt").read_text() == "a reader's own files"
    (tmp_path / "a_file").write_text("x")
    assert nosol.check_out(tmp_path / "a_file") is not None
    earlier = tmp_path / "student"
    earlier.mkdir()
    (earlier / nosol.MARKER).write_text("")
    assert nosol.check_out(earlier) is None and nosol.check_out(tmp_path / "new") is None


def test_the_student_build_removes_every_solution_and_keeps_every_exercise(tmp_path):
    nosol = _nosol()
    for chapter in CHAPTERS:
        copy = tmp_path / f"{chapter.split('/')[-1]}.ipynb"
        shutil.copy(ROOT / f"{chapter}.ipynb", copy)
        before = "".join("".join(c["source"]) for c in json.loads(copy.read_text())["cells"]
                         if c["cell_type"] == "markdown")
        removed = nosol.strip_notebook(copy)
        after = "".join("".join(c["source"]) for c in json.loads(copy.read_text())["cells"]
                        if c["cell_type"] == "markdown")
        assert removed == before.count("{admonition} Solution") >= 3 and "{admonition} Solution" not in after
        exercises = after[after.index("## Exercises"):]
        numbered = re.findall(r"^\d+\. \*\(", exercises, re.MULTILINE)
        assert len(numbered) == len(re.findall(r"^\d+\. \*\(", before[before.index("## Exercises"):],
                                                re.MULTILINE))       # every exercise stays
        assert exercises.count("assert ") == before[before.index("## Exercises"):].count("assert ") - (
            sum(s.count("assert ") for s in nosol.SOLUTION.findall(before)))  # checks stay; solutions' go


def test_the_instructors_schedule_is_written_from_the_timings():
    timings = json.loads(execute_book.TIMINGS.read_text())
    page = (ROOT / "book" / "instructors.md").read_text()
    assert execute_book.schedule(timings) in page, "run python tools/execute_book.py --stamp-only"
    planned = [c for _, chapters in execute_book.SESSIONS for c in chapters]
    assert sorted(planned) == sorted(c.split("/")[-1] for c in CHAPTERS)     # every chapter, once
