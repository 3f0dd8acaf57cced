"""tt-rnn: the expressive power of recurrent networks seen as Tensor-Train decompositions.

Modules
-------
tt           TT container, random / shared / witness cores, full tensor, unfoldings
networks     CP, TT (distinct or shared inner core) and HT score functions, the stable recurrence
features     image patches and per-patch feature maps
rank         CP-rank brackets: GF(p) unfolding certificates, exact fits, stored witnesses
generalized  generalized (rectifier) networks: grid tensors and their ranks; regions: linear regions
data         MNIST / CIFAR-10 in memory, downloads (``python -m tt_rnn.data``); fixtures: synthetic sets
train        the training loop and ``TrainConfig`` (``python -m tt_rnn.train``)
experiments  every experiment of the repository, by name
results      results files: read, match, ``load_or_train``, tables (``python -m tt_rnn.results``)
plots, notebooks  the notebooks' figures; running the notebooks
"""

from . import features, generalized, networks, regions, tt
from .features import (ConvPatchFeatures, LinearReLUFeatures, PatchMLPFeatures, extract_patches,
                       make_feature_map)
from .networks import (XI_KINDS, CPNetwork, HTNetwork, ScoreClassifier, TTNetwork, count_parameters,
                       make_network)
from .tt import (TensorTrain, odd_even_min_cut_bound, odd_even_unfolding, random_tt,
                 random_weight_tied_tt, shared_core_tt, tt_to_tensor, unfold, unfolding_min_cut_bound,
                 validate_tt, weight_tied_tt, weight_tied_witness_tt, witness_q, witness_tt)
from . import rank  # CP-rank bounds: GF(p) certificates, exact fits, border-rank flags, brackets
from .rank import (RankBracket, UnfoldingCertificate, best_unfolding_rank, border_rank_suspected,
                   certified_unfolding_rank, cp_rank_bracket, cp_rank_upper_bound, gf_p_rank,
                   min_cut_bound, proven_bound, unfolding_rank, unfolding_rank_mod_p, verify_witness)

__all__ = [
    "features", "generalized", "networks", "rank", "regions", "tt",
    "ConvPatchFeatures", "LinearReLUFeatures", "PatchMLPFeatures", "extract_patches", "make_feature_map",
    "XI_KINDS", "CPNetwork", "HTNetwork", "ScoreClassifier", "TTNetwork", "count_parameters", "make_network",
    "TensorTrain", "odd_even_min_cut_bound", "odd_even_unfolding", "random_tt", "random_weight_tied_tt",
    "shared_core_tt", "tt_to_tensor", "unfold", "unfolding_min_cut_bound", "validate_tt", "weight_tied_tt",
    "weight_tied_witness_tt", "witness_q", "witness_tt",
    "RankBracket", "UnfoldingCertificate", "best_unfolding_rank", "border_rank_suspected",
    "certified_unfolding_rank", "cp_rank_bracket", "cp_rank_upper_bound", "gf_p_rank",
    "min_cut_bound", "proven_bound", "unfolding_rank", "unfolding_rank_mod_p", "verify_witness",
]

__version__ = "0.1.0"
