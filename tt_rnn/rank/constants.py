"""Defaults and size limits shared by the modules of :mod:`tt_rnn.rank`.

Every tolerance and prime used by the rank engine is defined here once, with the reason for its
value, so that results files can name them and tests can refer to them.
"""

#: Default prime for GF(p) certificates: the Mersenne prime 2^31 - 1. Residues are < 2^31, so the
#: product of two residues is < 2^62 and the difference of two reduced numbers is > -2^31: every
#: intermediate of "multiply, reduce, subtract, reduce" fits in int64 (< 2^63) with no overflow.
DEFAULT_PRIME = 2_147_483_647
#: Prime of the blocked float64 elimination: 2^23 - 15, so that ``64 * (p - 1)^2 + p < 2^53``.
BLAS_PRIME = 8_388_593
#: Second primes, tried when the first gives a rank below the numerical rank (an unlucky prime).
SECOND_PRIME = 2_147_483_629
BLAS_SECOND_PRIME = 8_388_587
#: Numerical rank: singular values ``> rtol * sigma_max`` count. ``None`` means
#: ``max(rows, cols) * eps(float64)``, the convention of ``numpy.linalg.matrix_rank``.
DEFAULT_SVD_RTOL = None
#: An exact fit: relative Frobenius error ``<= 1e-10`` in float64.
DEFAULT_FIT_TOL = 1e-10
#: A fit whose component-norm ratio ``kappa`` exceeds this is degenerate (diverging components).
DEFAULT_NORM_LIMIT = 1e4
#: Size limits (entries of the full tensor) for the three kinds of computation.
MAX_SVD_ENTRIES = 2 ** 24
MAX_GFP_ENTRIES = 2 ** 23
MAX_FIT_ENTRIES = 2 ** 16
#: Integers of absolute value below this are exact in float64 (53-bit significand).
FLOAT64_EXACT_INT = 2 ** 53
#: Largest int64 value: exact integer contractions stay at or below it.
INT64_MAX = 2 ** 63 - 1
