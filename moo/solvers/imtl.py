"""IMTL-G: the gradient part of impartial multi-task learning, from the Gramian.

References:
    L. Liu, Y. Li, Z. Kuang, J.-H. Xue, Y. Chen, W. Yang, Q. Liao and W. Zhang, "Towards
    Impartial Multi-task Learning", ICLR 2021.
    P. Quinton and V. Rey, "Jacobian Descent for Multi-Objective Optimization", 2024 (the
    pseudo-inverse generalization used by torchjd).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy.linalg.lapack import dpocon, dpotrf, dpotrs

from moo.solvers._base import RuleResult, Weighting, register
from moo.validation import FloatArray

# Eigenvalues of the correlation matrix C at most this times its largest one are treated as 0.
_RCOND = 1e-13
# |Σ α| below this times Σ |α| means the weights cannot be normalized to sum to 1.
_CANCEL = 1e-12
# ||P 1|| / ||1|| below this (P the projection onto the range of C) means 1 ⊥ range(C).
_ORTHOGONAL = 1e-8
# max |C β − 1| above this means equal projections are not attained (least squares).
_EQUAL = 1e-8
# Up to this K, a well-conditioned correlation matrix is solved on Python floats; above, by
# LAPACK (`_full_rank`).
_SMALL_K = 3
# K = 3 in closed form (the adjugate) only when det C exceeds this times Gershgorin's bound on
# λ_max cubed (cond C below about 1e6: the closed form's error, ~cond eps, stays ~1e-10).
_WELL_CONDITIONED = 1e-6
# `_full_rank` takes the Cholesky solution when LAPACK's estimate of the reciprocal condition
# number of C (1-norm) is above this: 1000 times the eigenvalue cutoff `_RCOND`, a margin for
# the estimate and for the 1-norm against the 2-norm (within a factor K).
_RCOND_ESTIMATE = 1e-10


class IMTLGSolution(NamedTuple):
    """Result of `imtlg_weights`.

    Attributes:
        weights: ``α`` (K,), summing to 1.
        projection: the common projection ``c = u_iᵀ d`` of ``d = Jᵀα`` onto every unit
            gradient (``0`` when ``d = 0``); negative ``c`` makes ``d`` an ascent direction for
            every objective.
        residual: the relative projection defect ``max_i |u_iᵀd − c| / |c| =
            max_i |(C β)_i − 1|`` over the non-zero gradients: ``0`` up to rounding (about
            ``ε Σ_i |β_i|``) when equal projections are attainable, the least-squares defect
            otherwise; when ``c = 0`` (``d = 0`` by the policy for cancelling unit gradients),
            ``||d|| / max_i ||g_i||``.
        rank: numerical rank of the correlation matrix of the non-zero gradients.
        zero_gradients: number of zero gradients (given weight 0).
        least_squares: ``True`` when equal projections are not attainable in the span of the
            gradients and the least-squares direction was used.
    """

    weights: FloatArray
    projection: float
    residual: float
    rank: int
    zero_gradients: int
    least_squares: bool


def imtlg_weights(gramian: FloatArray) -> IMTLGSolution:
    """IMTL-G weights from a validated Gramian (see `IMTLG` for the math and the policy).

    Raises:
        ValueError: the equal-projection direction exists and is non-zero but its weights sum
            to 0, so they cannot be normalized to sum to 1 (IMTL-G is undefined there).
    """
    k = gramian.shape[0]
    fast = _small_full_rank(gramian.tolist()) if k <= _SMALL_K else _full_rank(gramian)
    if fast is not None:
        return fast
    sq = gramian.diagonal()
    if sq.min() > 0.0:
        nonzero = None
        sub = gramian
        m = k
    else:
        nonzero = np.flatnonzero(sq > 0.0)
        m = nonzero.size
        if m == 0:  # every gradient is zero: d = 0 whatever the weights
            return IMTLGSolution(np.full(k, 1.0 / k), 0.0, 0.0, 0, k, False)
        sub = gramian[np.ix_(nonzero, nonzero)]
    inv = 1.0 / np.sqrt(sub.diagonal())  # 1 / ||g_i||
    if m == 1:
        return _embed(np.ones(1), nonzero, k, 1.0 / float(inv[0]), 0.0, 1, False)
    corr = sub * inv[:, None] * inv[None, :]  # C = N⁻¹ G N⁻¹, unit diagonal
    np.fill_diagonal(corr, 1.0)
    if m == 2:  # C⁺ 1 in closed form
        rho = min(max(float(corr[0, 1]), -1.0), 1.0)
        rank = 1 if abs(rho) == 1.0 else 2
        beta = np.full(2, 1.0 / (1.0 + rho)) if rho > -1.0 else np.zeros(2)
        captured = 0.0 if rho == -1.0 else 1.0
    else:
        lam, vec = np.linalg.eigh(corr)
        cutoff = _RCOND * float(lam[-1])
        if float(lam[0]) > cutoff:
            rank = m
        else:
            keep = lam > cutoff
            rank = int(keep.sum())
            lam, vec = lam[keep], vec[:, keep]
        coef = vec.sum(axis=0)  # Vᵀ 1
        beta = vec @ (coef / lam)  # C⁺ 1: the min-norm least-squares solution of C β = 1
        captured = math.sqrt(float(coef @ coef) / m)  # ||P 1|| / ||1||
    if captured <= _ORTHOGONAL:
        # 1 ⊥ range(C), i.e. Σ u_i = 0: equal projections only with d = 0, reached by the convex
        # combination α ∝ 1 / ||g_i|| (the point is Pareto-stationary)
        alpha = inv / inv.sum()
        dist = math.sqrt(max(float(alpha @ sub @ alpha), 0.0)) * float(inv.min())
        return _embed(alpha, nonzero, k, 0.0, dist, rank, False)
    alpha = beta * inv
    total = float(alpha.sum())
    spread = float(np.abs(alpha).sum())
    if abs(total) <= _CANCEL * spread:
        raise ValueError(
            "IMTL-G is undefined for this gramian: the equal-projection direction has weights "
            f"summing to {total:.3g} (relative {total / spread:.3g}), which cannot be normalized "
            "to sum to 1"
        )
    alpha /= total
    # d = Uᵀβ / total, so u_iᵀd = (C β)_i c with c = 1 / total: the relative projection defect
    # is C β − 1 (0 up to rounding when 1 ∈ range(C), the least-squares defect otherwise)
    residual = float(np.abs(corr @ beta - 1.0).max())
    return _embed(alpha, nonzero, k, 1.0 / total, residual, rank, residual > _EQUAL)


def _small_full_rank(g: list[list[float]]) -> IMTLGSolution | None:
    """`imtlg_weights` on Python floats for K = 2 and 3 when the correlation matrix ``C`` is
    certainly of full rank; ``None`` otherwise (K = 1, a zero gradient, or ``C`` near
    singular).

    ``β = C⁻¹1`` in closed form (K = 3: the adjugate over the determinant). Full rank in the
    sense of the eigenvalue cutoff of the general path (``λ_min > _RCOND λ_max``) is certain
    when ``det C`` exceeds ``_RCOND λ̄^K`` with ``λ̄`` Gershgorin's bound on ``λ_max``
    (``λ_min >= det C / λ_max^(K-1)``); then both paths compute the same ``C⁻¹1``, the general
    one by an eigendecomposition. K = 3 asks for ``det C > 1e-6 λ̄³`` (`_WELL_CONDITIONED`),
    where the adjugate, which is not backward stable, is as accurate as the general path.
    """
    k = len(g)
    if k == 2:  # β = (1, 1) / (1 + ρ): α = (||g_2||, ||g_1||) / (||g_1|| + ||g_2||)
        (a, c), (_, b) = g
        if a <= 0.0 or b <= 0.0:
            return None
        n1, n2 = math.sqrt(a), math.sqrt(b)
        rho = min(max(c / (n1 * n2), -1.0), 1.0)
        if 1.0 - rho * rho <= _RCOND * (1.0 + abs(rho)) ** 2:
            return None
        both = 1.0 / (1.0 + rho)  # β_1 = β_2
        residual = abs(both * (1.0 + rho) - 1.0)
        weights = np.array([n2 / (n1 + n2), n1 / (n1 + n2)])
        return IMTLGSolution(weights, 1.0 / (both / n1 + both / n2), residual, 2, 0, False)
    if k != 3:
        return None
    (g11, g12, g13), (_, g22, g23), (_, _, g33) = g
    if g11 <= 0.0 or g22 <= 0.0 or g33 <= 0.0:
        return None
    n1, n2, n3 = math.sqrt(g11), math.sqrt(g22), math.sqrt(g33)
    # C = [[1, x, y], [x, 1, z], [y, z, 1]]
    x, y, z = g12 / (n1 * n2), g13 / (n1 * n3), g23 / (n2 * n3)
    det = 1.0 + 2.0 * x * y * z - x * x - y * y - z * z
    bound = 1.0 + max(abs(x) + abs(y), abs(x) + abs(z), abs(y) + abs(z))
    if det <= _WELL_CONDITIONED * bound**3:
        return None  # the adjugate loses ~cond(C) eps: near singular, the eigendecomposition
    # adj(C) 1: the row sums of the cofactor matrix
    b1 = (1.0 - z * z + y * z - x + x * z - y) / det
    b2 = (y * z - x + 1.0 - y * y + x * y - z) / det
    b3 = (x * z - y + x * y - z + 1.0 - x * x) / det
    a1, a2, a3 = b1 / n1, b2 / n2, b3 / n3
    total = a1 + a2 + a3
    if abs(total) <= _CANCEL * (abs(a1) + abs(a2) + abs(a3)):
        return None  # the general path raises with its message
    residual = max(
        abs(b1 + x * b2 + y * b3 - 1.0),
        abs(x * b1 + b2 + z * b3 - 1.0),
        abs(y * b1 + z * b2 + b3 - 1.0),
    )
    weights = np.array([a1 / total, a2 / total, a3 / total])
    return IMTLGSolution(weights, 1.0 / total, residual, 3, 0, residual > _EQUAL)


def _full_rank(gramian: FloatArray) -> IMTLGSolution | None:
    """`imtlg_weights` by a LAPACK Cholesky factor of ``C`` when no gradient is zero and ``C``
    is far from singular (estimated reciprocal condition number above `_RCOND_ESTIMATE`);
    ``None`` otherwise (the eigendecomposition of the general path then decides the rank).

    Every NumPy call costs a few µs whatever K, so the O(K) bookkeeping runs on Python floats
    and ``C``'s 1-norm is bounded by K (``|C_ij| <= 1``; a larger norm only makes the
    condition estimate more cautious)."""
    k = gramian.shape[0]
    sq = gramian.diagonal()
    if min(sq.tolist()) <= 0.0:
        return None
    inv = 1.0 / np.sqrt(sq)
    corr = gramian * np.multiply.outer(inv, inv)
    np.fill_diagonal(corr, 1.0)
    low, info = dpotrf(corr, lower=1, clean=1)
    if info != 0:
        return None
    rcond, info = dpocon(low, float(k), uplo="L")
    if info != 0 or rcond <= _RCOND_ESTIMATE:
        return None
    beta = dpotrs(low, np.ones(k), lower=1)[0]
    alpha = beta * inv
    values = alpha.tolist()
    total = sum(values)
    if abs(total) <= _CANCEL * sum(map(abs, values)):
        return None  # the general path raises with its message
    residual = max(abs(x - 1.0) for x in (corr @ beta).tolist())
    return IMTLGSolution(alpha / total, 1.0 / total, residual, k, 0, residual > _EQUAL)


def _embed(
    alpha: FloatArray,
    nonzero: NDArray[np.intp] | None,
    k: int,
    projection: float,
    residual: float,
    rank: int,
    least_squares: bool,
) -> IMTLGSolution:
    """The solution with the weights of the non-zero gradients put back among all K."""
    if nonzero is None:
        return IMTLGSolution(alpha, projection, residual, rank, 0, least_squares)
    w = np.zeros(k)
    w[nonzero] = alpha
    return IMTLGSolution(w, projection, residual, rank, k - nonzero.size, least_squares)


@register
class IMTLG(Weighting):
    r"""IMTL-G: weights whose combination has equal projections onto every unit gradient.

    Math (Liu et al. 2021, the gradient part "IMTL-G"): with ``u_i = g_i / ||g_i||``, find
    ``α`` with ``Σ α_i = 1`` such that ``d = Σ α_i g_i`` satisfies ``u_1ᵀd = u_2ᵀd = ... =
    u_Kᵀd``. The paper's closed form ``α_{2:K} = g_1 Uᵀ (D Uᵀ)^{-1}`` (``D_i = g_1 − g_i``,
    ``U_i = u_1 − u_i``) is, on the Gramian, ``α ∝ G^{-1} n`` with ``n_i = ||g_i||`` (torchjd's
    ``IMTLGWeighting``): ``G α ∝ n`` says ``g_iᵀd ∝ ||g_i||``. This rule solves it on the
    correlation matrix ``C = N^{-1} G N^{-1}`` (``N = diag(n)``, unit diagonal, so badly
    scaled gradients cost no accuracy): ``β = C⁺ 1``, ``α = N^{-1} β / Σ_i (β_i / n_i)``,
    the same ``α`` when ``G`` is invertible. The common projection is
    ``c = 1 / Σ_i (β_i / n_i)``.

    Singular cases, the policy:

    - zero gradients (``G_ii = 0``) get weight 0 and are left out of the equal-projection
      condition (their projection is 0 whatever ``d``); all gradients zero: uniform weights,
      ``d = 0``;
    - dependent gradients: ``β = C⁺ 1`` is the minimum-norm least-squares solution
      (eigenvalues of ``C`` below ``1e-13 λ_max`` count as 0). When ``1`` is in the range of
      ``C`` (e.g. duplicated gradients, or nearly parallel ones), equal projections hold
      exactly; otherwise (e.g. more objectives than dimensions) ``d`` is the least-squares
      compromise, minimizing ``Σ_i (u_iᵀd' − 1)²`` in the unit-gradient scale where every
      objective counts the same, and ``info["least_squares"]`` is ``True``. This differs from
      torchjd's ``G⁺ n``, which weighs the same squares by ``||g_i||²``; both agree when ``G``
      is invertible;
    - ``Σ u_i = 0`` (the unit gradients cancel: the point is Pareto-stationary), detected as
      ``1`` orthogonal to the range of ``C`` (``||P 1|| <= 1e-8 ||1||`` with ``P`` the
      projection onto that range): equal projections only with ``d = 0``, reached by
      ``α ∝ 1 / ||g_i||`` (``d = Σ u_i / Σ_i (1/n_i)``, which is 0 up to that tolerance);
      ``info["projection"]`` is 0 and the residual is ``||d|| / max_i n_i``;
    - the equal-projection direction is non-zero but its weights sum to 0 (``|Σ_i β_i/n_i|
      <= 1e-12 Σ_i |β_i|/n_i``): no normalization to ``Σ α = 1`` exists and `weights` raises
      ``ValueError`` rather than return weights of size ``1e12``. Nearby, the weights are
      large, as in the paper's formula.

    Complexity: O(K³): with no zero gradient and a correlation matrix far from singular, one
    Cholesky factor (on Python floats for K = 3, where full rank is certain from its
    determinant; by LAPACK above, where LAPACK's condition estimate must be below 1e10);
    otherwise one symmetric eigendecomposition (LAPACK). K = 2 in closed form.

    Scale: ``Σ α_i = 1`` (the paper's and torchjd's). K = 2 has the closed form
    ``α = (||g_2||, ||g_1||) / (||g_1|| + ||g_2||)``, ``d = ||g_1|| ||g_2|| (u_1 + u_2) /
    (||g_1|| + ||g_2||)``.

    Guarantee: equal projections ``u_iᵀd = c`` for every objective (up to the residual), so
    ``g_iᵀd = c ||g_i||``. The sign of ``c`` is not guaranteed: ``c > 0`` iff
    ``Σ_i α_i ||g_i|| > 0`` (as ``||d||² = c Σ α_i ||g_i||``), which holds when ``α >= 0``
    and always for K = 2, but not in general: for ``J = [[1, 0, 0], [0, 1, 0], [0.1, 0.1,
    0.01]]`` the weights are about ``(−0.128, −0.128, 1.255)`` and ``c < 0``, so ``d`` is an
    ascent direction for every objective. The rule therefore declares neither
    ``common_descent`` nor ``average_descent``; ``info["projection"]`` reports ``c``.

    Certificate: ``residual = max_i |u_iᵀd − c| / |c| = max_i |(C β)_i − 1|`` (``||d|| /
    max_i ||g_i||`` when ``c = 0``): rounding-level (about ``ε Σ_i |β_i|``, which grows near
    Pareto-stationary points where the unit gradients almost cancel) when equal projections
    are attainable, the least-squares defect otherwise. ``info`` also holds ``"rank"`` (of
    ``C``), ``"zero_gradients"`` and ``"least_squares"`` (residual above ``1e-8``).

    References: Liu et al., ICLR 2021; Quinton & Rey, 2024.
    """

    name = "imtl-g"
    summary = "weights summing to 1 whose combination projects equally on every unit gradient"

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        sol = imtlg_weights(gramian)
        info = {
            "projection": sol.projection,
            "rank": sol.rank,
            "zero_gradients": sol.zero_gradients,
            "least_squares": sol.least_squares,
        }
        return RuleResult(sol.weights, sol.residual, info)

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """The weights sum to 1 (relative to ``Σ |α_i|``, as they may be large)."""
        total = float(weights.sum())
        tol = 1e-9 * max(1.0, float(np.abs(weights).sum()))
        if not math.isclose(total, 1.0, rel_tol=0.0, abs_tol=tol):
            return f"weights must sum to 1, got {total!r}"
        return None
