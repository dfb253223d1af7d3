"""Hypothesis strategies for Jacobians, Gramians and loss vectors.

Each strategy draws a few integers (sizes, a family, a seed) and builds the matrix with a seeded
NumPy generator, so examples are reproducible and the families cover the hard cases of
multi-objective solvers:

- ``"gaussian"``: well-conditioned rows with i.i.d. normal entries;
- ``"rank-deficient"``: ``J = A B`` with inner rank below ``min(K, d)`` (dependent rows);
- ``"near-parallel"``: rows ``u + ε v_i`` with ``ε`` down to ``1e-8`` (nearly equal gradients);
- ``"scaled"``: gaussian rows multiplied by factors spread over ``1e-4 .. 1e4``;
- ``"duplicated"``: repeated rows, possibly with a zero row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from moo.validation import FloatArray

FAMILIES: tuple[str, ...] = ("gaussian", "rank-deficient", "near-parallel", "scaled", "duplicated")


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
    raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")


@st.composite
def jacobians(
    draw: st.DrawFn,
    *,
    min_objectives: int = 1,
    max_objectives: int = 12,
    min_dim: int = 1,
    max_dim: int = 20,
    families: Sequence[str] = FAMILIES,
) -> FloatArray:
    """Strategy for K×d Jacobians from the families above."""
    k = draw(st.integers(min_objectives, max_objectives))
    d = draw(st.integers(min_dim, max_dim))
    family = draw(st.sampled_from(list(families)))
    seed = draw(st.integers(0, 2**32 - 1))
    return make_jacobian(family, k, d, seed)


@st.composite
def gramians(
    draw: st.DrawFn,
    *,
    min_objectives: int = 1,
    max_objectives: int = 12,
    families: Sequence[str] = FAMILIES,
) -> FloatArray:
    """Strategy for K×K Gramians ``J Jᵀ`` of `jacobians`."""
    jac = draw(
        jacobians(
            min_objectives=min_objectives, max_objectives=max_objectives, families=families
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
