"""EPO search: exact Pareto optimal search for a preference vector, solved on the Gramian.

References:
    D. Mahapatra and V. Rajan, "Multi-Task Learning with User Preferences: Gradient Descent
    with Controlled Ascent in Pareto Optimization", ICML 2020 (PMLR 119).
    R. G. Bland, "New finite pivoting rules for the simplex method", Mathematics of Operations
    Research 2(2), 1977 (the anti-cycling rule of the LP solver).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._simplex import simplex_error
from moo.validation import FloatArray, as_vector, check_bool, check_real

# Pivot and reduced-cost tolerance of the simplex method, on data scaled to max |entry| = 1.
_PIVOT = 1e-12
# Phase-one infeasibility above this (scaled units) declares the LP infeasible.
_INFEASIBLE = 1e-10
# Smallest normalized relative loss inside the logarithm of the adjustment (a zero loss would
# give log 0 = -inf).
_TINY = float(np.finfo(np.float64).eps)


class LPSolution(NamedTuple):
    """Result of `simplex_lp`.

    Attributes:
        weights: ``β`` on the simplex (K,).
        value: ``cᵀβ`` on the given (unscaled) data.
        residual: the certificate: ``max(primal violation, duality gap)`` on the scaled data
            (``c`` divided by ``max |c_i|``, each constraint row by its largest entry); it
            bounds the suboptimality of ``β`` in those units.
        iterations: simplex pivots taken (both phases).
        feasible: ``False`` when phase one found no feasible ``β`` (then ``weights`` is a
            uniform placeholder and ``residual`` the phase-one infeasibility).
        duals: multipliers ``λ >= 0`` of the rows of ``A`` (scaled units).
    """

    weights: FloatArray
    value: float
    residual: float
    iterations: int
    feasible: bool
    duals: FloatArray


def simplex_lp(c: FloatArray, a: FloatArray, b: FloatArray) -> LPSolution:
    r"""``max cᵀβ`` over ``{β ∈ Δ : Aβ >= b}`` by a dense two-phase simplex method.

    ``Δ`` is the probability simplex of ``R^K``; ``A`` is ``m×K``. The data are scaled first
    (``c`` by ``max |c_i|``, each row ``(A_j, b_j)`` by its largest absolute entry; rows that
    are all zero are dropped, or make the LP infeasible when ``b_j > 0``). Standard form:
    ``Aβ − s = b``, ``1ᵀβ = 1``, ``β, s >= 0``. A row with ``b_j <= 0`` starts with its slack
    in the basis; the others and ``1ᵀβ = 1`` get an artificial variable, whose sum phase one
    minimizes; phase two minimizes ``−cᵀβ``. Bland's rule (the lowest index enters, ties of
    the ratio test go to the lowest basic index) makes it finite. Exact up to rounding; the
    tableau (at most ``(m + 1) × (K + 2m + 2)``) lives on Python floats, cheaper than NumPy
    calls at the small K of multi-objective problems.

    Certificate: with the multipliers ``λ >= 0`` read from the final reduced costs of the
    slacks and ``ν = max_i (c + Aᵀλ)_i`` (so that ``(λ, ν)`` is dual feasible), the duality
    gap ``ν − bᵀλ − cᵀβ`` bounds ``max cᵀβ − cᵀβ`` from above for a feasible ``β``; the
    residual is the larger of that gap and the largest violation ``max_j (b_j − A_jβ)⁺``,
    both on the scaled data.
    """
    k = c.shape[0]
    m0 = a.shape[0]
    cs = float(np.max(np.abs(c))) if k else 0.0
    cn = c / cs if cs > 0.0 else np.zeros(k)
    scales = np.maximum(np.max(np.abs(a), axis=1, initial=0.0), np.abs(b)) if m0 else np.zeros(0)
    keep = scales > 0.0
    an = a[keep] / scales[keep, None]
    bn = b[keep] / scales[keep]
    m = an.shape[0]
    duals = np.zeros(m0)
    if np.any(b[~keep] > 0.0):  # an all-zero row with b_j > 0: 0 >= b_j fails
        return LPSolution(np.full(k, 1.0 / k), 0.0, 1.0, 0, False, duals)
    nat = k + m
    needs_art = [j for j in range(m) if bn[j] > 0.0]
    n = nat + len(needs_art) + 1  # natural columns (β, s), then the artificials
    rhs = n
    tab: list[list[float]] = []
    basis: list[int] = []
    art = nat
    a_rows = an.tolist()
    b_list = bn.tolist()
    for j in range(m):
        row = [0.0] * (n + 1)
        if b_list[j] > 0.0:  # A_j β − s_j + t = b_j, the artificial t basic
            row[:k] = a_rows[j]
            row[k + j] = -1.0
            row[art] = 1.0
            row[rhs] = b_list[j]
            basis.append(art)
            art += 1
        else:  # −A_j β + s_j = −b_j >= 0, the slack basic
            row[:k] = [-v for v in a_rows[j]]
            row[k + j] = 1.0
            row[rhs] = -b_list[j]
            basis.append(k + j)
        tab.append(row)
    row = [0.0] * (n + 1)
    row[:k] = [1.0] * k
    row[art] = 1.0
    row[rhs] = 1.0
    tab.append(row)
    basis.append(art)
    # phase one: minimize the sum of the artificials
    z = [0.0] * (n + 1)
    z[nat:n] = [1.0] * (n - nat)
    for r, col in enumerate(basis):
        if col >= nat:
            z = [zv - tv for zv, tv in zip(z, tab[r], strict=True)]
    pivots = _bland(tab, z, basis, n)
    if -z[rhs] > _INFEASIBLE:
        return LPSolution(np.full(k, 1.0 / k), 0.0, float(-z[rhs]), pivots, False, duals)
    # drive the artificials left in the basis (at level zero) out, or drop their rows
    r = 0
    while r < len(basis):
        if basis[r] >= nat:
            col = max(range(nat), key=lambda j: abs(tab[r][j]))
            if abs(tab[r][col]) > _PIVOT:
                _pivot(tab, z, basis, r, col)
                pivots += 1
            else:  # a redundant row
                del tab[r]
                del basis[r]
                continue
        r += 1
    # phase two: minimize −cᵀβ over the natural columns
    cost = [0.0] * (n + 1)
    cost[:k] = (-cn).tolist()
    z = list(cost)
    for r, col in enumerate(basis):
        f = cost[col]
        if f != 0.0:
            z = [zv - f * tv for zv, tv in zip(z, tab[r], strict=True)]
    pivots += _bland(tab, z, basis, nat)
    beta = np.zeros(k)
    for r, col in enumerate(basis):
        if col < k:
            beta[col] = tab[r][rhs]
    lam = np.maximum(np.asarray(z[k:nat]), 0.0)  # the reduced cost of slack s_j is λ_j
    duals[keep] = lam
    beta = np.maximum(beta, 0.0)
    total = float(beta.sum())
    beta = beta / total if total > 0.0 else np.full(k, 1.0 / k)
    nu = float(np.max(cn + an.T @ lam))
    gap = nu - float(bn @ lam) - float(cn @ beta)
    violation = float(np.max(bn - an @ beta, initial=0.0))
    residual = max(violation, gap, 0.0)
    return LPSolution(beta, float(c @ beta), residual, pivots, True, duals)


def _bland(tab: list[list[float]], z: list[float], basis: list[int], allowed: int) -> int:
    """Simplex pivots by Bland's rule on the columns ``< allowed`` until optimal; returns the
    number of pivots."""
    rhs = len(z) - 1
    pivots = 0
    limit = 50 * rhs + 50  # Bland's rule terminates; this only guards against rounding loops
    while pivots < limit:
        col = next((j for j in range(allowed) if z[j] < -_PIVOT), -1)
        if col < 0:
            break
        ratios = [
            (trow[rhs] / trow[col], basis[r], r) for r, trow in enumerate(tab) if trow[col] > _PIVOT
        ]
        row = -1
        if ratios:
            best = min(ratio for ratio, _, _ in ratios)
            cut = best + _PIVOT * max(1.0, abs(best))
            row = min((b, r) for ratio, b, r in ratios if ratio <= cut)[1]
        if row < 0:
            break  # unbounded: impossible on the simplex (β and s are bounded)
        _pivot(tab, z, basis, row, col)
        pivots += 1
    return pivots


def _pivot(tab: list[list[float]], z: list[float], basis: list[int], row: int, col: int) -> None:
    p = tab[row][col]
    prow = [v / p for v in tab[row]]
    prow[col] = 1.0
    tab[row] = prow
    for r, trow in enumerate(tab):
        f = trow[col]
        if r != row and f != 0.0:
            new = [x - f * y for x, y in zip(trow, prow, strict=True)]
            new[col] = 0.0
            tab[r] = new
    f = z[col]
    if f != 0.0:
        z[:] = [x - f * y for x, y in zip(z, prow, strict=True)]
        z[col] = 0.0
    basis[row] = col


def non_uniformity(losses: FloatArray, preference: FloatArray) -> float:
    """``μ_r(f) = KL(f̂ || 1/K) = Σ_i f̂_i log(K f̂_i)`` with ``f̂ = r⊙f / rᵀf`` (Mahapatra &
    Rajan, eq. 3): ``0`` exactly when ``r_1 f_1 = ... = r_K f_K``, at most ``log K``.

    Losses must be non-negative; all-zero losses give ``0``.
    """
    rl = preference * losses
    total = float(rl.sum())
    if total <= 0.0:
        return 0.0
    lhat = rl / total
    pos = lhat > 0.0
    return max(float(np.sum(lhat[pos] * np.log(losses.shape[0] * lhat[pos]))), 0.0)


@register
class EPO(Weighting):
    r"""EPO search (exact Pareto optimal search) for a preference vector ``r > 0``.

    Math (Mahapatra & Rajan, ICML 2020): the *exact Pareto optimal* (EPO) point of ``r`` is the
    Pareto-optimal point where the relative losses are equal, ``r_1 f_1 = ... = r_K f_K``:
    the loss vector is proportional to ``1/r`` (a larger preference asks for a smaller
    loss). Its distance from the preference ray is the *non-uniformity*
    ``μ_r(f) = KL(f̂ || 1/K)`` with ``f̂ = r⊙f / rᵀf`` (`non_uniformity`), and
    ``∇_f μ_r ∝ a = r ⊙ (log(K f̂) − μ_r)`` (the *adjustment*). With the Gramian
    ``C = G = J Jᵀ`` the weights ``β`` solve the linear program

        max_{β ∈ Δ}  βᵀ C c       c = a (balance mode, μ_r > eps) or 1 (descent mode)

    subject to, in *balance mode*: with ``𝒥 = {j : (Ca)_j > 0}`` and
    ``𝒥* = argmax_j r_j f_j``,

        (Cβ)_j >= (Ca)_j   for j ∉ 𝒥 ∪ 𝒥*,      (Cβ)_j >= 0   for j ∈ 𝒥*

    when ``𝒥`` is not empty, and ``Cβ >= 0`` when it is; in *descent mode*: ``Cβ >= 0``.
    Along ``−d`` with ``d = Jᵀβ`` the change of ``f_j`` is ``−(Cβ)_j`` to first order and the
    change of ``μ_r`` is ``−aᵀCβ / rᵀf``: balance mode decreases the non-uniformity as fast
    as the constraints allow, never increasing the largest relative loss and letting the
    others rise (*controlled ascent*) at most as much as the adjustment direction would;
    descent mode is a common descent direction (``Cβ >= 0``) for all objectives. A fixed
    point is Pareto-stationary with ``μ_r <= eps``.

    Solver: `simplex_lp`, a dense two-phase simplex method with Bland's rule on the K×K data
    (exact up to rounding; no external LP solver). Where the balance-mode LP is infeasible
    (the paper assumes it is not), the constraints of ``j ∉ 𝒥*`` are dropped
    (``info["relaxed"] = True``); ``β = e_{j*}`` keeps that LP feasible.

    Certificate: ``residual`` is the LP's duality gap with a dual-feasible multiplier, or its
    primal violation if larger, on the LP data scaled to ``max |entry| = 1``: it bounds how
    far ``βᵀCc`` is below the LP optimum in those units (see `simplex_lp`).
    ``info``: ``"mode"`` (``"balance"`` or ``"descent"``), ``"non_uniformity"`` (``μ_r``),
    ``"relaxed"``, ``"iterations"`` (simplex pivots), ``"objective"`` (``βᵀCc``).

    Scale: ``β`` on the simplex, as in the paper. The reference code multiplies its step by
    ``10 max(μ_r, 0.1)``; here the step size is the minimize loop's (Armijo on ``βᵀf`` with
    ``β`` frozen), so the weights are not rescaled.

    Losses must be non-negative (the relative losses ``r_i f_i`` are compared as
    proportions): shift objectives that can be negative by a lower bound. A zero loss enters
    the adjustment's logarithm as ``max(f̂_i, eps_64)``.

    Args:
        preference: ``r`` (K,), positive; ``None`` (default) for ``r = 1`` (the EPO point
            then has equal losses). The end point of a run lies on the ray ``f ∝ 1/r``.
        eps: non-uniformity below which the rule descends instead of balancing (``>= 0``;
            the reference code uses ``1e-4`` to ``1e-3``). For K = 2 ``μ_r ≈ 2δ²`` where
            ``f̂ = (½ + δ, ½ − δ)``, so ``eps = 1e-5`` keeps ``f̂`` within about ``0.002``
            of the ray.

    References: Mahapatra & Rajan, ICML 2020 (the LP, their Section 4); Bland (1977).
    """

    name = "epo"
    summary = "EPO search: LP for descent / controlled ascent toward the preference ray f ∝ 1/r"
    permutation_equivariant = False  # the preference is tied to the objectives' order

    def __init__(
        self, preference: ArrayLike | None = None, eps: float = 1e-5, step_control: bool = True
    ) -> None:
        self._preference: tuple[float, ...] | None = _preference(preference, "preference")
        self._eps = check_real(eps, "eps", low=0.0)
        self._step_control = check_bool(step_control, "step_control")

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        k = losses.shape[0]
        r = _match(self._preference, k)
        if np.any(losses < 0.0):
            i = int(np.flatnonzero(losses < 0.0)[0])
            raise ValueError(
                f"EPO needs non-negative losses (it balances the relative losses r_i f_i), got "
                f"losses[{i}] = {losses[i]}; shift the objectives by a lower bound"
            )
        info: dict[str, Any] = {"relaxed": False}
        if k == 1:
            info.update(mode="descent", non_uniformity=0.0, iterations=0)
            info["objective"] = float(gramian[0, 0])
            return RuleResult(np.ones(1), 0.0, info)
        mu = non_uniformity(losses, r)
        rl = r * losses
        if mu > self._eps:
            total = float(rl.sum())
            lhat = np.maximum(rl / total, _TINY)
            adjust = r * (np.log(k * lhat) - mu)
            ca = gramian @ adjust
            top = rl >= float(rl.max()) * (1.0 - 1e-12)  # 𝒥*, with ties at rounding level
            aligned = ca > 0.0  # 𝒥
            if aligned.any():
                rows = ~aligned | top
                rhs = np.where(top, 0.0, ca)[rows]
            else:
                rows = np.ones(k, dtype=bool)
                rhs = np.zeros(k)
            sol = simplex_lp(ca, gramian[rows], rhs)
            if not sol.feasible:
                info["relaxed"] = True
                sol = simplex_lp(ca, gramian[top], np.zeros(int(top.sum())))
            info["mode"] = "balance"
            if self._step_control and sol.value > 0.0:
                factor = _balance_step(rl, r * (gramian @ sol.weights))
                info["step_factor"] = factor
                weights = sol.weights * factor
            else:  # no first-order decrease of μ is available: the LP's plain step
                info["step_factor"] = 1.0
                weights = sol.weights
        else:
            sol = simplex_lp(gramian.sum(axis=1), gramian, np.zeros(k))
            info["mode"] = "descent"
            weights = sol.weights
        info.update(non_uniformity=mu, iterations=sol.iterations, objective=sol.value)
        return RuleResult(weights, sol.residual, info)

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """Weights on the simplex, times a step factor in ``(0, 1]`` with ``step_control``."""
        total = float(weights.sum())
        if self._step_control and 0.0 < total <= 1.0 + 1e-12:
            return simplex_error(weights / total)
        return simplex_error(weights)


def _balance_step(rl: FloatArray, slope: FloatArray) -> float:
    """The step factor ``s ∈ (0, 1]`` of balance mode: the minimizer over ``t ∈ [0, t_max]`` of
    the non-uniformity of the first-order prediction ``r⊙f − t r⊙(Cβ)`` of the relative
    losses (``t_max = 1``, or less where a predicted relative loss would reach zero).

    The relative losses move on a line, so the normalized ones ``f̂(t)`` move on a segment of
    the simplex (a linear-fractional image of a segment), on which the convex ``KL(f̂ || 1/K)``
    is unimodal: a golden-section search finds its minimizer.
    """
    k = rl.shape[0]
    falling = slope > 0.0
    t_max = 1.0
    if falling.any():
        t_max = min(1.0, 0.999 * float(np.min(rl[falling] / slope[falling])))

    def mu(t: float) -> float:
        v = np.maximum(rl - t * slope, 0.0)
        total = float(v.sum())
        if total <= 0.0:
            return math.log(k)
        lhat = v / total
        pos = lhat > 0.0
        return float(np.sum(lhat[pos] * np.log(k * lhat[pos])))

    lo, hi = 0.0, t_max
    inv = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - inv * (hi - lo), lo + inv * (hi - lo)
    f1, f2 = mu(x1), mu(x2)
    for _ in range(40):  # the bracket shrinks by 0.618 per step: 1e-8 of t_max
        if f1 <= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - inv * (hi - lo)
            f1 = mu(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + inv * (hi - lo)
            f2 = mu(x2)
    best = 0.5 * (lo + hi)
    return max(best, 1e-12 * t_max) if t_max > 0.0 else 1.0


def _preference(
    value: ArrayLike | None, name: str, *, strict: bool = True
) -> tuple[float, ...] | None:
    """A preference vector as a tuple of floats (``None`` stays ``None``): 1-D, finite, every
    entry positive (``strict``) or non-negative with one positive."""
    if value is None:
        return None
    vec = as_vector(value, name)
    if vec.size == 0:
        raise ValueError(f"{name} must hold at least one entry, got an empty array")
    if strict and np.any(vec <= 0.0):
        i = int(np.flatnonzero(vec <= 0.0)[0])
        raise ValueError(f"{name} must be positive, got {name}[{i}] = {vec[i]}")
    if not strict:
        if np.any(vec < 0.0):
            i = int(np.flatnonzero(vec < 0.0)[0])
            raise ValueError(f"{name} must be non-negative, got {name}[{i}] = {vec[i]}")
        if not np.any(vec > 0.0):
            raise ValueError(f"{name} must have a positive entry, got {vec.tolist()}")
    return tuple(float(v) for v in vec)


def _match(preference: tuple[float, ...] | None, k: int) -> FloatArray:
    """The preference as an array for K objectives (ones when ``None``)."""
    if preference is None:
        return np.ones(k)
    if len(preference) != k:
        raise ValueError(
            f"preference has {len(preference)} entries but the losses have {k} objectives"
        )
    return np.asarray(preference, dtype=np.float64)
