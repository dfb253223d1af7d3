"""MoCo: exact one-step math, state, errors and convergence.

The generic laws are checked in ``test_laws.py``; the state, reset and convergence checks
shared with MoDo live in ``_helpers.py``. Convergence, as asserted here:

- deterministic (``moo.minimize`` on ``quadratic``, constant steps, K = 2 and 3, seeded
  starts): MoCo ends Pareto-stationary. With ``rho = 0`` it stops where MGDA would (``λ``
  equals MGDA's min-norm weights of the final Gramian, end points depend on the start). With
  ``rho > 0`` the only rest points are stationary points of the mean objective, so ``λ`` ends
  uniform and every run ends at the minimizer of ``(1/K) Σ f_i``;
- stochastic (Jacobians ``J + σ N(0, 1)``, decaying step ``η_t = 0.1 / sqrt(1 + t/10)``):
  averaged over 6 seeds, the true Pareto-stationarity at the end is below 0.06 and below
  1/25 of its start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import moo
from moo.solvers import DirectionRule, available_rules, get_rule
from moo.solvers.moco import MoCo
from moo.solvers.modo import MoDo
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
    assert available_rules()["moco"] is MoCo
    moco = get_rule("moco", beta=0.2)
    assert isinstance(moco, MoCo) and moco.hyperparameters() == {
        "beta": 0.2,
        "gamma": 0.1,
        "rho": 0.1,
    }
    assert issubclass(MoCo, DirectionRule) and MoCo.needs == "jacobian"
    assert MoCo.stateful and MoCo.permutation_equivariant
    assert not MoCo.common_descent and not MoCo.average_descent


# ----------------------------------------------------------------------------------------------
# exact one-step math against hand computations
# ----------------------------------------------------------------------------------------------


def test_moco_two_steps_by_hand() -> None:
    """β = 0.5, γ = 0.1, ρ = 0.

    Call 1, J₁ = [[2, 0], [0, 1]]: Y = J₁, YYᵀ = diag(4, 1), λ − γYYᵀλ = (0.3, 0.45), shifted by
    +0.125: λ₁ = (0.425, 0.575), d₁ = Yᵀλ₁ = (0.85, 0.575).
    Call 2, J₂ = [[0, 2], [1, 1]]: Y = ½J₁ + ½J₂ = [[1, 1], [0.5, 1]],
    YYᵀ = [[2, 1.5], [1.5, 1.25]], YYᵀλ₁ = (1.7125, 1.35625),
    λ₁ − γ(...) = (0.25375, 0.439375), shifted by +0.1534375: λ₂ = (0.4071875, 0.5928125),
    d₂ = Yᵀλ₂ = (0.70359375, 1.0), which is not J₂ᵀλ₂.
    """
    rule = MoCo(beta=0.5, gamma=0.1, rho=0.0)
    j1 = np.array([[2.0, 0.0], [0.0, 1.0]])
    j2 = np.array([[0.0, 2.0], [1.0, 1.0]])
    d1, r1 = rule.direction(j1, np.ones(2))
    np.testing.assert_allclose(r1.weights, [0.425, 0.575], atol=1e-15)
    np.testing.assert_allclose(d1, [0.85, 0.575], atol=1e-15)
    np.testing.assert_allclose(d1, j1.T @ r1.weights, atol=1e-15)  # first call: Y = J
    r2 = rule.direction(j2, np.ones(2))[1]
    np.testing.assert_allclose(r2.weights, [0.4071875, 0.5928125], atol=1e-15)
    np.testing.assert_allclose(r2.info["direction"], [0.70359375, 1.0], atol=1e-15)
    assert not np.allclose(r2.info["direction"], j2.T @ r2.weights)
    np.testing.assert_allclose(rule.state_dict()["tracked"], [[1.0, 1.0], [0.5, 1.0]])
    assert r2.info["tracking_gap"] == pytest.approx(np.linalg.norm([[1.0, -1.0], [-0.5, 0.0]]))
    assert r2.info["objective"] == pytest.approx(0.70359375**2 + 1.0)


def test_moco_beta_one_is_modo_on_the_same_jacobians() -> None:
    """β = 1 keeps Y = J, so MoCo's λ and d are MoDo's deterministic step."""
    rng = np.random.default_rng(3)
    moco, modo = MoCo(beta=1.0, gamma=0.05, rho=0.3), MoDo(gamma=0.05, rho=0.3)
    for _ in range(6):
        jac, f = rng.normal(size=(4, 7)), rng.random(4)
        d_moco, r_moco = moco.direction(jac, f)
        d_modo, r_modo = modo.direction(jac, f)
        np.testing.assert_allclose(r_moco.weights, r_modo.weights, atol=1e-14)
        np.testing.assert_allclose(d_moco, d_modo, atol=1e-13)
        assert r_moco.residual == pytest.approx(r_modo.residual, abs=1e-14)


# ----------------------------------------------------------------------------------------------
# λ stays on the simplex
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_factory", [MoCo, lambda: MoCo(gamma=5.0, rho=0.0)])
def test_lambda_stays_on_the_simplex(rule_factory: Callable[[], MoCo]) -> None:
    check_lambda_stays_on_the_simplex(rule_factory())
    assert MoCo().scale_error(np.array([0.7, 0.4]), None, np.ones(2)) is not None


# ----------------------------------------------------------------------------------------------
# state: round trip, copies, reset, bad state
# ----------------------------------------------------------------------------------------------


def test_state_round_trip_and_copies() -> None:
    check_state_round_trip_and_copies(lambda: MoCo(beta=0.3, gamma=0.2))


def test_reset_restores_the_initial_uniform_lambda() -> None:
    check_reset_restores_the_initial_uniform_lambda(MoCo)


def test_calls_with_another_shape_than_the_state_raise() -> None:
    moco = MoCo()
    moco.direction(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(3, 2\), got a jacobian of shape \(3, 4\)"):
        moco.direction(np.ones((3, 4)), np.ones(3))


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({}, r"missing \['lambda', 'tracked'\]"),
        ({"lambda": None}, r"missing \['tracked'\]"),
        ({"lambda": None, "tracked": None, "step": 3}, r"unknown \['step'\]"),
        ({"lambda": [0.5, 0.5], "tracked": None}, "both be None or both be arrays"),
        ({"lambda": [0.7, 0.7], "tracked": np.ones((2, 3))}, r"state\['lambda'\] must lie on"),
        ({"lambda": [1.2, -0.2], "tracked": np.ones((2, 3))}, "non-negative"),
        ({"lambda": [[0.5, 0.5]], "tracked": np.ones((2, 3))}, r"state\['lambda'\] must be a 1-D"),
        ({"lambda": [0.5, np.nan], "tracked": np.ones((2, 3))}, "must be finite"),
        ({"lambda": [0.5, 0.5], "tracked": np.ones((3, 3))}, r"must have shape \(2, d\)"),
        ({"lambda": [0.5, 0.5], "tracked": np.ones(2)}, r"got shape \(2,\)"),
        ({"lambda": [0.5, 0.5], "tracked": [[1.0, np.inf], [0, 0]]}, r"tracked'\] must be fin"),
    ],
)
def test_moco_rejects_bad_state(state: dict[str, object], match: str) -> None:
    rule = MoCo()
    with pytest.raises(ValueError, match=match):
        rule.load_state_dict(state)
    assert rule.state_dict() == {"lambda": None, "tracked": None}


# ----------------------------------------------------------------------------------------------
# hyperparameters
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": 0.0}, "beta must be > 0.0, got 0.0"),
        ({"beta": 1.5}, "beta must be <= 1.0, got 1.5"),
        ({"beta": float("nan")}, "beta must be finite"),
        ({"gamma": 0.0}, "gamma must be > 0.0, got 0.0"),
        ({"gamma": -1.0}, "gamma must be > 0.0, got -1.0"),
        ({"rho": -0.1}, "rho must be >= 0.0, got -0.1"),
        ({"rho": float("inf")}, "rho must be finite"),
    ],
)
def test_moco_rejects_bad_hyperparameters(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MoCo(**kwargs)


# ----------------------------------------------------------------------------------------------
# convergence, deterministic: moo.minimize on "quadratic"
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", QUADRATICS, ids=quadratic_id)
@pytest.mark.parametrize(
    ("make_rule", "step_size"), [(lambda: MoCo(rho=0.0), 0.1)], ids=["moco-constant"]
)
def test_without_regularization_runs_stop_where_mgda_would(
    params: dict[str, int], make_rule: Callable[[], MoCo], step_size: float | None
) -> None:
    """ρ = 0: Pareto-stationary ends that depend on the start; λ → MGDA's min-norm weights."""
    check_runs_stop_where_mgda_would(params, make_rule, step_size)


def test_moco_with_regularization_and_constant_steps_ends_at_the_mean_minimizer() -> None:
    problem = moo.get_problem("quadratic")
    for seed in range(2):
        run = moo.minimize(problem, MoCo(), seed=seed, steps=4000, tol=TOL, step_size=0.1)
        assert run.converged and run.stationarity <= TOL
        np.testing.assert_allclose(run.history.weights[-1], [0.5, 0.5], atol=1e-3)
        assert mean_gradient_norm(problem, run.x) <= 1e-3


# ----------------------------------------------------------------------------------------------
# convergence, stochastic: injected gradient noise, averaged over seeds
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("params", QUADRATICS, ids=quadratic_id)
@pytest.mark.parametrize("make_rule", [MoCo], ids=["moco"])
def test_converges_in_expectation_under_gradient_noise(
    params: dict[str, int], make_rule: Callable[[], MoCo]
) -> None:
    check_converges_in_expectation_under_gradient_noise(params, make_rule)
