"""The min-norm point of the convex hull of the gradients, shared by MGDA, the minimize loop's
stationarity measure and box handling, the torch bridge and Nash-MTL's normalized start.

``min_{w ∈ Δ} wᵀ G w`` on a K×K Gramian ``G = J Jᵀ``, exact by Wolfe's active-set (min-norm
point) method, its scale-free KKT certificate, and the Pareto-stationarity measure
``min_{w ∈ Δ} ||Jᵀ w||`` built on it.

References:
    P. Wolfe, "Finding the nearest point in a polytope", Mathematical Programming 11 (1976).
    J.-A. Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective
    optimization", Comptes Rendus Mathématique 350 (2012).
"""

from __future__ import annotations

import math
from operator import mul
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.lapack import dpotrf, dpotrs, dpstrf, dtrtrs

from moo.solvers._dense import backward, cholesky, forward
from moo.validation import FloatArray, check_gramian

# Tolerance of the active-set method, in units of the largest diagonal entry of G.
_TOL = 1e-14
# From this K on, Wolfe's method runs on NumPy arrays with a Cholesky factor of the corral that
# grows by one row per added vertex (`_wolfe_array`); below it, on Python floats (`_wolfe`).
_ARRAY_K = 10
# A vertex whose squared distance to the affine hull of the corral, in units of the bordered
# Gramian (entries in [1, 2] after scaling), is below this cannot join the Cholesky factor: it
# lies on the hull up to the rounding of the Gramian's entries.
_DEPENDENT = 16.0 * float(np.finfo(np.float64).eps)
# Rounds of the warm start of `_wolfe_array`: the corral shrinks to the vertices with positive
# weights in its affine minimizer, as long as those stay affinely independent.
_PRUNE = 4
# Pivot tolerance of the pivoted Cholesky factor that picks the start corral of `_wolfe_array`
# (squared distance of a vertex to the affine hull of those picked before it, bordered units).
_START_TOL = 1e-8


def kkt_residual(gramian: FloatArray, weights: FloatArray) -> float:
    """Scale-free KKT residual of ``w`` for ``min_{w ∈ Δ} wᵀ G w``.

    It is the Frank-Wolfe duality gap ``wᵀGw − min_i (Gw)_i`` divided by ``max_i G_ii``. For a
    feasible ``w`` it is ``>= 0`` and it is ``0`` exactly at the optimum, where
    ``(Gw)_i >= wᵀGw`` for every ``i`` with equality on the support of ``w``. It bounds the
    suboptimality: ``wᵀGw − min_Δ ≤ 2 · residual · max_i G_ii``.
    """
    gw = gramian @ weights
    scale = float(np.max(np.diag(gramian)))
    if scale <= 0.0:
        return 0.0
    return max(float(weights @ gw - np.min(gw)), 0.0) / scale


class MinNormSolution(NamedTuple):
    """Result of `min_norm_weights`.

    Attributes:
        weights: ``w*`` on the simplex (K,).
        value: ``w*ᵀ G w*`` (the squared norm of the min-norm point).
        residual: the scale-free KKT residual (see `kkt_residual`).
        iterations: number of major cycles of Wolfe's method.
    """

    weights: FloatArray
    value: float
    residual: float
    iterations: int


def min_norm_weights(gramian: FloatArray) -> MinNormSolution:
    """Exact ``argmin_{w ∈ Δ} wᵀ G w`` by Wolfe's active-set (min-norm point) method.

    ``G`` must be a validated symmetric PSD float64 matrix. The minimizer ``d = Jᵀw*`` is
    unique even when ``w*`` is not (parallel or dependent gradients).

    Each major cycle adds the vertex ``j = argmin_j (Gw)_j`` that most violates optimality to
    the *corral* ``S``; minor cycles move ``w`` toward the affine minimizer of ``S`` (the
    solution of the bordered system ``[G_SS 1; 1ᵀ 0] [μ; ν] = [0; 1]``) and drop vertices whose
    weight reaches zero. It stops when the Frank-Wolfe gap ``wᵀGw − min_j (Gw)_j`` is zero up to
    rounding. The bookkeeping runs on Python floats: for the small K of multi-objective problems
    this is several times faster than NumPy calls.
    """
    k = gramian.shape[0]
    if k <= 2:
        return _at_most_two(gramian.tolist())
    diag = gramian.diagonal()
    scale = float(diag.max())
    if scale <= 0.0:  # every gradient is zero: any w is optimal; the uniform one is symmetric
        return MinNormSolution(np.full(k, 1.0 / k), 0.0, 0.0, 0)
    if k >= _ARRAY_K and (found := _wolfe_array(gramian / scale)) is not None:
        w, gmin, xx, iterations = found
        return MinNormSolution(w, max(xx, 0.0) * scale, max(xx - gmin, 0.0), iterations)
    lam, support, gx, xx, iterations = _wolfe((gramian / scale).tolist(), int(diag.argmin()))
    w = np.zeros(k)
    w[support] = lam
    return MinNormSolution(w, max(xx, 0.0) * scale, max(xx - min(gx), 0.0), iterations)


def _at_most_two(g: list[list[float]]) -> MinNormSolution:
    """K = 1 (``w = [1]``) and K = 2 (closed form, `_two_objectives`) on Python floats."""
    if len(g) == 1:
        return MinNormSolution(np.ones(1), g[0][0], 0.0, 0)
    (a, c), (_, b) = g
    scale = max(a, b)
    if scale <= 0.0:  # both gradients are zero
        return MinNormSolution(np.full(2, 0.5), 0.0, 0.0, 0)
    w1 = _two_objectives(a, b, c)
    w2 = 1.0 - w1
    gx1 = a * w1 + c * w2
    gx2 = c * w1 + b * w2
    xx = w1 * gx1 + w2 * gx2
    return MinNormSolution(
        np.array([w1, w2]), max(xx, 0.0), max(xx - min(gx1, gx2), 0.0) / scale, 0
    )


def _wolfe(
    g: list[list[float]], start: int
) -> tuple[list[float], list[int], list[float], float, int]:
    """Wolfe's major/minor cycles; returns ``(λ, S, Gw, wᵀGw, iterations)``."""
    k = len(g)
    support = [start]
    lam = [1.0]
    iterations = 0
    max_iterations = 100 * k + 100
    while True:
        iterations += 1
        gx = [sum(map(mul, [row[s] for s in support], lam)) for row in g]
        xx = sum(map(mul, [gx[s] for s in support], lam))
        gmin = min(gx)
        j = gx.index(gmin)
        if xx - gmin <= _TOL * max(1.0, xx) or j in support or iterations >= max_iterations:
            return lam, support, gx, xx, iterations  # Frank-Wolfe gap closed: optimal
        support.append(j)
        lam.append(0.0)
        while True:  # minor cycle: move toward the affine minimizer, dropping vertices
            mu = _affine_minimizer(g, support)
            if min(mu) > 0.0:
                lam = mu
                break
            lam, support, stalled = _toward(lam, mu, support, j)
            if stalled:
                iterations = max_iterations
            if iterations >= max_iterations:
                break


def _toward(
    lam: list[float], mu: list[float], support: list[int], j: int
) -> tuple[list[float], list[int], bool]:
    """One minor-cycle step of Wolfe's method: from the corral weights ``λ`` toward its affine
    minimizer ``μ`` (some ``μ_i <= 0``) as far as the weights stay non-negative; the vertices
    whose weight reaches 0 leave the corral. Returns the renormalized ``λ``, the corral, and
    whether the step stalled (the new vertex ``j`` left again at once: no progress is
    possible in floating point)."""
    ratios = [
        lm / max(lm - m, 1e-300) if m <= 0.0 else math.inf for lm, m in zip(lam, mu, strict=True)
    ]
    theta = min(ratios)
    drop = ratios.index(theta)
    stalled = support[drop] == j and theta == 0.0
    moved = [lm + theta * (m - lm) for lm, m in zip(lam, mu, strict=True)]
    moved[drop] = 0.0
    kept = [i for i, lm in enumerate(moved) if lm > 0.0]
    total = sum(moved[i] for i in kept)
    return [moved[i] / total for i in kept], [support[i] for i in kept], stalled


def _wolfe_array(gn: FloatArray) -> tuple[FloatArray, float, float, int] | None:
    """Wolfe's method on NumPy arrays, for larger K; returns ``(w, min_j (Gw)_j, wᵀGw,
    iterations)``, or ``None`` when the corral turns affinely dependent in floating point
    (nearly parallel gradients of different lengths, say): the list path, whose elimination
    tolerates a singular corral, then solves the problem.

    The affine minimizer of the corral ``S`` solves ``min μᵀ G_SS μ`` s.t. ``Σ μ = 1``; with
    the bordered Gramian ``Ĝ = G + 11ᵀ`` (the vertices with an extra coordinate 1) it is
    ``μ = Ĝ_SS⁻¹1 / (1ᵀĜ_SS⁻¹1)``, and ``Ĝ_SS`` is positive definite exactly when the corral is
    affinely independent. Its Cholesky factor grows by one row per added vertex (a triangular
    solve, O(|S|²)) and is refactored after a vertex is dropped (LAPACK, O(|S|³) at C speed):
    per major cycle O(K²) for ``Gw`` plus O(|S|²), instead of the O(|S|³) elimination of the
    list path.

    It starts from a large affinely independent corral rather than from one vertex: the
    first pivots of a pivoted Cholesky factor of ``Ĝ``, shrunk up to `_PRUNE` times to the
    vertices with positive weights in its affine minimizer, at uniform weights (any point in
    the relative interior of an affinely independent corral is a valid state of the method).
    When the optimum uses most objectives (correlated gradients, K = 64: 40 of them) this
    replaces one major cycle per vertex of the support by a few factorizations.
    """
    k = gn.shape[0]
    gh = gn + 1.0
    ones = np.ones(k)
    # the start corral: all vertices when each is farther than _START_TOL from the affine hull
    # of those before it (the squared pivots of a Cholesky factor of Ĝ); otherwise the first
    # pivots of a pivoted Cholesky factor, which picks such a corral
    low, info = dpotrf(gh, lower=1)  # LAPACK reads and writes its lower triangle only
    if info == 0 and float(low.diagonal().min()) ** 2 > _START_TOL:
        idx = np.arange(k)
    else:
        factor, pivots, rank, _ = dpstrf(gh, tol=_START_TOL, lower=1)
        idx = pivots[:rank] - 1
        low = factor[:rank, :rank]
    for _ in range(_PRUNE):
        v = dpotrs(low, ones[: idx.size], lower=1)[0]  # Σ v = 1ᵀĜ⁻¹1 > 0
        positive = v > 0.0
        if np.count_nonzero(positive) in (0, idx.size):
            break
        smaller = idx[positive]
        factor, info = dpotrf(gh.take(smaller, 0).take(smaller, 1), lower=1, clean=1)
        if info != 0:
            break
        idx, low = smaller, factor
    support = idx.tolist()
    lam = [1.0 / idx.size] * idx.size
    iterations = 0
    max_iterations = 100 * k + 100
    j = -1
    full = True  # the first minor cycle runs on the start corral
    while True:
        if not full:
            w = np.zeros(k)
            w[idx] = lam
            iterations += 1
            gx = gn @ w
            xx = float(w @ gx)
            j = int(gx.argmin())
            gmin = float(gx[j])
            if xx - gmin <= _TOL * max(1.0, xx) or j in support or iterations >= max_iterations:
                return w, gmin, xx, iterations  # Frank-Wolfe gap closed: optimal
            n = len(support)
            row = dtrtrs(low, gh[j].take(idx), lower=1)[0]
            pivot = float(gh[j, j] - row @ row)
            if pivot <= _DEPENDENT * gh[j, j]:
                return None  # j is on the corral's affine hull up to rounding, yet improves
            grown = np.zeros((n + 1, n + 1))
            grown[:n, :n] = low
            grown[n, :n] = row
            grown[n, n] = math.sqrt(pivot)
            low = grown
            support.append(j)
            idx = np.append(idx, j)
            lam.append(0.0)
        full = False
        while True:  # minor cycle: move toward the affine minimizer, dropping vertices
            # the bookkeeping on Python floats: faster than NumPy's reductions at |S| <= 64
            v = dpotrs(low, ones[: len(support)], lower=1)[0].tolist()
            total = sum(v)
            mu = [x / total for x in v]
            if min(mu) > 0.0:
                lam = mu
                break
            lam, support, stalled = _toward(lam, mu, support, j)
            if stalled:
                iterations = max_iterations
            idx = np.array(support)
            factor, info = dpotrf(gh.take(idx, 0).take(idx, 1), lower=1, clean=1)
            if info != 0:  # the smaller corral is affinely dependent in floating point
                return None
            low = factor
            if iterations >= max_iterations:
                break


def _affine_minimizer(g: list[list[float]], support: list[int]) -> list[float]:
    """Coefficients (summing to 1) of the min-norm point of the affine hull of ``support``.

    ``μ = Ĝ_SS⁻¹1 / (1ᵀĜ_SS⁻¹1)`` with the bordered Gramian ``Ĝ = G + 11ᵀ`` (the vertices with
    an extra coordinate 1; see `_wolfe_array`), by a Cholesky factor: backward stable, so the
    ``(G_SS μ)_i`` come out equal up to the rounding of ``G``'s entries and the Frank-Wolfe gap
    closes to rounding even for nearly dependent gradients. (Coordinates relative to one
    vertex, ``M_ij = G_ij − G_i0 − G_0j + G_00``, would lose the digits that cancel in forming
    ``M``: a gap of 1e-9 on conflicting gradients with cond(G) ~ 1e9.) An affinely dependent
    vertex (a pivot at rounding level) gets coefficient 0: the others span the same hull. Two
    vertices use the closed form ``μ_1 = (G_00 − G_01) / (G_00 + G_11 − 2 G_01)``.
    """
    if len(support) == 2:
        b, i = support
        g0 = g[b]
        m = g[i][i] - 2.0 * g0[i] + g0[b]
        t = (g0[b] - g0[i]) / m if m > 0.0 else 0.5
        return [1.0 - t, t]
    low = cholesky([[g[i][j] + 1.0 for j in support] for i in support], _DEPENDENT)
    v = backward(low, forward(low, [1.0] * len(support)))
    total = sum(v)
    return [x / total for x in v]


def _two_objectives(a: float, b: float, c: float) -> float:
    """Closed form for K = 2: ``w_1 = clip((G22 − G12) / (G11 + G22 − 2 G12), 0, 1)``.

    When ``||g1 − g2||²`` is at rounding level the gradients are equal as far as ``G`` can
    tell: the shorter one is returned (its Frank-Wolfe gap ``max(0, G_ii − G12)`` is then at
    most half that rounding, where the midpoint's would be ``|G11 − G22| / 4``)."""
    den = a + b - 2.0 * c  # = ||g1 - g2||²
    if den <= 1e-15 * (a + b):
        return 1.0 if a <= b else 0.0
    return min(max((b - c) / den, 0.0), 1.0)


def stationarity(gramian: FloatArray) -> float:
    """``min_{w ∈ Δ} ||Jᵀ w||`` of a validated symmetric PSD float64 Gramian (no checks: the
    minimize loop and the torch bridge call it every step)."""
    return math.sqrt(min_norm_weights(gramian).value)


def pareto_stationarity(gramian: ArrayLike) -> float:
    """Pareto-stationarity measure ``min_{w ∈ Δ} ||Jᵀ w||`` from the Gramian ``J Jᵀ``.

    It is ``0`` exactly at Pareto-stationary points (no direction decreases all objectives).
    """
    return stationarity(check_gramian(gramian))
