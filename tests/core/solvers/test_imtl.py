"""IMTL-G: equal projections, differential tests, singular cases, convergence.

The generic laws are checked in ``test_laws.py``. Differential references: the IMTL-G paper's
closed form ``α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹`` on ``J``; torchjd's weighting where installed.

Convergence on ``quadratic`` (``moo.minimize``, 5 seeded starts), as asserted: K = 2 and
K = 3 (``n_var = 4``) runs converge Pareto-stationary and on the front (observed; for K >= 3
IMTL-G is not a descent method in general), in ``test_upgrad.py``'s
``test_upgrad_and_imtlg_converge_pareto_stationary``. Here: with more objectives than
variables (K = 3, ``n_var = 2``) the default ``"weighted"`` Armijo test can cycle;
``Armijo(condition="all")`` stops every run at a Pareto-stationary point.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import moo
from moo.solvers import get_rule
from moo.solvers.imtl import IMTLG
from moo.steps import Armijo
from moo.testing import jacobians, make_jacobian
from tests.core.solvers._helpers import max_norm


def test_registry_and_declared_properties() -> None:
    assert isinstance(get_rule("imtl-g"), IMTLG)
    assert not IMTLG.common_descent and not IMTLG.average_descent and not IMTLG.stateful
    assert IMTLG.needs == "gramian"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: get_rule("imtl-g", eps=1e-3), "unknown hyperparameter"),
    ],
)
def test_bad_hyperparameters(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def _unit_projections(jac: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.linalg.norm(jac, axis=1)
    d = jac.T @ w
    nonzero = norms > 0.0
    return (jac[nonzero] @ d) / norms[nonzero], d


@settings(max_examples=200)
@given(
    jacobians(
        max_objectives=6,
        min_dim=8,
        max_dim=20,
        families=("gaussian", "scaled", "near-parallel", "duplicated"),
    )
)
def test_imtlg_equal_projections(jac: np.ndarray) -> None:
    """``u_iᵀd`` equal for every objective with a non-zero gradient, to 1e-10 of ``||d||``,
    measured on ``J`` (K <= d, so equal projections are attainable)."""
    gram = jac @ jac.T
    result = IMTLG().weights(gram, np.ones(jac.shape[0]))
    assert abs(result.weights.sum() - 1.0) <= 1e-12 * max(1.0, np.abs(result.weights).sum())
    proj, d = _unit_projections(jac, result.weights)
    dnorm = float(np.linalg.norm(d))
    assert np.ptp(proj) <= 1e-10 * dnorm
    assert not result.info["least_squares"] and result.residual <= 1e-10
    assert abs(result.info["projection"] - proj.mean()) <= 1e-10 * dnorm


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_imtlg_matches_the_paper_closed_form(k: int) -> None:
    """``α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹``, ``α_1 = 1 − Σ α_{2:K}`` (Liu et al. 2021) on ``J``."""
    for seed in range(5):
        jac = make_jacobian("gaussian", k, 12, seed=seed)
        u = jac / np.linalg.norm(jac, axis=1, keepdims=True)
        dmat = jac[0] - jac[1:]
        umat = u[0] - u[1:]
        tail = np.linalg.solve((dmat @ umat.T).T, umat @ jac[0])
        paper = np.concatenate([[1.0 - tail.sum()], tail])
        ours = IMTLG().weights(jac @ jac.T, np.ones(k)).weights
        np.testing.assert_allclose(jac.T @ ours, jac.T @ paper, atol=1e-10 * max_norm(jac))


@pytest.mark.parametrize("family", ["gaussian", "duplicated"])
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_imtlg_matches_torchjd_where_equal_projections_exist(family: str, k: int) -> None:
    """torchjd's ``G⁺ n / 1ᵀG⁺ n`` and ours agree where equal projections are attainable and
    ``G`` is well conditioned (invertible, or dependent rows whose unit vectors coincide).
    (On badly scaled or nearly parallel gradients torchjd's pseudo-inverse of the raw ``G``
    loses digits that the correlation matrix keeps.)"""
    torch = pytest.importorskip("torch")
    aggregation = pytest.importorskip("torchjd.aggregation")
    for seed in range(3):
        jac = make_jacobian(family, k, 12, seed=10 * k + seed)
        gram = jac @ jac.T
        ours = IMTLG().weights(gram, np.ones(k)).weights
        theirs = aggregation.IMTLGWeighting()(torch.from_numpy(gram.copy())).numpy()
        np.testing.assert_allclose(jac.T @ ours, jac.T @ theirs, atol=1e-9 * max_norm(jac))


def test_imtlg_least_squares_policy_differs_from_torchjd() -> None:
    """More objectives than dimensions: no equal-projection direction exists. Ours minimizes
    ``Σ (u_iᵀd' − 1)²`` (every objective counts the same); torchjd weighs by ``||g_i||²``."""
    jac = np.array([[1.0, 0.0], [0.0, 3.0], [-1.0, -1.0]])
    gram = jac @ jac.T
    result = IMTLG().weights(gram, np.ones(3))
    assert result.info["least_squares"] and result.info["rank"] == 2
    u = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    d_ls = np.linalg.lstsq(u, np.ones(3), rcond=None)[0]  # argmin ||U d' − 1||
    d = jac.T @ result.weights
    assert abs(float(d @ d_ls) / (np.linalg.norm(d) * np.linalg.norm(d_ls)) - 1.0) < 1e-12
    expected = float(np.max(np.abs(u @ d_ls - 1.0)))
    assert result.residual == pytest.approx(expected, rel=1e-10)


def test_imtlg_two_objectives_closed_form_and_descent() -> None:
    for seed in range(20):
        jac = make_jacobian("scaled", 2, 4, seed=seed)
        n1, n2 = np.linalg.norm(jac, axis=1)
        w = IMTLG().weights(jac @ jac.T, np.ones(2)).weights
        np.testing.assert_allclose(w, [n2 / (n1 + n2), n1 / (n1 + n2)], rtol=1e-12)
        assert np.all(jac @ (jac.T @ w) >= -1e-12 * max(n1, n2) ** 2)


def test_imtlg_can_be_an_ascent_direction() -> None:
    """The documented counterexample: weights sum to 1, projections are equal, and negative."""
    jac = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.1, 0.1, 0.01]])
    result = IMTLG().weights(jac @ jac.T, np.ones(3))
    np.testing.assert_allclose(result.weights, [-0.12770, -0.12770, 1.25539], atol=1e-5)
    proj, _ = _unit_projections(jac, result.weights)
    assert result.info["projection"] < 0.0
    np.testing.assert_allclose(proj, result.info["projection"], rtol=1e-12)
    assert np.all(jac @ (jac.T @ result.weights) < 0.0)


def test_imtlg_zero_gradients() -> None:
    jac = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    result = IMTLG().weights(jac @ jac.T, np.ones(3))
    assert result.weights[1] == 0.0 and result.info["zero_gradients"] == 1
    np.testing.assert_allclose(result.weights, [2 / 3, 0.0, 1 / 3], rtol=1e-14)
    all_zero = IMTLG().weights(np.zeros((3, 3)), np.ones(3))
    np.testing.assert_allclose(all_zero.weights, np.full(3, 1 / 3))
    single = IMTLG().weights(np.diag([0.0, 4.0]), np.ones(2))
    assert single.weights.tolist() == [0.0, 1.0] and single.info["projection"] == 2.0


@pytest.mark.parametrize(
    "jac",
    [
        np.array([[1.0, 2.0], [-2.0, -4.0]]),  # opposite
        np.array([[1.0, 0.0], [-0.5, 0.5 * np.sqrt(3.0)], [-2.0, -2.0 * np.sqrt(3.0)]]),  # 120°
    ],
)
def test_imtlg_cancelling_unit_gradients_give_zero(jac: np.ndarray) -> None:
    """``Σ u_i = 0``: only ``d = 0`` has equal projections; ``α ∝ 1 / ||g_i||``."""
    result = IMTLG().weights(jac @ jac.T, np.ones(jac.shape[0]))
    inv = 1.0 / np.linalg.norm(jac, axis=1)
    np.testing.assert_allclose(result.weights, inv / inv.sum(), rtol=1e-12)
    assert np.linalg.norm(jac.T @ result.weights) <= 1e-12 * max_norm(jac)
    assert abs(result.info["projection"]) <= 1e-12 * max_norm(jac) and result.residual <= 1e-12


def test_imtlg_raises_where_the_weights_cannot_sum_to_one() -> None:
    """Equal projections exist with ``d ≠ 0`` but every such ``α`` sums to 0."""
    phi = 0.3  # u_3 leans on u_1 + u_2, so C⁻¹1 has a negative entry
    units = np.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [np.cos(phi) / np.sqrt(2)] * 2 + [np.sin(phi)]]
    )
    beta = np.linalg.solve(units @ units.T, np.ones(3))
    assert beta[2] < 0.0 < beta[0] + beta[1]
    jac = units * np.array([1.0, 1.0, -beta[2] / (beta[0] + beta[1])])[:, None]
    with pytest.raises(ValueError, match="IMTL-G is undefined for this gramian"):
        IMTLG().weights(jac @ jac.T, np.ones(3))
    # nearby, the weights are finite and large, as in the paper's formula
    jac[2] *= 1.01
    result = IMTLG().weights(jac @ jac.T, np.ones(3))
    assert np.abs(result.weights).max() > 10.0 and result.residual <= 1e-12


# ----------------------------------------------------------------------------------------------
# convergence on convex quadratics
# ----------------------------------------------------------------------------------------------


def test_imtlg_with_more_objectives_than_variables_needs_the_all_objectives_test() -> None:
    problem = moo.get_problem("quadratic", n_obj=3, n_var=2)
    for seed in range(5):
        run = moo.minimize(
            problem, IMTLG(), seed=seed, steps=200, step_size=Armijo(condition="all")
        )
        assert run.converged, run.reason
        assert run.stationarity <= 1e-6
        assert np.all(np.diff(run.history.F, axis=0) <= 0.0)
