"""CAGrad: conflict-averse gradient descent, solved exactly on the Gramian.

References:
    B. Liu, X. Liu, X. Jin, P. Stone and Q. Liu, "Conflict-Averse Gradient Descent for
    Multi-task Learning", NeurIPS 2021 (reference code: github.com/Cranial-XIX/CAGrad).
    B. Efron, T. Hastie, I. Johnstone and R. Tibshirani, "Least angle regression", Annals of
    Statistics 32 (2004) (the homotopy idea: follow a piecewise-linear solution path exactly).
"""

from __future__ import annotations

import math
from operator import mul
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg.lapack import dpotrf, dpotrs, dpstrf, dtrtrs

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._dense import backward, forward
from moo.solvers._min_norm import min_norm_weights
from moo.solvers.upgrad import dual_cone_weights
from moo.validation import FloatArray, check_gramian, check_int, check_real

Rescale = Literal[0, 1, 2]
RESCALES: tuple[int, ...] = (0, 1, 2)

# A vertex whose squared distance to the affine hull of the current face is below this
# fraction of its rounding scale ((Σ |λ_i| ||g_i||)², the size of the errors of the Gramian
# entries involved) lies on that hull as far as the Gramian can tell: it is exchanged for a
# vertex of the face instead of added. The curvature it would resolve is below rounding.
_DEPENDENT = 1e-12
# The affine hull of a face passes through 0 when its min-norm point is below this fraction
# of its rounding scale; then the worst-case improvement t stays at 0 on that face.
_STALL = 1e-13
# Relative slack on slopes (rounding of the face solves).
_SLACK = 1e-13
# The rounding of G's entries (errors ~eps ||g_i|| ||g_j||): ||Jᵀμ||² = μᵀGμ is known to
# ~eps (Σ μ_i ||g_i||)². The certificate's ball term uses that upper bound of ||Jᵀμ||, so that
# a large μ whose norm G cannot resolve is not certified (μ ~ 1e8 makes μᵀGμ pure noise).
_EPS = float(np.finfo(np.float64).eps)
# From this K on, the K-vectors ``G[:, S] w`` are computed with NumPy (cheaper than lists).
_NUMPY_COMBINE = 6
# Faces of at least this many vertices keep their factor in a NumPy array and solve with
# LAPACK (`_Face`); smaller ones on Python lists.
_ARRAY_FACE = 8
# From this K on, `_active_set` tries to guess the final face before the path is followed.
_GUESS_K = 8
# Rounds of `_active_set` (each one factorization of the candidate face) before it gives up.
_GUESS_ROUNDS = 8
# A guessed solution is returned only when its certificate is below this (the path's own
# accuracy: rounding of the face solves on a Gramian scaled to max_i G_ii = 1).
_GUESS_RESIDUAL = 1e-13


class CAGradSolution(NamedTuple):
    """Result of `cagrad_weights`.

    Attributes:
        extra: ``μ >= 0`` (K,), the weights added to the mean: ``d = Jᵀ(1/K + μ)``. Away from
            the degenerate case ``μ = (√φ / ||Jᵀw*||) w*``.
        dual_weights: a minimizer ``w*`` of the dual ``F`` on the simplex (K,).
        objective: the optimal value ``F(w*) = min_i g_iᵀd`` (the worst-case improvement).
        residual: the scale-free certificate of `cagrad_residual`.
        pieces: number of linear pieces of the solution path that were followed.
        degenerate: ``True`` when ``d`` is not ``g0 + √φ Jᵀw*/||Jᵀw*||``: the optimal
            ``Jᵀw*`` is 0 (then ``||d − g0|| < √φ`` is possible) or ``g0 = 0``.
    """

    extra: FloatArray
    dual_weights: FloatArray
    objective: float
    residual: float
    pieces: int
    degenerate: bool


def cagrad_weights(gramian: FloatArray, c: float) -> CAGradSolution:
    """Exact solution of the CAGrad problem for a validated K×K Gramian ``G = J Jᵀ``.

    With ``g0 = Jᵀ1/K``, ``b = G1/K = J g0`` and ``√φ = c ||g0||`` it returns ``μ >= 0`` such
    that ``d = g0 + Jᵀμ`` solves the primal ``max_d min_i g_iᵀd`` s.t. ``||d − g0|| <= √φ``
    (the solution closest to ``g0`` when there are several), and a minimizer ``w*`` of the dual
    ``F(w) = wᵀb + √φ ||Jᵀw||`` on the simplex. See `CAGrad` for the method.
    """
    k = gramian.shape[0]
    scale = float(gramian.diagonal().max())
    if scale <= 0.0:  # every gradient is zero: d = 0
        return CAGradSolution(np.zeros(k), np.full(k, 1.0 / k), 0.0, 0.0, 0, True)
    gn = gramian / scale
    g: list[list[float]] = gn.tolist()
    b = [sum(row) / k for row in g]
    g0_sq = max(sum(b) / k, 0.0)
    s2 = c * c * g0_sq
    if s2 <= 0.0:  # c = 0 or g0 = 0: d = g0; the dual minimizer is the worst vertex
        j = b.index(min(b))
        w = np.zeros(k)
        w[j] = 1.0
        return CAGradSolution(np.zeros(k), w, b[j] * scale, 0.0, 0, g0_sq <= 0.0)
    if k >= _GUESS_K:
        guessed = _active_set(gn, s2)
        if guessed is not None:
            mu_arr, rounds = guessed
            dual_arr = mu_arr / mu_arr.sum()
            value, residual = _certificate_np(
                gn, gn.sum(axis=1) / k, math.sqrt(s2), mu_arr.tolist(), dual_arr.tolist()
            )
            if residual <= _GUESS_RESIDUAL:
                return CAGradSolution(mu_arr, dual_arr, value * scale, residual, rounds, False)
    mu, dual, pieces, degenerate = _path(g, b, s2, gn)
    if k >= _NUMPY_COMBINE:
        value, residual = _certificate_np(gn, np.asarray(b), math.sqrt(s2), mu, dual)
    else:
        value, residual = _certificate(g, b, math.sqrt(s2), mu, dual)
    if degenerate and residual > _GUESS_RESIDUAL:
        cone = _cone_projection(gn, b, s2)
        if cone is not None and cone[3] < residual:
            mu, dual, value, residual = cone
    return CAGradSolution(
        np.asarray(mu), np.asarray(dual), value * scale, residual, pieces, degenerate
    )


def _cone_projection(
    gn: FloatArray, b: list[float], s2: float
) -> tuple[list[float], list[float], float, float] | None:
    """The degenerate solution directly: ``d = Π(g0)``, the projection of ``g0`` onto the cone
    ``{d : Jd >= 0}``, when it lies in the ball; ``(μ, w, F(w), residual)`` or ``None``.

    Where ``0`` is in the convex hull of the gradients (a weakly Pareto-stationary point) the
    best worst-case improvement is ``t* = 0``, reached by every ``d`` of the cone inside the
    ball; the rule's choice is the one closest to ``g0`` (see `CAGrad`). ``Π(g0) = g0 + Jᵀμ``
    with ``μ >= 0`` is UPGrad's dual-cone projection of ``g0`` (`dual_cone_weights`) on the
    Gramian of ``[g0; J]``, whose extra row ``g0`` adds the constraint ``g0ᵀd >= 0`` that the
    projection meets anyway (``g0ᵀΠ(g0) = ||Π(g0)||²``). The dual point is MGDA's min-norm
    weights (``Jᵀw ≈ 0``). Used when the path ends on a stalled face with a certificate above
    rounding: there the path's last solves are ill-conditioned.
    """
    k = gn.shape[0]
    aug = np.empty((k + 1, k + 1))
    aug[1:, 1:] = gn
    aug[0, 1:] = aug[1:, 0] = b
    aug[0, 0] = max(sum(b) / k, 0.0)  # ||g0||² = 1ᵀG1 / K²
    cone = dual_cone_weights(aug, 0)
    if cone.weights[0] <= 0.0:
        return None
    mu = cone.weights[1:] / cone.weights[0]
    if float(mu @ gn @ mu) > s2:
        return None  # outside the ball: not the degenerate case
    dual = min_norm_weights(gn).weights.tolist()
    value, residual = _certificate_np(gn, np.asarray(b), math.sqrt(s2), mu.tolist(), dual)
    return mu.tolist(), dual, value, residual


def cagrad_residual(
    gramian: ArrayLike, c: float, extra: ArrayLike, dual_weights: ArrayLike
) -> float:
    """Scale-free certificate of a CAGrad solution (see `CAGrad`).

    For ``d = Jᵀ(1/K + μ)`` (``μ`` = ``extra``, before any rescale) and ``w`` on the simplex
    (``dual_weights``) it is

        (F(w) − min_i g_iᵀd + √(max_i G_ii) · max(0, ||d − g0|| − √φ)) / max_i G_ii,

    with ``F(w) = wᵀG1/K + √φ ||Jᵀw||`` and ``||d − g0|| = ||Jᵀμ||`` taken as
    ``√(μᵀGμ + eps (Σ μ_i ||g_i||)²)``, the most ``G``'s rounding lets it be: a large ``μ``
    whose norm ``G`` cannot resolve is not certified. By weak duality
    ``min_i g_iᵀd <= F(w)`` for every ``d`` in the ball and every ``w``, so it is ``>= 0``;
    it is ``0`` exactly when ``d`` and ``w`` are optimal (up to that doubt), and both the
    primal and the dual suboptimality are at most
    ``residual · max_i G_ii``.
    """
    g = check_gramian(gramian)
    c = check_real(c, "c", low=0.0)
    k = g.shape[0]
    mu = np.asarray(extra, dtype=np.float64).reshape(k)
    w = np.asarray(dual_weights, dtype=np.float64).reshape(k)
    scale = float(g.diagonal().max())
    if scale <= 0.0:
        return 0.0
    gn: list[list[float]] = (g / scale).tolist()
    b = [sum(row) / k for row in gn]
    s = c * math.sqrt(max(sum(b) / k, 0.0))
    return _certificate(gn, b, s, mu.tolist(), w.tolist())[1]


def _certificate(
    g: list[list[float]], b: list[float], s: float, extra: list[float], dual: list[float]
) -> tuple[float, float]:
    """Dual value ``F(w)`` and the residual on a Gramian normalized to ``max_i G_ii = 1``,
    recomputed from ``G`` (``μ`` and ``w`` are sparse: sums run over their supports)."""
    on_mu = [(i, v) for i, v in enumerate(extra) if v != 0.0]
    on_w = [(i, v) for i, v in enumerate(dual) if v != 0.0]
    gd = list(b)  # g_iᵀd with d = g0 + Jᵀμ
    for i, v in on_mu:
        gd = [x + v * y for x, y in zip(gd, g[i], strict=True)]
    mu_g_mu = sum(v * sum(u * g[i][j] for j, u in on_mu) for i, v in on_mu)
    w_g_w = sum(v * sum(u * g[i][j] for j, u in on_w) for i, v in on_w)
    value = sum(v * b[i] for i, v in on_w) + s * math.sqrt(max(w_g_w, 0.0))
    gap = max(value - min(gd), 0.0)
    spread = sum(v * math.sqrt(g[i][i]) for i, v in on_mu)
    excess = max(math.sqrt(max(mu_g_mu, 0.0) + _EPS * spread * spread) - s, 0.0)
    return value, gap + excess


def _certificate_np(
    gn: FloatArray, b: FloatArray, s: float, extra: list[float], dual: list[float]
) -> tuple[float, float]:
    """`_certificate` with NumPy products (cheaper for larger K)."""
    both = gn @ np.array([extra, dual]).T  # columns: G μ, G w
    mu_g_mu, w_g_w = (np.array([extra, dual]) * both.T).sum(axis=1).tolist()
    value = float(np.dot(dual, b)) + s * math.sqrt(max(w_g_w, 0.0))
    gap = max(value - float((b + both[:, 0]).min()), 0.0)
    spread = float(np.dot(extra, np.sqrt(gn.diagonal())))
    excess = max(math.sqrt(max(mu_g_mu, 0.0) + _EPS * spread * spread) - s, 0.0)
    return value, gap + excess


def _active_set(gn: FloatArray, s2: float) -> tuple[FloatArray, int] | None:
    """The solution on a guessed final face, or ``None`` when the guess does not settle.

    On a face ``S`` with ``G_SS`` non-singular, the conditions ``(b + Gμ)_i = t`` (``i ∈ S``)
    and ``||Jᵀμ||² = s2`` give ``μ_S = t p − q`` with ``p = G_SS⁻¹1``, ``q = G_SS⁻¹b_S`` and
    ``t`` the larger root of ``t² 1ᵀp − 2t 1ᵀq + b_Sᵀq − s2 = 0`` (the path's level rises
    while ``||Jᵀμ||`` grows). Starting from a maximal independent set of gradients (a pivoted
    Cholesky factor of the correlation matrix), a round drops the members with ``μ_i <= 0`` or,
    when all are positive, adds the objectives with ``(b + Gμ)_i < t``. When it stops with
    ``μ_S > 0`` and no objective below ``t``, ``μ`` satisfies the optimality conditions (the
    caller still checks the certificate). Each round is one O(|S|³) factorization in LAPACK; a
    face with singular ``G_SS``, a level the face cannot reach (no real root) or too many
    rounds give ``None`` and the exact path is followed instead.
    """
    k = gn.shape[0]
    root = np.sqrt(gn.diagonal())
    if root.min() <= 0.0:
        return None
    corr = gn / np.multiply.outer(root, root)
    b = gn.sum(axis=1) / k
    _, pivots, rank, _ = dpstrf(corr, tol=1e-10, lower=1)
    face = np.sort(pivots[:rank] - 1)
    for rounds in range(1, _GUESS_ROUNDS + 1):
        low, info = dpotrf(corr.take(face, 0).take(face, 1), lower=1, clean=1)
        if info != 0:
            return None
        inv_root = 1.0 / root[face]
        pq = dpotrs(low, np.stack([inv_root, b[face] * inv_root], axis=1), lower=1)[0]
        p = pq[:, 0] * inv_root
        q = pq[:, 1] * inv_root
        a, h = float(p.sum()), float(q.sum())
        disc = h * h - a * (float(b[face] @ q) - s2)
        if a <= 0.0:
            return None
        # no real root: the face cannot reach the radius; its multipliers at the level of
        # least ||Jᵀμ|| still show which members to drop
        level = (h + math.sqrt(disc)) / a if disc >= 0.0 else h / a
        mu_face = level * p - q
        positive = mu_face > 0.0
        if disc < 0.0 and positive.all():
            return None
        if not positive.all():
            face = face[positive]
            if face.size == 0:
                return None
            continue
        mu = np.zeros(k)
        mu[face] = mu_face
        below = b + gn @ mu - level < -_SLACK * root
        if not below.any():
            return mu, rounds
        face = np.union1d(face, np.flatnonzero(below))
    return None


def _path(
    g: list[list[float]], b: list[float], s2: float, gn: FloatArray
) -> tuple[list[float], list[float], int, bool]:
    """Follow ``d(t) = Π_{S_t}(g0)``, ``S_t = {d : Jd >= t·1}``, until ``||d − g0||² = s2``.

    On a face ``S`` (the objectives with ``g_iᵀd = t``) the multipliers are affine in their
    sum ``α``: ``μ_S = α w_p + w_q`` (see `_Face`). The path starts at ``μ = 0``,
    ``t = min_i b_i``, ``S = {argmin_i b_i}`` and moves ``α`` up to the first event: the end
    (``||Jᵀμ||² = α² π_p + ψ_q`` reaches ``s2``), a weight of ``S`` reaching 0 (it leaves
    ``S``) or another objective becoming tight (it joins ``S``, or is exchanged for a member
    when its gradient lies on the affine hull of the face). Returns
    ``(μ, w*, pieces, degenerate)``.
    """
    k = len(g)
    diag = [g[i][i] for i in range(k)]
    roots = [math.sqrt(v) for v in diag]
    support = [b.index(min(b))]
    face = _Face(g, diag, roots, support, gn)
    alpha = 0.0
    blocked = -1  # an index that just left the face may not re-enter at the same alpha
    max_pieces = 20 * k + 20
    pieces = 0
    while True:
        pieces += 1
        wp, wq, pi_p, psi_q, nw = face.solve(b)
        base = support[0]
        gwp, gwq = _combine(g, gn, support, wp, wq)
        stalled = pi_p <= _STALL * nw * nw
        finish = math.inf if stalled else max(math.sqrt(max(s2 - psi_q, 0.0) / pi_p), alpha)
        event = math.inf
        drop = add = -1
        for n in range(len(support)):
            if wp[n] < 0.0:
                at = -wq[n] / wp[n]
                if at < event:
                    event, drop = at, n
        if (
            stalled
            and drop >= 0
            and _stop_stalled(g, roots, support, wp, event - alpha, pi_p, nw, s2)
        ):
            event, drop = math.inf, -1
        slope0, offset0 = gwp[base], b[base] + gwq[base]
        # On a stalled face Jᵀw_p = 0: d does not move with α, so no other objective can
        # become tight; the slopes below are rounding noise, and following them would drive α
        # (and μ = α w_p + w_q) to 1e7 and beyond while α Jᵀw_p stops being 0 in the data.
        # Only a weight of the face reaching 0 (a change of the multipliers, d fixed) counts.
        members = set(support)
        for i in range(0 if not stalled else k, k):
            if i in members or i == blocked:
                continue
            slope = gwp[i] - slope0
            if slope < -_SLACK * roots[i] * nw:
                at = (b[i] + gwq[i] - offset0) / -slope
                if at < event:
                    event, drop, add = at, -1, i
        if finish <= event or event == math.inf or pieces >= max_pieces:
            if finish <= event and finish < math.inf:
                alpha = finish
            mu = [0.0] * k
            for n, i in enumerate(support):
                mu[i] = max(alpha * wp[n] + wq[n], 0.0)
            total = sum(mu)
            if finish == math.inf or total <= 0.0:
                # stalled: the face's affine hull holds 0, t stays at 0 and d stops moving
                return mu, _scatter(k, support, _clip_simplex(wp)), pieces, True
            return mu, [v / total for v in mu], pieces, False
        alpha = max(alpha, event)
        if add < 0:
            blocked = support[drop]
            face.remove(drop)
            continue
        blocked = -1
        coords = face.try_add(add)
        if coords is None:
            continue
        # g_add lies on the face's affine hull: move along the zero direction e_add − λ
        # (which leaves d unchanged) until a weight of the face reaches zero; swap them
        best, out = math.inf, -1
        for n, lam in enumerate(coords):
            if lam > 0.0:
                ratio = max(alpha * wp[n] + wq[n], 0.0) / lam
                if ratio < best:
                    best, out = ratio, n
        face.exchange(out, add)


def _combine(
    g: list[list[float]], gn: FloatArray, support: list[int], wp: list[float], wq: list[float]
) -> tuple[list[float], list[float]]:
    """``(G[:, S] w_p, G[:, S] w_q)`` as lists (rows of a symmetric ``G``)."""
    if len(support) == 1:
        row = g[support[0]]
        return list(row), [wq[0] * v for v in row]
    if len(g) >= _NUMPY_COMBINE:
        both: list[list[float]] = (np.array([wp, wq]) @ gn[support]).tolist()
        return both[0], both[1]
    out_p = [0.0] * len(g)
    out_q = [0.0] * len(g)
    for s, a, q in zip(support, wp, wq, strict=True):
        row = g[s]
        out_p = [x + a * y for x, y in zip(out_p, row, strict=True)]
        out_q = [x + q * y for x, y in zip(out_q, row, strict=True)]
    return out_p, out_q


def _stop_stalled(
    g: list[list[float]],
    roots: list[float],
    support: list[int],
    wp: list[float],
    step: float,
    pi_p: float,
    nw: float,
    s2: float,
) -> bool:
    """On a stalled face (``Jᵀw_p = 0`` up to rounding, the level at 0), whether to end the
    path here rather than take the drop at ``α + step`` (a change of the multipliers that
    leaves ``d`` unchanged in exact arithmetic).

    Ending here returns ``d``, the projection of ``g0`` onto ``{Jd >= 0}`` restricted to the
    path so far, with the dual point ``w = max(w_p, 0) / Σ``: its certificate is at most about
    ``2 √φ ||J_Sᵀw||``, ``0`` up to rounding when the face's convex hull holds 0. Taking the
    drop moves ``μ`` by ``step · w_p``, and ``d`` by ``step · ||Jᵀw_p||``, which ``G`` knows
    only to ``√(π_p + eps ν²)``: weights of ``w_p`` that are negative by rounding alone give
    steps of ``1/rounding`` (``μ`` ~ 1e7 and beyond, ``d`` far outside the ball). End here
    when the convex hull holds 0 as far as ``G`` can tell, or when the drop's rounding exceeds
    what ending here costs."""
    w = _clip_simplex(wp)
    on = [(i, v) for i, v in zip(support, w, strict=True) if v > 0.0]
    norm2 = max(sum(v * sum(u * g[i][j] for j, u in on) for i, v in on), 0.0)
    size = sum(v * roots[i] for i, v in on)
    if norm2 <= _STALL * size * size:
        return True
    return 2.0 * math.sqrt(norm2 * s2) <= step * math.sqrt(pi_p + _EPS * nw * nw)


def _scatter(k: int, support: list[int], values: list[float]) -> list[float]:
    out = [0.0] * k
    for i, v in zip(support, values, strict=True):
        out[i] = v
    return out


def _clip_simplex(w: list[float]) -> list[float]:
    clipped = [max(v, 0.0) for v in w]
    total = sum(clipped)
    return [v / total for v in clipped] if total > 0.0 else [1.0 / len(w)] * len(w)


class _Face:
    """The current face ``S`` and the Cholesky factor of its difference Gramian.

    ``S[0]`` is the base of the affine coordinates and is kept at the shortest gradient of
    the face, so that differences of long gradients do not swamp short ones. The factor is
    of ``M_ij = (g_i − g_0)ᵀ(g_j − g_0)``, ``i, j ∈ S[1:]``; it is extended by one row when a
    vertex joins at the end and rebuilt otherwise. A factor of `_ARRAY_FACE` rows or more is
    built by LAPACK and kept in a NumPy array (the triangular solves too), unless it has a
    dependent direction (a zero pivot), which only the list code handles.
    """

    def __init__(
        self,
        g: list[list[float]],
        diag: list[float],
        roots: list[float],
        support: list[int],
        gn: FloatArray,
    ) -> None:
        self.g = g
        self.gn = gn
        self.diag = diag
        self.roots = roots
        self.support = support
        self.low: list[list[float]] | FloatArray | None = [] if len(support) == 1 else None
        # forward and back solutions of the last solve (y_p, y_q, τ_p, τ_q) and, after a
        # vertex joined at the end, its new row of the factor (l, pivot, L⁻ᵀl): the next
        # solve then costs O(|S|) instead of O(|S|²)
        self.cache: tuple[list[float], list[float], list[float], list[float]] | None = None
        self.joined: tuple[list[float], float, list[float]] | None = None

    def solve(self, b: list[float]) -> tuple[list[float], list[float], float, float, float]:
        """The solution on the face: ``μ_S(α) = α w_p + w_q`` (``Σ w_p = 1``, ``Σ w_q = 0``).

        ``w_p`` are the weights of the min-norm point ``u_p`` of the affine hull of the face's
        gradients, ``π_p = ||u_p||²``; ``w_q`` (``Σ w_q = 0``) makes ``J_S d`` constant for
        ``d = g0 + J_Sᵀμ_S`` at every ``α``; ``ψ_q = ||J_Sᵀw_q||²``, so that
        ``||Jᵀμ(α)||² = α² π_p + ψ_q``. Returns ``(w_p, w_q, π_p, ψ_q, ν)`` with
        ``ν = Σ |w_p,i| ||g_i||``, the scale of the rounding errors of ``||J_Sᵀw_p||``.
        """
        support = self.support
        base = support[0]
        if len(support) == 1:
            return [1.0], [0.0], self.diag[base], 0.0, self.roots[base]
        g = self.g
        row0 = g[base]
        g00 = row0[base]
        rest = support[1:]
        if self.low is None:
            self.low = self._factor()
            self.cache = self.joined = None
        r0 = [g00 - row0[i] for i in rest]
        db = [b[base] - b[i] for i in rest]
        if self.cache is not None and self.joined is not None:
            yp, yq, tp, tq = self.cache
            row, piv, coords = self.joined
            yp = [*yp, (r0[-1] - sum(map(mul, row, yp))) / piv]
            yq = [*yq, (db[-1] - sum(map(mul, row, yq))) / piv]
            last_p, last_q = yp[-1] / piv, yq[-1] / piv
            tp = [*(a - last_p * v for a, v in zip(tp, coords, strict=True)), last_p]
            tq = [*(a - last_q * v for a, v in zip(tq, coords, strict=True)), last_q]
        elif isinstance(self.low, np.ndarray):
            yp, yq, tp, tq = _solve2_array(self.low, r0, db)
        else:
            yp, yq, tp, tq = _solve2(self.low, r0, db)
        self.cache = (yp, yq, tp, tq)
        self.joined = None
        wp = [1.0 - sum(tp), *tp]
        wq = [-sum(tq), *tq]
        pi_p = g00 - sum(map(mul, tp, r0))
        psi_q = sum(map(mul, tq, db))
        nw = sum(abs(v) * self.roots[i] for v, i in zip(wp, support, strict=True))
        return wp, wq, max(pi_p, 0.0), max(psi_q, 0.0), nw

    def _factor(self) -> list[list[float]] | FloatArray:
        if len(self.support) > _ARRAY_FACE:
            array = self._factor_array()
            if array is not None:
                return array
        g = self.g
        base = self.support[0]
        row0 = g[base]
        g00 = row0[base]
        root0 = self.roots[base]
        rest = self.support[1:]
        n = len(rest)
        low = [[0.0] * n for _ in range(n)]
        for j, sj in enumerate(rest):
            rowj = low[j]
            d = g[sj][sj] - 2.0 * row0[sj] + g00 - sum(v * v for v in rowj[:j])
            if d <= _DEPENDENT * (self.roots[sj] + root0) ** 2 or d <= 0.0:
                continue  # a dependent direction: a zero column, its coordinate is set to 0
            piv = math.sqrt(d)
            rowj[j] = piv
            for i in range(j + 1, n):
                si = rest[i]
                rowi = low[i]
                m_ij = g[si][sj] - row0[si] - row0[sj] + g00
                rowi[j] = (m_ij - sum(map(mul, rowi[:j], rowj[:j]))) / piv
        return low

    def _factor_array(self) -> FloatArray | None:
        """The factor by LAPACK, or ``None`` when a pivot is at or below the dependence
        threshold of `_factor` (that factor then has a zero column)."""
        base = self.support[0]
        rest = np.array(self.support[1:])
        gn = self.gn
        row0 = gn[base].take(rest)
        diff = gn.take(rest, 0).take(rest, 1) - row0[:, None] - row0[None, :] + gn[base, base]
        low, info = dpotrf(diff, lower=1, clean=1)
        if info != 0:
            return None
        roots = np.sqrt(gn.diagonal().take(rest))
        if np.any(low.diagonal() ** 2 <= _DEPENDENT * (roots + self.roots[base]) ** 2):
            return None
        return np.asarray(low)

    def try_add(self, new: int) -> list[float] | None:
        """Add ``new`` to the face and return ``None``; or, when ``g_new`` lies on the face's
        affine hull (up to `_DEPENDENT`), leave the face as it is and return the affine
        coordinates ``λ`` (summing to 1) of ``g_new`` on the face's vertices."""
        g = self.g
        support = self.support
        base = support[0]
        row0 = g[base]
        g00 = row0[base]
        rest = support[1:]
        m_new = self.diag[new] - 2.0 * row0[new] + g00
        if self.low is None:
            self.low = self._factor()
        col = [g[i][new] - row0[i] - row0[new] + g00 for i in rest]
        if isinstance(self.low, np.ndarray):
            y_arr = dtrtrs(self.low, col, lower=1)[0]
            y = y_arr.tolist()
            coords = dtrtrs(self.low, y_arr, lower=1, trans=1)[0].tolist()
        else:
            y = forward(self.low, col)
            coords = backward(self.low, y)
        schur = m_new - sum(v * v for v in y)
        lam = [1.0 - sum(coords), *coords]
        noise = self.roots[new] + sum(
            abs(v) * self.roots[i] for v, i in zip(lam, support, strict=True)
        )
        if schur <= _DEPENDENT * noise * noise:
            return lam
        if self.diag[new] < self.diag[base]:
            support.append(new)
            self._shortest_first()
            return None
        piv = math.sqrt(schur)
        n = len(y)
        if isinstance(self.low, np.ndarray):
            grown = np.zeros((n + 1, n + 1))
            grown[:n, :n] = self.low
            grown[n, :n] = y
            grown[n, n] = piv
            self.low = grown
        elif n + 1 > _ARRAY_FACE:
            self.low = None  # refactored as an array by the next solve
        else:
            for row in self.low:
                row.append(0.0)
            self.low.append([*y, piv])
        support.append(new)
        self.joined = (y, piv, coords)
        return None

    def remove(self, position: int) -> None:
        self.support.pop(position)
        if position == len(self.support) and self.low is not None and position > 0:
            if isinstance(self.low, np.ndarray):  # the last vertex: truncate
                self.low = self.low[:-1, :-1]
            else:
                self.low = [row[:-1] for row in self.low[:-1]]
            self.cache = self.joined = None
        else:
            self._shortest_first()

    def exchange(self, position: int, new: int) -> None:
        self.support.pop(position)
        self.support.append(new)
        self._shortest_first()

    def _shortest_first(self) -> None:
        support = self.support
        n = min(range(len(support)), key=lambda p: self.diag[support[p]])
        if n:
            support.insert(0, support.pop(n))
        self.low = None
        self.cache = self.joined = None


def _solve2_array(
    low: FloatArray, r1: list[float], r2: list[float]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """`_solve2` with a factor in a NumPy array (no zero pivots): two LAPACK solves."""
    y = dtrtrs(low, np.array([r1, r2]).T, lower=1)[0]
    x = dtrtrs(low, y, lower=1, trans=1)[0]
    y1, y2 = y.T.tolist()
    x1, x2 = x.T.tolist()
    return y1, y2, x1, x2


def _solve2(
    low: list[list[float]], r1: list[float], r2: list[float]
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Solve ``L Lᵀ x = r`` for two right-hand sides at once (zero pivots give zeros);
    returns the forward solutions ``y1, y2`` and the solutions ``x1, x2``."""
    n = len(low)
    y1: list[float] = []
    y2: list[float] = []
    for i, row in enumerate(low):
        piv = row[i]
        if piv > 0.0:
            head = row[:i]
            y1.append((r1[i] - sum(map(mul, head, y1))) / piv)
            y2.append((r2[i] - sum(map(mul, head, y2))) / piv)
        else:
            y1.append(0.0)
            y2.append(0.0)
    x1 = [0.0] * n
    x2 = [0.0] * n
    for i in range(n - 1, -1, -1):
        piv = low[i][i]
        if piv > 0.0:
            a1, a2 = y1[i], y2[i]
            for j in range(i + 1, n):
                lji = low[j][i]
                a1 -= lji * x1[j]
                a2 -= lji * x2[j]
            x1[i] = a1 / piv
            x2[i] = a2 / piv
    return y1, y2, x1, x2


@register
class CAGrad(Weighting):
    r"""Conflict-averse gradient descent (CAGrad), exact.

    Math: with gradients ``g_i`` (rows of ``J``), ``G = J Jᵀ``, the mean gradient
    ``g0 = Jᵀ1/K`` and ``c ∈ [0, 1)``, CAGrad takes the direction that maximizes the
    worst-case improvement in a ball around ``g0``:

        d = argmax_{||d − g0|| <= √φ} min_i g_iᵀd,     √φ = c ||g0||.

    Its dual is a convex problem on the simplex ``Δ`` that needs only ``G``:

        w* = argmin_{w ∈ Δ} F(w),   F(w) = wᵀb + √φ ||Jᵀw||,   b = G1/K = J g0,

    and ``d = g0 + (√φ / ||Jᵀw*||) Jᵀw*``: the weights are ``1/K + μ`` with
    ``μ = (√φ / √(w*ᵀGw*)) w* >= 0``. When the optimal ``Jᵀw*`` is 0 (only possible at a
    Pareto-stationary point, where ``0`` is a convex combination of the gradients) the primal
    solution need not be unique; the rule returns the one closest to ``g0``, which is the
    limit of the reference's smoothed formulation (``√(wᵀGw + ε)``, ``ε → 0``): the
    projection of ``g0`` onto the cone ``{d : Jd >= 0}``, again of the form ``g0 + Jᵀμ``,
    ``μ >= 0``, now with ``||Jᵀμ|| <= √φ``. It is in general *not* ``g0``.

    Guarantees, for ``d = Jᵀ(1/K + μ)`` before rescaling: ``g0ᵀd >= (1 − c) ||g0||²``
    (average descent; ``(1 − c) ||g0|| <= ||d|| <= (1 + c) ||g0||``, so ``d = 0`` iff
    ``g0 = 0``), and ``min_i g_iᵀd >= min_i g_iᵀg0`` (no objective is worse off than under
    the mean gradient in the worst case). ``c = 0`` gives the mean gradient. With ``c < 1``
    CAGrad converges to a stationary point of the average objective (Liu et al., Theorem 3.2);
    ``d`` is not a common descent direction (``min_i g_iᵀd`` may be negative).

    Solver: an exact homotopy on the K×K Gramian. ``d(t)``, the projection of ``g0`` onto
    ``{d : Jd >= t}``, moves away from ``g0`` as the level ``t`` rises; the rule follows this
    piecewise-linear path (the multipliers are affine on each piece, with closed forms from
    a Cholesky factor of the face's difference Gramian) from ``t = min_i g_iᵀg0`` until
    ``||d − g0|| = √φ``, where a quadratic equation gives the end exactly. Finite, no
    iterations of a first-order method, Python floats for the small K of multi-objective
    problems; ``G`` is divided by ``max_i G_ii`` first (the weights do not depend on the scale
    of ``G``). From K = 8 the final face is first guessed by an active set (a face's solution
    has a closed form when its Gramian is non-singular: `_active_set`), accepted only when its
    certificate is at rounding level; otherwise the path is followed.

    Complexity, with ``S`` the final face: the guess costs O(K³) at C speed per round (one
    Cholesky factor of the candidate face; at most 8 rounds, usually 1 to 4); the path costs,
    per piece (one per objective that joins or leaves), O(K|S|) for the slopes plus O(|S|)
    to extend the face's factor by one row, or O(|S|³) to rebuild it (LAPACK from 8 vertices)
    when the face's shortest gradient changes.

    Certificate: ``residual`` is the primal-dual gap
    ``(F(w*) − min_i g_iᵀd + √(max G_ii) · max(0, ||d − g0|| − √φ)) / max_i G_ii``
    (`cagrad_residual`; ``||d − g0||`` with the doubt ``eps (Σ μ_i ||g_i||)²`` that ``G``'s
    rounding leaves on ``μᵀGμ``), ``>= 0`` and ``0`` at the optimum up to that doubt. ``info`` holds
    ``"objective"`` (``F(w*) = min_i g_iᵀd``, before rescaling), ``"dual_weights"`` (``w*``),
    ``"pieces"`` and ``"degenerate"``. The residual is at rounding level (≲ 1e-12) unless the
    weights cancel: ``G``'s entries carry errors ~1e-16 ``||g_i|| ||g_j||``, so ``||Jᵀμ||`` is
    known to ~1e-16 ``(Σ μ_i ||g_i||)² / √φ`` and the radius to ~1e-16 ``K max G_ii / ||g0||``
    (nearly opposite gradients in the support, or ``g0 → 0``). Near a weakly
    Pareto-stationary point (``Jᵀw* ≈ 0``; ``moo.testing.HARD_FAMILIES``) the dual norm is
    known to ~``√(K eps) max ||g_i||``: a stalled face (its affine hull through 0) takes no
    joining objective, and ends the path when its convex hull holds 0 up to rounding or when
    a drop would cost more in rounding than ending there (see the docs page). When the path
    still ends on a stalled face with a certificate above rounding, the projection of ``g0``
    onto ``{d : Jd >= 0}`` (`_cone_projection`) replaces it if it lies in the ball and
    certifies better.

    Scale: the weights are ``r (1/K + μ)`` with ``rescale`` 0: ``r = 1``; 1: ``r = 1/(1 + c²)``
    (the reference implementation's default); 2: ``r = 1/(1 + c)``. They sum to
    ``r (1 + Σμ)``; ``d`` is on the scale of the *mean* gradient (the reference's NYU-v2
    trainer multiplies it by K to match the sum of the losses).

    Args:
        c: radius factor ``c ∈ [0, 1)`` (default 0.4, the reference's NYU-v2 setting).
        rescale: 0, 1 (default) or 2, see above.

    References: Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning",
    NeurIPS 2021.
    """

    name = "cagrad"
    summary = "best worst-case improvement in a ball around the mean gradient (exact homotopy)"
    average_descent = True

    def __init__(self, c: float = 0.4, rescale: Rescale = 1) -> None:
        self._c = check_real(c, "c", low=0.0, high=1.0, high_open=True)
        if check_int(rescale, "rescale") not in RESCALES:
            raise ValueError(f"rescale must be one of 0, 1, 2; got {rescale!r}")
        self._rescale: Rescale = int(rescale)  # type: ignore[assignment]

    @property
    def factor(self) -> float:
        """The rescale factor ``r``: 1, ``1/(1 + c²)`` or ``1/(1 + c)``."""
        if self._rescale == 0:
            return 1.0
        if self._rescale == 1:
            return 1.0 / (1.0 + self._c * self._c)
        return 1.0 / (1.0 + self._c)

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        sol = cagrad_weights(gramian, self._c)
        k = gramian.shape[0]
        weights: FloatArray = (sol.extra + 1.0 / k) * self.factor
        info = {
            "objective": sol.objective,
            "dual_weights": sol.dual_weights,
            "pieces": sol.pieces,
            "degenerate": sol.degenerate,
        }
        return RuleResult(weights, sol.residual, info)

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """``w = r (1/K + μ)`` with ``μ >= 0`` and ``||Jᵀμ|| <= c ||g0||``."""
        assert gramian is not None
        k = weights.shape[0]
        mu = weights / self.factor - 1.0 / k
        size = max(1.0, float(np.abs(mu).max()))
        if np.any(mu < -1e-9 * size):
            return f"weights / r − 1/K must be >= 0, got min {float(mu.min()):.3g}"
        roots = np.sqrt(np.maximum(gramian.diagonal(), 0.0))
        radius = self._c * math.sqrt(max(float(gramian.sum()) / k**2, 0.0))
        norm = math.sqrt(max(float(mu @ gramian @ mu), 0.0))
        if norm > radius * (1.0 + 1e-9) + 1e-8 * float(np.abs(mu) @ roots):
            return f"||Jᵀμ|| = {norm!r} exceeds the radius c ||g0|| = {radius!r}"
        return None
