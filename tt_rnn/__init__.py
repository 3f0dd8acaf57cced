"""tt-rnn: the expressive power of recurrent networks seen as Tensor-Train decompositions.

Layers, bottom to top: a module imports only from layers below its own (tests/test_layers.py)
-------------------------------------------------------------------------------------------
0  tt, runfiles, cli, stats
1  networks, rank, data, batches
2  features, initializers, fixtures, generalized, regions, teachers
3  config
4  experiments, teacher_student
5  train
6  sweep, rectifier_analysis, final_report
7  generalized_report, search, teacher_student_analysis
8  tables
9  plots, notebooks, demo, teacher_student_plots

Modules
-------
tt                  TT container, random / shared / witness cores, full tensor, unfoldings
runfiles, cli       portable paths, atomic writes, results files, locks, provenance; one-line CLI errors
stats               intervals and paired tests over seeds and over test images (bootstrap, McNemar, Holm)
networks            CP, TT (distinct or shared inner core) and HT score functions; the TT recurrence
rank                CP-rank brackets: GF(p) certificates, exact fits, stored decompositions
data, batches       MNIST / CIFAR-10 in memory and downloads (``python -m tt_rnn.data``); minibatches
features, initializers, fixtures   per-patch feature maps; initialisations; synthetic data sets
generalized, regions               rectifier networks: grid tensors and ranks; linear regions
config              ``TrainConfig``, where a run's files go, when two runs are the same experiment
experiments         every experiment of the repository, by name
train               the training loop: set-up, loop, record (``python -m tt_rnn.train``)
sweep               many runs, here or on SLURM, through submitit (``python -m tt_rnn.sweep``)
rectifier_analysis  ranks and regions of trained rectifier networks
final_report        the formats at their selected configurations and at equal parameters: intervals, paired tests
generalized_report  the rectifier tables and ``python -m tt_rnn.generalized_report``
search              per-format hyperparameter searches on validation, Optuna (``python -m tt_rnn.search``)
teachers, teacher_student, teacher_student_analysis, teacher_student_plots
                    teacher-student experiments: targets that are shared-core networks (``python -m tt_rnn.teacher_student``)
tables              Markdown tables and training budgets from results files (``python -m tt_rnn.tables``)
plots, notebooks, demo   figures; the runs a notebook shows, and running notebooks; the demo
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
                   min_cut_bound, proven_bound, unfolding_rank, unfolding_rank_mod_p, verify_decomposition)

__all__ = [
    "features", "generalized", "networks", "rank", "regions", "tt",
    "ConvPatchFeatures", "LinearReLUFeatures", "PatchMLPFeatures", "extract_patches", "make_feature_map",
    "XI_KINDS", "CPNetwork", "HTNetwork", "ScoreClassifier", "TTNetwork", "count_parameters", "make_network",
    "TensorTrain", "odd_even_min_cut_bound", "odd_even_unfolding", "random_tt", "random_weight_tied_tt",
    "shared_core_tt", "tt_to_tensor", "unfold", "unfolding_min_cut_bound", "validate_tt", "weight_tied_tt",
    "weight_tied_witness_tt", "witness_q", "witness_tt",
    "RankBracket", "UnfoldingCertificate", "best_unfolding_rank", "border_rank_suspected",
    "certified_unfolding_rank", "cp_rank_bracket", "cp_rank_upper_bound", "gf_p_rank",
    "min_cut_bound", "proven_bound", "unfolding_rank", "unfolding_rank_mod_p", "verify_decomposition",
]

__version__ = "0.1.0"
