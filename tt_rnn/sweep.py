"""Run many named experiments: on this machine, or as a SLURM job array, through submitit.

Command line::

    python -m tt_rnn.sweep 'mnist/val_sweep/*' --max-parallel 2          # here, two runs at a time
    python -m tt_rnn.sweep mnist/val_best/ --seeds 0 1 2 --dry-run       # what would run, and what is done
    python -m tt_rnn.sweep 'cifar10/*' --executor slurm --partition gpu --time 720 --gpus 1 \\
        --cpus-per-task 4 --max-parallel 16                              # one job array on a cluster

``PATTERN`` is a prefix (``mnist/sweep/``) or a glob (``'mnist/*/cp_*'``) over the names of
:mod:`tt_rnn.experiments` (``python -m tt_rnn.train --list-configs`` lists them) and of the
teacher-student experiments of :mod:`tt_rnn.teacher_student` (``teacher_student/...``;
``python -m tt_rnn.teacher_student --list``). A job is a :class:`TrainJob` for a
:class:`~tt_rnn.config.TrainConfig` and a :class:`TeacherStudentJob` for a
:class:`~tt_rnn.teacher_student.TeacherStudentConfig` (:func:`job_for`).

What a sweep does
-----------------
* One job per run (experiment x seed). ``--seeds`` replaces each experiment's seed; a seed
  variant that is itself a named experiment (``..._s1``) is that experiment and writes into
  ``results/``; any other variant is an ad-hoc run and writes below ``runs/`` (the results
  folder holds named experiments only).
* A run whose results file is ``completed`` with the same configuration is skipped; every other
  run starts, or resumes from its checkpoint (:func:`tt_rnn.train.train` with ``resume=True``,
  which refuses a checkpoint written by another configuration).
* ``--executor local`` (the default) runs the jobs as separate processes on this machine,
  ``--max-parallel`` at a time, and prints one line per finished run and a summary
  (done / skipped / failed, each failure with its one-line reason).
* ``--executor slurm`` submits one job array (``--max-parallel`` = the array's concurrency);
  SLURM options come from flags or ``--slurm-config FILE`` (TOML or JSON, the same keys). A job
  preempted or near its time limit is requeued by submitit (:class:`TrainJob` is
  ``Checkpointable``) and resumes from its last epoch's checkpoint. ``--wait`` waits for the
  array and prints the same summary; without it, run the same command later to see what is
  done (completed runs are skipped).
* Two workers never write the same results file: :class:`tt_rnn.runfiles.RunLock`.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import submitit
from submitit.slurm.slurm import _make_sbatch_string

from . import experiments
from . import teacher_student
from .cli import OneLineParser
from .config import ADHOC_ROOT, TrainConfig, experiment_fields, results_path, same_experiment
from .runfiles import ResultsFileError, read_results, portable_path
from .teacher_student import TeacherStudentConfig
from .train import train

__all__ = ["SweepRun", "TrainJob", "TeacherStudentJob", "job_for", "plan", "plan_configs", "run_local",
           "submit_slurm", "slurm_parameters", "slurm_script", "summary_line", "main"]

# SLURM options the command line and a --slurm-config file may set (submitit's SlurmExecutor names).
SLURM_KEYS = {"partition": str, "time": int, "cpus_per_task": int, "gpus_per_node": int, "mem": str,
              "account": str, "qos": str, "constraint": str, "signal_delay_s": int}


@dataclass
class SweepRun:
    """One run of a sweep: its name, its configuration, and what the sweep does with it."""

    name: str
    config: TrainConfig | TeacherStudentConfig
    action: str = "run"     # "run" | "skip"
    reason: str = ""        # why it is skipped
    job: object = None      # the callable a worker runs (default: job_for(self), by config type)

    def callable(self):
        return self.job if self.job is not None else job_for(self)

    def to_dict(self) -> dict:
        return {"name": self.name, "results": portable_path(_results_path(self.config)), "action": self.action,
                "reason": self.reason}


def _results_path(config) -> Path:
    """Where a run of either kind writes its results file."""
    if isinstance(config, TeacherStudentConfig):
        return teacher_student.results_path(config)
    return results_path(config)


class TrainJob(submitit.helpers.Checkpointable):
    """The callable a job runs: train one configuration, resuming from its checkpoint.

    ``checkpoint()`` is submitit's hook on preemption or time-out: it returns the same job, to be
    requeued; the training loop's per-epoch checkpoint is what it resumes from."""

    def __init__(self, name: str, config: TrainConfig):
        self.name, self.config = name, config

    def __call__(self) -> dict:
        results, _ = train(self.config.replace(resume=True, progress=False),
                           command=f"python -m tt_rnn.sweep {shlex.quote(self.name)}")
        last = results["history"][-1] if results["history"] else {}
        return {"name": self.name, "status": results["status"], "epochs": last.get("epoch"),
                "val_acc": last.get("val_acc"), "test_acc": last.get("test_acc"),
                "wall_time_s": round(results["wall_time_s"], 1),
                "line": f"{results['status']}, epoch {last.get('epoch')}, val_acc {last.get('val_acc')}, "
                        f"test_acc {last.get('test_acc')}, {round(results['wall_time_s'], 1)} s"}


class TeacherStudentJob(submitit.helpers.Checkpointable):
    """The callable a job runs for a teacher-student experiment: run or resume it
    (:func:`tt_rnn.teacher_student.run_experiment`, which keeps every recorded unit of work).

    ``checkpoint()`` requeues the same job; the results file written after every unit is what it
    resumes from."""

    def __init__(self, name: str, config: TeacherStudentConfig):
        self.name, self.config = name, config

    def __call__(self) -> dict:
        results = teacher_student.run_experiment(self.config, command=f"python -m tt_rnn.sweep {shlex.quote(self.name)}")
        return {"name": self.name, "status": results["status"], "units": len(results["records"]),
                "cpu_time_s": results["cpu_time_s"],
                "line": f"{results['status']}, {len(results['records'])} units, {results['cpu_time_s']} s CPU"}


def job_for(run: "SweepRun"):
    """The submitit callable of ``run``: :class:`TeacherStudentJob` or :class:`TrainJob` by config type."""
    if isinstance(run.config, TeacherStudentConfig):
        return TeacherStudentJob(run.name, run.config)
    return TrainJob(run.name, run.config)


# ----------------------------------------------------------------------------- planning

def _seed_variant(name: str, config, seed: int) -> tuple[str, object]:
    """The run of experiment ``name`` with ``seed``: a named experiment when one has exactly that
    configuration, else an ad-hoc run below ``runs/``."""
    wanted = config.replace(seed=seed)
    if seed == config.seed:
        return name, config
    if isinstance(config, TeacherStudentConfig):
        return f"{name}@seed{seed}", teacher_student.adhoc(wanted, f"{Path(name).name}_seed{seed}")
    key = experiment_fields(wanted)
    for other, other_config in experiments.EXPERIMENTS.items():
        if experiment_fields(other_config) == key:
            return other, other_config
    folder = Path(ADHOC_ROOT) / f"{name}_seed{seed}"
    return f"{name}@seed{seed}", wanted.replace(results_path=f"{folder}.json", checkpoint_dir=str(folder),
                                                name=f"{Path(name).name}_seed{seed}")


def _skip_reason(config) -> str:
    """Why the run need not start ("" when it must): its results file is completed, with the same configuration."""
    if isinstance(config, TeacherStudentConfig):
        return teacher_student.skip_reason(config)
    path = results_path(config)
    if not path.is_file():
        return ""
    stored = read_results(path)  # a corrupt file raises, naming it
    same, diff = same_experiment(stored["config"], config)
    if not same:
        raise ResultsFileError(f"{portable_path(path)} holds another configuration ({', '.join(diff)} differ); "
                               "move it away before this sweep writes there")
    return "completed" if stored.get("status") == "completed" else ""


def plan(pattern: str, seeds=None, overrides: dict | None = None) -> list[SweepRun]:
    """The runs of a sweep over the experiments matching ``pattern`` (see :func:`experiments.select`),
    each marked ``run`` or ``skip``. ``overrides`` set fields that do not change what is computed
    (device, threads); a ``ValueError`` names any other."""
    names = experiments.select(pattern)
    ts_names = teacher_student.select(pattern)
    if not names and not ts_names:
        raise ValueError(f"no named experiment matches {pattern!r} (python -m tt_rnn.train --list-configs "
                         "and python -m tt_rnn.teacher_student --list list them)")
    overrides = dict(overrides or {})
    changed = set(experiment_fields(overrides))
    if changed:
        raise ValueError(f"a sweep runs the named configurations; {', '.join(sorted(changed))} would change "
                         "what they compute (add an experiment to tt_rnn/experiments.py instead)")
    configs = {name: experiments.get(name).replace(**overrides) for name in names}
    configs.update({name: teacher_student.get(name) for name in ts_names})  # CPU, one thread: no overrides
    return plan_configs(configs, seeds)


def plan_configs(configs: dict, seeds=None) -> list[SweepRun]:
    """The runs for ``{name: config}`` (and ``seeds``), each marked ``run`` or ``skip``."""
    runs, seen = [], set()
    for name, config in configs.items():
        for seed in (seeds if seeds else [config.seed]):
            run_name_, run_config = _seed_variant(name, config, seed)
            if run_name_ in seen:
                continue
            seen.add(run_name_)
            reason = _skip_reason(run_config)
            runs.append(SweepRun(run_name_, run_config, "skip" if reason else "run", reason))
    return runs


def summary_line(done: int, skipped: int, failed: list) -> str:
    text = f"sweep: {done} done, {skipped} skipped, {len(failed)} failed"
    return text + "".join(f"\n  failed {name}: {reason}" for name, reason in failed)


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt\w*|Exit)\b:? ?")


def _one_line(exc: BaseException) -> str:
    """The job's own error as one line: submitit's message holds the remote traceback and log
    paths; its last ``SomeError: message`` line is the cause, and the job's log has the rest."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return causes[-1] if causes else (lines[0] if lines else type(exc).__name__)


# ----------------------------------------------------------------------------- local executor

def run_local(runs: list[SweepRun], *, max_parallel: int = 1, log_dir="runs/sweep-logs", out=print) -> dict:
    """Run the ``run`` jobs of ``runs`` as processes on this machine through submitit's local
    executor, ``max_parallel`` at a time; one line per finished run through ``out``, then a
    summary. Returns ``{"done": [...], "skipped": [...], "failed": [(name, reason)]}``."""
    if max_parallel < 1:
        raise ValueError(f"max_parallel = {max_parallel}: must be >= 1")
    executor = submitit.LocalExecutor(folder=str(log_dir))
    executor.update_parameters(timeout_min=60 * 24 * 14, signal_delay_s=60)  # a run may take days
    queue = [r for r in runs if r.action == "run"]
    skipped = [r.name for r in runs if r.action == "skip"]
    for name in skipped:
        out(f"skipped {name} (completed)")
    done, failed, running = [], [], []
    while queue or running:
        while queue and len(running) < max_parallel:
            run = queue.pop(0)
            running.append((run, executor.submit(run.callable())))
        time.sleep(0.2)
        for run, job in [item for item in running if item[1].done()]:
            running.remove((run, job))
            try:
                result = job.result()
            except Exception as exc:  # the job's own error, as one line
                failed.append((run.name, _one_line(exc)))
                out(f"failed  {run.name}: {_one_line(exc)}")
                continue
            done.append(run.name)
            out(f"done    {run.name}: {result['line']}")
    out(summary_line(len(done), len(skipped), failed))
    return {"done": done, "skipped": skipped, "failed": failed}


# ----------------------------------------------------------------------------- SLURM

def slurm_parameters(options: dict, max_parallel: int) -> dict:
    """submitit SlurmExecutor parameters from the sweep's SLURM options (time in minutes)."""
    unknown = set(options) - set(SLURM_KEYS)
    if unknown:
        raise ValueError(f"unknown SLURM option(s) {', '.join(sorted(unknown))}; known: {', '.join(SLURM_KEYS)}")
    params = {"time": 60, "cpus_per_task": 1, "signal_delay_s": 120}
    params.update({k: v for k, v in options.items() if v is not None})
    params.update(array_parallelism=max_parallel, job_name="tt-rnn-sweep")
    return params


def slurm_script(n_jobs: int, params: dict, log_dir) -> str:
    """The sbatch script submitit writes for a job array of ``n_jobs`` tasks (for ``--dry-run``)."""
    command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(log_dir))}"
    return _make_sbatch_string(command=command, folder=str(log_dir), map_count=n_jobs, **params)


def submit_slurm(runs: list[SweepRun], params: dict, log_dir, *, wait: bool = False, out=print) -> dict:
    """Submit the ``run`` jobs of ``runs`` as one SLURM job array; with ``wait``, wait and summarise."""
    executor = submitit.SlurmExecutor(folder=str(log_dir))
    executor.update_parameters(**params)
    todo = [r for r in runs if r.action == "run"]
    if not todo:
        out(summary_line(0, len(runs), []))
        return {"done": [], "skipped": [r.name for r in runs], "failed": []}
    jobs = executor.submit_array([r.callable() for r in todo])
    skipped = [r.name for r in runs if r.action == "skip"]
    out(f"submitted {len(jobs)} jobs as array {jobs[0].job_id.split('_')[0] if jobs else '-'}; logs in {log_dir}")
    if not wait:
        return {"done": [], "skipped": skipped, "failed": [], "submitted": [j.job_id for j in jobs]}
    done, failed = [], []
    for run, job in zip(todo, jobs):
        try:
            job.result()
            done.append(run.name)
            out(f"done    {run.name}")
        except Exception as exc:
            failed.append((run.name, _one_line(exc)))
            out(f"failed  {run.name}: {_one_line(exc)}")
    out(summary_line(len(done), len(skipped), failed))
    return {"done": done, "skipped": skipped, "failed": failed}


# ----------------------------------------------------------------------------- command line

def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m tt_rnn.sweep",
                description="Run the named experiments matching PATTERN, here or on SLURM (submitit). Completed "
                            "runs are skipped; others start or resume from their checkpoint.")
    p.add_argument("pattern", help="a prefix (mnist/sweep/) or a glob ('mnist/*/cp_*') of experiment names")
    p.add_argument("--seeds", type=int, nargs="+", metavar="SEED", help="run each experiment with these seeds")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: processes on this machine (default); slurm: one job array")
    p.add_argument("--max-parallel", type=int, default=1, metavar="N",
                   help="runs at a time (local) or the array's concurrency limit (slurm); default 1")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would run and what is skipped (and, for slurm, the sbatch script); run nothing")
    p.add_argument("--device", help="device of every run (cpu, cuda, ...; default: each experiment's)")
    p.add_argument("--num-threads", type=int, metavar="N", help="CPU threads per run (default: each experiment's, 1)")
    p.add_argument("--log-dir", default=None, help="submitit's folder for job files and logs "
                   "(default: runs/sweep-logs/<time>)")
    slurm = p.add_argument_group("SLURM options (with --executor slurm)")
    slurm.add_argument("--slurm-config", metavar="FILE", help="TOML or JSON file with the keys below")
    slurm.add_argument("--partition", help="partition to submit to")
    slurm.add_argument("--time", type=int, metavar="MIN", help="time limit per job in minutes (default 60)")
    slurm.add_argument("--cpus-per-task", type=int, metavar="N", help="CPUs per job (default 1)")
    slurm.add_argument("--gpus", type=int, dest="gpus_per_node", metavar="N", help="GPUs per job")
    slurm.add_argument("--mem", help="memory per job, e.g. 8G")
    slurm.add_argument("--account", help="account to charge")
    slurm.add_argument("--qos", help="quality of service")
    slurm.add_argument("--wait", action="store_true", help="wait for the array and print the summary")
    return p


def _slurm_options(args) -> dict:
    options = {}
    if args.slurm_config:
        path = Path(args.slurm_config)
        try:
            text = path.read_text()
            options = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (OSError, ValueError) as exc:
            raise ValueError(f"--slurm-config {path}: {' '.join(str(exc).split())}") from None
        for key, value in options.items():
            typ = SLURM_KEYS.get(key)
            if typ is not None and not isinstance(value, typ):
                raise ValueError(f"--slurm-config {path}: {key} = {value!r} must be {typ.__name__}")
    for key in SLURM_KEYS:
        if getattr(args, key, None) is not None:
            options[key] = getattr(args, key)
    return options


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = {k: getattr(args, k) for k in ("device", "num_threads") if getattr(args, k) is not None}
        runs = plan(args.pattern, args.seeds, overrides)
        log_dir = Path(args.log_dir or Path(ADHOC_ROOT) / "sweep-logs" / time.strftime("%Y%m%d-%H%M%S"))
        params = slurm_parameters(_slurm_options(args), args.max_parallel) if args.executor == "slurm" else None
        if args.dry_run:
            for run in runs:
                print(f"{'skip' if run.action == 'skip' else 'run '}  {run.name} -> {run.to_dict()['results']}"
                      + (f" ({run.reason})" if run.reason else ""))
            todo = sum(r.action == "run" for r in runs)
            print(f"{todo} to run, {len(runs) - todo} skipped")
            if params is not None:
                print(slurm_script(todo, params, log_dir) if todo else "nothing to submit")
            return 0
        if args.executor == "slurm":
            report = submit_slurm(runs, params, log_dir, wait=args.wait)
        else:
            report = run_local(runs, max_parallel=args.max_parallel, log_dir=log_dir)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweep interrupted: running jobs received the signal; rerun the same command to resume", file=sys.stderr)
        return 130
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
