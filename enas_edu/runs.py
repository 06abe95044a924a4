"""A run folder: what a search or a final training writes, and how it is opened again.

Students share run folders (a classmate's search, a course's reference run, a Drive folder), so a
run folder is treated as data from someone else, as the data path treats a download:

- **No code from a checkpoint.** ``checkpoint.pt`` holds only tensors and plain values (numbers,
  strings, lists, dicts; the random generators' states as tensors) and is read with
  ``torch.load(weights_only=True)``, which cannot run code. Nothing a run folder supplies is
  unpickled. ``checkpoint.sha256`` beside it is a damage check (a half-copied file), not a trust
  mechanism: whoever supplies a checkpoint can supply its digest too.
- **One owner.** A process that writes a run holds an advisory lock (``fcntl.flock`` on
  ``RUN/.lock``, which names its PID). A second process is refused; a lock whose process died is
  released by the operating system, so a killed run can always be resumed.
- **Reading never writes.** :meth:`RunDir.open` opens a run read-only: no folder is made, no
  log is cut, nothing is appended (``derive``, ``record``, plots and the book use it).
- **Resume checks what it keeps.** A checkpoint records, for each log, its size and the SHA-256 of
  its last 64 KiB at that moment; a resume cuts the records written after the checkpoint only if
  the log still holds those bytes, and refuses (naming the file) if it was shortened, edited or
  replaced. The checkpoint carries the run's id from ``run.json``: one copied from another run is
  refused.
- **Its files, not what they point to.** Every file a command opens in a run folder must be a
  regular file there: a symbolic link (which could make ``--resume`` truncate or append to a file
  outside the folder, or ``record`` copy one into results/), a named pipe or a device (which
  would hang a read) is refused with a message naming it, and so is a file larger than the
  command would ever write (:data:`MAX_BYTES`). Writes go through names no user file can have
  (``tempfile.mkstemp``) and ``O_NOFOLLOW``; the lock is never opened through a link.
- **A fresh start owns its folder.** ``--out`` into a non-empty folder that is no enas_edu run is
  refused; a run that stopped before its first checkpoint is started again from nothing, and
  the records of the dead attempt are removed (one line says so).

Layout: ``run.json`` (format, kind, run id, creation date and version), ``config.json``,
``metrics.jsonl`` and ``architectures.jsonl`` (one JSON record per line, appended),
``environment.jsonl`` (one line per start or resume), ``checkpoint.pt`` (written to a temporary
name and renamed: never half-written) with ``checkpoint.sha256``, and what the job adds
(``data.json``, ``derived.json``, ``result.json``, ...).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import random
import stat
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .data.download import file_hash

FORMAT = 2                       # run.json and checkpoint.pt of this layout (enas_edu 0.1 wrote none)
MARKER = "run.json"
LOCK = ".lock"
LOGS = ("metrics.jsonl", "architectures.jsonl")      # cut back to the checkpoint on resume
ENVIRONMENT = "environment.jsonl"                    # one line per (re)start, never cut
TAIL = 1 << 16                   # bytes of each log's end whose digest a checkpoint keeps
KINDS = ("search", "final", "baseline")
#: what a start writes: removed when a start finds an attempt that never reached a checkpoint
ATTEMPT_FILES = LOGS + (ENVIRONMENT, "config.json", "data.json", "candidates.jsonl", "derived.json",
                        "derived_arc.txt", "result.json", "baseline.json", "checkpoint.sha256")


#: the largest file of each kind a command reads from a run folder (far above what a run writes:
#: a paper-profile checkpoint is ~100 MB, a 630-epoch log a few MB)
MAX_BYTES = {"log": 1 << 30, "json": 64 << 20, "checkpoint": 16 << 30}
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class RunError(ValueError):
    """A run folder that cannot be used as asked: the message names the folder or file and the fix."""


class RunLockedError(RunError):
    """Another process writes this run folder."""


# ---------------------------------------------------------------------------------- files
def in_place(path: Path, kind: str | None = None) -> int:
    """The size of ``path`` if it is a regular file where it is named, else a RunError naming it.

    A symbolic link is refused whatever it points to (a run folder is data from someone else:
    a link could make a command read or write outside it), so are pipes, devices and folders
    (a read would hang or fail), and a file larger than :data:`MAX_BYTES` of its ``kind``.
    FileNotFoundError if there is nothing there.
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise RunError(f"{path} is a symbolic link (to {os.readlink(path)}); a run folder's files must be the files "
                       "themselves, since a link could make a command read or write outside the folder: replace "
                       "it with a copy of the file it points to")
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "a named pipe" if stat.S_ISFIFO(st.st_mode) else \
            "a device or socket"
        raise RunError(f"{path} is {what}, not a regular file; remove it (a run writes only regular files there)")
    if kind is not None and st.st_size > MAX_BYTES[kind]:
        raise RunError(f"{path} is {st.st_size:,} bytes, more than any {kind} a run writes ({MAX_BYTES[kind]:,}); "
                       "it is not this run's file: remove it, or start the run again in a new folder")
    return st.st_size


def _exists(path: Path) -> bool:
    """Whether anything is at ``path``, a dangling link included (``Path.exists`` follows links)."""
    return os.path.lexists(path)


def _open_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that never follows a link at ``path`` and refuses anything but a regular file."""
    try:
        fd = os.open(path, flags | NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            in_place(path)          # raises the RunError that names the link
        raise _os_error(exc, path) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        in_place(path)
    return fd


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fresh_file(folder: Path, name: str) -> tuple[int, Path]:
    """A new temporary file for ``name`` in ``folder`` (``mkstemp``: a name no user file or link
    can have), with the permissions an ordinary new file gets (mkstemp's are owner-only)."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~current_umask())
    return fd, Path(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: whole or not at all.

    The temporary file gets a fresh name (``mkstemp``: it cannot be a user's file or a link),
    and the rename replaces whatever entry ``path`` was, a link included, never its target."""
    path = Path(path)
    try:
        fd, tmp = fresh_file(path.parent, path.name)
    except OSError as exc:
        raise _os_error(exc, path) from exc
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _os_error(exc, path) from exc


def _os_error(exc: OSError, path: Path) -> OSError | RunError:
    """A full disk or a read-only folder as a user error that names the place and the fix."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return RunError(f"could not write {path}: the disk is full (or a file-size limit was reached); free "
                        "space, or give --out on another disk, then resume the run with --resume")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return RunError(f"could not write {path}: the folder is read-only or not yours ({exc.strerror}); "
                        "choose a folder you can write with --out")
    return exc


def _tail_digest(path: Path, size: int) -> str:
    """SHA-256 of the last TAIL bytes of the first ``size`` bytes of ``path``."""
    in_place(path, "log")
    with open(path, "rb") as f:
        start = max(0, size - TAIL)
        f.seek(start)
        return hashlib.sha256(f.read(size - start)).hexdigest()


# ---------------------------------------------------------------------------------- the lock
_HELD: dict[str, list] = {}      # resolved folder -> [file descriptor, openers] of this process


def _acquire(folder: Path) -> str:
    """Hold the folder's lock for this process (re-entrant: the same process may open it twice,
    as a notebook does when a cell runs again). Another live process holding it: RunLockedError."""
    key = str(folder.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        return key
    try:
        import fcntl
    except ImportError:          # Windows: no advisory locks; the run still works, unguarded
        _HELD[key] = [None, 1]
        return key
    path = folder / LOCK
    fd = _open_fd(path, os.O_RDWR | os.O_CREAT)      # never through a link: it is truncated below
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise RunLockedError(
            f"{folder} is being written by another process ({holder}); two processes on one run folder "
            "would mix their records. Wait for it to finish or stop it, or choose another --out") from None
    os.ftruncate(fd, 0)          # a lock left by a dead process is free again: take it over
    os.write(fd, f"pid {os.getpid()} on {os.uname().nodename}, "
                 f"since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
    _HELD[key] = [fd, 1]
    return key


def _release(key: str) -> None:
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] == 0:
        del _HELD[key]
        if held[0] is not None:
            os.close(held[0])    # closing the descriptor releases the flock


# ---------------------------------------------------------------------------------- the folder
def run_kind(folder: Path) -> str | None:
    """The kind of run in ``folder`` ("search", "final", "baseline"), or None if it holds none.

    A run of enas_edu 0.1 has no ``run.json``; its ``config.json`` names its kind.
    """
    folder = Path(folder)
    marker = folder / MARKER
    if _exists(marker):
        found = read_json(marker)
        if not isinstance(found, dict):
            raise RunError(f"{marker} holds {type(found).__name__}, not a run's description (a JSON object); "
                           "the folder is damaged or not an enas_edu run")
        return found.get("kind")
    config = folder / "config.json"
    if _exists(config):
        try:
            found = read_json(config)
        except RunError:
            return None
        return {"SearchConfig": "search", "FinalConfig": "final"}.get(found.get("kind")) \
            if isinstance(found, dict) else None
    return None


def read_json(path: Path) -> Any:
    """A JSON file of a run, or a RunError that names it."""
    try:
        in_place(path, "json")
        return json.loads(Path(path).read_text(), parse_constant=_no_constant)
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except RecursionError:
        raise RunError(f"{path} nests too deeply to be a file enas_edu wrote; restore it, or start the run again "
                       "in a new folder") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, RunError):
            raise
        raise RunError(f"{path} is not valid JSON ({exc}); the file is damaged or was edited by hand: "
                       "restore it, or start the run again in a new folder") from None


def _standard(value):
    """``value`` with every NaN or infinity replaced by None (JSON null): the logs are standard
    JSON, which has no such numbers, and a reader refuses them (:func:`_no_constant`)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _standard(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_standard(v) for v in value]
    return value


def _no_constant(name: str):
    """``json.loads`` hook: NaN and Infinity are not JSON, and enas_edu never writes them."""
    raise ValueError(f"{name} is not a JSON number")


def _what(kind: str | None) -> str:
    return {"search": "a search run", "final": "a final-training run", "baseline": "a baseline run"}.get(
        kind, "no enas_edu run")


def _next_step(kind: str | None, folder: Path) -> str:
    return {"search": f"`enas-edu search SPACE --resume --out {folder}`",
            "final": f"`enas-edu train SPACE --resume --out {folder}`"}.get(kind, "nothing: it cannot be resumed")


class RunDir:
    """A run folder: append-only JSONL logs, an atomic checkpoint that loads without unpickling.

    Open one with :meth:`create` (a new run), :meth:`resume` (continue one) or :meth:`open`
    (read only). The plain constructor checks nothing; ``read_only=True`` makes every write raise.
    """

    def __init__(self, path: str | os.PathLike, callbacks: list[Callable[[dict], Any]] | None = None,
                 read_only: bool = False):
        self.path = Path(path)
        self.callbacks = list(callbacks or [])
        self.read_only = read_only
        self._lock: str | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path, kind: str, callbacks=None, say: Callable[[str], None] | None = print) -> "RunDir":
        """A new run of ``kind`` in ``path`` (made if missing), with this process as its owner."""
        run = cls(path, callbacks)
        folder = run.path
        if folder.exists() and not folder.is_dir():
            raise RunError(f"--out {folder} is a file, not a folder; give a new or empty folder for the run")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, folder) from exc
        run._check_new(folder)               # before the lock: a refused folder gets no .lock file
        run._lock = _acquire(folder)
        try:
            if run._check_new(folder) is not None:   # again, now that no other process can start here
                removed = [name for name in ATTEMPT_FILES if (folder / name).exists()]
                lines = sum(len((folder / n).read_bytes().splitlines()) for n in removed if n.endswith(".jsonl"))
                for name in removed + [MARKER]:
                    (folder / name).unlink(missing_ok=True)
                if removed and say is not None:
                    say(f"{folder}: an earlier attempt stopped before its first checkpoint; its {lines} records "
                        f"({', '.join(removed)}) were removed and the run starts afresh")
            atomic_write_text(folder / MARKER, json.dumps(
                {"format": FORMAT, "kind": kind, "run_id": uuid.uuid4().hex,
                 "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "enas_edu": _version()}, indent=1) + "\n")
        except BaseException:
            run.close()
            raise
        return run

    def _check_new(self, folder: Path) -> str | None:
        """Refuse a folder a new run cannot take; return the kind of the attempt found there."""
        found = run_kind(folder)
        if found is None:
            others = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
            if others:
                raise RunError(
                    f"--out {folder} is not empty and holds no enas_edu run (found {', '.join(others[:5])}"
                    f"{', ...' if len(others) > 5 else ''}); a run would overwrite or mix with these files. "
                    "Choose a new or empty folder for --out")
        elif self.checkpoint_path.exists():
            raise RunError(f"{folder} already holds {_what(found)}; continue it with {_next_step(found, folder)}"
                           ", or choose another --out")
        return found

    @classmethod
    def resume(cls, path, kind: str, callbacks=None) -> "RunDir":
        """An existing run of ``kind`` with a checkpoint, with this process as its owner."""
        run = cls(path, callbacks)
        folder = run.path
        if not folder.is_dir():
            raise RunError(f"no run to resume: {folder} does not exist (check --out)")
        found = run_kind(folder)
        if found != kind:
            raise RunError(f"{folder} holds {_what(found)}, not {_what(kind)}; "
                           + (f"continue it with {_next_step(found, folder)}" if found in ("search", "final")
                              else "give the folder of the run to resume with --out"))
        if not run.checkpoint_path.exists():
            raise RunError(f"{folder} has no checkpoint yet (the run stopped before its first one): start it "
                           "again without --resume, which clears that attempt's records")
        run._lock = _acquire(folder)
        return run

    @classmethod
    def open(cls, path, kind: str | None = None) -> "RunDir":
        """A run opened read-only: no lock, no folder made, nothing written or cut."""
        run = cls(path, read_only=True)
        if not run.path.is_dir():
            raise RunError(f"{run.path} does not exist or is not a folder; give the folder of a run")
        found = run_kind(run.path)
        if found is None:
            raise RunError(f"{run.path} holds no enas_edu run (no run.json or config.json)")
        if kind is not None and found != kind:
            raise RunError(f"{run.path} is {_what(found)}; this needs {_what(kind)}")
        return run

    def close(self) -> None:
        """Give the lock back (also when the object is collected, or the process ends)."""
        if self._lock is not None:
            _release(self._lock)
            self._lock = None

    def __del__(self):
        self.close()

    @property
    def kind(self) -> str | None:
        return run_kind(self.path)

    @property
    def run_id(self) -> str | None:
        marker = self.path / MARKER
        return read_json(marker).get("run_id") if marker.is_file() else None

    # ------------------------------------------------------------------ logs
    def _writable(self, what: str) -> None:
        if self.read_only:
            raise RunError(f"{self.path} was opened read-only; {what} needs it opened with create or resume")

    def log(self, record: dict, file: str = "metrics.jsonl") -> None:
        self._writable(f"writing {file}")
        record = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in record.items()}
        path = self.path / file
        line = (json.dumps(_standard(record), allow_nan=False) + "\n").encode()
        fd = _open_fd(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)
        except OSError as exc:
            raise _os_error(exc, path) from exc
        finally:
            os.close(fd)
        if file == "metrics.jsonl":
            for callback in self.callbacks:
                callback(record)

    def log_environment(self, device: torch.device, data: str, data_source: dict | None = None) -> None:
        """Say what ran this (re)start: a recorded number must name its hardware and data.

        ``data_source`` (:func:`enas_edu.tasks.describe`): the data actually read, with its kind,
        folder, whether its checksums were checked, and its sizes.
        """
        from .training import hardware_name
        self.log({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "hardware": hardware_name(device),
                  "device": str(device), "data": data, "data_source": data_source, "enas_edu": _version(),
                  "torch": torch.__version__, "python": sys.version.split()[0],
                  "cpu_threads": torch.get_num_threads()}, file=ENVIRONMENT)

    def read(self, file: str = "metrics.jsonl") -> list[dict]:
        """The records of a log; a damaged line is a RunError naming the file and line."""
        path = self.path / file
        if not _exists(path):
            return []
        in_place(path, "log")
        records = []
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line, parse_constant=_no_constant))
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise RunError(f"{path}, line {number}, is not a JSON record (the file is damaged or was edited); "
                               "restore it, or delete the run") from None
        return records

    def log_state(self) -> dict:
        """Each log's size and the digest of its end: what a checkpoint keeps to verify on resume."""
        state = {}
        for name in LOGS:
            path = self.path / name
            size = in_place(path, "log") if _exists(path) else 0
            state[name] = {"size": size, "tail_sha256": _tail_digest(path, size) if size else ""}
        return state

    def check_logs(self, state: dict) -> None:
        """Refuse (naming the file) logs that no longer start with what the checkpoint saw."""
        for name in LOGS:
            expected = state.get(name, {"size": 0, "tail_sha256": ""})
            path, size = self.path / name, expected["size"]
            have = in_place(path, "log") if _exists(path) else 0
            if have < size:
                raise RunError(f"{path} is shorter ({have} bytes) than when the checkpoint was written ({size}): "
                               "records were removed, so the run cannot continue them. Restore the file, or start "
                               "the run again in a new folder")
            if size and _tail_digest(path, size) != expected["tail_sha256"]:
                raise RunError(f"{path} does not hold the records the checkpoint was written after (its first "
                               f"{size} bytes changed): it was edited or replaced. Restore the file, or start the "
                               "run again in a new folder")

    def truncate_logs(self, state: dict) -> None:
        """Cut the logs back to the checkpoint (drop what came after it), after :meth:`check_logs`."""
        self._writable("cutting its logs")
        self.check_logs(state)
        for name in LOGS:
            path = self.path / name
            if _exists(path):
                fd = _open_fd(path, os.O_WRONLY)
                try:
                    os.ftruncate(fd, state.get(name, {"size": 0})["size"])
                finally:
                    os.close(fd)

    # ------------------------------------------------------------------ checkpoint
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def checksum_path(self) -> Path:
        return self.path / "checkpoint.sha256"

    def save_checkpoint(self, state: dict) -> None:
        """Write the checkpoint atomically, with its SHA-256 beside it.

        ``checkpoint.sha256`` lists the digests a valid checkpoint may have: the new one and the
        one it replaces. It is renamed into place *before* the checkpoint, so a crash between the
        two renames leaves the previous checkpoint, whose digest is still listed.
        """
        self._writable("writing a checkpoint")
        state = dict(state, format=FORMAT, run_id=self.run_id, logs=self.log_state())
        buffer = io.BytesIO()
        torch.save(state, buffer)      # in memory first: a failed file write then says why (errno)
        tmp = None
        try:
            fd, tmp = fresh_file(self.path, self.checkpoint_path.name)
            with os.fdopen(fd, "wb") as f:
                f.write(buffer.getbuffer())
            del buffer
            digests = [file_hash(tmp, "sha256")]
            if _exists(self.checkpoint_path):
                in_place(self.checkpoint_path, "checkpoint")
                digests.append(file_hash(self.checkpoint_path, "sha256"))
            atomic_write_text(self.checksum_path, "\n".join(digests) + "\n")
            os.replace(tmp, self.checkpoint_path)
        except (OSError, RunError) as exc:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
            raise _os_error(exc, tmp or self.path) if isinstance(exc, OSError) else exc from exc

    def load_checkpoint(self, map_location=None) -> dict:
        """The checkpoint, read without unpickling (``weights_only=True``), checked for damage and
        for belonging to this run."""
        path = self.checkpoint_path
        if not _exists(path):
            raise RunError(f"no checkpoint to resume from: {path} does not exist")
        in_place(path, "checkpoint")         # before hashing: a link to /dev/zero would never end
        if _exists(self.checksum_path):
            in_place(self.checksum_path, "json")
        if not _exists(self.checksum_path) or file_hash(path, "sha256") not in self.checksum_path.read_text().split():
            raise RunError(f"{path} does not match {self.checksum_path.name} (missing, or the file was changed or "
                           "damaged after the run wrote it), so it is not loaded. Restore both from a backup, or start "
                           "the run again in a new folder")
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:          # pickle.UnpicklingError for code, RuntimeError for a damaged zip
            raise RunError(
                f"{path} cannot be read as tensors and plain values ({type(exc).__name__}): it was written by "
                "enas_edu 0.1, or not by enas_edu. Checkpoints are never unpickled, since unpickling can run "
                "code; start the run again in a new folder (this one's metrics stay readable)") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise RunError(f"{path} is not a checkpoint of this enas_edu (format {FORMAT}); start the run again "
                           "in a new folder")
        if state.get("run_id") != self.run_id:
            raise RunError(f"{path} belongs to another run (run id {state.get('run_id')}, this folder's "
                           f"{MARKER} says {self.run_id}): it was copied from elsewhere. Put it back with its "
                           "own run folder")
        return state


def _version() -> str:
    from . import __version__
    return __version__


# ---------------------------------------------------------------------------------- random state
def rng_state(generators: dict[str, torch.Generator]) -> dict:
    """Every random generator's state as tensors and plain values (loadable with weights_only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": [version, list(internal), gauss],
             "generators": {k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
