"""The reader's own text (issue 15): a folder of split files, one file cut by fractions, a
Hugging Face corpus; the vocabulary, the errors, and a search from the command line."""

import dataclasses
import json
import sys
import types

import pytest
import torch

from enas_edu.cli import main
from enas_edu.config import DataConfig
from enas_edu.data import write_text_splits
from enas_edu.data.examples import write_kjv_folder
from enas_edu.data.own_text import cut_lines, find_split_files, hf_text, own_text
from enas_edu.data.ptb import load_ptb
from enas_edu.tasks import TextTask

LINES = {"train": ["der hund bellt", "die katze schläft", "der hund schläft"] * 20,
         "valid": ["die katze bellt"] * 10, "test": ["ein vogel singt"] * 10}


def _cfg(path, **kw):
    return DataConfig(dataset="text", data_dir=str(path), batch_size=kw.pop("batch_size", 2), bptt=4, **kw)


def test_a_folder_of_split_files_in_any_language_with_unk_for_unseen_words(tmp_path):
    write_text_splits(tmp_path / "c", LINES)
    data = own_text(_cfg(tmp_path / "c"))
    assert data.vocab.words == ["der", "hund", "bellt", "<eos>", "die", "katze", "schläft", "<unk>"]
    assert data.train.numel() == 60 * 4 and data.valid.numel() == 40                 # words + one <eos> a line
    unk = data.vocab.index["<unk>"]
    assert (data.test == unk).sum() == 30 and data.facts["unk_share"]["test"] == 0.75   # ein vogel singt
    capped = own_text(_cfg(tmp_path / "c", max_vocab=4))
    assert capped.vocab.words == ["der", "hund", "<eos>", "<unk>"]      # the two most frequent (ties: first seen)


def test_split_files_are_found_by_their_usual_names(tmp_path):
    for name in ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens", "README"):
        (tmp_path / name).write_text("a b\n")
    files = find_split_files(tmp_path)
    assert {s: p.name for s, p in files.items()} == {"train": "wiki.train.tokens", "valid": "wiki.valid.tokens",
                                                     "test": "wiki.test.tokens"}
    (tmp_path / "dev.txt").write_text("a\n")
    with pytest.raises(ValueError, match="2 files look like the valid split"):
        find_split_files(tmp_path)


def test_one_file_is_cut_into_splits_at_the_end_in_order(tmp_path):
    lines = [f"line {i}" for i in range(100)]
    (tmp_path / "all.txt").write_text("\n".join(lines) + "\n")
    data = own_text(_cfg(tmp_path / "all.txt", valid_fraction=0.1, test_fraction=0.2))
    assert data.facts["lines"] == {"train": 70, "valid": 10, "test": 20}
    assert [data.vocab.words[i] for i in data.test[-3:]] == ["line", "<unk>", "<eos>"]  # "99": not in training
    split, how = cut_lines({"train": lines}, 0.1, 0.2, "w")
    assert (split["train"], split["valid"], split["test"]) == (lines[:70], lines[70:80], lines[80:])
    split, how = cut_lines({"train": lines, "test": ["x"]}, 0.1, 0.2, "w")
    assert len(split["train"]) == 90 and split["test"] == ["x"] and how["test"] == "given"


def test_own_text_reads_ptb_like_ptb(tmp_path):
    write_kjv_folder(tmp_path / "kjv")                                           # all of it: <unk> in training
    own = own_text(_cfg(tmp_path / "kjv"))
    for s in ("train", "valid", "test"):
        (tmp_path / "ptb" / f"ptb.{s}.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "ptb" / f"ptb.{s}.txt").write_bytes((tmp_path / "kjv" / f"{s}.txt").read_bytes())
    ptb = load_ptb(tmp_path, verify=False)
    assert all(torch.equal(getattr(own, s), getattr(ptb, s)) for s in ("train", "valid", "test"))


@pytest.mark.parametrize("problem, message", [
    ("latin1", "train.txt is not UTF-8 text.*iconv -f latin1"),
    ("no train", "has no training file.*name it train.txt"),
    ("empty", "holds no words"),
    ("tiny valid", "the valid split has 3 tokens, too few for one batch of 2 columns.*--batch-size"),
    ("short windows", "too few for one reward window of bptt=4"),
    ("fraction", "valid_fraction=0.01 of 60 lines gives 1 lines|gives 0 lines for the valid split"),
])
def test_bad_text_gets_an_error_that_names_the_file_and_the_fix(tmp_path, problem, message):
    folder = tmp_path / "c"
    lines = dict(LINES)
    if problem == "tiny valid":
        lines["valid"] = ["hund bellt"]
    elif problem == "short windows":
        lines["valid"] = ["hund bellt"] * 2                                          # 6 tokens: 3 steps a column
    elif problem == "fraction":
        del lines["valid"]
    write_text_splits(folder, lines)
    cfg = _cfg(folder, **({"valid_fraction": 0.001} if problem == "fraction" else {}))
    if problem == "latin1":
        (folder / "train.txt").write_bytes("der Hund bellt laut\n".encode() + "schön\n".encode("latin1"))
    elif problem == "no train":
        (folder / "train.txt").rename(folder / "corpus.txt")
    elif problem == "empty":
        (folder / "train.txt").write_text("\n\n")
    with pytest.raises(ValueError, match=message):
        TextTask(cfg, "search", 0, torch.device("cpu"))


class _Split:
    def __init__(self, rows):
        self.rows, self.column_names = rows, ["text", "id"]

    def __getitem__(self, column):
        return [r[column] for r in self.rows]


def test_a_hugging_face_corpus_through_its_interface(monkeypatch):
    calls = []

    def load_dataset(name, config=None, cache_dir=None):
        calls.append((name, config, cache_dir))
        return {s: _Split([{"text": line, "id": i} for i, line in enumerate(LINES[k])])
                for s, k in (("train", "train"), ("validation", "valid"))}             # no test split

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    cfg = DataConfig(dataset="hf_text", data_name="someone/corpus", data_config="small", batch_size=2, bptt=4)
    data = hf_text(cfg)
    assert calls == [("someone/corpus", "small", None)]
    assert data.facts["lines"] == {"train": 54, "valid": 10, "test": 6}            # test: the last 0.1 of 60
    assert data.facts["splits"]["valid"] == "given" and data.name == "Hugging Face someone/corpus (small)"
    with pytest.raises(ValueError, match="has no column 'body'; its columns are \\['text', 'id'\\]"):
        hf_text(dataclasses.replace(cfg, text_column="body"))
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(Exception, match="needs the Hugging Face datasets library: pip install datasets"):
        hf_text(cfg)


def test_an_rnn_search_on_a_text_folder_from_the_command_line_and_its_resume_check(tmp_path, capsys):
    write_kjv_folder(tmp_path / "corpus", lines=400)
    run = str(tmp_path / "run")
    args = ["search", "rnn", "--data", str(tmp_path / "corpus"), "--profile", "smoke", "--epochs", "1",
            "--quiet", "--out", run]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "own text from corpus/ [text]:" in out and "your own files: no checksum" in out
    record = json.loads((tmp_path / "run" / "data.json").read_text())
    assert record["details"]["format"] == "text folder" and record["details"]["lines"]["train"] == 400
    with open(tmp_path / "corpus" / "train.txt", "a") as f:
        f.write("one more line\n")
    assert main(["derive", run, "--samples", "2", "--top-k", "1"]) == 2
    assert "other data than it reads now" in capsys.readouterr().err
