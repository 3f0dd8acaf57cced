"""The notebooks' figures, drawn from results dicts (the JSON files written by :mod:`tt_rnn.train`)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from .results import MODEL_NAMES, MODEL_ORDER, history_entry

__all__ = ["accuracy_vs_rank", "training_curves"]


def _final(run, key="test_acc", epoch=-1):
    return 100 * history_entry(run, epoch)[key]


def _mean_std(values):
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return mean, std


def accuracy_vs_rank(runs: list[dict], title: str = "", epoch: int | str = -1):
    """Two panels: test accuracy against rank, and against the tensor network's parameters (one line
    per format; with several seeds the mean, and the sample std as error bars). ``epoch``: which
    epoch of each run (:func:`tt_rnn.results.history_entry`; ``"best-val"`` early stopping)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = [r for r in runs if r["history"]]
    for model in MODEL_ORDER:
        by_rank: dict = {}
        for r in runs:
            if r["config"]["model"] == model:
                by_rank.setdefault(r["config"]["rank"], []).append(r)
        if not by_rank:
            continue
        ranks = sorted(by_rank)
        stats = [_mean_std([_final(r, epoch=epoch) for r in by_rank[k]]) for k in ranks]
        params = [by_rank[k][0]["params_network"] for k in ranks]
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
