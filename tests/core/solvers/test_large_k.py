"""Many objectives (issue 15): the exact rules against independent CVXPY formulations at
K = 10, 20, 40 and 64.

Each rule's check (``check_<rule>``) takes one Jacobian, runs the rule on its Gramian
``G = J Jᵀ`` and compares with a CVXPY (Clarabel) formulation of the same problem written on
``J`` (helpers in ``_helpers.py``), or, for IMTL-G, with the defining property measured on
``J``:

- MGDA: ``min_{w ∈ Δ} ||Jᵀw||²``: objective values agree, the KKT residual is at rounding level;
- CAGrad (c = 0.5): the dual ``F(w) = wᵀb + c ||g0|| ||Jᵀw||`` on the simplex, ``b = G1/K``:
  optimal values agree, ``d`` is in the ball and attains the dual value, the certificate
  `cagrad_residual` is at rounding level;
- UPGrad: each ``v^(i) = argmin_{v >= e_i} vᵀGv`` (one QP per row): values agree, the
  projections lie in the dual cone, the certificate is at rounding level;
- Nash-MTL: ``min ½αᵀGα − Σ log α_i``: values agree, ``Gα = 1/α`` to rounding; where the rule
  reports a Pareto-stationary point, its witness ``w`` is checked on ``J``;
- IMTL-G: where ``G`` is nonsingular, ``d = Jᵀα`` has equal projections onto the unit
  gradients, to what the conditioning of the correlation matrix allows.

The Jacobians come from `moo.testing`'s strategies (``LARGE_K_FAMILIES``: random, correlated,
conflicting, rank-deficient, badly scaled), with ``K <= d <= 2K``, and ``d < K`` for the
rank-deficient family. The default run checks each (family, K) on a couple of derandomized
examples (the ``ci`` profile of ``tests/conftest.py``); ``test_random_sizes_sweep`` (marked
slow) draws K from 2 to 64 and every family, on many more examples.

Tolerances follow from float64 (eps = 2.2e-16): a sum of K <= 64 terms bounded by
``max_i G_ii`` rounds to at most ``K eps max_i G_ii ≈ 1.4e-14 max_i G_ii``, so a certificate of
an exact solver (active set, homotopy, Newton) is ``<= CERT = 1e-12`` in those units (a
margin of ~70 for the rounding that its updates accumulate); Clarabel, an interior-point
method stopped at a gap of 1e-12, agrees on optimal values to ``REF = 1e-9`` relative (its
distance to the optimum is a square root of its gap on some problems), and our value is never
worse than the one its point attains beyond rounding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moo.solvers import MGDA, ParetoStationaryError, kkt_residual
from moo.solvers.cagrad import cagrad_residual, cagrad_weights
from moo.solvers.imtl import imtlg_weights
from moo.solvers.nash_mtl import nash_residual, nash_weights
from moo.solvers.upgrad import upgrad_weights
from moo.testing import LARGE_K_FAMILIES, jacobians, make_jacobian
from tests.core.solvers._helpers import (
    cagrad_dual,
    cagrad_floor,
    cagrad_parts,
    cvxpy_cagrad_dual,
    cvxpy_dual_cone,
    cvxpy_min_norm,
    cvxpy_nash,
    gram_scale,
    nash_objective,
)

pytest.importorskip("cvxpy")

EPS = float(np.finfo(np.float64).eps)
CERT = 1e-12  # certificates of the exact solvers, scale-free (see the module docstring)
ROUND = 1e-12  # how much worse than CVXPY's point our value may be (rounding), same units
REF = 1e-9  # how much worse than ours CVXPY's point may be (its accuracy), same units
KS = (10, 20, 40, 64)
CAGRAD_C = 0.5
STATIONARY_TOL = 1e-6  # Nash-MTL's default stationary_tol
# d / K: K <= d <= 2K; d < K for the rank-deficient family (rank <= d < K)
DIM_RATIO = {family: (1.0, 2.0) for family in LARGE_K_FAMILIES} | {"rank-deficient": (0.25, 0.75)}
# the default run solves these rows' UPGrad problems with CVXPY (all rows up to K = 10)
UPGRAD_ROWS = 3


def large_jacobians(family: str, k: int) -> st.SearchStrategy[np.ndarray]:
    """K×d Jacobians of one family with the d of `DIM_RATIO`."""
    return jacobians(
        min_objectives=k, max_objectives=k, families=(family,), dim_ratio=DIM_RATIO[family]
    )


# ----------------------------------------------------------------------------------------------
# the checks, one per rule
# ----------------------------------------------------------------------------------------------


def check_mgda(jac: np.ndarray) -> None:
    k = jac.shape[0]
    gram = jac @ jac.T
    scale = gram_scale(gram)
    result = MGDA().weights(gram, np.ones(k))
    w = result.weights
    assert np.all(w >= 0.0) and abs(w.sum() - 1.0) <= k * EPS
    assert kkt_residual(gram, w) <= CERT
    assert result.residual <= CERT
    ours = float(np.sum((jac.T @ w) ** 2))
    w_ref, ref = cvxpy_min_norm(jac)
    assert ours <= ref + ROUND * scale, (ours - ref) / scale
    # Clarabel may stop early on badly scaled rows: its point is within its own certified
    # suboptimality, 2 kkt_residual(w_ref) max_i G_ii (see `kkt_residual`)
    ref_gap = kkt_residual(gram, w_ref)
    assert ref_gap <= 1e-6, "the CVXPY reference is inaccurate"
    assert ref - ours <= max(REF, 2.0 * ref_gap) * scale, ((ref - ours) / scale, ref_gap)


def check_cagrad(jac: np.ndarray) -> None:
    k = jac.shape[0]
    gram = jac @ jac.T
    scale = gram_scale(gram)
    c = CAGRAD_C
    sol = cagrad_weights(gram, c)
    assert np.all(sol.extra >= 0.0)
    assert np.all(sol.dual_weights >= 0.0) and abs(sol.dual_weights.sum() - 1.0) <= k * EPS
    # the certificate, up to the rounding that a large μ (nearly opposite gradients in the
    # support) brings into ||Jᵀμ|| through G (`cagrad_floor`)
    tol = cagrad_floor(jac, c, sol.extra, CERT)
    assert sol.residual <= tol
    assert cagrad_residual(gram, c, sol.extra, sol.dual_weights) <= tol
    # the primal point d = g0 + Jᵀμ is in the ball and attains the optimal value
    g0, _, s = cagrad_parts(jac, c)
    d = g0 + jac.T @ sol.extra
    assert float(np.linalg.norm(d - g0)) <= s * (1.0 + 1e-9) + tol * math.sqrt(scale)
    t_ours = float(np.min(jac @ d))
    assert abs(t_ours - sol.objective) <= tol * scale
    # the dual value: ours (on J) is the minimum, CVXPY's point attains it to its accuracy
    f_ours = cagrad_dual(jac, c, sol.dual_weights)
    assert abs(f_ours - sol.objective) <= tol * scale
    f_ref = cagrad_dual(jac, c, cvxpy_cagrad_dual(jac, c))
    assert sol.objective <= f_ref + max(ROUND, tol) * scale, (sol.objective - f_ref) / scale
    assert f_ref - sol.objective <= REF * scale, "the CVXPY reference is inaccurate"


def check_upgrad(jac: np.ndarray, rows: int | None = UPGRAD_ROWS) -> None:
    """All K problems certified; CVXPY on every row for K <= 10, else on ``rows`` spread rows
    (``None``: every row)."""
    k = jac.shape[0]
    gram = jac @ jac.T
    sol = upgrad_weights(gram)
    assert np.all(sol.weights >= (1.0 - k * EPS) / k)
    norms = np.linalg.norm(jac, axis=1)
    nonzero = norms > 0.0
    if rows is None or k <= 10:
        checked = list(range(k))
    else:
        checked = sorted({int(i) for i in np.linspace(0, k - 1, rows)})
    # Σ_j z_j with z_j = v_j ||g_j|| / ||g_i||: the size of row i's combination of unit rows
    sizes = (sol.projected @ norms) / np.where(nonzero, norms, 1.0)
    # the certificate's complementarity gap Σ_j |(Cz)_j| (z_j − e_ij) rounds like (Σ_j z_j)²
    assert sol.residual <= CERT * max(1.0, float(sizes.max())) ** 2
    for i in range(k):
        v = sol.projected[i]
        assert np.all(v >= np.eye(k)[i])
        if norms[i] == 0.0:
            continue
        # the projection π(g_i) = Jᵀv lies in the dual cone: (C z)_j = g_jᵀπ(g_i) / (||g_j||
        # ||g_i||) >= 0 up to the rounding of sums of unit rows of total size Σ_j z_j
        cz = (jac @ (jac.T @ v))[nonzero] / (norms[nonzero] * norms[i])
        assert np.all(cz >= -CERT * max(1.0, sizes[i])), (i, float(cz.min()))
    checked = [i for i in checked if norms[i] > 0.0]
    for i, (_, ref) in zip(checked, cvxpy_dual_cone(jac, checked), strict=True):
        v = sol.projected[i]
        ours = float(np.sum((jac.T @ v) ** 2)) / float(norms[i]) ** 2  # units of ||g_i||²
        units = max(1.0, sizes[i]) ** 2
        assert ours <= ref + ROUND * units, (i, ours - ref)
        assert ref - ours <= REF * units, "the CVXPY reference is inaccurate"


def check_nash(jac: np.ndarray) -> None:
    """``φ(α)`` against CVXPY and the certificate of ``Gα = 1/α``; where the rule reports a
    Pareto-stationary point, the witness ``w`` on the simplex has ``||Σ w_i u_i|| <= tol``
    measured on ``J``."""
    k = jac.shape[0]
    gram = jac @ jac.T
    try:
        sol = nash_weights(gram, stationary_tol=STATIONARY_TOL)
    except ParetoStationaryError as error:
        w = error.weights
        assert np.all(w >= 0.0) and abs(w.sum() - 1.0) <= k * 1e-12
        norms = np.linalg.norm(jac, axis=1)
        if np.all(norms > 0.0):
            witness = float(np.linalg.norm((jac / norms[:, None]).T @ w))
            assert witness <= STATIONARY_TOL + CERT
        else:
            assert np.all(norms[w > 0.0] == 0.0)
        return
    alpha = sol.weights
    assert np.all(alpha > 0.0)
    # the certificate r = ||α ∘ (Gα) − 1||: its terms α_i G_ij α_j sum to 1 per row, but cancel
    # from sizes up to Σ_j |α_i G_ij α_j| (conflicting gradients), which sets their rounding
    spread = float(np.max(alpha * (np.abs(gram) @ alpha)))
    floor = CERT + 4.0 * k * EPS * spread
    assert sol.residual <= floor
    assert nash_residual(gram, alpha) <= floor
    ours = nash_objective(jac, alpha)
    alpha_ref = cvxpy_nash(jac)
    assert alpha_ref is not None, "CVXPY found no optimum where the rule solved"
    ref = nash_objective(jac, alpha_ref)
    # φ's differences are scale-free; ½||Jᵀα||² = K/2 at the optimum; Clarabel's gap is
    # relative to the size of φ's terms
    assert ours <= ref + ROUND * k * spread, ours - ref
    assert ref - ours <= REF * (k + abs(ref)), "the CVXPY reference is inaccurate"


def check_imtlg(jac: np.ndarray) -> None:
    """Where ``G`` is nonsingular: weights summing to 1 and equal projections ``u_iᵀd``
    (``d = Jᵀα``), measured on ``J``.

    Their spread is at most ``tol (|c| + Σ_i |α_i| ||g_i||)``, ``c`` the common projection,
    ``tol = CERT + 4 K eps cond(C)``: forming the correlation matrix ``C`` from ``G`` and solving
    with it each lose ``~eps cond(C)`` (``cond(C)`` from the singular values of the unit rows
    ``U``, ``C = U Uᵀ``), relative to the size of the combination ``Σ_i α_i g_i`` before its
    cancellations. Where ``|c|`` itself is that small (the unit gradients nearly cancel,
    ``d ≈ 0``), the rule's relative defect, and its ``least_squares`` flag, measure rounding.
    """
    k = jac.shape[0]
    gram = jac @ jac.T
    norms = np.linalg.norm(jac, axis=1)
    sigma = np.linalg.svd(jac / norms[:, None], compute_uv=False)
    if k > jac.shape[1] or sigma[-1] <= 1e-6 * sigma[0]:
        return  # singular (or nearly): no equal-projection property to check
    tol = CERT + 4.0 * k * EPS * float(sigma[0] / sigma[-1]) ** 2
    sol = imtlg_weights(gram)
    assert abs(sol.weights.sum() - 1.0) <= 1e-12 * max(1.0, float(np.abs(sol.weights).sum()))
    projections = (jac @ (jac.T @ sol.weights)) / norms
    c = float(projections.mean())
    size = float(np.abs(sol.weights) @ norms)
    assert float(np.ptp(projections)) <= tol * (abs(c) + size)
    assert abs(sol.projection - c) <= tol * (abs(c) + size)
    if abs(c) > 1e-6 * size:  # the relative defect is resolvable
        assert not sol.least_squares
        assert sol.residual * abs(c) <= tol * (abs(c) + size)


CHECKS = {
    "mgda": check_mgda,
    "cagrad": check_cagrad,
    "upgrad": check_upgrad,
    "nash-mtl": check_nash,
    "imtl-g": check_imtlg,
}


# ----------------------------------------------------------------------------------------------
# the default run: every (rule, family, K) on two derandomized examples
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("family", LARGE_K_FAMILIES)
@pytest.mark.parametrize("rule", list(CHECKS))
@settings(max_examples=2)
@given(data=st.data())
def test_agrees_with_cvxpy(rule: str, family: str, k: int, data: st.DataObject) -> None:
    CHECKS[rule](data.draw(large_jacobians(family, k), label="jacobian"))


# ----------------------------------------------------------------------------------------------
# regressions: (family, K, d, seed) of `make_jacobian`, found by the slow sweep
# ----------------------------------------------------------------------------------------------

# Nearly dependent, conflicting gradients (cond G 1e7 to 1e9, interior or face optimum): MGDA
# once stopped with KKT residuals 1.8e-9 and 7.2e-11 here, its corral's affine minimizer
# solved in coordinates relative to one vertex (differences that cancel); the exact optimum,
# solved in 50-digit arithmetic, rounds to a residual of 2.7e-17 on the first.
MGDA_NOT_AT_ROUNDING = [("conflicting", 3, 3, 150), ("conflicting", 4, 5, 44)]


@pytest.mark.parametrize(("family", "k", "d", "seed"), MGDA_NOT_AT_ROUNDING)
def test_mgda_reaches_rounding_on_nearly_dependent_conflicts(
    family: str, k: int, d: int, seed: int
) -> None:
    check_mgda(make_jacobian(family, k, d, seed))


# ----------------------------------------------------------------------------------------------
# slow: random K from 2 to 64, every family, every rule, all UPGrad rows
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=40)
@given(
    st.integers(2, 64).flatmap(
        lambda k: st.sampled_from(LARGE_K_FAMILIES).flatmap(
            lambda family: large_jacobians(family, k)
        )
    )
)
def test_random_sizes_sweep(jac: np.ndarray) -> None:
    for rule, check in CHECKS.items():
        if rule == "upgrad":
            check_upgrad(jac, rows=None)
        else:
            check(jac)
