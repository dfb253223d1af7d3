"""MGDA: the multiple-gradient descent algorithm, solved exactly on the Gramian.

References:
    J.-A. Désidéri, "Multiple-gradient descent algorithm (MGDA) for multiobjective
    optimization", Comptes Rendus Mathématique 350 (2012).
    O. Sener and V. Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018.
    P. Wolfe, "Finding the nearest point in a polytope", Mathematical Programming 11 (1976).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from moo.solvers._base import RuleResult, Weighting, register
from moo.solvers._min_norm import min_norm_weights
from moo.solvers._simplex import simplex_error
from moo.validation import FloatArray, check_choice

Normalization = Literal["none", "l2", "loss", "loss+"]
NORMALIZATIONS: tuple[str, ...] = ("none", "l2", "loss", "loss+")


def _scales(gramian: FloatArray, losses: FloatArray, normalization: str) -> FloatArray:
    norms = np.sqrt(np.maximum(np.diag(gramian), 0.0))
    if normalization == "none":
        return np.ones_like(losses)
    if normalization == "l2":
        return norms
    if np.any(losses <= 0.0):
        k = int(np.flatnonzero(losses <= 0.0)[0])
        raise ValueError(
            f"normalization={normalization!r} needs positive losses, got losses[{k}] = {losses[k]}"
        )
    return losses if normalization == "loss" else losses * norms


@register
class MGDA(Weighting):
    r"""Multiple-gradient descent (MGDA), exact.

    Math: with gradients ``g_i`` (rows of ``J``) and Gramian ``G = J Jᵀ``,

        w* = argmin_{w ∈ Δ} wᵀ G w,     d = Jᵀ w*,

    i.e. ``d`` is the min-norm point of the convex hull of the gradients. It is a common
    descent direction: ``g_iᵀ d >= ||d||²`` for every ``i``, with equality where ``w*_i > 0``,
    and ``d = 0`` iff the point is Pareto-stationary.

    Solver: Wolfe's active-set min-norm-point method on the K×K Gramian (finite, exact up to
    rounding), closed form for K = 2, ``[1]`` for K = 1. The result's ``residual`` is the
    scale-free KKT residual of `kkt_residual`.

    Complexity, with ``S`` the optimum's support: K <= 9 on Python floats, from one vertex,
    O(K|S| + |S|³) per major cycle (one per vertex that enters); from K = 10 on NumPy arrays
    (`moo.solvers.min_norm_weights`): a warm start of O(K³) at C speed (a pivoted Cholesky
    factor picks an affinely independent corral, shrunk to its positive affine weights), then
    O(K²) per major cycle plus O(|S|²) per vertex that enters (a factor grown by one row) and
    O(|S|³) in LAPACK per vertex dropped. Typically a handful of factorizations: about 0.1 to
    1 ms at K = 64 (`benchmarks/results-many-objectives.md`).

    Scale: with ``normalization="none"`` the weights lie on the simplex. With a normalization,
    the gradients are divided by ``s_i`` before solving (Sener & Koltun's normalizers:
    ``"l2"``: ``s_i = ||g_i||``; ``"loss"``: ``s_i = f_i``; ``"loss+"``: ``s_i = f_i ||g_i||``)
    and the returned weights ``w_i = w'_i / s_i`` apply to the raw gradients, so
    ``d = Jᵀ w`` is the min-norm point of the normalized gradients. The loss normalizers
    need positive losses.

    Args:
        normalization: ``"none"`` (default), ``"l2"``, ``"loss"`` or ``"loss+"``.

    References: Désidéri (2012); Sener & Koltun, NeurIPS 2018; Wolfe (1976).
    """

    name = "mgda"
    summary = "min-norm point of the convex hull of the gradients (exact active-set QP)"
    common_descent = True

    def __init__(self, normalization: Normalization = "none") -> None:
        self._normalization: Normalization = check_choice(  # type: ignore[assignment]
            normalization, "normalization", NORMALIZATIONS
        )

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        if self._normalization == "none":
            sol = min_norm_weights(gramian)
            w = sol.weights
        else:
            s = _scales(gramian, losses, self._normalization)
            zero = s <= 0.0
            if zero.any():  # a zero gradient: d = 0 is in the hull, the point is stationary
                return RuleResult(zero / zero.sum(), 0.0, {"objective": 0.0, "iterations": 0})
            sol = min_norm_weights(gramian / np.outer(s, s))
            w = sol.weights / s
        # wᵀGw of the raw gradients: the min-norm value, rescaled by the normalization
        objective = sol.value if self._normalization == "none" else float(w @ gramian @ w)
        return RuleResult(w, sol.residual, {"objective": objective, "iterations": sol.iterations})

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """Simplex weights on the (normalized) gradients: ``w_i s_i >= 0`` summing to 1."""
        assert gramian is not None
        if self._normalization == "none":
            scaled = weights
        else:
            s = _scales(gramian, losses, self._normalization)
            if (s <= 0.0).any():
                return None  # a zero gradient: any weight on it gives d = 0
            scaled = weights * s
        return simplex_error(scaled)
