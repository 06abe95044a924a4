"""Recorded runs: what `enas-edu record` copies, the checksums that guard it, the table rows."""

import json

import pytest

from enas_edu.book import chapter_setup
from enas_edu.cli import main
from enas_edu.config import search_config
from enas_edu.results import load_run, record_run, recorded_runs
from enas_edu.search import run_search


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "macro-smoke"
    run_search(search_config("macro", "smoke", epochs=1), path, progress=False)
    run_search(None, path, resume=True, progress=False)      # a resume adds an environment line
    return path


def test_a_run_says_what_ran_it(search_run):
    env = [json.loads(line) for line in (search_run / "environment.jsonl").read_text().splitlines()]
    assert len(env) == 2                                       # the start and the resume
    assert env[0]["data"].startswith("UCI handwritten digits") and env[0]["hardware"].startswith("CPU")
    assert {"started", "device", "enas_edu", "torch", "python"} <= set(env[0])


def test_record_copies_the_describing_files_with_checksums(search_run, tmp_path):
    dest = record_run(search_run, tmp_path / "results", "macro-smoke-cpu")
    names = sorted(p.name for p in dest.iterdir())
    assert names == ["RECORD.json", "architectures.jsonl", "config.json", "data.json", "environment.jsonl",
                     "metrics.jsonl", "run.json"]
    run = load_run(dest)
    assert (run.space, run.kind, run.profile) == ("macro", "search", "smoke")
    row = run.summary()
    assert row["epochs"] == "1/1" and row["seed"] == 0 and row["data"].startswith("UCI handwritten digits")
    with pytest.raises(FileExistsError):
        record_run(search_run, tmp_path / "results", "macro-smoke-cpu")


def test_an_edited_recorded_number_is_refused(search_run, tmp_path):
    dest = record_run(search_run, tmp_path / "results")
    with open(dest / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"phase": "epoch", "reward": 0.99}) + "\n")
    with pytest.raises(ValueError, match="checksum"):
        load_run(dest)


def test_the_book_finds_recorded_runs_by_space_and_kind(search_run, tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "results").mkdir(parents=True)
    (root / "results" / "README.md").write_text("recorded runs\n")
    (root / "notebooks").mkdir()
    assert main(["record", str(search_run), "--results", str(root / "results"), "--name", "a"]) == 0
    assert main(["record", str(search_run), "--results", str(root / "results"), "--name", "a"]) == 2
    (root / "results" / "ground_truth_study").mkdir()          # a study folder is not a run
    (root / "results" / "ground_truth_study" / "config.json").write_text("{}")
    monkeypatch.chdir(root / "notebooks")
    book = chapter_setup(runs=str(tmp_path / "runs"))
    assert [r.name for r in book.recorded("macro")] == ["a"]
    assert book.recorded("micro") == [] and book.recorded("macro", "final") == []
    assert len(recorded_runs(root / "results")) == 1


def test_recording_a_folder_that_is_not_a_run_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks"):
        record_run(tmp_path, tmp_path / "results")


def test_html_table_escapes_and_marks_short_cells():
    from html.parser import HTMLParser

    from enas_edu.results import html_table

    rows = [{"method": "ENAS", "acc": 0.90861, "data": "UCI handwritten digits (shipped; 8x8 upscaled)"},
            {"method": "a<b", "acc": None}]
    text = html_table(rows, digits=4)

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self.heads, self.tag = [], [], None

        def handle_starttag(self, tag, attrs):
            self.tag, self.attrs = tag, dict(attrs)

        def handle_data(self, data):
            if self.tag == "td":
                self.cells.append((data, self.attrs.get("class")))
            elif self.tag == "th":
                self.heads.append(data)

    parsed = Cells()
    parsed.feed(text)
    assert parsed.heads == ["method", "acc", "data"]
    # numbers formatted to `digits`, the long description left to wrap, markup escaped
    assert parsed.cells == [("ENAS", "short"), ("0.9086", "short"),
                            ("UCI handwritten digits (shipped; 8x8 upscaled)", None), ("a<b", "short")]
    assert text.count("<tr>") == 3 and text.count("<td") == 6        # the missing cells are empty
    assert "a&lt;b" in text
    assert html_table([]) == "<p><em>(none)</em></p>"


def test_runs_table_keeps_rows_short_and_groups_data_and_hardware(search_run, tmp_path):
    from enas_edu.results import RecordedRun, runs_table

    search = load_run(search_run)
    final = RecordedRun("rnn-final", tmp_path, {"space": "rnn", "kind": "FinalConfig", "profile": "book",
                                                "seed": 1, "epochs": 2},
                        [{"phase": "epoch", "seconds": 1800.0}, {"phase": "epoch", "seconds": 1800.0}],
                        [{"data": "KJV (shipped)", "hardware": "CPU"}],
                        result={"arc": "0 0", "params": 10, "test_perplexity": 123.456})
    rows, sources = runs_table([search, final, search])
    assert [r["job"] for r in rows] == ["macro search", "rnn final", "macro search"]
    assert rows[1] == {"run": "rnn-final", "job": "rnn final", "seed": 1, "epochs": "2/2",
                       "hours": 1.0, "derived: valid (shared weights)": "", "final: test": "123.5 perplexity"}
    assert rows[0]["epochs"] == "1/1" and rows[0]["final: test"] == ""
    assert rows[0]["derived: valid (shared weights)"] == ""    # derived only after `derive`
    search.derived = {"arc": "0", "full_valid_accuracy": 0.91234}
    assert runs_table([search])[0][0]["derived: valid (shared weights)"] == "0.912 accuracy"
    assert list(sources.values()) == [[search.name, search.name], ["rnn-final"]]
    assert list(sources)[1] == ("book", "KJV (shipped)", "CPU")
    assert list(sources)[0][0] == "smoke"
    assert all(not {"profile", "data", "hardware"} & set(r) for r in rows)
