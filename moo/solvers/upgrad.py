"""UPGrad: the mean of the gradients projected onto the dual cone of all gradients.

References:
    P. Quinton and V. Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
    (arXiv 2406.16232; torchjd's default aggregator).
    C. L. Lawson and R. J. Hanson, "Solving Least Squares Problems", Prentice-Hall 1974
    (the active-set method, here on a bound-constrained quadratic).
"""

from __future__ import annotations

import math
from operator import mul
from typing import NamedTuple

import numpy as np

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._dense import backward, forward
from moo.validation import FloatArray

# A freed variable whose Cholesky pivot (a squared distance, C having unit diagonal) falls to this
# is numerically dependent on the free ones.
_DEPENDENT = 1e-12
# Above this size, C z and the free-set systems are computed with NumPy, not on Python floats.
_NUMPY = 12
# Up to this K (and no zero gradient) the whole rule runs on Python floats (`_small`).
_SMALL_K = 8
# Optimality tolerance on the gradient C z, in units of max(1, Σ_j z_j) (C has unit diagonal).
_TOL = 1e-13


class DualConeSolution(NamedTuple):
    """Result of `dual_cone_weights`.

    Attributes:
        weights: ``v`` (K,) with ``π(g_i) = Jᵀ v``, ``v >= e_i``.
        residual: scale-free KKT residual of the projection problem (see `upgrad_weights`).
        iterations: active-set changes made.
    """

    weights: FloatArray
    residual: float
    iterations: int


class UPGradSolution(NamedTuple):
    """Result of `upgrad_weights`.

    Attributes:
        weights: ``w = (1/K) Σ_i v^(i)`` (K,), every entry ``>= 1/K``.
        residual: the largest KKT residual of the K projection problems.
        iterations: active-set changes made, summed over the K problems.
        projected: ``V`` (K×K), row ``i`` the weights ``v^(i)`` of ``π(g_i) = Jᵀ v^(i)``.
    """

    weights: FloatArray
    residual: float
    iterations: int
    projected: FloatArray


def upgrad_weights(gramian: FloatArray) -> UPGradSolution:
    """Exact UPGrad weights from a validated Gramian.

    For each objective ``i``, ``v^(i) = argmin_{v >= e_i} vᵀ G v`` gives the projection
    ``π(g_i) = Jᵀ v^(i)`` of ``g_i`` onto the dual cone ``{x : J x >= 0}`` (Quinton & Rey,
    Proposition 1). Each problem is solved on the correlation matrix ``C = N⁻¹ G N⁻¹``
    (``N = diag(||g_j||)``): with ``v = N⁻¹ z ||g_i||`` it reads ``min_{z >= e_i} zᵀ C z``, whose
    scale does not depend on the gradient norms. Zero gradients impose no constraint and are
    left out (``v^(i) = e_i`` for a zero ``g_i``, and ``v^(i)_j = 0`` for a zero ``g_j``).

    The solver is a primal active-set method (Lawson & Hanson's NNLS steps on the bounds
    ``z >= e_i``): variables leave their bound in order of the most negative gradient
    ``(C z)_j``, the free ones solve ``C_FF z_F = −C_FB e_B``, and a step that would cross a
    bound stops there and returns that variable to its bound. It is finite and exact up to
    rounding. For K = 2 (both gradients non-zero) the closed form ``v^(i) = e_i + max(0,
    −G_ij) / G_jj e_j`` (PCGrad's projection) is used; without any conflicting pair, the mean.

    The residual of problem ``i`` is ``max(max_j (−(Cz)_j)⁺, Σ_j |(Cz)_j| (z_j − e_ij))``:
    the dual infeasibility ``(Cz)_j = g_jᵀπ(g_i) / (||g_i|| ||g_j||)`` and the complementarity
    gap; twice the gap bounds ``zᵀCz − min`` (the suboptimality relative to ``||g_i||²``). The
    returned residual is the largest over the K problems.
    """
    k = gramian.shape[0]
    if float(gramian.min()) >= 0.0:  # no pair conflicts: every v^(i) = e_i, w = 1/K
        return UPGradSolution(np.full(k, 1.0 / k), 0.0, 0, np.eye(k))
    if k <= _SMALL_K:
        g = gramian.tolist()
        if min(g[i][i] for i in range(k)) > 0.0:
            return _small(g)
    sq = gramian.diagonal()
    nonzero = np.flatnonzero(sq > 0.0)
    m = nonzero.size
    projected = np.eye(k)
    if m == 0:
        return UPGradSolution(np.full(k, 1.0 / k), 0.0, 0, projected)
    norms = np.sqrt(sq[nonzero])
    sub = gramian if m == k else gramian[np.ix_(nonzero, nonzero)]
    corr = sub / norms[:, None] / norms[None, :]
    np.fill_diagonal(corr, 1.0)
    c: list[list[float]] = corr.tolist()
    residual = 0.0
    iterations = 0
    block = np.zeros((m, m))
    for a in range(m):
        z, res, its = _project(c, a, corr)
        block[a] = z
        residual = max(residual, res)
        iterations += its
    # v^(i)_j = z_j ||g_i|| / ||g_j||
    projected[np.ix_(nonzero, nonzero)] = block * norms[:, None] / norms[None, :]
    w: FloatArray = projected.sum(axis=0) / k
    return UPGradSolution(w, residual, iterations, projected)


def _small(g: list[list[float]]) -> UPGradSolution:
    """`upgrad_weights` on Python floats, for a small K with no zero gradient."""
    k = len(g)
    norms = [math.sqrt(g[i][i]) for i in range(k)]
    if k == 2:  # closed form: v^(i) = e_i + max(0, −G_ij) / G_jj e_j (PCGrad's projection)
        g_ab = g[0][1]
        push = [[1.0, 0.0], [0.0, 1.0]]
        if g_ab < 0.0:
            push[0][1] = -g_ab / g[1][1]
            push[1][0] = -g_ab / g[0][0]
        w = [(push[0][0] + push[1][0]) / 2.0, (push[0][1] + push[1][1]) / 2.0]
        return UPGradSolution(np.array(w), 0.0, int(g_ab < 0.0) * 2, np.array(push))
    corr = [[g[a][b] / (norms[a] * norms[b]) for b in range(k)] for a in range(k)]
    for a in range(k):
        corr[a][a] = 1.0
    residual = 0.0
    iterations = 0
    rows: list[list[float]] = []
    for a in range(k):
        z, res, its = _project(corr, a, None)
        rows.append([zj * norms[a] / nj for zj, nj in zip(z, norms, strict=True)])
        residual = max(residual, res)
        iterations += its
    w = [sum(col) / k for col in zip(*rows, strict=True)]
    return UPGradSolution(np.array(w), residual, iterations, np.array(rows))


def dual_cone_weights(gramian: FloatArray, i: int) -> DualConeSolution:
    """Weights of the projection of ``g_i`` onto the dual cone of the rows (one UPGrad QP).

    Returns ``v = argmin_{v >= e_i} vᵀ G v`` (``π(g_i) = Jᵀ v``) and its residual, for a
    validated Gramian; see `upgrad_weights`.
    """
    k = gramian.shape[0]
    if not 0 <= i < k:
        raise ValueError(f"i must be in [0, {k}), got {i}")
    v = np.zeros(k)
    v[i] = 1.0
    sq = gramian.diagonal()
    if sq[i] <= 0.0:
        return DualConeSolution(v, 0.0, 0)
    nonzero = np.flatnonzero(sq > 0.0)
    norms = np.sqrt(sq[nonzero])
    sub = gramian[np.ix_(nonzero, nonzero)]
    corr = sub / norms[:, None] / norms[None, :]
    np.fill_diagonal(corr, 1.0)
    a = int(np.searchsorted(nonzero, i))
    z, res, its = _project(corr.tolist(), a, corr)
    v[nonzero] = np.asarray(z) * norms[a] / norms
    return DualConeSolution(v, res, its)


def _project(c: list[list[float]], i: int, cn: FloatArray | None) -> tuple[list[float], float, int]:
    """``argmin_{z >= e_i} zᵀ C z`` for a unit-diagonal PSD ``C``: ``(z, residual, changes)``.

    Lawson-Hanson active set on the bounds. Up to `_NUMPY` free variables, ``C_FF`` is kept as
    a Cholesky factor on Python floats (``c``: ``C`` as nested lists), extended by one row when
    a variable is freed and rebuilt when variables return to their bounds; above, the systems
    are solved with NumPy (``cn``: ``C`` as an array, which may be ``None`` when ``C`` has at
    most `_NUMPY` rows), whose per-call cost is then the smaller.
    """
    m = len(c)
    low = _bounds(m, i)
    z = list(low)
    y = list(c[i])  # C z
    if min(y) >= 0.0:  # g_i conflicts with no gradient: it lies in the dual cone
        return z, 0.0, 0
    free: list[int] = []
    # lower-triangular L with L Lᵀ = C_FF, rows in `free` order, while len(free) <= _NUMPY
    factor: list[list[float]] | None = []
    is_free = [False] * m
    blocked = [False] * m  # numerically dependent on the free columns: cannot enter now
    changes = 0
    max_changes = 3 * m + 10
    stalled = False
    while changes < max_changes and not stalled:
        # rounding in C z is about eps · Σ_j z_j (C has unit diagonal and z >= 0)
        tol = _TOL * max(1.0, sum(z))
        t = -1
        best = -tol
        for j in range(m):
            if y[j] < best and not is_free[j] and not blocked[j]:
                best = y[j]
                t = j
        if t < 0:
            break  # optimal: no bound variable has a negative gradient
        if factor is not None and len(free) < _NUMPY:
            row = forward(factor, [c[f][t] for f in free])
            pivot = c[t][t] - sum(map(mul, row, row))
            if pivot > _DEPENDENT:
                factor.append([*row, math.sqrt(pivot)])
        else:  # the Schur complement C_tt − C_tF C_FF⁻¹ C_Ft, i.e. the squared pivot
            assert cn is not None  # given whenever more than _NUMPY variables can be free
            col = cn[free, t]
            pivot = float(cn[t, t] - col @ _solve(cn, free, col))
            factor = None
        if pivot <= _DEPENDENT:
            # column t is (numerically) in the span of the free ones, so y_t is rounding noise
            blocked[t] = True
            continue
        free.append(t)
        is_free[t] = True
        changes += 1
        while changes < max_changes:  # move toward the minimizer on the free set
            rhs = [0.0] * len(free) if is_free[i] else [-c[f][i] for f in free]
            if factor is not None:
                sol = backward(factor, forward(factor, rhs))
            else:
                assert cn is not None
                sol = _solve(cn, free, np.asarray(rhs)).tolist()
            if all(sj > low[j] for sj, j in zip(sol, free, strict=True)):
                for sj, j in zip(sol, free, strict=True):
                    z[j] = sj
                break
            theta = 1.0
            for sj, j in zip(sol, free, strict=True):
                if sj <= low[j]:
                    theta = min(theta, (z[j] - low[j]) / max(z[j] - sj, 1e-300))
            theta = max(theta, 0.0)
            for sj, j in zip(sol, free, strict=True):
                z[j] += theta * (sj - z[j])
            leaving = [j for j in free if z[j] <= low[j]]
            if not leaving:  # rounding: drop the variable closest to its bound
                leaving = [min(free, key=lambda j: z[j] - low[j])]
            for j in leaving:
                z[j] = low[j]
                is_free[j] = False
            free = [j for j in free if is_free[j]]
            factor = _cholesky(c, free) if len(free) <= _NUMPY else None
            blocked = [False] * m
            changes += 1
            if theta == 0.0 and t in leaving:
                stalled = True  # the entering variable cannot move: no progress in floating point
                break
            if not free:
                break
        # the gradient on the bound variables (it is 0 on the free ones, which never re-enter)
        if cn is not None and m > _NUMPY:
            y = [0.0 if f else v for v, f in zip((cn @ z).tolist(), is_free, strict=True)]
        else:
            y = [0.0 if f else sum(map(mul, r, z)) for r, f in zip(c, is_free, strict=True)]
    return z, _residual(c, z, i), changes


def _solve(cn: FloatArray, free: list[int], rhs: FloatArray) -> FloatArray:
    """``C_FF⁻¹ rhs`` by LU with partial pivoting (backward stable), least squares if singular."""
    if not free:
        return np.zeros(0)
    sub = cn[np.ix_(free, free)]
    try:
        return np.asarray(np.linalg.solve(sub, rhs), dtype=np.float64)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(sub, rhs, rcond=None)[0], dtype=np.float64)


def _cholesky(c: list[list[float]], free: list[int]) -> list[list[float]]:
    """Cholesky factor (rows of ``L``) of ``C_FF``, a principal submatrix of a factored one."""
    factor: list[list[float]] = []
    for n, t in enumerate(free):
        row = forward(factor, [c[f][t] for f in free[:n]])
        pivot = c[t][t] - sum(map(mul, row, row))
        factor.append([*row, math.sqrt(max(pivot, _DEPENDENT))])
    return factor


def _residual(c: list[list[float]], z: list[float], i: int) -> float:
    y = [sum(map(mul, row, z)) for row in c]
    infeasible = max(0.0, -min(y))
    gap = sum(abs(yj) * (zj - lj) for yj, zj, lj in zip(y, z, _bounds(len(z), i), strict=True))
    return float(max(infeasible, gap))


def _bounds(m: int, i: int) -> list[float]:
    low = [0.0] * m
    low[i] = 1.0
    return low


@register
class UPGrad(Weighting):
    r"""UPGrad: project every gradient onto the dual cone of all gradients and average.

    Math (Quinton & Rey 2024): the dual cone of the rows of ``J`` is
    ``{x : J x >= 0}``, the directions that conflict with no objective. With ``π`` the
    Euclidean projection onto it, ``d = (1/K) Σ_i π(g_i)``. By their Proposition 1,
    ``π(g_i) = Jᵀ v^(i)`` with ``v^(i) = argmin_{v >= e_i} vᵀ G v``, so the rule needs only the
    Gramian and returns ``w = (1/K) Σ_i v^(i)``.

    Solver: the K quadratic programs are solved exactly by a primal active-set method on the
    correlation matrix ``G_ij / (||g_i|| ||g_j||)`` (see `upgrad_weights`; scale-free, so
    gradients of very different norms cost no accuracy), on Python floats for the small K of
    multi-objective problems (NumPy for free sets above 12). An objective whose gradient
    conflicts with no other (``(G e_i) >= 0``) costs nothing: ``v^(i) = e_i``. For K = 2 the
    result is PCGrad's with ``reduction="mean"``.

    Complexity: K problems; each active-set change costs O(K) for the gradient on the bound
    variables and O(|F|²) to extend the free set's Cholesky factor by one row (O(|F|³) to
    rebuild it after a variable returns to its bound), with ``F`` the free variables: at most
    O(K³) per problem when ``F`` grows monotonically, O(K⁴) in all. Without conflicts, O(K²).

    Certificate: ``residual`` is the largest over the K problems of the larger of the dual
    infeasibility ``max_j (−g_jᵀπ(g_i))⁺ / (||g_i|| ||g_j||)`` (how far ``π(g_i)`` is from
    the dual cone) and the complementarity gap ``Σ_j |g_jᵀπ(g_i)| (v^(i) − e_i)_j /
    ||g_i||²``; twice the gap bounds the suboptimality of ``v^(i)ᵀGv^(i) = ||π(g_i)||²``
    relative to ``||g_i||²``.
    ``info`` holds ``"iterations"`` (active-set changes over the K problems).

    Scale: the mean over the objectives (the paper's and torchjd's default preference
    vector ``1/K``): ``w_j >= 1/K`` for every ``j``, and ``w = 1/K`` (the mean gradient)
    when no pair of gradients conflicts. Zero gradients constrain nothing and get
    ``v^(i) = e_i``.

    Guarantees: every ``π(g_i)`` lies in the dual cone, so ``J d >= 0``: ``d`` is a common
    descent direction (``common_descent``) and a descent direction for the average
    (``average_descent``). ``d = Jᵀ w`` with every ``w_j >= 1/K``, so ``d = 0`` only at a
    Pareto-stationary point (a strictly positive combination of the gradients vanishes);
    conversely ``d = 0`` where such a combination exists with all weights positive.

    References: Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024;
    Lawson & Hanson (1974).
    """

    name = "upgrad"
    summary = "mean of the gradients projected onto the dual cone of all of them (exact QPs)"
    common_descent = True
    average_descent = True

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        sol = upgrad_weights(gramian)
        return RuleResult(sol.weights, sol.residual, {"iterations": sol.iterations})

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """Every weight ``>= 1/K``; exactly ``1/K`` when no two gradients conflict."""
        assert gramian is not None
        k = weights.shape[0]
        if np.any(weights < (1.0 - 1e-12) / k):
            return f"weights must be >= 1/K = {1.0 / k!r}, got min {float(weights.min())!r}"
        if np.all(gramian >= 0.0) and not np.array_equal(weights, np.full(k, 1.0 / k)):
            return f"no conflict, so the weights must all be 1/K, got {weights.tolist()}"
        return None
