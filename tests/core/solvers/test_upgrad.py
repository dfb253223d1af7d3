"""UPGrad: differential tests, the dual cone and its certificate, singular cases, convergence.

The generic laws are checked in ``test_laws.py``. Differential references: a CVXPY (Clarabel)
formulation of each UPGrad projection ``min ||x − g_i||² s.t. J x >= 0``; torchjd's weighting
where installed (torchjd's UPGrad needs ``qpsolvers`` and ``quadprog``, skipped when missing).

Convergence on ``quadratic`` (``moo.minimize``, default Armijo steps, 5 seeded starts), as
asserted here: UPGrad (common descent, so Armijo tests every objective) K = 2 and K = 3
(``n_var = 4``) runs converge (``||d|| <= 1e-6``), end Pareto-stationary and on the front,
and every accepted step decreases every objective; IMTL-G's runs on the same problems are
checked by the same test (observed to converge Pareto-stationary and on the front).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import moo
from moo.solvers import get_rule
from moo.solvers.imtl import IMTLG
from moo.solvers.pcgrad import PCGrad
from moo.solvers.upgrad import UPGrad, dual_cone_weights, upgrad_weights
from moo.testing import FAMILIES, jacobians, make_jacobian
from tests.core.solvers._helpers import max_norm


def test_registry_and_declared_properties() -> None:
    assert isinstance(get_rule("upgrad"), UPGrad)
    assert UPGrad.common_descent and UPGrad.average_descent and not UPGrad.stateful
    assert UPGrad.needs == "gramian"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: get_rule("upgrad", pref_vector=[1, 1]), "unknown hyperparameter"),
    ],
)
def test_bad_hyperparameters(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def _cvxpy_projection(jac: np.ndarray, i: int) -> tuple[np.ndarray, float]:
    """``argmin ||x − g_i||² s.t. J x >= 0`` by CVXPY + Clarabel, solved on the unit rows (the
    cone does not change when rows are rescaled) and rescaled back."""
    cp = pytest.importorskip("cvxpy")
    norms = np.linalg.norm(jac, axis=1)
    units = jac[norms > 0.0] / norms[norms > 0.0, None]
    x = cp.Variable(jac.shape[1])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - jac[i] / norms[i])), [units @ x >= 0])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(x.value) * norms[i], float(problem.value) * norms[i] ** 2


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_upgrad_projections_agree_with_cvxpy(family: str, k: int) -> None:
    """Each ``π(g_i) = Jᵀ v^(i)`` within 1e-8 ``||g_i||`` of CVXPY's projection, and its
    objective ``||π(g_i) − g_i||²`` within 1e-8 ``||g_i||²``."""
    for seed in range(2):
        jac = make_jacobian(family, k, 12, seed=1000 * k + seed)
        sol = upgrad_weights(jac @ jac.T)
        assert sol.residual <= 1e-10
        np.testing.assert_allclose(sol.weights, sol.projected.mean(axis=0), rtol=1e-15)
        for i in range(k):
            norm = float(np.linalg.norm(jac[i]))
            if norm == 0.0:
                np.testing.assert_array_equal(sol.projected[i], np.eye(k)[i])
                continue
            ours = jac.T @ sol.projected[i]
            ref, value = _cvxpy_projection(jac, i)
            assert np.linalg.norm(ours - ref) <= 1e-8 * norm
            assert abs(float(np.sum((ours - jac[i]) ** 2)) - value) <= 1e-8 * norm**2
            assert np.all(sol.projected[i] >= np.eye(k)[i])


@settings(max_examples=150)
@given(jacobians(max_objectives=10))
def test_upgrad_dual_cone_and_certificate(jac: np.ndarray) -> None:
    """Every projection lies in the dual cone (``J π(g_i) >= 0``), so ``J d >= 0``; the KKT
    residual is at rounding level; weights ``>= 1/K``."""
    k = jac.shape[0]
    gram = jac @ jac.T
    sol = upgrad_weights(gram)
    scale = max(float(np.max(np.diag(gram))), 1e-300)
    assert sol.residual <= 1e-9
    assert np.all(jac @ (jac.T @ sol.projected.T) >= -1e-9 * scale)
    assert np.all(jac @ (jac.T @ sol.weights) >= -1e-9 * scale)
    assert np.all(sol.weights >= (1.0 - 1e-12) / k)
    i = k - 1
    row = dual_cone_weights(gram, i)
    np.testing.assert_allclose(jac.T @ row.weights, jac.T @ sol.projected[i], atol=1e-12 * scale)


def test_upgrad_two_objectives_is_mean_pcgrad() -> None:
    for family in FAMILIES:
        for seed in range(5):
            jac = make_jacobian(family, 2, 5, seed=seed)
            gram = jac @ jac.T
            up = UPGrad().weights(gram, np.ones(2)).weights
            pc = PCGrad(reduction="mean").weights(gram, np.ones(2)).weights
            np.testing.assert_allclose(up, pc, rtol=1e-14)


def test_upgrad_special_cases() -> None:
    no_conflict = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert UPGrad().weights(no_conflict @ no_conflict.T, np.ones(3)).weights.tolist() == [1 / 3] * 3
    opposite = np.array([[1.0, 2.0], [-2.0, -4.0], [3.0, 1.0]])  # dual cone is a half-line
    result = UPGrad().weights(opposite @ opposite.T, np.ones(3))
    assert np.all(opposite @ (opposite.T @ result.weights) >= -1e-12)
    assert abs(float(opposite[0] @ opposite.T @ result.weights)) <= 1e-12
    zero = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 1.0]])
    sol = upgrad_weights(zero @ zero.T)
    np.testing.assert_array_equal(sol.projected[1], [0.0, 1.0, 0.0])
    assert sol.projected[0, 1] == 0.0 and sol.projected[2, 1] == 0.0
    np.testing.assert_allclose(upgrad_weights(np.zeros((3, 3))).weights, np.full(3, 1 / 3))
    with pytest.raises(ValueError, match=r"i must be in \[0, 3\), got 3"):
        dual_cone_weights(zero @ zero.T, 3)


def _torchjd_upgrad(gram: np.ndarray, reg_eps: float | None) -> np.ndarray:
    torch = pytest.importorskip("torch")
    aggregation = pytest.importorskip("torchjd.aggregation")
    pytest.importorskip("qpsolvers")
    pytest.importorskip("quadprog")
    from torchjd.linalg import QuadprogProjector

    projector = None if reg_eps is None else QuadprogProjector(reg_eps=reg_eps)
    weighting = aggregation.UPGradWeighting(projector=projector)
    return np.asarray(weighting(torch.from_numpy(gram.copy())).numpy())


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_upgrad_matches_torchjd(k: int) -> None:
    """torchjd solves each QP with quadprog on ``G / tr(G) + 1e-4 I``; without that
    regularization (``reg_eps=0``, full-rank ``G``) both agree to rounding. With its default
    the direction differs by up to ~1e-3 of the largest gradient on these Gramians."""
    for seed in range(3):
        jac = make_jacobian("gaussian", k, 12, seed=seed)
        gram = jac @ jac.T
        d = jac.T @ UPGrad().weights(gram, np.ones(k)).weights
        exact = jac.T @ _torchjd_upgrad(gram, 0.0)
        default = jac.T @ _torchjd_upgrad(gram, None)
        scale = max_norm(jac)
        np.testing.assert_allclose(d, exact, atol=1e-10 * scale)
        np.testing.assert_allclose(d, default, atol=5e-3 * scale)


# ----------------------------------------------------------------------------------------------
# convergence on convex quadratics
# ----------------------------------------------------------------------------------------------

QUADRATICS = [({}, 1e-3, 5000), ({"n_obj": 3, "n_var": 4}, 2e-2, 40000)]


@pytest.mark.parametrize(("params", "front_tol", "points"), QUADRATICS)
@pytest.mark.parametrize("rule", [UPGrad(), IMTLG()], ids=["upgrad", "imtl-g"])
def test_upgrad_and_imtlg_converge_pareto_stationary(
    rule: moo.solvers.UpdateRule, params: dict[str, int], front_tol: float, points: int
) -> None:
    problem = moo.get_problem("quadratic", **params)
    front = problem.pareto_front(points)
    for seed in range(5):
        run = moo.minimize(problem, rule, seed=seed, steps=500, tol=1e-6)
        assert run.converged, f"{run.reason} after {run.n_steps} steps"
        assert run.stationarity <= 1e-5
        assert float(moo.distance_to_front(run.F, front)[0]) <= front_tol
        if rule.common_descent:  # UPGrad: Armijo tested every objective
            assert np.all(np.diff(run.history.F, axis=0) <= 0.0)
