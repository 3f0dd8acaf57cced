"""The notebooks' and the README's figures, drawn from results dicts (the JSON files written by
:mod:`tt_rnn.train`).

``python -m tt_rnn.plots --out docs/figures`` (part of ``make tables``) redraws the README's figure
from the committed results files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib.pyplot as plt

from . import experiments as E
from .final_report import FORMAT_NAMES, collect
from .stats import seed_interval
from .tables import MODEL_NAMES, MODEL_ORDER, history_entry, load_runs

__all__ = ["accuracy_vs_rank", "accuracy_vs_parameters", "equal_params_curves", "readme_figure", "training_curves",
           "main"]

#: The README's figure: the sweeps at the budgets chosen on validation, one panel per data set.
README_FIGURE = "accuracy_vs_parameters.png"
README_PANELS = (("mnist/converged_sweep", "MNIST"), ("cifar10/converged_sweep", "CIFAR-10 (JPEG copy)"))


def _final(run, key="test_acc", epoch=-1):
    return 100 * history_entry(run, epoch)[key]


def _mean_std(values):
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return mean, std


def _per_format(runs: list[dict], epoch):
    """``(model, ranks, [(mean, std)], network parameters)`` per format, over the seeds of each rank."""
    runs = [r for r in runs if r["history"]]
    for model in MODEL_ORDER:
        by_rank: dict = {}
        for r in runs:
            if r["config"]["model"] == model:
                by_rank.setdefault(r["config"]["rank"], []).append(r)
        if by_rank:
            ranks = sorted(by_rank)
            yield (model, ranks, [_mean_std([_final(r, epoch=epoch) for r in by_rank[k]]) for k in ranks],
                   [by_rank[k][0]["params_network"] for k in ranks])


def accuracy_vs_rank(runs: list[dict], title: str = "", epoch: int | str = -1):
    """Two panels: test accuracy against rank, and against the tensor network's parameters (one line
    per format; with several seeds the mean, and the sample std as error bars). ``epoch``: which
    epoch of each run (:func:`tt_rnn.tables.history_entry`; ``"best-val"`` early stopping)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for model, ranks, stats, params in _per_format(runs, epoch):
        for ax, x in zip(axes, (ranks, params)):
            ax.errorbar(x, [m for m, _ in stats], yerr=[s for _, s in stats], fmt="o-", capsize=3,
                        label=MODEL_NAMES[model])
    fmap = runs[0]["params_features"] if runs else 0
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("rank r")
    axes[1].set_xscale("log")
    axes[1].set_xlabel(f"parameters of the tensor network (+ {fmap:,} in the shared feature map)")
    label = runs[0].get("dataset_label", "") if runs else ""
    for ax in axes:
        ax.set_ylabel(f"test accuracy (%), {label}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves(runs: dict, title: str = "", split: str = "test"):
    """Per-epoch accuracy on ``split`` (``"test"`` or ``"val"``, solid) and training accuracy (dotted;
    running mean in training mode) of each run, and the cross-entropy on ``split``."""
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    label = {"test": "test", "val": "validation"}[split]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, run in runs.items():
        h = [e for e in run["history"] if e.get(f"{split}_acc") is not None]
        epochs = [e["epoch"] for e in h]
        line, = axes[0].plot(epochs, [100 * e[f"{split}_acc"] for e in h], "o-", ms=3,
                             label=f"{name} ({run['params']:,} params)")
        axes[0].plot(epochs, [100 * e["train_acc"] for e in h], ":", color=line.get_color())
        axes[1].semilogy(epochs, [e[f"{split}_loss"] for e in h], "o-", ms=3, color=line.get_color())
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_title(f"{label} (solid); training, running mean with augmentation (dotted)")
    axes[1].set_ylabel(f"{label} cross-entropy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_vs_parameters(ax, runs: list[dict], title: str = "", epoch: int | str = -1, min_rank: int = 1):
    """On ``ax``: test accuracy against the tensor network's parameter count, one line per format,
    points labelled with the rank; with several seeds the mean and the sample std as error bars.
    Only completed runs of rank ``>= min_rank`` are drawn."""
    runs = [r for r in runs if r.get("status") == "completed" and r["config"]["rank"] >= min_rank]
    for model, ranks, stats, params in _per_format(runs, epoch):
        line = ax.errorbar(params, [m for m, _ in stats], yerr=[s for _, s in stats], fmt="o-", capsize=3,
                           ms=4, label=MODEL_NAMES[model])
        for k, x, (y, _) in zip(ranks, params, stats):
            ax.annotate(f"{k}", (x, y), textcoords="offset points", xytext=(3, -9), fontsize=7,
                        color=line[0].get_color())
    ax.set_xscale("log")
    ax.set_xlabel("parameters of the tensor network (log scale); labels: rank r")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def equal_params_curves(dataset: str, results_root="results", ax=None):
    """Test accuracy of the epoch validation chose against the total parameter count, at the
    equal-parameter budgets of ``dataset`` (one line per format, mean over the completed seeds,
    error bars the Student-t 95 % interval over seeds; a budget with one seed has no bar), the
    baselines (diamonds, trained the same way) and, where they trained the same way too, the final
    runs of the selected configurations at rank 32 (open squares). Returns the axes, or None when
    no run of the group has completed."""
    points = {}
    for budget, per_format in E.equal_params_names(dataset).items():
        for fmt, names in per_format.items():
            points.setdefault(fmt, []).append(collect(names, fmt, results_root))
    baselines = {fmt: collect(names, fmt, results_root) for fmt, names in E.baseline_names(dataset).items()
                 if f"{dataset}/{fmt}" in E.SELECTED}
    # the final runs share the curves' training only where EQUAL_PARAMS_TRAINING changes nothing
    same_training = not E.EQUAL_PARAMS_TRAINING[dataset]
    finals = ({fmt: collect(names, fmt, results_root) for fmt, names in E.final_names(dataset).items()
               if f"{dataset}/{fmt}" in E.SELECTED} if same_training else {})
    drawn_groups = [g for groups in points.values() for g in groups] + list(baselines.values()) + list(finals.values())
    if not any(g.runs for g in drawn_groups):
        return None
    ax = ax or plt.gca()

    def stats(group):
        accs = [100 * run["test_predictions"]["acc"] for run in group.runs.values()]
        interval = seed_interval(accs)
        half = (interval.high - interval.low) / 2 if interval.n > 1 else 0.0
        return next(iter(group.runs.values()))["params"], interval.mean, half

    for fmt, groups in points.items():
        drawn = sorted(stats(g) for g in groups if g.runs)
        if drawn:
            line = ax.errorbar([p for p, _, _ in drawn], [m for _, m, _ in drawn], yerr=[h for _, _, h in drawn],
                               fmt="o-", capsize=3, ms=4, label=FORMAT_NAMES.get(fmt, fmt))
            color = line[0].get_color()
        else:
            color = None
        if fmt in finals and finals[fmt].runs:
            x, y, h = stats(finals[fmt])
            ax.errorbar([x], [y], yerr=[h], fmt="s", mfc="none", capsize=3, color=color,
                        label=None if drawn else FORMAT_NAMES.get(fmt, fmt))
    for fmt, group in baselines.items():
        if group.runs:
            x, y, h = stats(group)
            ax.errorbar([x], [y], yerr=[h], fmt="D", capsize=3, label=FORMAT_NAMES.get(fmt, fmt))
    first = next(g for g in drawn_groups if g.runs)
    config = E.get(first.names[min(first.names)])
    ax.set_xscale("log")
    ax.set_xlabel("parameters (feature map included; log scale)")
    ax.set_ylabel("test accuracy (%) at the epoch validation chose")
    squares = " and at rank 32 (open squares)" if finals else ""
    subset = f", {config.train_subset:,} training images" if config.train_subset else ""
    ax.set_title(f"{dataset}: formats at equal parameters (circles){squares}, baselines (diamonds); "
                 f"up to {config.epochs} epochs{subset}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def readme_figure(results_root="results", min_rank: int = 4):
    """The README's figure: accuracy against parameters in the sweeps of :data:`README_PANELS`, at
    the last epoch of each run (the budgets of the sweeps are in docs/results-*.md)."""
    fig, axes = plt.subplots(1, len(README_PANELS), figsize=(6 * len(README_PANELS), 4.2))
    for ax, (group, label) in zip(axes, README_PANELS):
        runs = [r for r in load_runs(Path(results_root) / group) if Path(r["_path"]).parent.name == Path(group).name]
        epochs = sorted({r["config"]["epochs"] for r in runs})
        n_train = sorted({r["dataset"]["n_train"] for r in runs})
        accuracy_vs_parameters(ax, runs, epoch=-1, min_rank=min_rank,
                               title=f"{label}: {', '.join(map(str, epochs))} epochs, "
                                     f"{', '.join(f'{n:,}' for n in n_train)} training images, ranks >= {min_rank}")
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_rnn.plots", description="Redraw the README's figure "
                                     "from the results files.")
    parser.add_argument("--out", default="docs/figures", help="folder for the PNG (default: docs/figures)")
    parser.add_argument("--results-root", default="results", help="results folder (default: results)")
    args = parser.parse_args(argv)
    if not Path(args.results_root).is_dir():
        parser.error(f"results root {args.results_root!r} is not a folder; run from the repository root")
    plt.switch_backend("Agg")  # files only, no display
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig = readme_figure(args.results_root)
    fig.savefig(out / README_FIGURE, dpi=110, metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {out / README_FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
