"""Pareto MTL: min-norm descent restricted to a preference sub-region, solved on the Gramian.

References:
    X. Lin, H.-L. Zhen, Z. Li, Q. Zhang and S. Kwong, "Pareto Multi-Task Learning",
    NeurIPS 2019.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._min_norm import min_norm_weights
from moo.solvers.epo import _match, _preference
from moo.validation import FloatArray, check_bool, check_real, real_array

# A min-norm value of the violated constraints' gradients at or below this (relative to their
# largest squared norm) means they cannot be decreased together: the rule then takes the main
# step instead of a zero initial step.
_STUCK = 1e-20


def _references(value: ArrayLike | None, k: int | None) -> tuple[tuple[float, ...], ...] | None:
    """The reference (preference) vectors as a tuple of rows, each non-negative and non-zero."""
    if value is None:
        return None
    arr = real_array(value, "references")
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"references must be a non-empty (M, K) array, got shape {arr.shape}")
    if k is not None and arr.shape[1] != k:
        raise ValueError(
            f"references must have {k} columns (the length of preference), got {arr.shape[1]}"
        )
    rows = []
    for i, row in enumerate(arr):
        checked = _preference(row, f"references[{i}]", strict=False)
        assert checked is not None
        rows.append(checked)
    return tuple(rows)


def region_constraints(
    losses: FloatArray, preference: FloatArray, references: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """The sub-region constraints of Pareto MTL at the loss vector ``f``.

    With unit vectors ``û = u / ||u||``, ``W_j = û_j − û_k`` for every reference ``u_j`` not
    parallel to the preference ``u_k``. Returns ``(W, c)`` with ``c_j = W_jᵀ f / ||f||`` (the
    cosine of ``f`` with ``û_j`` minus that with ``û_k``; ``0`` when ``f = 0``): ``f`` lies
    in the preference's sub-region ``Ω_k = {v : û_jᵀv <= û_kᵀv ∀j}`` iff ``c <= 0``. The
    constraint ``G_j(θ) = W_jᵀ f(θ) <= 0`` has the gradient ``Σ_i W_ji ∇f_i``.
    """
    uk = preference / np.linalg.norm(preference)
    units = references / np.linalg.norm(references, axis=1, keepdims=True)
    w = units - uk
    w = w[np.max(np.abs(w), axis=1) > 1e-12]  # the preference's own row constrains nothing
    norm = float(np.linalg.norm(losses))
    c = w @ losses / norm if norm > 0.0 else np.zeros(w.shape[0])
    return w, c


@register
class PMTL(Weighting):
    r"""Pareto MTL: descend to a Pareto-stationary point inside a preference's sub-region.

    Math (Lin et al., NeurIPS 2019): preference (reference) vectors ``u_1, ..., u_M`` in the
    positive orthant split the objective space into sub-regions
    ``Ω_k = {v : û_jᵀv <= û_kᵀv ∀j}`` (``û = u/||u||``): the loss vectors whose direction is
    closest (in cosine) to ``u_k``. A larger entry of ``u_k`` asks for a *larger* share of
    that loss — the opposite reading of EPO's preference. With the preference ``u_k`` the
    rule solves ``min F(θ)`` subject to ``G_j(θ) = (û_j − û_k)ᵀ F(θ) <= 0``, whose gradients
    ``∇G_j = Σ_i (û_j − û_k)_i ∇f_i`` are combinations of the task gradients. Its step is

        min_{d, α}  α + ½||d||²   s.t.  ∇f_iᵀd <= α (all i),  ∇G_jᵀd <= α (j ∈ I_ε),

    with the active set ``I_ε = {j : G_j(θ)/||F(θ)|| >= −eps}``; its dual is the min-norm
    point of the convex hull of ``{∇f_i} ∪ {∇G_j : j ∈ I_ε}``. With ``V = [I_K; W_{I_ε}]``
    (rows ``W_j = û_j − û_k``) that is ``λ* = argmin_{λ ∈ Δ} λᵀ(VGVᵀ)λ`` on the
    ``(K + |I_ε|)``-square Gramian ``VGVᵀ``, and the task weights are ``w = Vᵀλ*``
    (``d = Jᵀw``; the paper's reformulation as adaptive linear scalarization).

    Initial phase: from a point outside ``Ω_k`` (some ``G_j > 0``) the paper first finds a
    feasible point by descending the violated constraints only: ``λ*`` is the min-norm
    point of ``{∇G_j : G_j > 0}`` and ``w = W_violatedᵀλ*``. With ``find_feasible=True``
    (default) the rule takes that step whenever the point is infeasible (the reference code
    runs a fixed share of its iterations in this phase instead), and the main step once it is
    feasible, or where the violated constraints cannot be decreased together (their
    min-norm point is zero).

    Solver: `moo.solvers.min_norm_weights` (Wolfe's exact active-set method) on ``VGVᵀ``.
    Certificate: ``residual`` is its scale-free KKT residual (`moo.solvers.kkt_residual`)
    on ``VGVᵀ``. ``info``: ``"phase"`` (``"initial"`` or ``"main"``), ``"active"`` (indices of
    the constraints used, among the references not parallel to the preference),
    ``"constraints"`` (all ``G_j/||F||``), ``"iterations"``.

    Scale: ``w = Vᵀλ*`` with ``λ*`` on the simplex of the ``K + |I_ε|`` (or ``|violated|``)
    vectors; entries of ``w`` may be negative. With no active constraint ``w`` is MGDA's
    (simplex) weights, and so is the whole rule when ``references`` is ``None``.

    Args:
        preference: ``u_k`` (K,), non-negative and non-zero; ``None`` (default) for no
            sub-region (MGDA).
        references: the ``M×K`` preference vectors that split the space (non-negative,
            non-zero rows); ``pareto_front(..., preferences=P)`` passes ``P`` itself. ``None``
            (default): no constraint.
        eps: activation margin ``ε >= 0`` of the constraints, in units of ``||F||``
            (the reference code uses ``0``: only violated constraints are active).
        find_feasible: run the initial phase from infeasible points (default ``True``).

    References: Lin et al., "Pareto Multi-Task Learning", NeurIPS 2019 (their eqs. 11-16 and
    the initial-solution step); code: github.com/Xi-L/ParetoMTL.
    """

    name = "pmtl"
    summary = "Pareto MTL: min-norm descent constrained to a preference's sub-region"
    permutation_equivariant = False  # the preference is tied to the objectives' order

    def __init__(
        self,
        preference: ArrayLike | None = None,
        references: ArrayLike | None = None,
        eps: float = 0.0,
        find_feasible: bool = True,
    ) -> None:
        self._preference = _preference(preference, "preference", strict=False)
        k = None if self._preference is None else len(self._preference)
        self._references = _references(references, k)
        if self._references is not None and self._preference is None:
            raise ValueError("references were given without a preference: give preference too")
        self._eps = check_real(eps, "eps", low=0.0)
        self._find_feasible = check_bool(find_feasible, "find_feasible")

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        k = losses.shape[0]
        info: dict[str, Any] = {"phase": "main", "active": [], "constraints": np.zeros(0)}
        if self._preference is None or self._references is None:
            sol = min_norm_weights(gramian)
            info["iterations"] = sol.iterations
            return RuleResult(sol.weights, sol.residual, info)
        u = _match(self._preference, k)
        w, c = region_constraints(losses, u, np.asarray(self._references, dtype=np.float64))
        info["constraints"] = c
        violated = np.flatnonzero(c > 0.0)
        if self._find_feasible and violated.size:
            v = w[violated]
            sub = v @ gramian @ v.T
            sol = min_norm_weights(sub)
            scale = float(np.max(np.diag(sub)))
            if sol.value > _STUCK * scale:
                info.update(phase="initial", active=violated.tolist(), iterations=sol.iterations)
                return RuleResult(v.T @ sol.weights, sol.residual, info)
        active = np.flatnonzero(c >= -self._eps)
        extended = np.vstack([np.eye(k), w[active]])
        big = extended @ gramian @ extended.T
        big = 0.5 * (big + big.T)
        sol = min_norm_weights(big)
        info.update(active=active.tolist(), iterations=sol.iterations)
        return RuleResult(extended.T @ sol.weights, sol.residual, info)
