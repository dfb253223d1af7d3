"""Small helpers shared by the rule tests of this folder (one test file per rule).

- `max_norm`: the largest gradient norm of a Jacobian, the unit of the direction tolerances
  of the PCGrad, IMTL-G and UPGrad tests;
- MoCo and MoDo keep a λ on the simplex and share their state, reset and convergence
  checks: `random_jacobians`, `QUADRATICS`, `TOL`, `mean_gradient_norm`, and the
  ``check_*`` bodies their test files call with their own rules.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import moo
from moo.solvers import min_norm_weights, pareto_stationarity
from moo.solvers.moco import MoCo
from moo.solvers.modo import MoDo


def max_norm(jac: np.ndarray) -> float:
    return max(float(np.linalg.norm(jac, axis=1).max()), 1e-300)


# ----------------------------------------------------------------------------------------------
# MoCo and MoDo
# ----------------------------------------------------------------------------------------------

QUADRATICS = [{"n_obj": 2, "n_var": 2}, {"n_obj": 3, "n_var": 4}]
TOL = 1e-6


def quadratic_id(params: dict[str, int]) -> str:
    return f"K={params['n_obj']}"


def random_jacobians(k: int, d: int, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(k, d)) for _ in range(n)]


def mean_gradient_norm(problem: moo.Problem, x: np.ndarray) -> float:
    return float(np.linalg.norm(problem.jacobian(x).mean(axis=0)))


def check_lambda_stays_on_the_simplex(rule: MoCo | MoDo) -> None:
    rng = np.random.default_rng(0)
    for step in range(200):
        jac = rng.normal(size=(5, 3)) * 10.0 ** rng.uniform(-3, 3, size=(5, 1))
        w = rule.direction(jac, np.ones(5))[1].weights
        assert np.all(w >= 0.0) and abs(w.sum() - 1.0) < 1e-12, (step, w)
        assert rule.scale_error(w, jac @ jac.T, np.ones(5)) is None


def check_state_round_trip_and_copies(rule_factory: Callable[[], MoCo | MoDo]) -> None:
    jacs = random_jacobians(3, 5, 8, seed=2)
    rule = rule_factory()
    fresh_state = rule.state_dict()
    assert all(value is None for value in fresh_state.values())
    for jac in jacs[:4]:
        rule.direction(jac, np.ones(3))[1]
    state = rule.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    restored = rule_factory()
    restored.load_state_dict(state)
    for key in state:
        state[key][...] = 0.0  # the rule holds copies: mutating the dicts changes nothing
    for jac in jacs[4:]:
        a, b = rule.direction(jac, np.ones(3)), restored.direction(jac, np.ones(3))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1].weights, b[1].weights)
    # weights returned to the caller are copies too
    result = rule.direction(jacs[0], np.ones(3))[1]
    result.weights[...] = 7.0
    assert abs(rule.state_dict()["lambda"].sum() - 1.0) < 1e-12
    # loading the fresh state forgets everything
    rule.load_state_dict(fresh_state)
    assert all(value is None for value in rule.state_dict().values())


def check_reset_restores_the_initial_uniform_lambda(
    rule_factory: Callable[[], MoCo | MoDo],
) -> None:
    jacs = random_jacobians(4, 3, 5, seed=4)
    rule = rule_factory()
    for jac in jacs:
        rule.direction(jac, np.ones(4))[1]
    rule.reset()
    assert all(value is None for value in rule.state_dict().values())
    again, fresh = (
        rule.direction(jacs[0], np.ones(4)),
        rule_factory().direction(jacs[0], np.ones(4)),
    )
    np.testing.assert_array_equal(again[1].weights, fresh[1].weights)
    np.testing.assert_array_equal(again[0], fresh[0])
    # after a reset a run with another number of objectives is fine
    rule.reset()
    assert rule.direction(np.ones((2, 3)), np.ones(2))[1].weights.shape == (2,)


def check_runs_stop_where_mgda_would(
    params: dict[str, int], make_rule: Callable[[], MoCo | MoDo], step_size: float | None
) -> None:
    """ρ = 0: Pareto-stationary ends that depend on the start; λ → MGDA's min-norm weights."""
    problem = moo.get_problem("quadratic", **params)
    ends = []
    for seed in range(5):
        run = moo.minimize(
            problem, make_rule(), seed=seed, steps=2000, tol=1e-8, step_size=step_size
        )
        assert run.converged, run.reason
        assert run.stationarity <= TOL
        jac = problem.jacobian(run.x)
        lam = run.history.weights[-1]
        np.testing.assert_allclose(lam, min_norm_weights(jac @ jac.T).weights, atol=1e-6)
        ends.append(run.x)
    spread = max(float(np.linalg.norm(a - b)) for a in ends for b in ends)
    assert spread > 0.1  # not one common end point


NOISE = 0.5
STEPS = 1500
SEEDS = range(6)


def _noisy_run(problem: moo.Problem, rule: MoCo | MoDo, seed: int) -> tuple[float, float]:
    """x ← x − η_t d with Jacobians J + σN(0, 1) (two independent draws for MoDo).

    Returns the true Pareto-stationarity ``min_{w∈Δ} ||J_trueᵀw||`` at the start and the end.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, problem.n_var)
    jac = problem.jacobian(x)
    start = pareto_stationarity(jac @ jac.T)
    rule.reset()
    for t in range(STEPS):
        jac = problem.jacobian(x)
        f = problem.values(x)
        if isinstance(rule, MoDo):
            d, _ = rule.direction_from_jacobians(
                jac + NOISE * rng.normal(size=jac.shape),
                jac + NOISE * rng.normal(size=jac.shape),
                f,
            )
        else:
            d, _ = rule.direction(jac + NOISE * rng.normal(size=jac.shape), f)
        x = x - 0.1 / np.sqrt(1.0 + t / 10.0) * d
    jac = problem.jacobian(x)
    return start, pareto_stationarity(jac @ jac.T)


def check_converges_in_expectation_under_gradient_noise(
    params: dict[str, int], make_rule: Callable[[], MoCo | MoDo]
) -> None:
    """Injected gradient noise, decaying steps ``η_t = 0.1 / sqrt(1 + t/10)``, averaged over
    6 seeds: the true Pareto-stationarity at the end is below 0.06 and 1/25 of its start."""
    problem = moo.get_problem("quadratic", **params)
    runs = np.array([_noisy_run(problem, make_rule(), seed) for seed in SEEDS])
    start, end = runs.mean(axis=0)
    assert end <= 0.06, end
    assert end <= start / 25.0, (start, end)
