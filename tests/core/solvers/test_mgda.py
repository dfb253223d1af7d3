"""MGDA: laws (hypothesis), differential tests against CVXPY, normalizations, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from moo.solvers import MGDA, get_rule, kkt_residual, min_norm_weights, pareto_stationarity
from moo.testing import gramians, jacobians, make_jacobian

TOL = 1e-10  # in units of max_i G_ii


def _scale(gram: np.ndarray) -> float:
    return max(float(np.max(np.diag(gram))), 1e-300)


def _solve(gram: np.ndarray, **options: str) -> np.ndarray:
    k = gram.shape[0]
    return MGDA(**options).weights(gram, np.ones(k)).weights


def _cvxpy_min_norm(jac: np.ndarray) -> tuple[np.ndarray, float]:
    """Independent formulation: min ||Jᵀw||² over the simplex, solved by Clarabel."""
    cp = pytest.importorskip("cvxpy")
    w = cp.Variable(jac.shape[0])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(jac.T @ w)), [w >= 0, cp.sum(w) == 1])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14)
    value = np.clip(np.asarray(w.value, dtype=float), 0.0, None)
    return value / value.sum(), float(problem.value)


@given(gramians())
def test_weights_on_simplex_with_zero_residual(gram: np.ndarray) -> None:
    result = MGDA().weights(gram, np.ones(gram.shape[0]))
    w = result.weights
    assert w.shape == (gram.shape[0],)
    assert np.all(np.isfinite(w)) and np.all(w >= 0.0)
    assert abs(w.sum() - 1.0) < 1e-12
    assert result.residual <= TOL
    assert kkt_residual(gram, w) <= TOL


@given(gramians())
def test_descent_law_with_equality_on_support(gram: np.ndarray) -> None:
    """g_iᵀd >= ||d||² for every i, with equality where w_i > 0 (d = Jᵀw, so Jd = Gw)."""
    w = _solve(gram)
    gw = gram @ w
    norm2 = float(w @ gw)
    scale = _scale(gram)
    assert np.all(gw >= norm2 - TOL * scale)
    support = w > 1e-9
    assert np.all(np.abs(gw[support] - norm2) <= TOL * scale)


@given(gramians(min_objectives=2), st.randoms(use_true_random=False))
def test_permutation_equivariance(gram: np.ndarray, random: object) -> None:
    """Permuting the objectives permutes Jd = Gw (d is unique even where w is not)."""
    k = gram.shape[0]
    perm = np.random.default_rng(k).permutation(k)
    w = _solve(gram)
    w_perm = _solve(gram[np.ix_(perm, perm)])
    scale = _scale(gram)
    gram_perm = gram[np.ix_(perm, perm)]
    np.testing.assert_allclose(gram_perm @ w_perm, (gram @ w)[perm], atol=1e-9 * scale)
    assert abs(w_perm @ gram[np.ix_(perm, perm)] @ w_perm - w @ gram @ w) <= 1e-10 * scale


@given(gramians(), st.sampled_from([1e-6, 0.5, 3.0, 1e5]))
def test_scale_invariance(gram: np.ndarray, c: float) -> None:
    """w(cG) solves the problem for G: same direction up to rounding."""
    w = _solve(gram)
    w_c = _solve(c * gram)
    scale = _scale(gram)
    np.testing.assert_allclose(gram @ w_c, gram @ w, atol=1e-9 * scale)
    assert kkt_residual(gram, w_c) <= TOL


@given(gramians(families=("gaussian",), max_objectives=6))
def test_scale_invariance_of_unique_weights(gram: np.ndarray) -> None:
    """With linearly independent gradients (K <= d gaussian rows) w* is unique."""
    if np.linalg.matrix_rank(gram) < gram.shape[0] or np.linalg.cond(gram) > 1e6:
        return
    np.testing.assert_allclose(_solve(4.0 * gram), _solve(gram), atol=1e-9)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
@pytest.mark.parametrize("family", ["gaussian", "rank-deficient", "near-parallel", "scaled"])
@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 12])
def test_agrees_with_cvxpy(family: str, k: int) -> None:
    """Objective within 1e-9 relative of the CVXPY optimum, never above it.

    Where Clarabel itself stops early (wildly scaled rows) our value may be *below* its value
    by at most its own certified suboptimality ``2 · residual(w_ref) · max G_ii``.
    """
    for seed in range(3):
        jac = make_jacobian(family, k, 15, seed=100 * k + seed)
        gram = jac @ jac.T
        scale = _scale(gram)
        result = MGDA().weights(gram, np.ones(k))
        ours = float(result.weights @ gram @ result.weights)
        w_ref, ref = _cvxpy_min_norm(jac)
        assert kkt_residual(gram, w_ref) <= 1e-6, "the CVXPY reference itself is inaccurate"
        assert ours <= ref + 1e-9 * scale
        assert ref - ours <= max(1e-9 * scale, 2.0 * kkt_residual(gram, w_ref) * scale)
        assert result.residual <= 1e-9
        # the min-norm value wᵀGw, clipped at 0 (a squared norm): equal up to rounding
        assert result.info["objective"] == pytest.approx(
            max(ours, 0.0), rel=1e-12, abs=1e-15 * scale
        )


def test_single_objective_returns_one() -> None:
    result = MGDA().weights(np.array([[4.0]]), np.array([2.0]))
    assert result.weights.tolist() == [1.0]
    assert result.residual == 0.0


def test_two_objectives_closed_form() -> None:
    g1, g2 = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    jac = np.stack([g1, g2])
    w = _solve(jac @ jac.T)
    # min ||a g1 + (1 - a) g2||²: a = |g2|² / (|g1|² + |g2|²) for orthogonal gradients
    np.testing.assert_allclose(w, [0.8, 0.2], rtol=1e-14)


def test_opposite_gradients_are_pareto_stationary() -> None:
    jac = np.array([[1.0, 2.0], [-1.0, -2.0], [3.0, 1.0]])
    gram = jac @ jac.T
    w = _solve(gram)
    assert np.linalg.norm(jac.T @ w) <= 1e-12
    assert pareto_stationarity(gram) <= 1e-12


def test_all_zero_gradients() -> None:
    w = _solve(np.zeros((3, 3)))
    np.testing.assert_allclose(w, np.full(3, 1 / 3))


def test_min_norm_weights_reports_value_and_iterations() -> None:
    jac = make_jacobian("gaussian", 6, 4, seed=3)
    gram = jac @ jac.T
    sol = min_norm_weights(gram)
    assert sol.value == pytest.approx(float(sol.weights @ gram @ sol.weights), rel=1e-12)
    assert sol.iterations >= 1
    assert pareto_stationarity(gram) == pytest.approx(np.sqrt(sol.value), rel=1e-12)


@given(jacobians(min_objectives=2, max_objectives=8), st.sampled_from(["l2", "loss", "loss+"]))
def test_normalized_direction_is_min_norm_of_normalized_gradients(
    jac: np.ndarray, normalization: str
) -> None:
    k = jac.shape[0]
    norms = np.linalg.norm(jac, axis=1)
    if np.any(norms <= 1e-12 * max(norms.max(), 1e-300)):
        return  # a zero gradient: tested separately
    losses = np.linspace(0.5, 2.0, k)
    s = {"l2": norms, "loss": losses, "loss+": losses * norms}[normalization]
    gram = jac @ jac.T
    w = MGDA(normalization).weights(gram, losses).weights  # type: ignore[arg-type]
    w_norm = w * s  # weights on the normalized gradients g_i / s_i
    assert abs(w_norm.sum() - 1.0) < 1e-9 and np.all(w_norm >= 0.0)
    gram_norm = gram / np.outer(s, s)
    assert kkt_residual(gram_norm, w_norm) <= 1e-9
    # still a common descent direction for the raw gradients
    d = jac.T @ w
    assert np.all(jac @ d >= -1e-9 * np.max(norms) ** 2)


def test_l2_normalization_with_a_zero_gradient_is_stationary() -> None:
    jac = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    w = MGDA("l2").weights(jac @ jac.T, np.ones(3)).weights
    np.testing.assert_allclose(jac.T @ w, 0.0)


def test_loss_normalization_needs_positive_losses() -> None:
    gram = np.eye(2)
    with pytest.raises(ValueError, match=r"losses\[1\] = -1.0"):
        MGDA("loss").weights(gram, np.array([1.0, -1.0]))


@pytest.mark.parametrize(
    ("gram", "losses", "message"),
    [
        (np.ones((2, 3)), np.ones(2), "square"),
        (np.zeros((0, 0)), np.ones(0), "square"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), np.ones(2), r"gramian\[0, 1\] = nan"),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), np.ones(2), "symmetric"),
        (np.array([[-1.0, 0.0], [0.0, 1.0]]), np.ones(2), "non-negative diagonal"),
        (np.eye(2), np.ones(3), "losses must have length 2"),
        (np.eye(2), np.array([1.0, np.inf]), r"losses\[1\] = inf"),
    ],
)
def test_bad_input(gram: np.ndarray, losses: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MGDA().weights(gram, losses)


def test_bad_hyperparameter() -> None:
    with pytest.raises(ValueError, match=r"normalization must be one of .* got 'l1'"):
        MGDA("l1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="normalization must be one of"):
        get_rule("mgda", normalization="max")


def test_direction_from_jacobian() -> None:
    jac = make_jacobian("gaussian", 3, 5, seed=0)
    d, result = MGDA().direction(jac, np.ones(3))
    np.testing.assert_allclose(d, jac.T @ result.weights)
    np.testing.assert_allclose(result.weights, _solve(jac @ jac.T))
