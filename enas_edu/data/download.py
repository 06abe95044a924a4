"""Where data lives, how it is downloaded, and how it is checked before use.

- One data root, resolved as ``--data-dir`` > ``$ENAS_EDU_DATA_DIR`` > ``~/.cache/enas_edu``.
- Downloads stream to a temporary name with a progress bar and are renamed into place only after
  their checksum matched (``os.replace`` is atomic), so an interrupted download never looks done.
- Archives are extracted member by member, refusing absolute paths, ``..``, links and devices
  (the attack of CVE-2007-4559), then with ``filter="data"`` where Python has it.
- When data cannot be had (offline, corrupted), :class:`DatasetUnavailableError` says which files
  were looked for where, the URLs and checksums, the one-line manual fix and the overrides. The
  package never falls back to other data on its own.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "ENAS_EDU_DATA_DIR"
DEFAULT_ROOT = Path("~/.cache/enas_edu")


class DatasetUnavailableError(RuntimeError):
    """The data set is missing, incomplete or corrupted, and could not be downloaded."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to download, with the checksums it must have."""

    filename: str
    urls: tuple[str, ...]
    md5: str | None      # None: no published checksum; the caller checks what it extracts
    sha256: str | None = None
    size: int | None = None


def data_root(data_dir: str | os.PathLike | None = None) -> Path:
    """The data root: ``data_dir`` if given, else ``$ENAS_EDU_DATA_DIR``, else ~/.cache/enas_edu."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    return DEFAULT_ROOT.expanduser()


def file_hash(path: str | os.PathLike, algorithm: str = "md5", chunk: int = 1 << 20) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_file(path: Path, md5: str | None, sha256: str | None = None) -> str | None:
    """None if ``path`` has the checksums, else a sentence saying what is wrong."""
    if not path.is_file():
        return f"{path} is missing"
    if md5 is None:
        return None
    got = file_hash(path, "md5")
    if got != md5:
        return f"{path} has md5 {got}, expected {md5}"
    if sha256 is not None and (got := file_hash(path, "sha256")) != sha256:
        return f"{path} has sha256 {got}, expected {sha256}"
    return None


def download(remote: RemoteFile, directory: Path, progress: bool = True, timeout: float = 30.0,
             deadline: float = 3600.0, min_rate: float = 10_000.0) -> Path:
    """Download ``remote`` into ``directory`` (trying each URL in turn) and return its path.

    A file already there with the right checksums is kept. Each URL gets ``timeout`` seconds to
    answer and to send the next bytes (a stall), ``deadline`` seconds in all, and is given up
    when, after its first minute, it has averaged under ``min_rate`` bytes per second (a server
    that trickles would otherwise hold the run for hours). Raises DatasetUnavailableError.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / remote.filename
    if check_file(target, remote.md5, remote.sha256) is None:
        return target
    errors = []
    for url in remote.urls:
        tmp = directory / f".{remote.filename}.part-{os.getpid()}"
        try:
            print(f"downloading {remote.filename} from {url} (answer within {timeout:.0f} s, at most "
                  f"{deadline / 60:.0f} min)", file=sys.stderr)
            _fetch(url, tmp, progress, timeout, deadline, min_rate)
            problem = check_file(tmp, remote.md5, remote.sha256)
            if problem is None:
                os.replace(tmp, target)
                return target
            errors.append(f"{url}: downloaded, but {problem.replace(str(tmp), 'the file')}")
        except (socket.timeout, TimeoutError) as exc:
            errors.append(f"{url}: no answer or no data for {timeout:.0f} s ({exc})")
        except _TooSlow as exc:
            errors.append(f"{url}: {exc}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DatasetUnavailableError(f"could not download {remote.filename}:\n  " + "\n  ".join(errors) +
                                  "\nTry again later, or download the file by hand into " + str(directory))


class _TooSlow(Exception):
    """A download past its deadline, or slower than its minimum rate."""


def _fetch(url: str, path: Path, progress: bool, timeout: float, deadline: float, min_rate: float) -> None:
    from tqdm.auto import tqdm

    start, received = time.monotonic(), 0
    with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=path.name.split(".part")[0].lstrip("."),
                  disable=not progress) as bar:
            while block := response.read1(1 << 20):     # what one read brings: a trickle cannot block
                out.write(block)
                bar.update(len(block))
                received += len(block)
                elapsed = time.monotonic() - start
                if elapsed > deadline:
                    raise _TooSlow(f"not done within the deadline of {deadline:.0f} s ({received:,} of "
                                   f"{f'{total:,}' if total else 'unknown'} bytes)")
                if elapsed > 60 and received / elapsed < min_rate:
                    raise _TooSlow(f"the server sends {received / elapsed:,.0f} bytes/s, under the "
                                   f"{min_rate:,.0f} a download needs to finish")


def safe_extract(archive: Path, destination: Path) -> None:
    """Extract a tar archive, refusing members that would land outside ``destination``."""
    destination = destination.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            target = (destination / member.name).resolve()
            if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
                raise DatasetUnavailableError(f"{archive}: refusing member {member.name!r} (absolute or '..' path)")
            if destination not in target.parents and target != destination:
                raise DatasetUnavailableError(f"{archive}: refusing member {member.name!r} (outside {destination})")
            if not (member.isfile() or member.isdir()):
                raise DatasetUnavailableError(f"{archive}: refusing member {member.name!r} (links and devices are not extracted)")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, members=members, filter="data")
        else:  # Python < 3.11.4: the checks above are the guard
            tar.extractall(destination, members=members)


def unavailable(dataset: str, looked_in: list[Path], missing: list[str], remotes: list[RemoteFile],
                fix: str, cause: str = "", own: str | None = None) -> DatasetUnavailableError:
    """The error to raise when ``dataset`` cannot be used: what, where, how to fix it.

    ``own``: the dataset kind for a user's own files in this format, named when the files exist
    but their checksums are not the published ones.
    """
    lines = [f"{dataset} is not available."]
    if cause:
        lines.append(f"Cause: {cause}")
    if own:
        lines.append(f"If these are your own files in {dataset}'s format, not {dataset} itself, say so: "
                     f"dataset={own!r} (on the command line --no-verify); the run is then recorded as your data.")
    lines.append("Looked in: " + ", ".join(str(p) for p in looked_in))
    if missing:
        lines.append("Missing or wrong: " + ", ".join(missing))
    lines.append("Sources (with the checksums they must have):")
    for r in remotes:
        lines.append(f"  {r.filename}: {' or '.join(r.urls)}  md5 {r.md5 or '(none published)'}"
                     + (f"  sha256 {r.sha256}" if r.sha256 else ""))
    lines.append(f"Fix by hand: {fix}")
    lines.append(f"Or point to a copy with data_dir=DIR (--data-dir DIR) or the environment variable "
                 f"{ENV_VAR}=DIR, or pass download=True to fetch it.")
    lines.append("Nothing else is used in its place: for a dry run without the data, write files in "
                 "the same format on purpose with enas_edu.data.synthetic.")
    return DatasetUnavailableError("\n".join(lines))
