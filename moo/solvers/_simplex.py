"""Helpers for weights on the probability simplex ``Δ = {w : w >= 0, Σ w = 1}``."""

from __future__ import annotations

import numpy as np

from moo.validation import FloatArray


def project_simplex(v: FloatArray) -> FloatArray:
    """Euclidean projection of ``v`` onto the probability simplex.

    The sort-based algorithm of Held, Wolfe & Crowder (1974) / Duchi et al. (2008):
    ``w = max(v − τ, 0)`` with the threshold ``τ`` that makes ``Σ w = 1``; ``O(K log K)``.
    """
    shifted = v - v.max()  # translation-invariant; keeps huge entries from rounding away
    u = np.sort(shifted)[::-1]
    css = np.cumsum(u) - 1.0
    idx = np.arange(1, v.size + 1)
    rho = int(np.nonzero(u - css / idx > 0.0)[0][-1])
    tau = css[rho] / (rho + 1)
    w: FloatArray = np.maximum(shifted - tau, 0.0)
    return w


def simplex_error(w: FloatArray, tol: float = 1e-9) -> str | None:
    """``None`` when ``w`` is on the simplex (up to ``tol``), else a message saying why not."""
    if np.any(w < -tol):
        return f"weights must be non-negative, got min {float(w.min()):.3g}"
    total = float(w.sum())
    if abs(total - 1.0) > tol * max(1.0, float(np.abs(w).sum())):
        return f"weights must sum to 1, got {total!r}"
    return None
