"""The notebooks' figures, drawn from results dicts (the JSON files written by :mod:`tt_rnn.train`)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from .results import MODEL_NAMES, MODEL_ORDER

__all__ = ["accuracy_vs_rank", "training_curves"]


def _final(run, key="test_acc"):
    return 100 * run["history"][-1][key]


def accuracy_vs_rank(runs: list[dict], title: str = ""):
    """Two panels: final test accuracy against rank, and against the tensor network's parameters
    (one line per format)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    runs = [r for r in runs if r["history"]]
    for model in MODEL_ORDER:
        pts = sorted((r["config"]["rank"], r["params_network"], _final(r)) for r in runs
                     if r["config"]["model"] == model)
        if pts:
            axes[0].plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=MODEL_NAMES[model])
            axes[1].plot([p[1] for p in pts], [p[2] for p in pts], "o-", label=MODEL_NAMES[model])
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


def training_curves(runs: dict, title: str = ""):
    """Per-epoch test accuracy (solid) and training accuracy (dotted; running mean in training
    mode) of each run, and the test loss."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, run in runs.items():
        h = run["history"]
        epochs = [e["epoch"] for e in h]
        line, = axes[0].plot(epochs, [100 * e["test_acc"] for e in h], "o-", ms=3,
                             label=f"{name} ({run['params']:,} params)")
        axes[0].plot(epochs, [100 * e["train_acc"] for e in h], ":", color=line.get_color())
        axes[1].semilogy(epochs, [e["test_loss"] for e in h], "o-", ms=3, color=line.get_color())
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_title("test (solid); training, running mean with augmentation (dotted)")
    axes[1].set_ylabel("test cross-entropy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
