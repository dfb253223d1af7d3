"""Small helpers shared by the rule tests of this folder (one test file per rule).

- `max_norm`: the largest gradient norm of a Jacobian, the unit of the direction tolerances
  of the PCGrad, IMTL-G and UPGrad tests;
- MoCo and MoDo keep a λ on the simplex and share their state, reset and convergence
  checks: `random_jacobians`, `QUADRATICS`, `TOL`, `mean_gradient_norm`, and the
  ``check_*`` bodies their test files call with their own rules;
- independent CVXPY (Clarabel) formulations on the Jacobian, for differential tests of the
  exact rules (``test_large_k.py``): `cvxpy_min_norm` (MGDA), `cvxpy_cagrad_dual` with
  `cagrad_parts`, `cagrad_dual` and `cagrad_floor` (CAGrad), `cvxpy_dual_cone` (UPGrad's
  projections), `cvxpy_nash` with `nash_objective` (Nash-MTL), and `gram_scale`
  (max_i G_ii, the unit of their tolerances). Each skips the test when cvxpy is missing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

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
    assert all(isinstance(v, list) for v in state.values())  # plain Python: weights_only
    restored = rule_factory()
    restored.load_state_dict(state)
    for value in state.values():  # the rule holds copies: mutating the lists changes nothing
        for row in value if isinstance(value[0], list) else [value]:
            row[:] = [0.0] * len(row)
    for jac in jacs[4:]:
        a, b = rule.direction(jac, np.ones(3)), restored.direction(jac, np.ones(3))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1].weights, b[1].weights)
    # weights returned to the caller are copies too
    result = rule.direction(jacs[0], np.ones(3))[1]
    result.weights[...] = 7.0
    assert abs(sum(rule.state_dict()["lambda"]) - 1.0) < 1e-12
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


# ----------------------------------------------------------------------------------------------
# CVXPY references on the Jacobian
# ----------------------------------------------------------------------------------------------

# Clarabel's gap and feasibility tolerances: tight enough that its objective values agree with
# an exact solver to ~1e-9 relative, loose enough that it converges on badly scaled rows.
CLARABEL_TOL = 1e-12


def gram_scale(gram: np.ndarray) -> float:
    """``max_i G_ii``, the unit of the scale-free tolerances (at least 1e-300)."""
    return max(float(np.max(np.diag(gram))), 1e-300)


def _cvxpy() -> Any:
    return pytest.importorskip("cvxpy")


def _solve(problem: Any, tol: float = CLARABEL_TOL) -> None:
    """Solve with Clarabel at ``tol``; where it stops on numerical trouble, retry at 1e-9
    (the tests then compare against what the returned point attains, recomputed on J)."""
    cp = _cvxpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Solution may be inaccurate": the tests measure it
        try:
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol)
        except cp.error.SolverError:
            problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-9, tol_gap_rel=1e-9, tol_feas=1e-9)


def _on_simplex(value: Any) -> np.ndarray:
    w = np.clip(np.asarray(value, dtype=float), 0.0, None)
    return w / w.sum()


def cvxpy_min_norm(jac: np.ndarray) -> tuple[np.ndarray, float]:
    """MGDA's ``min_{w ∈ Δ} ||Jᵀw||²`` by CVXPY on ``J / max_i ||g_i||``; returns ``w`` (clipped
    to the simplex) and the value it attains, ``||Jᵀw||²`` recomputed on ``J``."""
    cp = _cvxpy()
    unit = jac / max_norm(jac)
    w = cp.Variable(jac.shape[0])
    _solve(cp.Problem(cp.Minimize(cp.sum_squares(unit.T @ w)), [w >= 0, cp.sum(w) == 1]))
    ref = _on_simplex(w.value)
    return ref, float(np.sum((jac.T @ ref) ** 2))


def cagrad_parts(jac: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray, float]:
    """CAGrad's ``(g0, b, √φ)``: the mean gradient, ``b = J g0 = G1/K`` and ``c ||g0||``."""
    g0 = jac.mean(axis=0)
    return g0, jac @ g0, c * float(np.linalg.norm(g0))


def cagrad_dual(jac: np.ndarray, c: float, w: np.ndarray) -> float:
    """CAGrad's dual ``F(w) = wᵀb + √φ ||Jᵀw||``, evaluated on ``J``."""
    _, b, s = cagrad_parts(jac, c)
    return float(w @ b) + s * float(np.linalg.norm(jac.T @ w))


def cagrad_floor(jac: np.ndarray, c: float, extra: np.ndarray, tol: float) -> float:
    """Rounding floor of CAGrad's certificate for ``d = g0 + Jᵀμ`` (μ = ``extra``), in units of
    ``max_i G_ii``: ``tol`` plus what the Gramian's rounding (entries known to ~1e-16
    ``||g_i|| ||g_j||``) does to ``||Jᵀμ||²`` (~1e-16 ``(Σ μ_i ||g_i||)²``) and ``||g0||²``
    (~1e-16 ``K max G_ii``), over ``2 √φ √(max G_ii)``: large when μ is large against the
    radius (nearly opposite gradients in the support). The floor of ``test_cagrad.py``."""
    k = jac.shape[0]
    norms = np.linalg.norm(jac, axis=1)
    radius = c * float(np.linalg.norm(jac.mean(axis=0)))
    if radius <= 0.0:
        return tol
    top = float(norms.max())
    amplified = float(extra @ norms) ** 2 + c * c * k * top * top
    return tol + 1e-15 * amplified / (radius * top)


def cvxpy_cagrad_dual(jac: np.ndarray, c: float) -> np.ndarray:
    """A minimizer of CAGrad's dual on the simplex by CVXPY (a second-order cone), on
    ``J / max_i ||g_i||`` (the minimizer does not change), clipped to the simplex."""
    cp = _cvxpy()
    unit = jac / max_norm(jac)
    _, b, s = cagrad_parts(unit, c)
    w = cp.Variable(jac.shape[0])
    _solve(cp.Problem(cp.Minimize(b @ w + s * cp.norm(unit.T @ w)), [w >= 0, cp.sum(w) == 1]))
    return _on_simplex(w.value)


def cvxpy_dual_cone(jac: np.ndarray, rows: Sequence[int]) -> list[tuple[np.ndarray, float]]:
    """UPGrad's problems ``v = argmin_{v >= e_i} ||Jᵀv||²`` by CVXPY, one QP per row ``i`` of
    ``rows`` (each with ``g_i ≠ 0``).

    Solved on the unit rows ``u_j = g_j / ||g_j||`` of the non-zero gradients (in
    ``z_j = v_j ||g_j|| / ||g_i||``, so that the value is in units of ``||g_i||²``), compiled
    once with the bound ``e_i`` as a parameter; returns, per row, ``v`` (clipped to
    ``v >= e_i``) and the value ``||Jᵀv||² / ||g_i||²`` it attains, recomputed on ``J``.
    """
    cp = _cvxpy()
    k = jac.shape[0]
    norms = np.linalg.norm(jac, axis=1)
    nonzero = np.flatnonzero(norms > 0.0)
    units = jac[nonzero] / norms[nonzero, None]
    bound = cp.Parameter(nonzero.size)
    z = cp.Variable(nonzero.size)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(units.T @ z)), [z >= bound])
    out = []
    for i in rows:
        e_i = (nonzero == i).astype(float)
        bound.value = e_i
        _solve(problem)
        v = np.zeros(k)
        v[nonzero] = np.maximum(np.asarray(z.value, dtype=float), e_i) * norms[i] / norms[nonzero]
        out.append((v, float(np.sum((jac.T @ v) ** 2)) / float(norms[i]) ** 2))
    return out


def cvxpy_nash(jac: np.ndarray) -> np.ndarray | None:
    """Nash-MTL's ``argmin_{α > 0} ½||Jᵀα||² − Σ log α_i`` by CVXPY (exponential cones).

    Solved in ``β_i = α_i ||g_i||`` on the unit rows (the same problem up to a constant,
    scale-free); returns ``α``, or ``None`` when CVXPY finds no optimum (unbounded: the point is
    Pareto-stationary).
    """
    cp = _cvxpy()
    norms = np.linalg.norm(jac, axis=1)
    units = jac / norms[:, None]
    beta = cp.Variable(jac.shape[0])
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(units.T @ beta) - cp.sum(cp.log(beta))))
    _solve(problem)
    if problem.status not in ("optimal", "optimal_inaccurate") or beta.value is None:
        return None
    alpha: np.ndarray = np.asarray(beta.value, dtype=float) / norms
    return alpha


def nash_objective(jac: np.ndarray, alpha: np.ndarray) -> float:
    """``φ(α) = ½||Jᵀα||² − Σ log α_i`` on ``J`` (``inf`` unless ``α > 0``)."""
    if not np.all(alpha > 0.0):
        return math.inf
    return 0.5 * float(np.sum((jac.T @ alpha) ** 2)) - float(np.sum(np.log(alpha)))
