"""Hypothesis strategies for Jacobians, Gramians and loss vectors.

Each strategy draws a few integers (sizes, a family, a seed) and builds the matrix with a seeded
NumPy generator, so examples are reproducible and the families cover the hard cases of
multi-objective solvers:

- ``"gaussian"``: well-conditioned rows with i.i.d. normal entries;
- ``"rank-deficient"``: ``J = A B`` with inner rank below ``min(K, d)`` (dependent rows);
- ``"near-parallel"``: rows ``u + ε v_i`` with ``ε`` down to ``1e-8`` (nearly equal gradients);
- ``"scaled"``: gaussian rows multiplied by factors spread over ``1e-4 .. 1e4``;
- ``"duplicated"``: repeated rows, possibly with a zero row.

Opt-in families for many objectives (pass ``families=LARGE_K_FAMILIES``, K up to 64), with
`jacobians`'s ``dim_ratio`` to tie ``d`` to ``K`` (``d >= K``, or ``d < K`` for rank
deficiency): ``"gaussian"`` (random), ``"rank-deficient"``, ``"scaled"`` (badly scaled) and

- ``"correlated"``: a shared component plus task noise, ``g_i = s_i (ρ u + √(1 − ρ²) n_i)``
  with one correlation ``ρ`` in ``0.5 .. 0.99`` and norms ``s_i`` in ``0.5 .. 2`` (the
  setting of multitask training, where task gradients share most of their direction);
- ``"conflicting"``: groups of 2 to 4 opposing gradients, ``g_i = s_i (σ_i b_g + η n_i)``
  with signs ``σ_i`` of both kinds in every group, noise ``η`` in ``1e-3 .. 1`` and norms
  ``s_i`` in ``0.5 .. 2`` (Pareto-stationary up to the noise: supports spread over many
  objectives).

Opt-in families, not in `FAMILIES` (pass ``families=HARD_FAMILIES``): hard but valid input
near a weakly Pareto-stationary point, where solvers of ill-conditioned duals lose accuracy:

- ``"nearly-weakly-stationary"``: ``vᵀJ = 0`` for a ``v >= 0`` with zeros (0 is in the convex
  hull of some rows but not strictly inside the hull of all), rank below ``K``, then moved off
  by a perturbation of relative size ``1e-12 .. 1e-4`` (or none);
- ``"tiny-singular-value"``: such a weakly stationary ``J`` plus one rank-one term whose
  singular value is ``1e-12 .. 1e-6`` of the largest;
- ``"float32-rounded"``: a matrix of the families above (or gaussian, rank-deficient) rounded
  to float32 and back, as a float32 Jacobian reaches a float64 rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from moo.validation import FloatArray

FAMILIES: tuple[str, ...] = ("gaussian", "rank-deficient", "near-parallel", "scaled", "duplicated")
HARD_FAMILIES: tuple[str, ...] = (
    "nearly-weakly-stationary",
    "tiny-singular-value",
    "float32-rounded",
)
LARGE_K_FAMILIES: tuple[str, ...] = (
    "gaussian",
    "correlated",
    "conflicting",
    "rank-deficient",
    "scaled",
)


def make_jacobian(family: str, k: int, d: int, seed: int) -> FloatArray:
    """Build a K×d Jacobian of the named family with a seeded generator."""
    rng = np.random.default_rng(seed)
    if family == "gaussian":
        return rng.normal(size=(k, d))
    if family == "rank-deficient":
        rank = int(rng.integers(1, max(1, min(k, d) - 1) + 1))
        return rng.normal(size=(k, rank)) @ rng.normal(size=(rank, d))
    if family == "near-parallel":
        eps = float(10.0 ** rng.uniform(-8, -2))
        near: FloatArray = rng.normal(size=(1, d)) + eps * rng.normal(size=(k, d))
        return near
    if family == "scaled":
        return rng.normal(size=(k, d)) * 10.0 ** rng.uniform(-4, 4, size=(k, 1))
    if family == "duplicated":
        base = rng.normal(size=(max(1, k // 2), d))
        jac = base[rng.integers(0, base.shape[0], size=k)]
        if k > 1 and rng.random() < 0.3:
            jac[rng.integers(k)] = 0.0
        return jac
    if family == "correlated":
        rho = float(rng.uniform(0.5, 0.99))
        shared = rng.normal(size=(1, d))
        mixed = rho * shared + math.sqrt(1.0 - rho * rho) * rng.normal(size=(k, d))
        correlated: FloatArray = mixed * rng.uniform(0.5, 2.0, size=(k, 1))
        return correlated
    if family == "conflicting":
        return _conflicting(rng, k, d)
    if family == "nearly-weakly-stationary":
        jac, top = _weakly_stationary(rng, k, d)
        if rng.random() < 0.75:
            jac = jac + top * 10.0 ** rng.uniform(-12, -4) * rng.normal(size=(k, d))
        return jac
    if family == "tiny-singular-value":
        jac, top = _weakly_stationary(rng, k, d)
        u, v = rng.normal(size=k), rng.normal(size=d)
        size = top * 10.0 ** rng.uniform(-12, -6)
        tiny: FloatArray = jac + size * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
        return tiny
    if family == "float32-rounded":
        inner_families = (
            "gaussian",
            "rank-deficient",
            "nearly-weakly-stationary",
            "tiny-singular-value",
        )
        pick = inner_families[int(rng.integers(len(inner_families)))]
        inner = make_jacobian(pick, k, d, int(rng.integers(2**32)))
        rounded: FloatArray = inner.astype(np.float32).astype(np.float64)
        return rounded
    names = ", ".join(dict.fromkeys(FAMILIES + LARGE_K_FAMILIES + HARD_FAMILIES))
    raise ValueError(f"family must be one of {names}; got {family!r}")


def _conflicting(rng: np.random.Generator, k: int, d: int) -> FloatArray:
    """Rows in consecutive groups of 2 to 4 (the last may be a single row), each group around
    one random direction ``b_g`` with signs ``+, −`` then random: ``g_i = s_i (σ_i b_g + η
    n_i)``, one noise level ``η`` in ``1e-3 .. 1`` and norms ``s_i`` in ``0.5 .. 2``."""
    eta = float(10.0 ** rng.uniform(-3, 0))
    signs = np.empty(k)
    bases = np.empty((k, d))
    start = 0
    while start < k:
        size = min(int(rng.integers(2, 5)), k - start)
        group = np.concatenate([[1.0, -1.0], rng.choice([-1.0, 1.0], size=2)])[:size]
        signs[start : start + size] = group
        bases[start : start + size] = rng.normal(size=d)
        start += size
    rows = signs[:, None] * bases + eta * rng.normal(size=(k, d))
    conflicting: FloatArray = rows * rng.uniform(0.5, 2.0, size=(k, 1))
    return conflicting


def _orthonormal_complement(rng: np.random.Generator, basis: FloatArray) -> FloatArray:
    """Random orthonormal columns spanning the orthogonal complement of ``basis``'s columns
    (themselves orthonormal)."""
    n, m = basis.shape
    draw = rng.normal(size=(n, n - m))
    q, _ = np.linalg.qr(draw - basis @ (basis.T @ draw))
    out: FloatArray = q
    return out


def _weakly_stationary(rng: np.random.Generator, k: int, d: int) -> tuple[FloatArray, float]:
    """A K×d ``J = U S Vᵀ`` with ``vᵀJ = 0`` for a unit ``v >= 0`` supported on a random part
    of the rows, and a unit ``v' >= 0`` on the other rows as a left singular vector (so no
    ``w > 0`` has ``wᵀJ = 0``: weakly, not strongly, stationary; the construction of torchjd's
    test samplers); rank ``1 .. min(K − 1, d)``. Returns ``J`` and its largest singular
    value. K = 1 gives a zero row."""
    if k < 2:
        return np.zeros((k, d)), 1.0
    rank = int(rng.integers(1, min(k - 1, d) + 1))
    mags = np.abs(rng.normal(size=k)) + 1e-3
    order = rng.permutation(k)
    split = int(rng.integers(1, k))
    v, v_other = np.zeros(k), np.zeros(k)
    v[order[:split]] = mags[order[:split]]
    v_other[order[split:]] = mags[order[split:]]
    pair = np.stack([v / np.linalg.norm(v), v_other / np.linalg.norm(v_other)], axis=1)
    left = np.hstack([pair, _orthonormal_complement(rng, pair)])[:, 1 : rank + 1]
    right = _orthonormal_complement(rng, np.zeros((d, 0)))[:, :rank]
    values = np.abs(rng.normal(size=rank)) + 1e-3
    jac: FloatArray = (left * values) @ right.T
    return jac, float(values.max())


@st.composite
def jacobians(
    draw: st.DrawFn,
    *,
    min_objectives: int = 1,
    max_objectives: int = 12,
    min_dim: int = 1,
    max_dim: int = 20,
    families: Sequence[str] = FAMILIES,
    dim_ratio: tuple[float, float] | None = None,
) -> FloatArray:
    """Strategy for K×d Jacobians from the families above.

    K is drawn from ``min_objectives .. max_objectives``. d is drawn from
    ``min_dim .. max_dim``, or, with ``dim_ratio = (low, high)``, from
    ``ceil(low K) .. floor(high K)`` (at least 1), ignoring ``min_dim`` and ``max_dim``: for many
    objectives ``(1, 2)`` gives ``K <= d <= 2K`` and ``(0.25, 0.75)`` rank-deficient ``d < K``.
    """
    k = draw(st.integers(min_objectives, max_objectives))
    if dim_ratio is None:
        d = draw(st.integers(min_dim, max_dim))
    else:
        low, high = dim_ratio
        if not 0.0 < low <= high:
            raise ValueError(f"dim_ratio must be (low, high) with 0 < low <= high, got {dim_ratio}")
        lowest = max(1, math.ceil(low * k))
        d = draw(st.integers(lowest, max(lowest, math.floor(high * k))))
    family = draw(st.sampled_from(list(families)))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_jacobian(family, k, d, seed)


@st.composite
def gramians(
    draw: st.DrawFn,
    *,
    min_objectives: int = 1,
    max_objectives: int = 12,
    min_dim: int = 1,
    max_dim: int = 20,
    families: Sequence[str] = FAMILIES,
    dim_ratio: tuple[float, float] | None = None,
) -> FloatArray:
    """Strategy for K×K Gramians ``J Jᵀ`` of `jacobians` (same arguments)."""
    jac = draw(
        jacobians(
            min_objectives=min_objectives,
            max_objectives=max_objectives,
            min_dim=min_dim,
            max_dim=max_dim,
            families=families,
            dim_ratio=dim_ratio,
        )
    )
    gram: FloatArray = jac @ jac.T
    return gram


@st.composite
def loss_vectors(draw: st.DrawFn, k: int, *, positive: bool = True) -> FloatArray:
    """Strategy for K loss values (positive by default), spread over several decades."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = 10.0 ** rng.uniform(-3, 2, size=k)
    if not positive:
        values *= rng.choice([-1.0, 1.0], size=k)
    return values
