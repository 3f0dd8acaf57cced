"""CP-rank brackets: certified lower bounds, exact-fit upper bounds as checkable stored
CP decompositions.

The CP rank of a tensor ``X`` of order ``d`` is the least ``R`` such that
``X = sum_{t=1}^R a^{(1)}_t (x) ... (x) a^{(d)}_t``. It is NP-hard to compute in general
(Hastad 1990), so this package brackets it, recording for each bound the field (R or C) it holds
over. Modules:

``unfolding``  numerical unfolding (flattening) ranks by SVD -- lower bounds over R and C
``gfp``        exact unfolding ranks over GF(p) of integer tensors -- certified lower bounds over
               R and C, for one tensor and for almost every point of the family it was drawn
               from; Alkin's bound ``q^(d/2)`` (Remark 22 of the PDF), the proved bound
               ``min(n, r)^(d/2)`` (Theorem 6) and the min-cut upper bound
``pencil``     exact ``2 x m x m`` pencil certificate (Ja'Ja') -- lower bounds on the REAL rank
``koszul``     Koszul-Young flattenings (Strassen's equations at dim A = 3) over GF(p) --
               certified border-rank lower bounds over R and C, beyond flattenings
``uniqueness`` uniqueness of a pencil decomposition: a non-rank-one eigenvector proves
               ``rank >= N + 1`` over C and R (exact); diagonalisable 3-way pencils: ``rank <= N``
``lm``         CP algebra and the Levenberg-Marquardt solver; border-rank heuristic
``cpfit``      exact-fit attempts and rank searches -- numerical upper bounds (real decompositions)
``rational``   exact check of a fit: rational reconstruction and exact recomposition -- a
               certified upper bound when it passes
``bracket``    :func:`cp_rank_bracket` and :class:`RankBracket`
``decompositions`` stored CP decompositions of upper bounds and :func:`verify_decomposition`
``report``     the ``n = 2, r = 3`` table, the published estimates of Khrulkov et al. 2018,
               :func:`rank_tables`
``examples``   tensors of known rank (W tensor, random CP tensors, real rank != complex rank)

Command line: ``python -m tt_rnn.rank {verify,improve,bracket}`` (see :mod:`tt_rnn.rank.__main__`).
All defaults and limits are in :mod:`tt_rnn.rank.constants`.
"""

from ._checks import tt_to_tensor_exact
from .bracket import (FIELD_COMPLEX, FIELD_REAL, LOWER_KOSZUL, LOWER_REAL_PENCIL,
                      LOWER_UNFOLDING, LOWER_UNIQUENESS, UPPER_EXACT, UPPER_NUMERICAL, UPPER_PENCIL,
                      UPPER_TRIVIAL, RankBracket, cp_rank_bracket)
from .constants import (BLAS_PRIME, BLAS_SECOND_PRIME, DEFAULT_FIT_TOL, DEFAULT_NORM_LIMIT,
                        DEFAULT_PRIME, DEFAULT_SVD_RTOL, MAX_FIT_ENTRIES, MAX_GFP_ENTRIES,
                        MAX_SVD_ENTRIES, SECOND_PRIME)
from .cpfit import (CPFit, CPSearch, cp_fit, cp_rank_upper_bound, descend_exact_fit,
                    generic_rank_estimate)
from .examples import random_cp_tensor, real_part_of_complex_cube, w_tensor
from .gfp import (UnfoldingCertificate, alkin_bound, certified_unfolding_rank, gf_p_rank,
                  is_integer_tensor, min_cut_bound, proven_bound, tt_to_tensor_mod_p,
                  unfolding_rank_mod_p)
from .lm import blas_single_thread, border_rank_suspected, cp_to_tensor
from .koszul import koszul_young_lower_bound, koszul_young_matrix, koszul_young_reach
from .pencil import pencil_certificate_fraction, pencil_lower_bound
from .rational import exact_cp_recomposition, rational_cp_certificate
from .uniqueness import pencil_diagonalisable_upper_bound, pencil_uniqueness_lower_bound
from .report import (GALLOP_MAX_D, KHRULKOV_2018_BOUNDS, KHRULKOV_2018_ESTIMATES, TABLE_TIME_LIMIT,
                     decomposition_path, n2_r3_row, n2_r3_table, rank_tables,
                     table_strategy)
from .unfolding import balanced_bipartitions, best_unfolding_rank, unfolding_rank
from .decompositions import (DECOMPOSITION_KEYS, DecompositionError, DecompositionRecord,
                             decomposition_error, load_decomposition, save_decomposition,
                             verify_decomposition)

__all__ = [
    "DEFAULT_PRIME", "BLAS_PRIME", "SECOND_PRIME", "BLAS_SECOND_PRIME", "DEFAULT_SVD_RTOL",
    "DEFAULT_FIT_TOL", "DEFAULT_NORM_LIMIT", "MAX_SVD_ENTRIES", "MAX_GFP_ENTRIES", "MAX_FIT_ENTRIES",
    "unfolding_rank", "balanced_bipartitions", "best_unfolding_rank",
    "gf_p_rank", "tt_to_tensor_mod_p", "unfolding_rank_mod_p", "is_integer_tensor",
    "UnfoldingCertificate", "certified_unfolding_rank", "alkin_bound",
    "proven_bound", "min_cut_bound",
    "pencil_lower_bound", "pencil_certificate_fraction", "blas_single_thread",
    "CPFit", "cp_fit", "CPSearch", "generic_rank_estimate", "cp_rank_upper_bound",
    "descend_exact_fit", "border_rank_suspected", "cp_to_tensor",
    "RankBracket", "cp_rank_bracket", "FIELD_COMPLEX", "FIELD_REAL",
    "UPPER_EXACT", "UPPER_NUMERICAL", "UPPER_TRIVIAL", "UPPER_PENCIL", "tt_to_tensor_exact",
    "LOWER_UNFOLDING", "LOWER_KOSZUL", "LOWER_UNIQUENESS", "LOWER_REAL_PENCIL",
    "koszul_young_lower_bound", "koszul_young_matrix", "koszul_young_reach",
    "pencil_uniqueness_lower_bound", "pencil_diagonalisable_upper_bound",
    "rational_cp_certificate", "exact_cp_recomposition",
    "w_tensor", "random_cp_tensor", "real_part_of_complex_cube",
    "DecompositionError", "DecompositionRecord", "DECOMPOSITION_KEYS", "save_decomposition",
    "load_decomposition", "verify_decomposition", "decomposition_error", "decomposition_path",
    "KHRULKOV_2018_ESTIMATES", "KHRULKOV_2018_BOUNDS", "GALLOP_MAX_D", "TABLE_TIME_LIMIT", "table_strategy",
    "n2_r3_row", "n2_r3_table", "rank_tables",
]
