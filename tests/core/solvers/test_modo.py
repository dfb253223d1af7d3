"""MoDo: exact one-step math, the two-sample API, state, errors and convergence.

The generic laws are checked in ``test_laws.py``; the state, reset and convergence checks
shared with MoCo live in ``_helpers.py``. Convergence, as asserted here:

- deterministic (``moo.minimize`` on ``quadratic``, Armijo steps, K = 2 and 3, seeded
  starts): MoDo ends Pareto-stationary. With ``rho = 0`` it stops where MGDA would (``λ``
  equals MGDA's min-norm weights of the final Gramian, end points depend on the start). With
  ``rho > 0`` the only rest points are stationary points of the mean objective, so ``λ`` ends
  uniform and every run ends at the minimizer of ``(1/K) Σ f_i`` (the iteration first reaches
  the Pareto set, then slides along it);
- stochastic (two independent draws of the Jacobians ``J + σ N(0, 1)``, decaying step
  ``η_t = 0.1 / sqrt(1 + t/10)``): averaged over 6 seeds, the true Pareto-stationarity at the
  end is below 0.06 and below 1/25 of its start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import moo
from moo.solvers import available_rules, get_rule
from moo.solvers.modo import MoDo, lambda_step
from tests.core.solvers._helpers import (
    QUADRATICS,
    TOL,
    check_converges_in_expectation_under_gradient_noise,
    check_lambda_stays_on_the_simplex,
    check_reset_restores_the_initial_uniform_lambda,
    check_runs_stop_where_mgda_would,
    check_state_round_trip_and_copies,
    mean_gradient_norm,
    quadratic_id,
)


def test_registry_and_declared_properties() -> None:
    assert available_rules()["modo"] is MoDo
    assert MoDo().hyperparameters() == {"gamma": 0.1, "rho": 0.1}
    assert MoDo.needs == "gramian"
    assert MoDo.stateful and MoDo.permutation_equivariant
    assert not MoDo.common_descent and not MoDo.average_descent


# ----------------------------------------------------------------------------------------------
# exact one-step math against hand computations
# ----------------------------------------------------------------------------------------------


def test_modo_two_steps_by_hand() -> None:
    """G = [[4, 1], [1, 2]], γ = 0.1, ρ = 0.2 from λ = (½, ½).

    Step 1: Gλ + ρλ = (2.6, 1.6); λ − γ(...) = (0.24, 0.34); projecting shifts both by +0.21:
    λ₁ = (0.45, 0.55). Step 2: Gλ₁ + ρλ₁ = (2.44, 1.66); (0.206, 0.384) + 0.205 = (0.411, 0.589).
    """
    jac = np.array([[2.0, 0.0], [0.5, np.sqrt(1.75)]])  # J Jᵀ = [[4, 1], [1, 2]]
    gram = jac @ jac.T
    np.testing.assert_allclose(gram, [[4.0, 1.0], [1.0, 2.0]], atol=1e-15)
    rule = MoDo(gamma=0.1, rho=0.2)
    first = rule.weights(gram, np.ones(2))
    np.testing.assert_allclose(first.weights, [0.45, 0.55], atol=1e-15)
    direction, second = rule.direction(jac, np.ones(2))
    np.testing.assert_allclose(second.weights, [0.411, 0.589], atol=1e-15)
    np.testing.assert_allclose(direction, jac.T @ np.array([0.411, 0.589]), atol=1e-15)
    # residual: fixed-point gap of v = (G + ρI)λ, divided by max G_ii + ρ = 4.2
    v = gram @ second.weights + 0.2 * second.weights
    assert second.residual == pytest.approx((second.weights @ v - v.min()) / 4.2, abs=1e-15)
    assert second.info["objective"] == pytest.approx(second.weights @ gram @ second.weights)


def test_modo_projection_onto_a_vertex() -> None:
    """γ = 1, ρ = 0: λ − Gλ = (½ − 2.5, ½ − 1.5) = (−2, −1) projects onto the vertex (0, 1)."""
    rule = MoDo(gamma=1.0, rho=0.0)
    result = rule.weights(np.array([[4.0, 1.0], [1.0, 2.0]]), np.ones(2))
    np.testing.assert_array_equal(result.weights, [0.0, 1.0])


def test_modo_from_jacobians_by_hand() -> None:
    """Two different samples: C = J¹J²ᵀ is not symmetric; d = (J¹ + J²)ᵀλ / 2."""
    j1 = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    j2 = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 0.0]])
    cross = j1 @ j2.T  # [[3, 2], [2, 0]]
    np.testing.assert_array_equal(cross, [[3.0, 2.0], [2.0, 0.0]])
    rule = MoDo(gamma=0.1, rho=0.0)
    direction, result = rule.direction_from_jacobians(j1, j2, np.ones(2))
    # Cλ = (2.5, 1); λ − 0.1 Cλ = (0.25, 0.4); shift +0.175: (0.425, 0.575)
    np.testing.assert_allclose(result.weights, [0.425, 0.575], atol=1e-15)
    np.testing.assert_allclose(direction, 0.5 * (j1 + j2).T @ [0.425, 0.575], atol=1e-15)
    assert result.info["objective"] == pytest.approx(result.weights @ cross @ result.weights)


def test_lambda_step_gap_vanishes_at_the_regularized_min_norm_weights() -> None:
    """Iterating the step converges to argmin ½λᵀ(G + ρI)λ, where the gap is 0."""
    gram = np.array([[4.0, 1.0, 0.5], [1.0, 2.0, -0.3], [0.5, -0.3, 1.0]])
    lam = np.full(3, 1 / 3)
    gap = 1.0
    for _ in range(2000):
        lam, gap = lambda_step(lam, gram, 0.1, 0.5, 4.5)
    assert gap < 1e-12
    v = gram @ lam + 0.5 * lam
    assert np.all(v >= lam @ v - 1e-12)  # KKT: (Hλ)_i >= λᵀHλ, equality on the support


# ----------------------------------------------------------------------------------------------
# λ stays on the simplex; MoDo's two-sample API
# ----------------------------------------------------------------------------------------------


def test_lambda_stays_on_the_simplex() -> None:
    check_lambda_stays_on_the_simplex(MoDo())


def test_modo_from_jacobians_with_equal_samples_is_from_jacobian() -> None:
    """``J¹ = J² = J`` is the deterministic step, up to rounding: ``J¹J²ᵀ`` and ``JJᵀ`` may
    be summed in different orders (BLAS's symmetric kernel for ``JJᵀ``), so each entry of
    ``C`` is known to ``δ = 2 n eps max_i ||g_i||²``. One step ``λ ↦ Π_Δ(λ − γ(C + ρI)λ)``
    (the projection is non-expansive) moves a difference ``e`` of ``λ`` to at most
    ``(1 + γ(||C||₂ + ρ)) e + γ K δ`` (``||λ||₂ <= 1``); the direction ``d = Jᵀλ`` and the
    gap ``(λᵀv − min v) / scale`` with ``v = (C + ρI)λ`` follow from ``e``."""
    rng = np.random.default_rng(1)
    gamma, rho, eps = 0.2, 0.1, float(np.finfo(np.float64).eps)
    pair, single, gramian = (MoDo(gamma=gamma, rho=rho) for _ in range(3))
    spread = 0.0  # bound on ||λ_pair − λ_single||₂ so far
    for _ in range(5):
        jac, f = rng.normal(size=(3, 6)), rng.random(3)
        k, n = jac.shape
        gram = jac @ jac.T
        top = float(gram.diagonal().max())
        delta = 2 * n * eps * top
        spread = (1 + gamma * (np.linalg.norm(gram, 2) + rho)) * spread + gamma * k * delta
        d_pair, r_pair = pair.direction_from_jacobians(jac, jac.copy(), f)
        d_single, r_single = single.direction(jac, f)
        r_gram = gramian.weights(gram, f)
        np.testing.assert_allclose(r_pair.weights, r_single.weights, rtol=0, atol=spread)
        np.testing.assert_allclose(r_gram.weights, r_single.weights, rtol=0, atol=spread)
        # d = Jᵀλ: ||J||₂ e, plus one rounding of K-term sums of size max ||g_i||
        d_spread = np.linalg.norm(jac, 2) * spread + 2 * k * eps * np.sqrt(top)
        np.testing.assert_allclose(d_pair, d_single, rtol=0, atol=d_spread)
        # v moves by (||C||₂ + ρ) e + K δ, λᵀv by twice that, min v by once; scale by its ulps
        v_spread = (np.linalg.norm(gram, 2) + rho) * spread + k * delta
        gap_spread = (3 * v_spread + 4 * k * eps * (top + rho)) / (top + rho)
        gap_spread += 4 * eps * r_single.residual
        assert r_pair.residual == pytest.approx(r_single.residual, rel=0, abs=gap_spread)


def test_modo_from_jacobians_rejects_bad_samples() -> None:
    rule = MoDo()
    jac = np.ones((2, 3))
    with pytest.raises(ValueError, match="jacobian2 must have shape"):
        rule.from_jacobians(jac, np.ones((2, 4)), np.ones(2))
    with pytest.raises(ValueError, match="jacobian1 must have shape"):
        rule.from_jacobians(np.ones((3, 3)), jac, np.ones(2))
    bad = jac.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="jacobian2 row of objective 1 is not finite"):
        rule.from_jacobians(jac, bad, np.ones(2))
    with pytest.raises(ValueError, match="losses must be finite"):
        rule.from_jacobians(jac, jac, [1.0, np.nan])
    assert rule.state_dict() == {"lambda": None}  # nothing was updated


# ----------------------------------------------------------------------------------------------
# state: round trip, copies, reset, bad state
# ----------------------------------------------------------------------------------------------


def test_state_round_trip_and_copies() -> None:
    check_state_round_trip_and_copies(MoDo)


def test_reset_restores_the_initial_uniform_lambda() -> None:
    check_reset_restores_the_initial_uniform_lambda(MoDo)


def test_minimize_resets_the_rule_once_per_run() -> None:
    problem = moo.get_problem("quadratic")
    rule = MoDo()
    first = moo.minimize(problem, rule, seed=0, steps=20, step_size=0.1)
    second = moo.minimize(problem, rule, seed=0, steps=20, step_size=0.1)
    np.testing.assert_array_equal(first.history.weights, second.history.weights)
    jac0 = problem.jacobian(first.history.x[0])
    expected = MoDo().weights(jac0 @ jac0.T, first.history.F[0]).weights
    np.testing.assert_allclose(first.history.weights[0], expected)


def test_calls_with_another_shape_than_the_state_raise() -> None:
    modo = MoDo()
    modo.from_jacobian(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="holds lambda for 3 objectives, got 2; call reset"):
        modo.weights(np.eye(2), np.ones(2))


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({}, r"missing \['lambda'\]"),
        ({"lambda": None, "tracked": None}, r"unknown \['tracked'\]"),
        ({"lambda": [0.2, 0.2, 0.2]}, "must sum to 1"),
        ({"lambda": []}, "at least one weight"),
        ({"lambda": np.ones((2, 2)) / 4}, "1-D"),
    ],
)
def test_modo_rejects_bad_state(state: dict[str, object], match: str) -> None:
    rule = MoDo()
    with pytest.raises(ValueError, match=match):
        rule.load_state_dict(state)


# ----------------------------------------------------------------------------------------------
# hyperparameters
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gamma": 0.0}, "gamma must be > 0.0, got 0.0"),
        ({"gamma": float("inf")}, "gamma must be finite"),
        ({"rho": -1e-9}, "rho must be >= 0.0"),
    ],
)
def test_modo_rejects_bad_hyperparameters(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MoDo(**kwargs)


def test_hyperparameters_must_be_numbers() -> None:
    with pytest.raises(TypeError, match="gamma must be a real number"):
        MoDo(gamma="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        get_rule("modo", beta=0.1)


# ----------------------------------------------------------------------------------------------
# convergence, deterministic: moo.minimize on "quadratic"
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", QUADRATICS, ids=quadratic_id)
@pytest.mark.parametrize(
    ("make_rule", "step_size"), [(lambda: MoDo(rho=0.0), None)], ids=["modo-armijo"]
)
def test_without_regularization_runs_stop_where_mgda_would(
    params: dict[str, int], make_rule: Callable[[], MoDo], step_size: float | None
) -> None:
    """ρ = 0: Pareto-stationary ends that depend on the start; λ → MGDA's min-norm weights."""
    check_runs_stop_where_mgda_would(params, make_rule, step_size)


@pytest.mark.parametrize("params", QUADRATICS, ids=quadratic_id)
def test_modo_with_regularization_ends_at_the_mean_minimizer(params: dict[str, int]) -> None:
    """ρ > 0 (default 0.1), Armijo steps: λ ends uniform, x at the minimizer of the mean."""
    problem = moo.get_problem("quadratic", **params)
    k = params["n_obj"]
    for seed in range(3):
        run = moo.minimize(problem, MoDo(), seed=seed, steps=3000, tol=TOL)
        assert run.stationarity <= TOL
        assert run.converged, run.reason
        # the Pareto set is reached long before the end; the rest is the slide along it
        first = int(np.argmax(run.history.stationarity <= 1e-3))
        assert run.history.stationarity[first] <= 1e-3 and first < run.n_steps / 4
        np.testing.assert_allclose(run.history.weights[-1], np.full(k, 1 / k), atol=1e-3)
        assert mean_gradient_norm(problem, run.x) <= 1e-3


# ----------------------------------------------------------------------------------------------
# convergence, stochastic: injected gradient noise, averaged over seeds
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", QUADRATICS, ids=quadratic_id)
@pytest.mark.parametrize("make_rule", [MoDo], ids=["modo"])
def test_converges_in_expectation_under_gradient_noise(
    params: dict[str, int], make_rule: Callable[[], MoDo]
) -> None:
    check_converges_in_expectation_under_gradient_noise(params, make_rule)
