"""EPO search: the LP solver against CVXPY, the rule's LP against an independent CVXPY
formulation of the paper's, the non-uniformity, bad input, and runs that end on the
preference ray of catalogue problems with known fronts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import moo
from moo.indicators import distance_to_front
from moo.solvers import EPO, get_rule
from moo.solvers.epo import non_uniformity, simplex_lp
from moo.testing import FAMILIES, jacobians, loss_vectors, make_jacobian

LP_TOL = 1e-9  # LP values, relative to max |c_i|


def _cvxpy_lp(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[str, float]:
    """Independent solve of max cᵀβ over {β ∈ Δ : Aβ >= b} by Clarabel, on rows scaled like
    ours (so that its feasibility tolerance means the same)."""
    cp = pytest.importorskip("cvxpy")
    k = c.shape[0]
    beta = cp.Variable(k)
    constraints = [beta >= 0, cp.sum(beta) == 1]
    if a.shape[0]:
        s = np.maximum(np.abs(a).max(axis=1), np.abs(b))
        s[s == 0.0] = 1.0
        constraints.append((a / s[:, None]) @ beta >= b / s)
    cs = max(float(np.abs(c).max()), 1e-300)
    problem = cp.Problem(cp.Maximize((c / cs) @ beta), constraints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return str(problem.status), float(problem.value) * cs if problem.value is not None else 0.0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_simplex_lp_agrees_with_cvxpy(family: str, k: int) -> None:
    """Random LPs on Gramian rows: same optimum as Clarabel, a small certificate, and β on the
    simplex satisfying the constraints."""
    compared = 0
    for seed in range(6):
        jac = make_jacobian(family, k, 6, seed=10 * k + seed)
        gram = jac @ jac.T
        rng = np.random.default_rng(seed)
        c = gram @ rng.normal(size=k)
        rows = rng.random(k) < 0.6
        b = np.where(rng.random(k) < 0.5, 0.0, -np.abs(gram @ rng.normal(size=k)))[rows]
        sol = simplex_lp(c, gram[rows], b)
        status, ref = _cvxpy_lp(c, gram[rows], b)
        if status != "optimal":
            continue  # Clarabel itself unsure (wildly scaled rows): nothing to compare
        compared += 1
        scale = max(float(np.abs(c).max()), 1e-300)
        assert sol.feasible
        assert sol.residual <= LP_TOL
        assert abs(sol.value - ref) <= 1e-8 * scale, (sol.value, ref)
        assert np.all(sol.weights >= 0.0) and abs(sol.weights.sum() - 1.0) <= 1e-12
        s = np.maximum(np.abs(gram[rows]).max(axis=1, initial=0.0), np.abs(b))
        s[s == 0.0] = 1.0
        assert np.all((gram[rows] @ sol.weights - b) / s >= -1e-10)
    assert compared >= 3


def test_simplex_lp_detects_infeasibility_and_handles_degenerate_input() -> None:
    c = np.array([1.0, 2.0])
    sol = simplex_lp(c, np.array([[1.0, 1.0]]), np.array([2.0]))  # β ∈ Δ: Σβ = 1 < 2
    assert not sol.feasible
    sol = simplex_lp(c, np.zeros((1, 2)), np.array([1.0]))  # 0 >= 1
    assert not sol.feasible
    sol = simplex_lp(c, np.zeros((1, 2)), np.array([0.0]))  # 0 >= 0: dropped
    assert sol.feasible and sol.weights.tolist() == [0.0, 1.0] and sol.residual == 0.0
    sol = simplex_lp(np.zeros(3), np.zeros((0, 3)), np.zeros(0))  # every β optimal
    assert sol.feasible and abs(sol.weights.sum() - 1.0) < 1e-15


# ----------------------------------------------------------------------------------------------
# the rule's LP against the paper's, written independently
# ----------------------------------------------------------------------------------------------


def _paper_lp(jac: np.ndarray, f: np.ndarray, r: np.ndarray, eps: float) -> tuple[str, float]:
    """Mahapatra & Rajan's LP with the gradients themselves (d = Jᵀβ, objective on d):
    balance: max (Jᵀβ)ᵀ(Jᵀa) s.t. g_jᵀd >= g_jᵀ(Jᵀa) (j ∉ 𝒥 ∪ 𝒥*), g_jᵀd >= 0 (j ∈ 𝒥*);
    descent: max Σ_j g_jᵀd s.t. g_jᵀd >= 0."""
    cp = pytest.importorskip("cvxpy")
    k = f.shape[0]
    rl = r * f
    lhat = rl / rl.sum()
    mu = float(np.sum(lhat * np.log(k * lhat)))
    beta = cp.Variable(k)
    d = jac.T @ beta
    cons = [beta >= 0, cp.sum(beta) == 1]
    scale = np.sqrt(np.diag(jac @ jac.T)).max() ** 2
    if mu > eps:
        adj_dir = jac.T @ (r * (np.log(k * lhat) - mu))
        ga = jac @ adj_dir
        top = rl >= rl.max() * (1 - 1e-12)
        if np.any(ga > 0):
            for j in range(k):
                if top[j]:
                    cons.append(jac[j] @ d >= 0)
                elif ga[j] <= 0:
                    cons.append(jac[j] @ d / scale >= ga[j] / scale)
        else:
            cons.append(jac @ d >= 0)
        objective = cp.Maximize(adj_dir @ d)
    else:
        cons.append(jac @ d >= 0)
        objective = cp.Maximize(jac.sum(axis=0) @ d)
    problem = cp.Problem(objective, cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return str(problem.status), float(problem.value) if problem.value is not None else 0.0


@pytest.mark.parametrize("family", ["gaussian", "rank-deficient", "scaled"])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_rule_lp_agrees_with_the_papers_lp_in_cvxpy(family: str, k: int) -> None:
    compared = 0
    for seed in range(6):
        jac = make_jacobian(family, k, 8, seed=7 * k + seed)
        rng = np.random.default_rng(seed)
        f = 10.0 ** rng.uniform(-1, 1, size=k)
        r = 10.0 ** rng.uniform(-1, 1, size=k)
        if seed == 0:
            f = 1.0 / r  # on the ray: descent mode
        rule = EPO(r, step_control=False)
        out = rule.weights(jac @ jac.T, f)
        status, ref = _paper_lp(jac, f, r, rule.eps)
        if status != "optimal" or out.info["relaxed"]:
            continue
        compared += 1
        assert out.info["mode"] == ("descent" if seed == 0 else "balance")
        assert out.residual <= LP_TOL
        c = ref if abs(ref) > 0 else 1.0
        # the rule's objective value is βᵀCc = (Jᵀβ)ᵀ(Jᵀc): the paper's, on the same scale
        tol = 1e-7 * float(np.abs(jac @ jac.T).max()) * (1.0 + np.abs(np.log(k * f * r)).max())
        assert abs(out.info["objective"] - ref) <= tol, (out.info["objective"], ref, c)
    assert compared >= 3


@given(jacobians(min_objectives=2, max_objectives=6), st.data())
def test_descent_mode_is_a_common_descent_direction(jac: np.ndarray, data: st.DataObject) -> None:
    """On the ray (μ = 0) the rule descends: Cβ >= 0 (g_jᵀd >= 0 for every j)."""
    k = jac.shape[0]
    r = data.draw(loss_vectors(k))
    gram = jac @ jac.T
    out = EPO(r).weights(gram, 1.0 / r)
    assert out.info["mode"] == "descent"
    scale = float(np.max(np.diag(gram)))
    assert np.all(gram @ out.weights >= -1e-9 * scale)


@given(jacobians(min_objectives=2, max_objectives=6), st.data())
def test_balance_mode_keeps_the_largest_relative_loss_from_rising(
    jac: np.ndarray, data: st.DataObject
) -> None:
    """Off the ray: (Cβ)_j* >= 0 for the largest relative loss j* (it does not increase to
    first order), and the step factor of step_control lies in (0, 1]."""
    k = jac.shape[0]
    f = data.draw(loss_vectors(k))
    r = data.draw(loss_vectors(k))
    gram = jac @ jac.T
    out = EPO(r).weights(gram, f)
    if out.info["mode"] != "balance":
        return
    top = int(np.argmax(r * f))
    scale = float(np.max(np.diag(gram)))
    assert float(gram[top] @ out.weights) >= -1e-9 * scale
    assert 0.0 < out.info["step_factor"] <= 1.0
    assert 0.0 < out.weights.sum() <= 1.0 + 1e-12


def test_non_uniformity() -> None:
    r = np.array([1.0, 2.0, 4.0])
    assert non_uniformity(1.0 / r, r) == pytest.approx(0.0, abs=1e-15)
    f = np.array([1.0, 0.0, 0.0])
    assert non_uniformity(f, r) == pytest.approx(np.log(3.0))  # the largest value, log K
    f = np.array([0.3, 0.2, 0.9])
    lhat = r * f / (r @ f)
    assert non_uniformity(f, r) == pytest.approx(float(np.sum(lhat * np.log(3 * lhat))))
    assert non_uniformity(np.zeros(3), r) == 0.0


def test_single_objective_and_defaults() -> None:
    out = EPO().weights(np.array([[4.0]]), np.array([2.0]))
    assert out.weights.tolist() == [1.0] and out.residual == 0.0
    rule = get_rule("epo", preference=[1, 2])
    assert rule.preference == (1.0, 2.0) and rule.eps == 1e-5 and rule.step_control is True
    assert "EPO(preference=(1.0, 2.0)" in repr(rule)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"preference": [1.0, 0.0]}, ValueError, r"preference must be positive.*preference\[1\]"),
        ({"preference": [1.0, -2.0]}, ValueError, "preference must be positive"),
        ({"preference": [1.0, np.nan]}, ValueError, "preference must be finite"),
        ({"preference": []}, ValueError, "preference must hold at least one entry"),
        ({"preference": [[1.0, 2.0]]}, ValueError, "preference must be a 1-D array"),
        ({"eps": -1.0}, ValueError, "eps must be >= 0"),
        ({"step_control": 1}, TypeError, "step_control must be True or False"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        EPO(**kwargs)  # type: ignore[arg-type]


def test_bad_losses() -> None:
    gram = np.eye(2)
    with pytest.raises(ValueError, match=r"non-negative losses.*losses\[1\] = -0.5"):
        EPO().weights(gram, np.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="preference has 3 entries but the losses have 2"):
        EPO([1.0, 2.0, 3.0]).weights(gram, np.ones(2))


# ----------------------------------------------------------------------------------------------
# runs on catalogue problems with known fronts
# ----------------------------------------------------------------------------------------------

PREFERENCES = np.array([[1.0, 4.0], [1.0, 2.0], [1.0, 1.0], [2.0, 1.0], [4.0, 1.0]])


@pytest.mark.parametrize(
    ("name", "options"), [("quadratic", {}), ("fonseca", {}), ("zdt1", {"n_var": 5})]
)
def test_runs_end_on_the_preference_ray_and_the_front(name: str, options: dict[str, int]) -> None:
    """Every end: converged, ``r⊙f`` uniform to 1% (``f ∝ 1/r``, the paper's EPO point), and
    on the known front to 1e-3 of its extent."""
    problem = moo.get_problem(name, **options)
    front = moo.pareto_front(problem, "epo", preferences=PREFERENCES, seed=3, steps=400)
    ref = problem.pareto_front(4000)
    extent = float(np.max(np.ptp(ref, axis=0)))
    assert len(front.results) == len(PREFERENCES) and not front.failed
    assert front.F.shape[0] == len(PREFERENCES)  # distinct, non-dominated
    for i, run in zip(front.start_index, front.results, strict=True):
        assert run.converged, run.reason
        rl = PREFERENCES[i] * run.F
        assert np.max(np.abs(rl / rl.sum() - 0.5)) <= 0.01, (i, run.F)
        assert distance_to_front(run.F, ref)[0] <= 1e-3 * extent
