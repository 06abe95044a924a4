"""A run folder from someone else, round 2 (issue #38): links, pipes and devices inside it.

Every case runs the command a user would, asserts its exit code and message (the file named, no
traceback), and that nothing outside the run folder changed (the surrounding tree hashed before
and after)."""

import hashlib
import json
import os
import shutil

import pytest

from enas_edu.cli import main
from enas_edu.runs import RunDir, RunError

SMOKE = ["--profile", "smoke", "--quiet", "--epochs", "1"]


def _tree(root):
    """Every regular file under ``root`` and its digest, but the lock (which names its last owner)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink() and p.name != ".lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("links")
    assert main(["search", "macro", *SMOKE, "--out", str(base / "run")]) == 0
    return base / "run"


@pytest.fixture
def world(tmp_path, finished):
    """A copy of a finished search, and a private file beside it that no command may touch."""
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    private = tmp_path / "private.txt"
    private.write_text("a student's notes\n")
    return tmp_path, run, private


@pytest.mark.parametrize("name", [".lock", "environment.jsonl", "metrics.jsonl", "checkpoint.pt", "config.json",
                                  "checkpoint.sha256"])
def test_a_link_in_a_run_folder_is_refused_and_its_target_untouched(world, name, capsys):
    root, run, private = world
    (run / name).unlink(missing_ok=True)
    os.symlink(private, run / name)
    before = _tree(root)
    code = main(["search", "macro", "--resume", "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{run / name} is a symbolic link" in err
    assert private.read_text() == "a student's notes\n" and _tree(root) == before


def test_writes_go_through_fresh_names_so_a_planted_temporary_link_is_never_followed(world):
    root, run, private = world
    for planted in ("checkpoint.pt.tmp", "config.json.tmp", "checkpoint.sha256.tmp"):
        os.symlink(private, run / planted)
    assert main(["search", "macro", "--resume", "--out", str(run), "--quiet"]) == 0   # already finished: it checks
    rd = RunDir.resume(run, "search")
    rd.save_checkpoint({"note": 1})
    rd.log({"phase": "event", "event": "x", "value": float("nan")})             # NaN is written as null
    rd.close()
    assert private.read_text() == "a student's notes\n"
    assert all((run / p).is_symlink() for p in ("checkpoint.pt.tmp", "config.json.tmp"))   # left as they were
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["value"] is None
    mask = os.umask(0)
    os.umask(mask)
    for written in ("checkpoint.pt", "checkpoint.sha256"):        # readable as any new file (not mkstemp's 0600)
        assert (run / written).stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("special", ["fifo", "dev_zero"])
def test_a_pipe_or_a_device_as_checkpoint_fails_at_once_instead_of_hanging(world, special, capsys):
    root, run, _ = world
    (run / "checkpoint.pt").unlink()
    if special == "fifo":
        os.mkfifo(run / "checkpoint.pt")
        expected = "is a named pipe, not a regular file"
    else:
        os.symlink("/dev/zero", run / "checkpoint.pt")
        expected = "is a symbolic link (to /dev/zero)"
    assert main(["derive", str(run), "--samples", "2", "--top-k", "1"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_record_copies_no_linked_file_and_deletes_no_folder_of_the_user(world, capsys):
    root, run, private = world
    results = root / "results"
    (results / "run.tmp").mkdir(parents=True)                                   # a user's folder of that name
    (results / "run.tmp" / "keep.txt").write_text("mine")
    os.symlink(private, run / "candidates.jsonl")
    before = _tree(root)
    assert main(["record", str(run), "--results", str(results)]) == 2
    assert "candidates.jsonl is a symbolic link" in capsys.readouterr().err
    assert _tree(root) == before and sorted(p.name for p in results.iterdir()) == ["run.tmp"]
    (run / "candidates.jsonl").unlink()
    assert main(["record", str(run), "--results", str(results)]) == 0
    assert (results / "run.tmp" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in results.iterdir()) == ["run", "run.tmp"]      # no temporary folder left


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_a_log_with_numbers_json_does_not_have_is_refused(world, bad):
    _, run, _ = world
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"phase": "epoch", "reward": %s}\n' % bad)
    with pytest.raises(RunError, match=r"metrics.jsonl, line \d+, is not a JSON record"):
        RunDir.open(run).read()


def test_a_run_json_that_is_no_object_or_nests_without_end_is_a_clear_error(world, capsys):
    _, run, _ = world
    (run / "run.json").write_text("[1, 2, 3]")
    assert main(["derive", str(run)]) == 2
    assert "run.json holds list, not a run's description" in capsys.readouterr().err
    (run / "run.json").write_text("[" * 200_000 + "]" * 200_000)
    assert main(["derive", str(run)]) == 2
    assert "nests too deeply" in capsys.readouterr().err
