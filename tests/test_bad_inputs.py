"""Bad input, as a new user gives it: every case exits 2 with one message that names the option
or file, prints no traceback, and changes no file outside the run folder it names.

The table holds the command-line cases (``{name}`` stands for a folder or file the fixture made);
the API cases follow it.
"""

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from enas_edu.cli import main
from enas_edu.config import config_from_dict, config_to_dict, final_config, search_config
from enas_edu.data.download import file_hash
from enas_edu.runs import RunDir, RunError

MACRO_ARC = "0 1 0"            # two macro layers
SMOKE = ["--profile", "smoke", "--quiet"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Runs and folders the cases point at: finished searches (macro derived, micro not), a final
    training, damaged copies, a user's own folder, a file, a non-run folder."""
    base = tmp_path_factory.mktemp("world")
    assert main(["search", "macro", *SMOKE, "--out", str(base / "macro")]) == 0
    assert main(["derive", str(base / "macro"), "--samples", "4", "--top-k", "1"]) == 0
    assert main(["search", "micro", *SMOKE, "--epochs", "1", "--out", str(base / "micro")]) == 0
    assert main(["train", "macro", "--arc", MACRO_ARC, *SMOKE, "--epochs", "1", "--out", str(base / "final")]) == 0
    (base / "mine").mkdir()
    (base / "mine" / "notes.txt").write_text("my own work\n")
    (base / "afile").write_text("not a folder\n")
    (base / "empty").mkdir()
    (base / "text.txt").write_text("some words\n")
    macro = base / "macro"

    def copy(name, damage):
        dest = base / name
        shutil.copytree(macro, dest, ignore=shutil.ignore_patterns(".lock"))
        damage(dest)

    def replant(run, state):
        with open(run / "checkpoint.pt", "wb") as f:
            pickle.dump(state, f)
        (run / "checkpoint.sha256").write_text(file_hash(run / "checkpoint.pt", "sha256") + "\n")

    copy("bad_config", lambda r: (r / "config.json").write_text("{"))
    copy("config_two", lambda r: (r / "config.json").write_text(
        (r / "config.json").read_text().replace('"epochs": 2', '"epochs": "two"')))
    copy("evil", lambda r: replant(r, {"position": _Evil(str(base / "pwned"))}))
    copy("flipped", lambda r: (r / "checkpoint.pt").write_bytes((r / "checkpoint.pt").read_bytes()[:-1] + bytes([(r / "checkpoint.pt").read_bytes()[-1] ^ 1])))
    copy("no_sha", lambda r: (r / "checkpoint.sha256").unlink())
    copy("short_log", lambda r: (r / "metrics.jsonl").write_bytes((r / "metrics.jsonl").read_bytes()[:100]))
    copy("edited_log", lambda r: (r / "metrics.jsonl").write_bytes(
        (r / "metrics.jsonl").read_bytes().replace(b'"epoch": 0', b'"epoch": 9', 1)))
    copy("bad_metrics", lambda r: (r / "metrics.jsonl").write_text((r / "metrics.jsonl").read_text() + "{oops\n"))
    copy("bad_marker", lambda r: (r / "run.json").write_text("not json"))
    copy("bad_data_json", lambda r: (r / "data.json").write_text("[1, 2"))
    copy("bad_derived", lambda r: (r / "derived.json").write_text('{"space": "macro"}'))
    copy("no_derive", lambda r: [(r / n).unlink() for n in ("derived.json", "derived_arc.txt", "candidates.jsonl")])
    copy("other_ckpt", lambda r: [shutil.copyfile(base / "micro" / n, r / n)
                                  for n in ("checkpoint.pt", "checkpoint.sha256")])
    stale = base / "stale"
    RunDir.create(stale, "search", say=None).close()
    images = base / "images"
    for c in ("a", "b"):
        (images / c).mkdir(parents=True)
    return base


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


# (argv, what the message must say); {x} is the fixture's folder or file x, {new} a fresh folder
CASES = [
    # ranges and types, checked by the parser
    (["search", "macro", "--epochs", "0"], "--epochs: must be >= 1"),
    (["search", "macro", "--epochs", "-3"], "--epochs: must be >= 1"),
    (["search", "macro", "--epochs", "two"], "--epochs: 'two' is not a whole number"),
    (["search", "macro", "--epochs", "1.5"], "--epochs: '1.5' is not a whole number"),
    (["train", "macro", "--epochs", "0"], "--epochs: must be >= 1"),
    (["baseline", "rsws", "macro", "--epochs", "0"], "--epochs: must be >= 1"),
    (["baseline", "no-sharing", "macro", "--children", "0"], "--children: must be >= 1"),
    (["baseline", "no-sharing", "macro", "--child-epochs", "-1"], "--child-epochs: must be >= 1"),
    (["baseline", "rsws", "macro", "--samples", "0"], "--samples: must be >= 1"),
    (["derive", "{macro}", "--samples", "0"], "--samples: must be >= 1"),
    (["derive", "{macro}", "--top-k", "0"], "--top-k: must be >= 1"),
    (["derive", "{macro}", "--samples", "x"], "--samples: 'x' is not a whole number"),
    (["derive", "{macro}", "--seed", "x"], "--seed: invalid int value"),
    (["search", "macro", "--seed", "1.5"], "--seed: invalid int value"),
    (["search", "macro", "--batch-size", "0"], "--batch-size: must be >= 1"),
    (["search", "rnn", "--max-vocab", "2"], "--max-vocab: must be >= 3"),
    (["search", "macro", "--image-size", "2"], "--image-size: must be >= 4"),
    (["search", "macro", "--valid-fraction", "1.5"], "--valid-fraction: must be between 0 and 1"),
    (["search", "macro", "--test-fraction", "0"], "--test-fraction: must be between 0 and 1"),
    (["search", "macro", "--valid-fraction", "half"], "--valid-fraction: 'half' is not a number"),
    (["train", "macro", "--lr-t0", "0"], "--lr-t0: must be >= 1"),
    (["study", "--seeds", "0"], "--seeds: must be >= 1"),
    (["study", "--workers", "0"], "--workers: must be >= 1"),
    (["study", "--epochs", "0"], "--epochs: must be >= 1"),
    (["search", "macro", "--profile", "huge"], "--profile: invalid choice: 'huge'"),
    (["search", "cnn"], "invalid choice: 'cnn'"),
    (["train", "macro", "--compile", "fast"], "--compile: invalid choice"),
    (["search", "macro", "--precision", "int8"], "--precision: invalid choice: 'int8'"),
    (["rank", "/nonexistent/run"], "is not a search run folder"),
    (["train", "rnn", "--rnn-layout", "tf"], "--rnn-layout: invalid choice"),
    (["baseline", "nas", "macro"], "invalid choice: 'nas'"),
    (["search", "macro", "--data-kind", "pictures"], "--data-kind: invalid choice"),
    # options that do not apply
    (["search", "macro", *SMOKE, "--max-vocab", "100", "--out", "{new}"], "--max-vocab does not apply to images"),
    (["search", "micro", *SMOKE, "--max-vocab", "100", "--out", "{new}"], "--max-vocab does not apply to images"),
    (["search", "rnn", *SMOKE, "--no-flip", "--out", "{new}"], "--no-flip does not apply to text"),
    (["search", "rnn", *SMOKE, "--image-size", "8", "--out", "{new}"], "--image-size does not apply to text"),
    (["search", "macro", *SMOKE, "--text-column", "t", "--out", "{new}"], "--text-column does not apply"),
    (["train", "rnn", "--arc", "0 0 1 1", *SMOKE, "--no-flip", "--out", "{new}"], "--no-flip does not apply"),
    (["baseline", "rsws", "macro", *SMOKE, "--children", "3", "--out", "{new}"], "--children and --child-epochs"),
    (["baseline", "no-controller", "macro", *SMOKE, "--child-epochs", "3", "--out", "{new}"], "--child-epochs"),
    (["baseline", "no-sharing", "macro", *SMOKE, "--samples", "5", "--out", "{new}"], "--samples and --top-k"),
    (["baseline", "no-sharing", "macro", *SMOKE, "--top-k", "5", "--out", "{new}"], "--samples and --top-k"),
    # the architecture to train
    (["train", "macro", *SMOKE, "--out", "{new}"], "say which architecture to train"),
    (["train", "macro", "--arc", MACRO_ARC, "--from", "{macro}", *SMOKE, "--out", "{new}"], "--arc and --from"),
    (["train", "macro", "--arc", MACRO_ARC, "--random", *SMOKE, "--out", "{new}"], "--arc and --random"),
    (["train", "macro", "--from", "{macro}", "--random", *SMOKE, "--out", "{new}"], "--from and --random"),
    (["train", "macro", "--arc", "", *SMOKE, "--out", "{new}"], "say which architecture"),
    (["train", "macro", "--arc", "   ", *SMOKE, "--out", "{new}"], "macro architecture is empty"),
    (["train", "macro", "--arc", "0 a 1", *SMOKE, "--out", "{new}"], "number 2 of the macro architecture is 'a'"),
    (["train", "micro", "--arc", "0 1 x 0 0 0 0 0", *SMOKE, "--out", "{new}"], "number 3 of the micro architecture"),
    (["train", "rnn", "--arc", "0 1 one", *SMOKE, "--out", "{new}"], "number 3 of the rnn architecture is 'one'"),
    (["train", "macro", "--arc", "0 1 0 2", *SMOKE, "--out", "{new}"], "L (L + 1) / 2 numbers"),
    (["train", "macro", "--arc", "0 1", *SMOKE, "--out", "{new}"], "L (L + 1) / 2 numbers"),
    (["train", "micro", "--arc", "0 1 2", *SMOKE, "--out", "{new}"], "8 numbers per node"),
    (["train", "rnn", "--arc", "0 1 2 1 0 3 1", "--rnn-layout", "enas_lm", *SMOKE, "--out", "{new}"], "fits neither"),
    (["train", "rnn", "--arc", "0 1 2 1 0 3 1 2", "--rnn-layout", "paper", *SMOKE, "--out", "{new}"],
     "fits neither"),
    (["train", "macro", "--arc", "9", *SMOKE, "--out", "{new}"], "9"),
    (["train", "macro", "--arc", "0 7 0", *SMOKE, "--out", "{new}"], "7"),
    (["train", "micro", "--arc", "0 9 0 0 0 0 0 0", *SMOKE, "--out", "{new}"], "9"),
    (["train", "rnn", "--arc", "7 1 1", *SMOKE, "--out", "{new}"], "7"),
    # --resume continues a run as it was started
    (["search", "macro", "--resume", "--out", "{new}"], "no run to resume"),
    (["search", "macro", "--resume", "--out", "{macro}", "--epochs", "5"], "--epochs would be ignored"),
    (["search", "macro", "--resume", "--out", "{macro}", "--seed", "3"], "--seed would be ignored"),
    (["search", "macro", "--resume", "--out", "{macro}", "--profile", "book"], "--profile would be ignored"),
    (["search", "macro", "--resume", "--out", "{macro}", "--data-dir", "{empty}"], "--data-dir would be ignored"),
    (["search", "macro", "--resume", "--out", "{macro}", "--batch-size", "4"], "--batch-size would be ignored"),
    (["search", "macro", "--resume", "--out", "{macro}", "--synthetic"], "--synthetic would be ignored"),
    (["train", "macro", "--resume", "--out", "{final}", "--arc", MACRO_ARC], "--arc would be ignored"),
    (["train", "macro", "--resume", "--out", "{final}", "--from", "{macro}"], "--from would be ignored"),
    (["train", "macro", "--resume", "--out", "{final}", "--random"], "--random would be ignored"),
    (["search", "micro", "--resume", "--out", "{macro}"], "holds a macro search, not micro"),
    (["search", "rnn", "--resume", "--out", "{micro}"], "holds a micro search, not rnn"),
    (["search", "macro", "--resume", "--out", "{final}"], "holds a final-training run, not a search run"),
    (["train", "macro", "--resume", "--out", "{macro}"], "holds a search run, not a final-training run"),
    (["search", "macro", "--resume", "--out", "{mine}"], "holds no enas_edu run"),
    (["search", "macro", "--resume", "--out", "{stale}"], "has no checkpoint yet"),
    (["search", "macro", "--resume", "--out", "{short_log}"], "metrics.jsonl is shorter"),
    (["search", "macro", "--resume", "--out", "{edited_log}"], "metrics.jsonl does not hold the records"),
    (["search", "macro", "--resume", "--out", "{evil}"], "cannot be read as tensors"),
    (["search", "macro", "--resume", "--out", "{flipped}"], "does not match checkpoint.sha256"),
    (["search", "macro", "--resume", "--out", "{no_sha}"], "checkpoint.sha256"),
    (["search", "macro", "--resume", "--out", "{other_ckpt}"], "belongs to another run"),
    (["search", "macro", "--resume", "--out", "{bad_marker}"], "run.json is not valid JSON"),
    (["search", "macro", "--resume", "--out", "{config_two}"], "config.epochs is 'two'; expected int"),
    (["search", "macro", "--resume", "--out", "{bad_config}"], "config.json is not valid JSON"),
    # a new run owns its folder
    (["search", "macro", *SMOKE, "--out", "{macro}"], "already holds a search run"),
    (["search", "micro", *SMOKE, "--out", "{final}"], "already holds a final-training run"),
    (["train", "macro", "--arc", MACRO_ARC, *SMOKE, "--out", "{macro}"], "already holds a search run"),
    (["search", "macro", *SMOKE, "--out", "{mine}"], "not empty and holds no enas_edu run (found notes.txt)"),
    (["train", "macro", "--arc", MACRO_ARC, *SMOKE, "--out", "{mine}"], "not empty and holds no enas_edu run"),
    (["baseline", "rsws", "macro", *SMOKE, "--out", "{mine}"], "not empty and holds no enas_edu run"),
    (["baseline", "no-sharing", "macro", *SMOKE, "--out", "{macro}"], "already holds a search run"),
    (["search", "macro", *SMOKE, "--out", "{afile}"], "is a file, not a folder"),
    (["demo", "--out", "{afile}"], "is a file"),
    # --from and derive name the wrong run
    (["train", "macro", "--from", "{new}", *SMOKE, "--out", "{new}"], "does not exist"),
    (["train", "macro", "--from", "{final}", *SMOKE, "--out", "{new}"], "is a final-training run"),
    (["train", "macro", "--from", "{no_derive}", *SMOKE, "--out", "{new}"], "run `enas-edu derive"),
    (["train", "micro", "--from", "{macro}", *SMOKE, "--out", "{new}"], "chose a macro architecture"),
    (["train", "macro", "--from", "{mine}", *SMOKE, "--out", "{new}"], "holds no enas_edu search"),
    (["train", "macro", "--from", "{bad_derived}", *SMOKE, "--out", "{new}"], "does not hold a derived architecture"),
    (["derive", "{final}"], "is a final-training run; derive chooses"),
    (["derive", "{new}"], "does not exist"),
    (["derive", "{mine}"], "holds no enas_edu run"),
    (["derive", "{afile}"], "is a file"),
    (["derive", "{macro}", "--out", "{afile}"], "is a file"),
    (["derive", "{bad_config}"], "config.json is not valid JSON"),
    (["derive", "{config_two}"], "config.epochs is 'two'"),
    (["derive", "{evil}"], "cannot be read as tensors"),
    (["derive", "{flipped}"], "does not match checkpoint.sha256"),
    (["derive", "{other_ckpt}"], "belongs to another run"),
    (["derive", "{bad_data_json}"], "data.json is not valid JSON"),
    (["derive", "{short_log}", "--samples", "2", "--top-k", "1"], "metrics.jsonl is shorter"),
    # record
    (["record", "{new}", "--results", "{new}"], "lacks"),
    (["record", "{macro}", "--results", "{afile}"], "--results"),
    (["record", "{macro}", "--results", "{new}", "--name", "../../x"], "must be a plain folder name"),
    (["record", "{macro}", "--results", "{new}", "--name", ".hidden"], "must be a plain folder name"),
    (["record", "{macro}", "--results", "{new}", "--name", "a/b"], "must be a plain folder name"),
    (["record", "{bad_metrics}", "--results", "{new}"], "is not a JSON record"),
    # devices and data
    (["search", "macro", *SMOKE, "--device", "bogus", "--out", "{new}"], "--device 'bogus' is not a device"),
    (["search", "macro", *SMOKE, "--device", "cpu:x", "--out", "{new}"], "--device 'cpu:x' is not a device"),
    (["search", "macro", *SMOKE, "--data", "{new}", "--out", "{new}"], "no such file or folder"),
    (["search", "rnn", *SMOKE, "--data", "torchvision:MNIST", "--out", "{new}"], "this space searches on text"),
    (["search", "macro", *SMOKE, "--data", "hf:wikitext", "--out", "{new}"], "Hugging Face text"),
    (["search", "macro", *SMOKE, "--data", "torchvision:", "--out", "{new}"], "name the data set"),
    (["search", "macro", *SMOKE, "--synthetic", "--data-dir", "{empty}", "--out", "{new}"], "--synthetic generates"),
    (["search", "macro", *SMOKE, "--no-verify", "--out", "{new}"], "name their folder"),
    (["search", "macro", *SMOKE, "--no-verify", "--data-dir", "{empty}", "--download", "--out", "{new}"],
     "choose one"),
    (["search", "macro", *SMOKE, "--data-kind", "images", "--out", "{new}"], "give --data too"),
    (["search", "macro", *SMOKE, "--image-size", "8", "--out", "{new}"], "shape your own data"),
    (["search", "macro", *SMOKE, "--data", "{text.txt}", "--out", "{new}"], "not a single file"),
    (["search", "macro", *SMOKE, "--data", "{images}", "--data-dir", "{empty}", "--out", "{new}"],
     "--data names your data"),
    (["search", "macro", *SMOKE, "--data", "{images}", "--no-verify", "--out", "{new}"], "takes no --no-verify"),
    (["search", "macro", *SMOKE, "--data", "{images}", "--download", "--out", "{new}"], "--download fetches"),
    (["search", "macro", *SMOKE, "--data", "{images}", "--data-kind", "text", "--out", "{new}"], "this space reads"),
    (["search", "macro", *SMOKE, "--data", "{images}", "--out", "{new}"], "holds no images"),
    (["search", "macro", "--profile", "colab", "--data-dir", "{empty}", "--quiet", "--out", "{new}"],
     "CIFAR-10 is not available"),
    (["search", "macro", *SMOKE, "--batch-size", "100000", "--out", "{new}"], "--batch-size 100000 is larger"),
    (["search", "rnn", *SMOKE, "--batch-size", "100000", "--out", "{new}"], "too few for one batch of 100000 columns"),
]


def _files(base: Path, skip: set) -> dict:
    out = {}
    for p in sorted(base.rglob("*")):
        if p.is_file() and p.name != ".lock" and not any(s == p or s in p.parents for s in skip):
            out[str(p.relative_to(base))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_the_table_holds_at_least_a_hundred_cases():
    assert len(CASES) >= 100 and len({tuple(argv) for argv, _ in CASES}) == len(CASES)


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_exits_2_with_a_message_that_names_it(world, argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)                          # a default --out would land here
    new = tmp_path / "new"
    argv = [a.replace("{new}", str(new)) for a in argv]
    for name in [p.name for p in world.iterdir()]:
        argv = [a.replace("{" + name + "}", str(world / name)) for a in argv]
    out = {Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "--out"} | {new}
    before = _files(world, out)
    try:
        code = main(argv)
    except SystemExit as exc:              # argparse refuses ranges and types itself, exit 2
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err
    assert _files(world, out) == before
    assert not (world / "pwned").exists()


# ---------------------------------------------------------------------------------- the API
def test_a_non_finite_reward_raises_and_leaves_the_controller_as_it_was():
    from enas_edu.controller import Controller
    from enas_edu.reinforce import NonFiniteRewardError, Reinforce
    from enas_edu.spaces import MacroSpace
    controller = Controller(MacroSpace(num_layers=3))
    trainer = Reinforce(controller)
    before = [p.detach().clone() for p in controller.parameters()]
    batch = controller.sample_batch(3, generator=torch.Generator().manual_seed(0))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(NonFiniteRewardError, match="not finite"):
            trainer.update(batch, torch.tensor([0.5, bad, 0.4]))
    assert all(torch.equal(a, b) for a, b in zip(before, controller.parameters()))
    assert trainer.baseline.item() == 0.0


def test_a_search_skips_and_logs_a_controller_step_whose_reward_is_not_finite(tmp_path):
    from enas_edu.search import Search
    search = Search(search_config("macro", "smoke"), tmp_path / "run", progress=False)
    real, calls = search.rewards, []

    def rewards(archs):
        calls.append(len(archs))
        scores = real(archs)
        return scores if len(calls) != 2 else torch.full_like(scores, float("nan"))   # the second update
    search.rewards = rewards
    search.run(stop_at=1)
    records = search.run_dir.read()
    assert [r["event"] for r in records if r["phase"] == "event"] == ["nonfinite_reward_skipped"]
    steps = [r["step"] for r in records if r["phase"] == "controller"]
    assert steps == [0] and search.position["epoch"] == 1        # step 1 skipped, the epoch went on
    assert all(torch.isfinite(p).all() for p in search.controller.parameters())
    search.run_dir.close()


@pytest.mark.parametrize("decisions, message", [
    ("010111", "got the string"),
    ([0, 1.7, 0], "expected a whole number"),
    ([0, True, 0], "expected a whole number"),
])
def test_from_decisions_refuses_strings_and_fractions(decisions, message):
    from enas_edu.spaces import MacroSpace
    with pytest.raises(ValueError, match=message):
        MacroSpace(num_layers=2).from_decisions(decisions)
    assert MacroSpace(num_layers=2).from_decisions([np.int64(0), torch.tensor(1), 0]).ops == (0, 1)


def test_save_arrays_refuses_a_layout_that_puts_pixels_in_the_channels(tmp_path):
    from enas_edu.data.own_images import save_arrays
    x = np.zeros((4, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="did you mean layout='NHWC'"):
        save_arrays(tmp_path / "a.npz", x, np.arange(4) % 2, layout="NCHW")
    assert not (tmp_path / "a.npz").exists()


def test_a_link_inside_an_image_folder_is_not_followed(tmp_path):
    from PIL import Image
    from enas_edu.config import DataConfig
    from enas_edu.data.own_images import own_images
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    (tmp_path / "imgs" / "selfclass").symlink_to(tmp_path / "imgs", target_is_directory=True)
    (tmp_path / "imgs" / "cat" / "loop").symlink_to(tmp_path / "imgs" / "cat", target_is_directory=True)
    data = own_images(DataConfig("images", data_dir=str(tmp_path / "imgs"), batch_size=4), "search")
    assert data.num_classes == 2
    assert len(data.train_x) + len(data.valid_x) + len(data.test_x) == 12
    assert data.facts["files_skipped"]["linked folders (not followed)"] == 2


def test_a_config_file_with_a_wrong_type_names_the_setting():
    d = config_to_dict(search_config("macro", "smoke"))
    for key, value, message in (("epochs", "two", "config.epochs is 'two'; expected int"),
                                ("seed", 1.5, "config.seed is 1.5; expected int"),
                                ("sync_free", "yes", "config.sync_free is 'yes'; expected bool")):
        with pytest.raises(ValueError, match=message):
            config_from_dict({**d, key: value})
    d["optim"] = {**d["optim"], "lr": "fast"}
    with pytest.raises(ValueError, match="config.optim.lr is 'fast'"):
        config_from_dict(d)


def test_the_api_refuses_counts_below_one(tmp_path):
    from enas_edu.baselines import nas_without_weight_sharing
    from enas_edu.derive import derive
    with pytest.raises(ValueError, match="--samples must be a whole number >= 1"):
        derive(tmp_path, num_samples=0)
    with pytest.raises(ValueError, match="--children must be a whole number >= 1"):
        nas_without_weight_sharing(search_config("macro", "smoke"), tmp_path / "b", num_children=0)
    with pytest.raises(RunError, match="does not exist"):
        RunDir.open(tmp_path / "nothing")


def test_a_vocabulary_cap_says_how_many_words_it_dropped():
    from enas_edu.data.ptb import Vocabulary
    vocab = Vocabulary("a a a b b c d e".split(), max_size=4)
    assert len(vocab) == 3 and vocab.dropped_types == 3 and abs(vocab.dropped_share - 3 / 8) < 1e-12


def test_a_shortened_run_says_its_schedule_does_not_anneal_and_lr_t0_fixes_it(capsys):
    from enas_edu.cli import _schedule_note
    optim = final_config("macro", MACRO_ARC, "book").optim
    note = _schedule_note(optim, 4)
    assert "T0 = 10" in note and "--lr-t0 4" in note
    assert _schedule_note(optim, 10) is None


def test_train_random_trains_a_uniform_sample_of_the_search_space(tmp_path, capsys):
    assert main(["train", "macro", "--random", "--seed", "3", *SMOKE, "--epochs", "1", "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    arc = out.split("seed 3): ")[1].splitlines()[0]
    space = search_config("macro", "smoke").net.space()
    assert arc == space.to_arc_string(space.sample(torch.Generator().manual_seed(3)))
    assert json.loads((tmp_path / "r" / "config.json").read_text())["arc"] == arc


def test_every_option_of_every_subcommand_has_help():
    from enas_edu.cli import build_parser
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = [f"{name} {action.option_strings or action.dest}" for name, p in sub.choices.items()
               for action in p._actions if action.help is None]
    assert missing == []


def test_a_download_that_trickles_is_given_up_at_its_deadline(tmp_path):
    """A server that sends one byte at a time never trips a per-read timeout; the deadline ends it."""
    import http.server
    import threading
    import time as clock
    from enas_edu.data import DatasetUnavailableError
    from enas_edu.data.download import RemoteFile, download

    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    clock.sleep(0.1)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = RemoteFile("f.bin", (f"http://127.0.0.1:{server.server_port}/f.bin",), md5="0" * 32)
        t0 = clock.monotonic()
        with pytest.raises(DatasetUnavailableError, match="not done within the deadline of 1 s"):
            download(remote, tmp_path, progress=False, timeout=5.0, deadline=1.0)
        assert clock.monotonic() - t0 < 30
        assert list(tmp_path.iterdir()) == []            # no partial file left
    finally:
        server.shutdown()
