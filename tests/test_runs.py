"""Run folders that are safe to share, resume and read (enas_edu.runs).

A checkpoint runs no code, reading a run writes nothing, one process owns a run, a fresh start
owns its folder, and a full disk or a read-only folder ends with one clear line.
"""

import contextlib
import errno
import hashlib
import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from enas_edu.config import search_config
from enas_edu.data.download import file_hash
from enas_edu.derive import derive
from enas_edu.runs import RunDir, RunError, RunLockedError
from enas_edu.search import Search, run_search

CLI = [sys.executable, "-m", "enas_edu.cli"]


def tiny(**overrides):
    return search_config("macro", "smoke", **overrides)


def snapshot(folder: Path) -> dict:
    """Every file below ``folder`` (but the lock) with the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A macro search at the smoke profile, stopped after epoch 1 of 2 (so it can be resumed)."""
    run = tmp_path_factory.mktemp("runs") / "macro"
    search = run_search(tiny(), run, progress=False, stop_at=1)
    search.run_dir.close()
    return run


@pytest.fixture
def run(finished, tmp_path):
    """A private copy of the finished search."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy, ignore=shutil.ignore_patterns(".lock"))
    return copy


class Payload:
    """What a malicious checkpoint holds: unpickling it would create ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(run: Path, state) -> None:
    """Replace the run's checkpoint with ``state`` pickled, and its digest with the matching one,
    as whoever supplies a run folder can."""
    with open(run / "checkpoint.pt", "wb") as f:
        pickle.dump(state, f)
    (run / "checkpoint.sha256").write_text(file_hash(run / "checkpoint.pt", "sha256") + "\n")


# ---------------------------------------------------------------------------------- no code
def test_a_malicious_checkpoint_with_a_matching_digest_runs_no_code(run, tmp_path):
    marker = tmp_path / "pwned"
    plant(run, {"position": Payload(marker)})
    with pytest.raises(RunError, match="cannot be read as tensors"):
        Search(None, run, resume=True, progress=False)
    with pytest.raises(RunError, match="cannot be read as tensors"):
        derive(run, num_samples=2, top_k=1)
    with pytest.raises(RunError, match="cannot be read as tensors"):
        RunDir.open(run).load_checkpoint()
    assert not marker.exists()
    # the same through torch.save (a zip file): still no code
    torch.save({"position": Payload(marker)}, run / "checkpoint.pt")
    (run / "checkpoint.sha256").write_text(file_hash(run / "checkpoint.pt", "sha256") + "\n")
    with pytest.raises(RunError, match="cannot be read as tensors"):
        Search(None, run, resume=True, progress=False)
    assert not marker.exists()


def test_a_checkpoint_holds_only_tensors_and_plain_values(finished):
    state = torch.load(finished / "checkpoint.pt", weights_only=True)     # raises on anything else
    assert state["format"] == 2 and state["run_id"] == json.loads((finished / "run.json").read_text())["run_id"]
    assert isinstance(state["rng"]["numpy"]["keys"], torch.Tensor) and len(state["rng"]["numpy"]["keys"]) == 624


def test_a_checkpoint_of_enas_edu_0_1_is_refused_with_what_to_do(run):
    legacy = torch.load(run / "checkpoint.pt", weights_only=True)
    import numpy as np
    legacy["rng"]["numpy"] = np.random.get_state()        # 0.1 kept numpy's state as an array
    torch.save(legacy, run / "checkpoint.pt")
    (run / "checkpoint.sha256").write_text(file_hash(run / "checkpoint.pt", "sha256") + "\n")
    with pytest.raises(RunError, match="written by enas_edu 0.1, or not by enas_edu.*new folder"):
        Search(None, run, resume=True, progress=False)


def test_a_checkpoint_copied_from_another_run_is_refused(run, tmp_path):
    other = tmp_path / "other"
    run_search(tiny(seed=1), other, progress=False, stop_at=1).run_dir.close()
    for name in ("checkpoint.pt", "checkpoint.sha256"):
        shutil.copyfile(other / name, run / name)
    with pytest.raises(RunError, match="belongs to another run"):
        Search(None, run, resume=True, progress=False)


# ---------------------------------------------------------------------------------- reading never writes
def test_derive_writes_nothing_of_the_search_it_reads(run, tmp_path):
    before = snapshot(run)
    chosen = derive(run, num_samples=4, top_k=2, out=tmp_path / "choice")
    assert snapshot(run) == before
    assert (tmp_path / "choice" / "derived_arc.txt").read_text().strip() == chosen.arc
    derive(run, num_samples=4, top_k=2)         # into the run: only derive's own three files are new
    after = snapshot(run)
    assert {k: v for k, v in after.items() if k in before} == before
    assert sorted(set(after) - set(before)) == ["candidates.jsonl", "derived.json", "derived_arc.txt"]


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[: len(b) // 2], "is shorter"),                                     # records removed
    (lambda b: b.replace(b'"epoch": 0', b'"epoch": 7', 1), "does not hold the records"),   # one edited
])
def test_resume_refuses_logs_that_no_longer_hold_what_the_checkpoint_saw(run, damage, message):
    metrics = run / "metrics.jsonl"
    metrics.write_bytes(damage(metrics.read_bytes()))
    before = snapshot(run)
    with pytest.raises(RunError, match=f"metrics.jsonl {message}"):
        Search(None, run, resume=True, progress=False)
    assert snapshot(run) == before               # not padded with NUL bytes, not cut
    assert b"\0" not in metrics.read_bytes()


def test_resume_cuts_only_the_records_written_after_the_checkpoint(run):
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"phase": "shared", "epoch": 1, "step": 0, "loss": 1.0}) + "\n")   # after it
    size = json.loads(json.dumps(torch.load(run / "checkpoint.pt", weights_only=True)["logs"]))
    search = Search(None, run, resume=True, progress=False)
    assert (run / "metrics.jsonl").stat().st_size == size["metrics.jsonl"]["size"]
    search.run_dir.close()


# ---------------------------------------------------------------------------------- one owner
def _holder(folder: Path):
    """A second process that creates a run in ``folder`` and holds it until killed."""
    code = ("import sys, time; from enas_edu.runs import RunDir; "
            f"r = RunDir.create({str(folder)!r}, 'search'); r.log({{'phase': 'x'}}); print('ready', flush=True); "
            "time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_a_second_process_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    folder = tmp_path / "run"
    proc = _holder(folder)
    try:
        with pytest.raises(RunLockedError, match=f"another process \\(pid {proc.pid} "):
            RunDir.create(folder, "search")
        result = subprocess.run(CLI + ["search", "macro", "--profile", "smoke", "--out", str(folder), "--quiet"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and f"pid {proc.pid}" in result.stderr and "Traceback" not in result.stderr
    finally:
        proc.kill()
        proc.wait()
    # the killed process never checkpointed: a fresh start takes its lock and clears its record
    run = RunDir.create(folder, "search")
    assert "stopped before its first checkpoint; its 1 records" in capsys.readouterr().out
    assert not (folder / "metrics.jsonl").exists()
    run.close()


def test_two_searches_on_one_folder_do_not_mix_their_records(tmp_path):
    """Started at once: one runs to the end, the other is refused; the records are one run's."""
    out = tmp_path / "run"
    cmd = CLI + ["search", "macro", "--profile", "smoke", "--out", str(out), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    assert any("being written by another process" in err or "already holds" in err for _, err in results)
    straight = tmp_path / "straight"
    assert subprocess.run(CLI + ["search", "macro", "--profile", "smoke", "--out", str(straight), "--quiet"],
                          capture_output=True, timeout=600).returncode == 0
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("seconds", "shared_seconds", "examples_per_second")}
                        for r in rs]
    assert strip(RunDir.open(out).read()) == strip(RunDir.open(straight).read())


# ---------------------------------------------------------------------------------- a fresh start
def test_a_folder_that_is_no_run_is_refused_untouched(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text('{"my": "settings"}')
    (folder / "metrics.jsonl").write_text("my notes\n")
    before = snapshot(folder)
    with pytest.raises(RunError, match="not empty and holds no enas_edu run"):
        Search(tiny(), folder, progress=False)
    assert snapshot(folder) == before and not (folder / ".lock").exists()


def test_a_restart_after_a_start_that_never_checkpointed_keeps_no_stale_records(tmp_path, capsys):
    def crash(record):
        if record.get("phase") == "shared":
            raise KeyboardInterrupt        # killed before the first checkpoint
    with pytest.raises(KeyboardInterrupt):
        run_search(tiny(), tmp_path / "run", progress=False, callbacks=[crash])
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    restarted = run_search(tiny(), tmp_path / "run", progress=False)
    assert "were removed and the run starts afresh" in capsys.readouterr().out
    straight = run_search(tiny(), tmp_path / "straight", progress=False)
    drop = ("seconds", "shared_seconds", "examples_per_second")
    strip = lambda rs: [{k: v for k, v in r.items() if k not in drop} for r in rs]
    assert strip(restarted.run_dir.read()) == strip(straight.run_dir.read())
    assert len(restarted.run_dir.read("environment.jsonl")) == 1


# ---------------------------------------------------------------------------------- disk full, read-only
def _no_bigger_than(limit: int):
    def preexec():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return preexec


def test_a_full_disk_during_a_checkpoint_ends_with_one_line_and_the_run_restarts(tmp_path):
    out = tmp_path / "run"
    cmd = CLI + ["search", "macro", "--profile", "smoke", "--out", str(out), "--quiet"]
    full = subprocess.run(cmd, capture_output=True, text=True, timeout=600, preexec_fn=_no_bigger_than(200_000))
    assert full.returncode == 2, full.stderr[-2000:]
    assert "disk is full" in full.stderr and "Traceback" not in full.stderr
    assert not (out / "checkpoint.pt.tmp").exists() and not (out / "checkpoint.pt").exists()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "stopped before its first checkpoint" in again.stdout


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` as a read-only file system shows it: every write below it fails with EROFS. (A
    chmod would not do: the tests may run as root, who writes anywhere.)"""
    import builtins
    folder = str(folder.resolve())
    inside = lambda path: str(Path(path).resolve()).startswith(folder)
    def refuse(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))
    real_open, real_os_open, real_replace, real_unlink = builtins.open, os.open, os.replace, os.unlink
    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+") and inside(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)
    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            refuse(path)
        return real_os_open(path, flags, *args, **kwargs)
    def guarded(real):
        def call(path, *args, **kwargs):
            if inside(path) or (args and isinstance(args[0], (str, os.PathLike)) and inside(args[0])):
                refuse(path)
            return real(path, *args, **kwargs)
        return call
    patches = [(builtins, "open", guarded_open), (io, "open", guarded_open), (os, "open", guarded_os_open),
               (os, "replace", guarded(real_replace)), (os, "unlink", guarded(real_unlink))]
    saved = [(m, n, getattr(m, n)) for m, n, _ in patches]
    try:
        for m, n, f in patches:
            setattr(m, n, f)
        yield
    finally:
        for m, n, f in saved:
            setattr(m, n, f)


def test_a_read_only_run_can_be_derived_from_and_resume_says_why_it_cannot(run, tmp_path, capsys):
    from enas_edu.cli import main
    before = snapshot(run)
    with read_only(run):
        assert main(["derive", str(run), "--samples", "4", "--top-k", "1", "--out", str(tmp_path / "choice")]) == 0
        capsys.readouterr()
        assert main(["search", "macro", "--resume", "--out", str(run), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert main(["derive", str(run), "--samples", "4", "--top-k", "1"]) == 2
        err_derive = capsys.readouterr().err
    assert "read-only" in err and str(run) in err and "Traceback" not in err
    assert "read-only" in err_derive and "--out" in err_derive
    assert snapshot(run) == before and (tmp_path / "choice" / "derived_arc.txt").exists()


def test_ctrl_c_stops_with_one_line_that_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    # SIGINT back to its default in the child: a shell that starts a job in the background (as a
    # CI runner may) ignores SIGINT for it, and Python then installs no KeyboardInterrupt
    proc = subprocess.Popen(CLI + ["search", "macro", "--profile", "smoke", "--epochs", "50", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"--resume --out {out}" in err and "Traceback" not in err
