"""Grid-tensor ranks and linear regions of *trained* rectifier networks, against their initialisation.

:mod:`tt_rnn.generalized` and :mod:`tt_rnn.regions` study random rectifier networks on random
templates. This module asks the same two questions of the networks trained by the named
experiments (:mod:`tt_rnn.experiments`, ``xi = "rectifier"``), at their initial weights (rebuilt
from the run's seed exactly as :func:`tt_rnn.train.train` builds them) and at their final
weights (the run's checkpoint ``checkpoints/<name>/last.pt``):

* **Grid ranks on a slice.** A trained network has ``d = 16`` positions, too many for a full
  grid with enough templates (``M^16`` entries; with ``M = 2`` the max nodes saturate and every
  rank is 1). So the ``k = 8`` middle positions (patch rows 1 and 2 of the 4 x 4 patch grid)
  range over ``M = 4`` templates ``F[j] = f_theta(patch_j)`` (the learned feature map applied to
  patches of validation images at those positions, pairwise distinct: :func:`distinct_templates`)
  while the other positions keep the features
  of one validation image: ``Gamma^y[j_1, ..., j_k] = h_y(..., F[j_1], ..., F[j_k], ...)``
  (:func:`sliced_grid_tensor`, ``4^8`` entries per class, evaluated by the network's own forward
  pass in float64). It is a sub-tensor of the full grid tensor of the template set ``F`` plus
  the fixed features, so its unfolding ranks are lower bounds on that tensor's. Reported: SVD
  ranks of the contiguous-half and odd/even matricizations (``256 x 256``), mean, min and max over
  the classes. Trained parameters are floats, so the ranks are numerical (default relative
  tolerance), not certified.
* **Linear regions on segments between real inputs.** The score network is piecewise linear in
  its input features; along the segment joining the feature sequences ``f_theta(x)`` and
  ``f_theta(x')`` of two validation images the activation regions and linear pieces are counted
  exactly (:func:`tt_rnn.regions.count_regions_on_line`). The feature map (an MLP or linear map
  with ReLU) is held fixed, so these are the regions of the tensor network, the part that
  differs between the formats.

Usage::

    python -m tt_rnn.rectifier_analysis mnist/val_sweep_rectifier/ cifar10/val_sweep_rectifier/ \\
        --ranks 4 16 --out results/generalized/trained_rectifiers.json

Runs whose checkpoint is missing are skipped with a message naming the command that trains them.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from . import experiments
from .batches import normalize
from .data import ImageData, load_dataset
from .generalized import EPSILONS, epsilon_ranks, unfolding_ranks
from .regions import count_regions_on_line
from .runfiles import portable_path, write_records as write_analysis
from .tt import unfold
from .train import build_model, checkpoint_path, load_checkpoint, validation_split

__all__ = ["load_model", "validation_features", "distinct_templates", "sliced_grid_tensor", "analyse_run", "RectifierRecord", "analyse",
           "write_analysis", "trained_table"]

STATES = ("initial", "trained")
#: Validation images whose patches are the candidate templates.
TEMPLATE_CANDIDATE_IMAGES = 16
#: How the templates are chosen (recorded; records of another rule are recomputed).
TEMPLATE_RULE = "distinct patches of 16 validation images"


def load_model(name: str, state: str = "trained", data: ImageData | None = None):
    """``(config, model)`` of the named experiment at its ``initial`` or ``trained`` weights (eval mode).

    ``initial`` rebuilds the model from the run's seed as training does; ``trained`` loads the
    final state of ``checkpoints/<name>/last.pt`` and refuses a checkpoint of an unfinished run."""
    if state not in STATES:
        raise ValueError(f"state must be one of {STATES}, got {state!r}")
    config = experiments.get(name)
    if data is None:
        data = load_dataset(config.dataset, config.data_dir, config.cache_dir, config.download)
    torch.manual_seed(config.seed)
    model = build_model(config, data.in_channels, data.num_classes, data.image_size)
    if state == "trained":
        path = checkpoint_path(config)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint {portable_path(path)} for {name!r}; train it with: "
                                    f"python -m tt_rnn.train --config {name} --resume")
        ckpt = load_checkpoint(path)
        if ckpt["epoch"] != config.epochs:
            raise ValueError(f"checkpoint {portable_path(path)} is at epoch {ckpt['epoch']} of "
                             f"{config.epochs}: the run is unfinished (resume it with --resume)")
        model.load_state_dict(ckpt["model"])
    return config, model.eval()


def validation_features(model, config, data: ImageData, n_images: int, seed: int = 0) -> torch.Tensor:
    """Feature sequences ``(n_images, d, m)`` of validation images (the run's split), float64."""
    if not 0 < n_images <= config.val_size:
        raise ValueError(f"n_images = {n_images} must be in [1, val_size = {config.val_size}] (the run's "
                         f"validation split)")
    _, val_idx = validation_split(len(data.train_labels), config.val_size, config.split_seed)
    pick = val_idx[torch.randperm(len(val_idx), generator=torch.Generator().manual_seed(seed))[:n_images]]
    with torch.no_grad():
        x = normalize(data.train_images[pick], data.mean, data.std)
        return model.feature_map(x).double()


def sliced_grid_tensor(network, templates, base, positions, *, batch_size: int = 8192) -> np.ndarray:
    """``Gamma[y, j_1, ..., j_k] = h_y(X)`` with ``X[positions[i]] = templates[j_i]`` and ``X = base`` elsewhere.

    ``templates``: ``(M, m)``; ``base``: ``(d, m)``; ``positions``: ``k`` distinct positions.
    Returns a float64 array of shape ``(C, M, ..., M)``, computed by the network's forward pass in
    float64 (``M^k`` inputs, in batches)."""
    templates, base = torch.as_tensor(templates, dtype=torch.float64), torch.as_tensor(base, dtype=torch.float64)
    positions = list(positions)
    n_templates, k = templates.shape[0], len(positions)
    if base.shape != (network.d, network.m) or templates.ndim != 2 or templates.shape[1] != network.m:
        raise ValueError(f"base must have shape (d, m) = {(network.d, network.m)} and templates (M, m); "
                         f"got {tuple(base.shape)} and {tuple(templates.shape)}")
    if len(set(positions)) != k or not all(0 <= p < network.d for p in positions):
        raise ValueError(f"positions must be distinct and in [0, {network.d}), got {positions}")
    if n_templates ** k > 2 ** 22:
        raise ValueError(f"{n_templates}^{k} = {n_templates ** k} inputs is too many; use fewer templates or positions")
    index = torch.cartesian_prod(*[torch.arange(n_templates)] * k).reshape(-1, k)  # row-major: j_1 slowest
    net = copy.deepcopy(network).double()  # float64 copy; the caller's network is left as it is
    out = []
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            x = base.expand(len(index[start:start + batch_size]), -1, -1).clone()
            x[:, positions] = templates[index[start:start + batch_size]]
            out.append(net.score(x))  # the exact score, not the rescaled logits
    scores = torch.cat(out).T.numpy()  # (C, M^k)
    return scores.reshape(scores.shape[0], *([n_templates] * k))


@dataclass
class RectifierRecord:
    """One run's grid ranks and line regions at one state (``initial`` or ``trained``)."""

    name: str
    dataset: str
    kind: str
    rank: int
    seed: int
    state: str
    d: int
    m: int
    n_parameters: int
    val_acc: float | None
    n_templates: int
    templates: str
    half_rank_mean: float
    half_rank_min: int
    half_rank_max: int
    odd_even_rank_mean: float
    odd_even_rank_min: int
    odd_even_rank_max: int
    max_rank: int
    n_segments: int
    regions_mean: float
    regions_sd: float
    pieces_mean: float
    pieces_sd: float
    time_s: float
    half_eps_ranks_mean: list | None = None  # epsilon-rank profile at EPSILONS, mean over the classes

    def to_dict(self) -> dict:
        return asdict(self)


def _mean_sd(values) -> tuple[float, float]:
    return float(statistics.fmean(values)), float(statistics.stdev(values)) if len(values) > 1 else 0.0


def distinct_templates(features: torch.Tensor, positions, n_templates: int, seed: int = 0) -> torch.Tensor:
    """``n_templates`` pairwise different feature vectors ``features[image, position]`` (positions
    among ``positions``), in a seeded random order of the candidates. Distinctness matters: many
    MNIST patches are blank and share one feature vector, and repeated templates cap the rank."""
    candidates = [(i, p) for i in range(features.shape[0]) for p in positions]
    order = torch.randperm(len(candidates), generator=torch.Generator().manual_seed(seed))
    chosen: list[torch.Tensor] = []
    for k in order.tolist():
        vector = features[candidates[k]]
        scale = 1e-9 * (1.0 + float(vector.abs().max()))
        if all(float((vector - other).abs().max()) > scale for other in chosen):
            chosen.append(vector)
            if len(chosen) == n_templates:
                return torch.stack(chosen)
    raise ValueError(f"only {len(chosen)} distinct feature vectors among {len(candidates)} patches; "
                     f"n_templates = {n_templates} needs more candidate images")


def analyse_run(name: str, state: str, data: ImageData, *, n_templates: int = 4, n_segments: int = 8,
                seed: int = 0, regions_from: dict | None = None) -> RectifierRecord:
    """Grid ranks (all classes) and regions on ``n_segments`` segments for one run at one state.

    ``regions_from``: an earlier record of the same run, state, ``n_segments`` and ``seed`` whose
    region counts are reused (they do not depend on the templates)."""
    start = time.perf_counter()
    config, model = load_model(name, state, data)
    if config.xi != "rectifier":
        raise ValueError(f"{name!r} has xi = {config.xi!r}; this analysis is for rectifier networks")
    net = model.network
    # images 0 .. 2 n_segments - 1: the segments; image 2 n_segments: the base of the slice; the
    # rest: candidate template patches (a prefix of the same seeded permutation of the split)
    feats = validation_features(model, config, data, 2 * n_segments + 1 + TEMPLATE_CANDIDATE_IMAGES, seed=seed)
    positions = list(range(net.d // 4, net.d // 4 + net.d // 2))  # the middle half of the positions
    templates = distinct_templates(feats[2 * n_segments + 1:], positions, n_templates, seed=seed)
    grid = sliced_grid_tensor(net, templates, feats[2 * n_segments], positions)
    ranks = [unfolding_ranks(grid[y], exact=False) for y in range(grid.shape[0])]
    half = [r["half"]["rank"] for r in ranks]
    k = grid.ndim - 1
    eps_profiles = np.array([epsilon_ranks(unfold(grid[y], list(range(k // 2)))) for y in range(grid.shape[0])])
    odd_even = [r["odd_even"]["rank"] for r in ranks]
    if regions_from is None:
        lines = [count_regions_on_line(net, feats[2 * i].numpy(), feats[2 * i + 1].numpy())
                 for i in range(n_segments)]
        regions, reg_sd = _mean_sd([line["regions"] for line in lines])
        pieces, pieces_sd = _mean_sd([line["pieces"] for line in lines])
    else:  # the same network and segments: the counts do not depend on the templates
        regions, reg_sd, pieces, pieces_sd = (regions_from[k] for k in ("regions_mean", "regions_sd",
                                                                         "pieces_mean", "pieces_sd"))
    val_acc = None
    if state == "trained":
        results = Path(config.results_path)
        val_acc = json.loads(results.read_text()).get("final_val_acc") if results.is_file() else None
    return RectifierRecord(
        name=name, dataset=config.dataset, kind=config.model, rank=config.rank, seed=config.seed,
        state=state, d=net.d, m=net.m, n_parameters=net.n_parameters(), val_acc=val_acc,
        n_templates=n_templates, templates=TEMPLATE_RULE, half_rank_mean=float(np.mean(half)), half_rank_min=int(min(half)),
        half_rank_max=int(max(half)), odd_even_rank_mean=float(np.mean(odd_even)),
        odd_even_rank_min=int(min(odd_even)), odd_even_rank_max=int(max(odd_even)),
        max_rank=ranks[0]["half"]["max_rank"], n_segments=n_segments, regions_mean=regions,
        regions_sd=reg_sd, pieces_mean=pieces, pieces_sd=pieces_sd, time_s=time.perf_counter() - start,
        half_eps_ranks_mean=eps_profiles.mean(axis=0).tolist())


def analyse(names, *, n_templates: int = 4, n_segments: int = 8, seed: int = 0, skip=None, reuse=None,
            log=print) -> list[RectifierRecord]:
    """:func:`analyse_run` at both states for every run whose checkpoint exists (others are logged).

    ``skip(name, state) -> bool`` leaves out records already computed; ``reuse``: ``{(name,
    state): record}`` whose region counts are taken over."""
    reuse = reuse or {}
    records, loaded = [], {}
    for name in names:
        config = experiments.get(name)
        if not checkpoint_path(config).is_file():
            log(f"{name}: no checkpoint, skipped (python -m tt_rnn.train --config {name} --resume)")
            continue
        if config.dataset not in loaded:
            loaded[config.dataset] = load_dataset(config.dataset, config.data_dir, config.cache_dir,
                                                  config.download)
        for state in STATES:
            if skip is not None and skip(name, state):
                continue
            records.append(analyse_run(name, state, loaded[config.dataset], n_templates=n_templates,
                                       n_segments=n_segments, seed=seed, regions_from=reuse.get((name, state))))
            log(f"{name} {state}: half rank {records[-1].half_rank_mean:.1f}, regions "
                f"{records[-1].regions_mean:.1f} ({records[-1].time_s:.1f} s)")
    return records


def _pooled(records, mean_key: str, sd_key: str, n: int) -> tuple[float, float]:
    """Mean and sample sd of the union of equal-size samples given by their means and sds."""
    means = np.array([r[mean_key] for r in records])
    sds = np.array([r[sd_key] for r in records])
    total = n * len(records)
    mean = float(means.mean())
    squares = float(((n - 1) * sds ** 2 + n * means ** 2).sum())
    return mean, float(np.sqrt(max(squares - total * mean ** 2, 0.0) / (total - 1))) if total > 1 else 0.0


def trained_table(payload: dict) -> str:
    """Markdown: per data set, rank and format, grid rank and regions at initialisation and trained,
    pooled over the training seeds present."""
    config, groups = payload["config"], {}
    for rec in payload["records"]:
        groups.setdefault((rec["dataset"], rec["rank"], rec["kind"]), {}).setdefault(rec["state"], []).append(rec)
    order = {"tt-shared": 0, "tt": 1, "ht": 2, "cp": 3}
    cap = payload["records"][0]["max_rank"] if payload["records"] else "?"
    eps_i = min(range(len(EPSILONS)), key=lambda i: abs(EPSILONS[i] - 1e-6))
    has_eps = any(r.get("half_eps_ranks_mean") for r in payload["records"])
    eps_note = ("eps-rank (numerical): singular values above 1e-6 sigma_1, mean over the classes, on the seeds whose "
                "checkpoints were analysed (older records predate the profiles)" if has_eps else
                "no eps-rank profiles: these records predate them, and recomputing needs the runs' checkpoints")
    lines = [f"Trained rectifier networks (`*/val_sweep_rectifier/`) against their initialisation. Grid rank "
             f"(**numerical**: float SVD rank at the default tolerance max(rows, cols) · 2.2e-16, not certified — "
             f"trained weights are not dyadic): the contiguous-half matricization of the grid tensor on the middle 8 "
             f"of the 16 positions ({config['n_templates']} templates `f(patch)` from validation images, the other "
             f"positions fixed to one validation image's features; cap {cap}), mean [min–max] over the 10 classes and "
             f"the seeds; {eps_note}. "
             f"Regions / pieces: activation regions / linear pieces of the tensor network on segments between the "
             f"feature sequences of two validation images, mean ± sd over {config['n_segments']} segments per seed.",
             "",
             "| data | rank | format | seeds | params (network) | val acc (%) | grid rank, init | grid rank, trained "
             + ("| eps-rank 1e-6, trained " if has_eps else "")
             + "| regions, init | regions, trained | pieces, init | pieces, trained |",
             "|---|---|---|---|---|---|---|---|" + ("---|" if has_eps else "") + "---|---|---|---|"]

    def grid(recs):
        lo, hi = min(r["half_rank_min"] for r in recs), max(r["half_rank_max"] for r in recs)
        mean = statistics.fmean(r["half_rank_mean"] for r in recs)
        return f"{mean:.1f}" if lo == hi else f"{mean:.1f} [{lo}–{hi}]"

    def eps(recs):
        have = [r for r in recs if r.get("half_eps_ranks_mean")]
        if not have:
            return ""
        mean = statistics.fmean(r["half_eps_ranks_mean"][eps_i] for r in have)
        return f"{mean:.1f}" if len(have) == len(recs) else \
            f"{mean:.1f} (seed{'s' if len(have) > 1 else ''} {', '.join(str(r['seed']) for r in have)})"

    def regions(recs, what="regions"):
        mean, sd = _pooled(recs, f"{what}_mean", f"{what}_sd", recs[0]["n_segments"])
        return f"{mean:.1f} ± {sd:.1f}"

    for key in sorted(groups, key=lambda k: (k[0] != "mnist", k[1], order.get(k[2], 9))):
        states = groups[key]
        if set(states) != set(STATES):
            continue
        ini, tr = states["initial"], states["trained"]
        accs = [r["val_acc"] for r in tr if r["val_acc"] is not None]
        acc = "" if not accs else (f"{100 * accs[0]:.2f}" if len(accs) == 1 else
                                   f"{100 * statistics.fmean(accs):.2f} ± {100 * statistics.stdev(accs):.2f}")
        seeds = ", ".join(str(s) for s in sorted(r["seed"] for r in tr))
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {seeds} | {tr[0]['n_parameters']:,} | {acc} | "
                     f"{grid(ini)} | {grid(tr)} | " + (f"{eps(tr)} | " if has_eps else "") + f"{regions(ini)} | {regions(tr)} | "
                     f"{regions(ini, 'pieces')} | {regions(tr, 'pieces')} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Grid ranks and linear regions of trained rectifier networks.")
    parser.add_argument("prefixes", nargs="+", help="experiment name prefixes, e.g. mnist/val_sweep_rectifier/")
    parser.add_argument("--ranks", type=int, nargs="*", default=None, help="only these ranks")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0], help="only these training seeds")
    parser.add_argument("--n-templates", type=int, default=4)
    parser.add_argument("--n-segments", type=int, default=8)
    parser.add_argument("--out", default="results/generalized/trained_rectifiers.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        names = [n for prefix in args.prefixes for n, c in experiments.group(prefix).items()
                 if c.xi == "rectifier" and (args.ranks is None or c.rank in args.ranks) and c.seed in args.seeds]
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    out = Path(args.out)
    old = json.loads(out.read_text())["records"] if out.is_file() else []
    same_segments = [r for r in old if r["n_segments"] == args.n_segments]
    done = {(r["name"], r["state"]) for r in same_segments if r["n_templates"] == args.n_templates
            and r.get("templates") == TEMPLATE_RULE}
    records = [RectifierRecord(**r) for r in same_segments if (r["name"], r["state"]) in done]
    records += analyse(names, n_templates=args.n_templates, n_segments=args.n_segments,
                       skip=lambda name, state: (name, state) in done,
                       reuse={(r["name"], r["state"]): r for r in same_segments})
    payload_config = dict(n_templates=args.n_templates, n_segments=args.n_segments, seed=0,
                          command="python -m tt_rnn.rectifier_analysis " + " ".join(
                              sys.argv[1:] if argv is None else list(argv)))
    write_analysis(out, records, payload_config)
    print(trained_table(json.loads(out.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
