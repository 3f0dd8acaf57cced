"""Run files on disk: portable paths, atomic writes, results files, locks and provenance.

The bottom layer of the training side (it imports nothing from :mod:`tt_rnn`):

* :func:`portable_path` — how a path is stored in a results file (never a machine path);
* :func:`write_json` / :func:`atomic_write` — a reader, or a process killed mid-write, never
  leaves half a file (temporary file in the same folder, ``fsync``, then ``os.replace``);
* :func:`read_results` / :func:`load_runs` — a corrupt results file is an error naming the file
  and the fix (:class:`ResultsFileError`), never a silent gap in a table;
* :class:`RunLock` — two workers never write the same results file (an exclusive create);
* :func:`provenance` — the git commit of the code (and whether it was modified), the machine
  (CPU model or GPU name) and the SHA-256 of the data files a run read.

Runs that differ only by machine (CPU model, thread count, GPU, library build) are expected to
differ numerically: floating-point sums are not associative, and kernels differ between CPUs.
Their results files say which machine wrote them.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["CHECKOUT", "ResultsFileError", "RunLockedError", "portable_path", "shown_path", "portable_text", "atomic_write", "write_json", "write_records",
           "read_results", "is_results_file", "load_runs", "RunLock", "this_process", "process_is_gone", "code_version", "cpu_name",
           "data_checksums", "provenance"]

# Where the package was imported from: paths inside this checkout are stored relative to it.
CHECKOUT = Path(__file__).resolve().parent.parent


class ResultsFileError(ValueError):
    """A results (or checkpoint) file cannot be read; the message names the file and the fix."""


class RunLockedError(RuntimeError):
    """Another live process is writing this run's results file."""


# ----------------------------------------------------------------------------- paths

def portable_path(path) -> str | None:
    """``path`` as stored in a results file: relative to the checkout (or the working directory)
    when inside it, ``$TT_RNN_DATA/...`` inside the data directory named by that variable, else
    ``<outside>/<name>``. Relative paths are kept as given. Never an absolute machine path."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    p = p.resolve()
    bases = [(CHECKOUT, ""), (Path.cwd().resolve(), "")]
    if os.environ.get("TT_RNN_DATA"):
        bases.insert(0, (Path(os.environ["TT_RNN_DATA"]).expanduser().resolve(), "$TT_RNN_DATA"))
    for base, prefix in bases:
        try:
            rel = p.relative_to(base).as_posix()
        except ValueError:
            continue
        return f"{prefix}/{rel}".rstrip("/.") if prefix else (rel or ".")
    return f"<outside>/{p.name}"


def shown_path(path) -> str:
    """``path`` for a message to the user: relative to the working directory when inside it,
    else as given (messages are not stored; stored text goes through :func:`portable_text`)."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix() if p.is_absolute() else p.as_posix()
    except ValueError:
        return str(p)


_ABSOLUTE = re.compile(r"(?<![\w.~$<>])/[^\s:;,'\"()]+")


def portable_text(text: str) -> str:
    """``text`` with every absolute path in it made portable (:func:`portable_path`), for storing."""
    return _ABSOLUTE.sub(lambda m: portable_path(m.group(0)), text)


# ----------------------------------------------------------------------------- atomic writes

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: the permissions a plain open() would give a new file


def atomic_write(path, write) -> None:
    """Create or replace ``path`` atomically: ``write(fh)`` fills a temporary binary file in the
    same folder, which is flushed to disk and then renamed over ``path``. A process killed at any
    moment leaves either the old file or the new one, never half of one (and no stray temporary
    file once the exception has propagated)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes the file private; a results file is not
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# an indented JSON array of numbers only: raw newlines occur in indented JSON between tokens and
# never inside a string, so this matches structure, not text
_NUMBER_ARRAY = re.compile(r"\[\n\s*(-?[\d.eE+-]+(?:,\n\s*-?[\d.eE+-]+)*)\n\s*\]")


def compact_json(obj) -> str:
    """``obj`` as indented JSON with every array of numbers on one line (a run's 10,000 stored test
    predictions take one line instead of 10,000)."""
    return _NUMBER_ARRAY.sub(lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                             json.dumps(obj, indent=1))


def write_json(obj: dict, path) -> None:
    """Write ``obj`` as indented JSON (arrays of numbers on one line: :func:`compact_json`) to
    ``path`` atomically (see :func:`atomic_write`)."""
    data = compact_json(obj).encode()
    atomic_write(path, lambda fh: fh.write(data))


def write_records(path, records, config: dict) -> Path:
    """Write ``{"config": config, "records": [...]}`` as JSON, atomically, one compact record per
    line (the grid-rank, region and trained-network result files: thousands of records stay small
    and diff line by line). ``records``: objects with ``to_dict()``, or dicts."""
    rows = [rec if isinstance(rec, dict) else rec.to_dict() for rec in records]
    text = ('{"config": ' + json.dumps(config, indent=1) + ',\n"records": [\n'
            + ",\n".join(json.dumps(row, separators=(",", ":")) for row in rows) + "\n]}\n")
    json.loads(text)  # the file is valid JSON before it replaces the old one
    atomic_write(path, lambda fh: fh.write(text.encode()))
    return Path(path)


# ----------------------------------------------------------------------------- reading

def is_results_file(obj) -> bool:
    """Whether a parsed JSON object is a training results file (it has a config and a history)."""
    return isinstance(obj, dict) and "config" in obj and "history" in obj


def read_results(path) -> dict:
    """The results dict stored at ``path``.

    Raises :class:`ResultsFileError` naming the file and the fix when it is unreadable, not JSON
    (a truncated or hand-edited file) or not a training results file."""
    path = Path(path)
    try:
        run = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileError(f"{shown_path(path)} is not a readable results file ({exc}); restore it "
                               f"with `git checkout -- {shown_path(path)}`, or delete it and run the "
                               "experiment again") from None
    if not is_results_file(run):
        raise ResultsFileError(f"{shown_path(path)} is not a training results file (no 'config' / "
                               "'history'); move it out of the results folder")
    return run


def load_runs(folder) -> list[dict]:
    """Every training results file under ``folder`` (sorted by path), with ``_path`` added.

    JSON files of another kind (rank tables, benchmarks) are passed over; a file that is not
    valid JSON raises :class:`ResultsFileError` naming it, so that a table never silently loses a
    run. Lock and temporary files of runs in progress are not ``*.json`` and are not read."""
    runs = []
    for path in sorted(Path(folder).rglob("*.json")):
        try:
            obj = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            read_results(path)  # raises, naming the file and the fix
        if not is_results_file(obj):
            continue
        obj["_path"] = str(path)
        runs.append(obj)
    return runs


# ----------------------------------------------------------------------------- locks

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def this_process() -> dict:
    """``{"host", "pid", "job"}`` of this process (``job``: its SLURM job or array task, if any)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "job": _cluster_job()}


def process_is_gone(holder: dict) -> bool:
    """Whether the process described by ``holder`` (:func:`this_process` of another process) has
    certainly ended: it ran on this host and its pid is gone, or it was this very SLURM job before
    a requeue. A process on another host is assumed alive (this host cannot see it)."""
    me = this_process()
    same_host_dead = holder.get("host") == me["host"] and isinstance(holder.get("pid"), int) \
        and holder["pid"] != me["pid"] and not _alive(holder["pid"])
    return same_host_dead or (me["job"] is not None and holder.get("job") == me["job"])


def _cluster_job() -> str | None:
    """The SLURM job (array task) this process belongs to; a requeued job keeps it."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID"):
        return f"{env['SLURM_ARRAY_JOB_ID']}_{env.get('SLURM_ARRAY_TASK_ID', '')}"
    return env.get("SLURM_JOB_ID")


class RunLock:
    """An exclusive lock on a results file: ``<results>.lock``, created with ``O_EXCL``.

    Used as a context manager around a run. A second process asking for the same file gets
    :class:`RunLockedError` naming the holder (host, pid, start time) and the lock file. A lock
    left by a process that died on this host (its pid is gone) is taken over; a lock from another
    host is respected, since this host cannot see whether its process lives (delete the lock
    file by hand once that job is known to be gone), except by the same SLURM job: a preempted
    job requeued on another node takes its own lock over.
    """

    def __init__(self, results_file):
        self.results_file = Path(results_file)
        self.path = self.results_file.with_name(self.results_file.name + ".lock")
        self.held = False

    def _holder(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {**this_process(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if not holder or process_is_gone(holder):  # a dead process on this host, or a half-written lock
                    self.path.unlink(missing_ok=True)
                    continue
                raise RunLockedError(
                    f"{shown_path(self.results_file)} is being written by pid {holder.get('pid')} on "
                    f"{holder.get('host')} since {holder.get('since')}; wait for that run, or delete "
                    f"{shown_path(self.path)} if it is gone") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise RunLockedError(f"could not take the lock {shown_path(self.path)}; delete it and retry")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ----------------------------------------------------------------------------- provenance

_CODE_VERSION: dict | None = None


def code_version(root=CHECKOUT) -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the git checkout holding the code.

    ``dirty`` is true when the package (``tt_rnn/``) or ``requirements.txt`` has uncommitted
    changes (results files being written do not count); ``None`` outside a git checkout."""
    global _CODE_VERSION
    if _CODE_VERSION is not None and Path(root) == CHECKOUT:
        return dict(_CODE_VERSION)

    def git(*args) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", "tt_rnn", "requirements.txt") if commit else None
    version = {"commit": commit, "dirty": None if status is None else bool(status)}
    if Path(root) == CHECKOUT:
        _CODE_VERSION = dict(version)
    return version


def cpu_name(threads: int | None = None) -> str:
    """The CPU model (from ``/proc/cpuinfo`` on Linux, else :func:`platform.processor`), with the
    number of threads when given."""
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    model = model or platform.processor() or platform.machine()
    return f"{model}, {threads} threads" if threads else model


_CHECKSUMS: dict = {}


def _sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _CHECKSUMS:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
        _CHECKSUMS[key] = digest.hexdigest()
    return _CHECKSUMS[key]


def data_checksums(files) -> dict:
    """``{portable path: sha256}`` of the data files a run read (cached per process by path,
    size and modification time, so a sweep hashes each file once)."""
    return {portable_path(Path(f)): _sha256(Path(f)) for f in sorted(map(str, files))}


def provenance(machine: str, data_files=()) -> dict:
    """What a results file records about where it came from: the code version
    (:func:`code_version`), the machine (a GPU's name, or :func:`cpu_name`) and the SHA-256 of
    the data files read (:func:`data_checksums`)."""
    return {"code": code_version(), "machine": machine, "data_sha256": data_checksums(data_files)}
