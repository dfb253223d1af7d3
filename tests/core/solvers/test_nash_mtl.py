"""Nash-MTL: the two stationary policies, the equation and its certificate, differential tests
against the reference's iteration (cvxpy backend) and a direct CVXPY solve, warm start, reuse,
state, the Pareto-stationary (no solution) policy, bad hyperparameters, convergence on
catalogue problems. The generic laws are checked in ``test_laws.py``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import moo
from moo.solvers import get_rule
from moo.solvers.nash_mtl import (
    NashMTL,
    ParetoStationaryError,
    nash_residual,
    nash_weights,
    normalized_stationarity,
)
from moo.testing import jacobians, make_jacobian

TOL = 1e-10

# K <= d and d >= 12: the rows are linearly independent, so a solution exists and is
# well-conditioned enough for the 1e-10 certificate.
independent = jacobians(
    min_objectives=1,
    max_objectives=10,
    min_dim=12,
    max_dim=20,
    families=("gaussian", "scaled", "near-parallel"),
)


def _solve(gram: np.ndarray, **options: object) -> np.ndarray:
    return NashMTL(**options).weights(gram, np.ones(gram.shape[0])).weights  # type: ignore[arg-type]


def _two_unit_gradients(m: float) -> np.ndarray:
    """Gramian of two unit gradients whose min-norm convex combination has norm ``m``."""
    c = 2.0 * m * m - 1.0  # ||(u1 + u2) / 2||² = (1 + c) / 2
    return np.array([[1.0, c], [c, 1.0]])


# ------------------------------------------------------------------------ the two policies


@given(jacobians(max_objectives=8, max_dim=12))
def test_raise_and_stop_policies_agree(jac: np.ndarray) -> None:
    """The default rule raises exactly where "stop" returns zero weights, else is identical."""
    gram = jac @ jac.T
    f = np.ones(jac.shape[0])
    stop = NashMTL(on_stationary="stop").weights(gram, f)
    if stop.info["stationary"]:
        assert not np.any(stop.weights)
        with pytest.raises(ParetoStationaryError):
            NashMTL().weights(gram, f)
    else:
        np.testing.assert_array_equal(NashMTL().weights(gram, f).weights, stop.weights)


# ------------------------------------------------------------------- the equation, exactly


@given(independent)
def test_equation_and_certificate(jac: np.ndarray) -> None:
    """G α = 1/α to 1e-10 relative; ||d||² = K; g_iᵀd = 1/α_i > 0; the residual is honest."""
    k = jac.shape[0]
    gram = jac @ jac.T
    result = NashMTL().weights(gram, np.ones(k))
    alpha = result.weights
    assert np.all(alpha > 0.0)
    assert result.residual <= TOL
    assert nash_residual(gram, alpha) <= TOL
    np.testing.assert_allclose(alpha * (gram @ alpha), 1.0, rtol=0, atol=TOL)
    d = jac.T @ alpha
    assert float(d @ d) == pytest.approx(k, rel=TOL)
    np.testing.assert_allclose(jac @ d, 1.0 / alpha, rtol=1e-9)
    assert result.info["norm"] == pytest.approx(math.sqrt(k), rel=TOL)
    assert result.info["clip"] == 1.0 and result.info["stationary"] is False


@given(independent, st.lists(st.sampled_from([1e-6, 0.3, 1.0, 7.0, 1e5]), min_size=10, max_size=10))
def test_equivariant_under_rescaling_each_objective(jac: np.ndarray, factors: list[float]) -> None:
    """g_i → s_i g_i gives α_i → α_i / s_i: the same direction d."""
    k = jac.shape[0]
    s = np.asarray(factors[:k])
    alpha = _solve(jac @ jac.T)
    scaled = s[:, None] * jac
    alpha_s = _solve(scaled @ scaled.T)
    np.testing.assert_allclose(alpha_s * s, alpha, rtol=1e-9)


def test_single_objective() -> None:
    result = NashMTL().weights(np.array([[4.0]]), np.array([1.0]))
    assert result.weights.tolist() == [0.5]  # 1/||g||: ||d|| = 1 = √K
    assert result.residual == 0.0 and result.info["iterations"] == 0


def test_two_objectives_closed_form() -> None:
    """K = 2: α_i = 1 / (||g_i|| √(1 + cos θ)), exact from the cold start (no iteration)."""
    jac = np.array([[3.0, 0.0, 0.0], [1.0, 2.0, 0.0]])
    gram = jac @ jac.T
    norms = np.linalg.norm(jac, axis=1)
    cos = gram[0, 1] / (norms[0] * norms[1])
    result = NashMTL().weights(gram, np.ones(2))
    np.testing.assert_allclose(result.weights, 1.0 / (norms * math.sqrt(1.0 + cos)), rtol=1e-15)
    assert result.info["iterations"] == 0


def test_direction_from_jacobian() -> None:
    jac = make_jacobian("gaussian", 4, 9, seed=0)
    d, result = NashMTL().direction(jac, np.ones(4))
    np.testing.assert_allclose(d, jac.T @ result.weights)
    np.testing.assert_allclose(jac @ d, 1.0 / result.weights, rtol=1e-12)


def test_registered() -> None:
    rule = get_rule("nash-mtl", max_norm=1.0)
    assert isinstance(rule, NashMTL) and rule.max_norm == 1.0
    assert "update_weights_every=1" in repr(rule)


# ------------------------------------------------------------------------------ the scale


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_max_norm_clips_the_direction(k: int) -> None:
    """The reference's clipping: ||Jᵀw|| = min(√K, max_norm), w ∝ α."""
    jac = make_jacobian("gaussian", k, 10, seed=k)
    gram = jac @ jac.T
    alpha = _solve(gram)
    for max_norm in (0.3, 1.0, 5.0):
        result = NashMTL(max_norm=max_norm).weights(gram, np.ones(k))
        w = result.weights
        assert math.sqrt(float(w @ gram @ w)) == pytest.approx(min(math.sqrt(k), max_norm), 1e-12)
        np.testing.assert_allclose(w, alpha * result.info["clip"], rtol=1e-14)
        assert result.residual <= TOL  # the certificate is that of the unclipped α


# ------------------------------------------------------------------------ differential tests


def _cvxpy_nash(gram: np.ndarray) -> np.ndarray:
    """Independent formulation: min ½αᵀGα − Σ log α_i with exponential cones (Clarabel).

    Solved in the variables ``β_i = α_i ||g_i||`` (the same problem up to a constant, better
    scaled for the conic solver): min ½||Lβ||² − Σ log β_i with ``L Lᵀ`` the cosine matrix.
    """
    cp = pytest.importorskip("cvxpy")
    k = gram.shape[0]
    norms = np.sqrt(np.diag(gram))
    eigvals, eigvecs = np.linalg.eigh(gram / np.outer(norms, norms))
    factor = np.sqrt(np.clip(eigvals, 0.0, None))[:, None] * eigvecs.T
    b = cp.Variable(k)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(factor @ b) - cp.sum(cp.log(b))))
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert problem.status in ("optimal", "optimal_inaccurate")
    alpha = np.asarray(b.value, dtype=float) / norms
    return alpha


def _phi(gram: np.ndarray, alpha: np.ndarray) -> float:
    return 0.5 * float(alpha @ gram @ alpha) - float(np.sum(np.log(alpha)))


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
@pytest.mark.parametrize("family", ["gaussian", "near-parallel", "scaled"])
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_agrees_with_direct_cvxpy_solve(family: str, k: int) -> None:
    """CVXPY's solution reaches a certificate r_ref <= 1e-5 (Clarabel's exponential cones stop
    there; measured <= 2.1e-6 on these cases); the Newton weights lie within its rigorous
    bound r_ref / (1 − r_ref), i.e. within 1e-5 (measured <= 1e-6) relative, and our objective
    is never above CVXPY's by more than rounding."""
    for seed in range(2):
        jac = make_jacobian(family, k, 15, seed=100 * k + seed)
        if family == "scaled":  # keep row norms within 1e-2 .. 1e2 for the conic solver
            jac = jac / np.linalg.norm(jac, axis=1, keepdims=True) * np.logspace(-2, 2, k)[:, None]
        gram = jac @ jac.T
        ref = _cvxpy_nash(gram)
        r_ref = nash_residual(gram, ref)
        assert r_ref <= 1e-5, "the CVXPY reference itself is inaccurate"
        result = NashMTL().weights(gram, np.ones(k))
        alpha = result.weights
        assert result.residual <= 1e-12
        rel = float(np.max(np.abs(alpha - ref) / ref))
        assert rel <= 1.01 * r_ref / (1.0 - r_ref) + 1e-12
        assert _phi(gram, alpha) <= _phi(gram, ref) + 1e-14 * abs(_phi(gram, ref)) + 1e-14


@pytest.mark.parametrize("k", [2, 3, 5])
def test_agrees_with_the_reference_iteration(k: int) -> None:
    """The cvxpy backend (the reference's sequential convex iteration, Clarabel) reaches a
    certificate r_ref <= 1e-5; the Newton weights then lie within its bound r/(1 − r)."""
    pytest.importorskip("cvxpy")
    for seed in range(2):
        jac = make_jacobian("gaussian", k, 15, seed=100 * k + seed)
        gram = jac @ jac.T
        ref = NashMTL(backend="cvxpy").weights(gram, np.ones(k))
        ours = NashMTL().weights(gram, np.ones(k))
        assert ref.info["cvxpy_status"] == "optimal"
        r_ref = ref.residual
        assert r_ref <= 1e-5
        rel = np.max(np.abs(ref.weights - ours.weights) / ref.weights)
        assert rel <= 1.01 * r_ref / (1.0 - r_ref) + 1e-12
        assert ours.residual <= TOL < r_ref


def test_reference_iteration_warm_starts_and_clips_like_newton() -> None:
    pytest.importorskip("cvxpy")
    jac = make_jacobian("gaussian", 3, 15, seed=7)
    rule = NashMTL(backend="cvxpy", max_norm=1.0)
    first = rule.weights(jac @ jac.T, np.ones(3))
    assert math.sqrt(first.weights @ (jac @ jac.T) @ first.weights) == pytest.approx(1.0, 1e-9)
    jac2 = jac + 1e-3 * make_jacobian("gaussian", 3, 15, seed=8)
    second = rule.weights(jac2 @ jac2.T, np.ones(3))  # warm start from the last α
    assert second.info["cvxpy_status"] == "optimal" and second.residual <= 1e-5


def test_reference_iteration_fails_silently_from_its_cold_start() -> None:
    """A flaw of the reference reproduced: from α = 1, a first subproblem with some
    (Gα)_i < 0 is unbounded; the reference then returns α = 1 (the plain sum of gradients).
    The backend reports it (status and certificate); Newton solves the same Gramian."""
    pytest.importorskip("cvxpy")
    jac = make_jacobian("gaussian", 8, 15, seed=800)
    gram = jac @ jac.T
    assert np.min(gram @ np.ones(8)) < 0.0
    ref = NashMTL(backend="cvxpy").weights(gram, np.ones(8))
    assert ref.info["cvxpy_status"] == "unbounded" and ref.info["iterations"] == 1
    np.testing.assert_array_equal(ref.weights, np.ones(8))
    assert ref.residual > 1.0
    assert NashMTL().weights(gram, np.ones(8)).residual <= TOL


def test_cvxpy_backend_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cvxpy", None)
    with pytest.raises(ImportError, match=r"pip install 'moo-toolkit\[cvxpy\]'"):
        NashMTL(backend="cvxpy")
    NashMTL()  # the Newton backend needs nothing


def test_cvxpy_backend_unknown_solver() -> None:
    pytest.importorskip("cvxpy")
    with pytest.raises(ImportError, match="solver 'NOPE' is not installed"):
        NashMTL(backend="cvxpy", cvxpy_solver="NOPE")


# ------------------------------------------------------------------------ state and reuse


def _drifting(k: int, steps: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    jac = rng.normal(size=(k, 12))
    grams = []
    for _ in range(steps):
        grams.append(jac @ jac.T)
        jac = jac + 1e-2 * rng.normal(size=jac.shape)
    return grams


@pytest.mark.parametrize("k", [3, 6, 10])
def test_warm_start_same_result_fewer_iterations(k: int) -> None:
    grams = _drifting(k, 15, seed=k)
    warm = NashMTL()
    warm_iterations = cold_iterations = 0
    for gram in grams:
        a = warm.weights(gram, np.ones(k))
        b = NashMTL().weights(gram, np.ones(k))
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-12)
        assert a.residual <= TOL and b.residual <= TOL
        warm_iterations += a.info["iterations"]
        cold_iterations += b.info["iterations"]
    assert warm_iterations < cold_iterations


def test_warm_start_restored_from_state_dict() -> None:
    grams = _drifting(4, 6, seed=1)
    rule = NashMTL(update_weights_every=2)
    for gram in grams[:3]:
        rule.weights(gram, np.ones(4))
    state = rule.state_dict()
    assert state["calls"] == 3 and np.shape(state["alpha"]) == (4,)
    restored = NashMTL(update_weights_every=2)
    restored.load_state_dict(state)
    for gram in grams[3:]:
        a, b = rule.weights(gram, np.ones(4)), restored.weights(gram, np.ones(4))
        np.testing.assert_array_equal(a.weights, b.weights)
        assert a.info == b.info
    rule.reset()
    assert rule.state_dict() == {"alpha": None, "calls": 0}


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"alpha": None}, "keys"),
        ({"alpha": [1.0, -1.0], "calls": 1}, "positive"),
        ({"alpha": [1.0, np.nan], "calls": 1}, "positive"),
        ({"alpha": None, "calls": -1}, "calls must be >= 0"),
    ],
)
def test_bad_state(state: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NashMTL().load_state_dict(state)


def test_update_weights_every_reuses_the_last_alpha() -> None:
    """Calls 0, 3, 6 compute α (the reference's schedule); the others reuse it, clipped."""
    grams = _drifting(3, 7, seed=2)
    rule = NashMTL(update_weights_every=3, max_norm=1.0)
    computed = None
    for call, gram in enumerate(grams):
        result = rule.weights(gram, np.ones(3))
        if call % 3 == 0:
            assert not result.info["reused"] and result.residual <= TOL
            computed = NashMTL().weights(gram, np.ones(3)).weights
        else:
            assert result.info["reused"] and result.info["iterations"] == 0
            assert result.residual > TOL  # the old α does not solve the new equation
        assert computed is not None
        np.testing.assert_allclose(result.weights, computed * result.info["clip"], rtol=1e-12)
        w = result.weights
        assert math.sqrt(float(w @ gram @ w)) == pytest.approx(1.0, rel=1e-12)


def test_reuse_needs_weights_for_the_same_number_of_objectives() -> None:
    rule = NashMTL(update_weights_every=2)
    rule.weights(np.eye(3), np.ones(3))
    with pytest.raises(ValueError, match="rule has 3 weights for 2 objectives; call reset"):
        rule.weights(np.eye(2), np.ones(2))


# ------------------------------------------------------- no solution: Pareto-stationary points


@pytest.mark.parametrize(
    ("jac", "objectives", "message"),
    [
        (np.array([[1.0, 2.0], [0.0, 0.0], [0.5, 1.0]]), [1], r"objective\(s\) \[1\] is zero"),
        (np.array([[1.0, 2.0], [-2.0, -4.0], [0.0, 1.0]]), [0, 1], r"objectives \[0, 1\]"),
        (np.array([[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]]), [0, 1, 2], r"objectives \[0, 1, 2\]"),
        (np.zeros((2, 3)), [0, 1], r"objective\(s\) \[0, 1\] is zero"),
    ],
    ids=["zero-row", "opposite", "surrounding", "all-zero"],
)
def test_no_solution_raises_naming_the_objectives(
    jac: np.ndarray, objectives: list[int], message: str
) -> None:
    gram = jac @ jac.T
    with pytest.raises(ParetoStationaryError, match="has no solution") as info:
        NashMTL().weights(gram, np.ones(jac.shape[0]))
    assert isinstance(info.value, ValueError)
    assert info.value.objectives == objectives
    assert info.value.stationarity <= 1e-7  # exact up to Wolfe's tolerance
    with pytest.raises(ValueError, match=message):
        nash_weights(gram)
    stop = NashMTL(on_stationary="stop").weights(gram, np.ones(jac.shape[0]))
    assert not np.any(stop.weights) and stop.info["stationary"] is True


@pytest.mark.parametrize("family", ["rank-deficient", "duplicated", "gaussian"])
def test_singular_families_raise_exactly_when_stationary(family: str) -> None:
    """Dependent or many low-dimensional gradients: the rule raises iff the normalized
    stationarity is <= stationary_tol, and otherwise certifies its solution."""
    raised = solved = 0
    for seed in range(40):
        jac = make_jacobian(family, 5, 3, seed=seed)
        gram = jac @ jac.T
        m, _ = normalized_stationarity(gram)
        try:
            result = NashMTL().weights(gram, np.ones(5))
        except ParetoStationaryError as error:
            assert m <= 1e-6 and error.stationarity == m
            raised += 1
        else:
            assert m > 1e-6 and result.residual <= 1e-6
            assert np.all(jac @ (jac.T @ result.weights) > 0.0)
            solved += 1
    assert raised > 0 and solved > 0


@pytest.mark.parametrize("tol", [1e-6, 1e-3])
def test_the_stationarity_tolerance_is_the_documented_one(tol: float) -> None:
    """Two unit gradients at normalized stationarity m: solved for m = 2 tol, raises for
    m = tol / 2; near the tolerance the certificate stays below 1e-16 / m²-ish."""
    above = _two_unit_gradients(2.0 * tol)
    result = NashMTL(stationary_tol=tol).weights(above, np.ones(2))
    c = above[0, 1]
    np.testing.assert_allclose(result.weights, 1.0 / math.sqrt(1.0 + c), rtol=1e-4)
    assert result.residual <= 1e-4
    with pytest.raises(ParetoStationaryError, match=f"stationary_tol = {tol:g}"):
        NashMTL(stationary_tol=tol).weights(_two_unit_gradients(0.5 * tol), np.ones(2))


# ------------------------------------------------------------------------ hyperparameters


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"max_norm": 0.0}, ValueError, "max_norm must be > 0.0, got 0.0"),
        ({"max_norm": -1.0}, ValueError, "max_norm must be > 0.0, got -1.0"),
        ({"max_norm": math.inf}, ValueError, "max_norm must be finite"),
        ({"max_norm": "1"}, TypeError, "max_norm must be a real number"),
        ({"update_weights_every": 0}, ValueError, "update_weights_every must be >= 1, got 0"),
        ({"update_weights_every": 1.5}, TypeError, "update_weights_every must be an integer"),
        ({"backend": "ecos"}, ValueError, "backend must be one of 'newton', 'cvxpy'; got 'ecos'"),
        ({"stationary_tol": 1e-8}, ValueError, "stationary_tol must be >= 1e-07, got 1e-08"),
        ({"stationary_tol": 1.0}, ValueError, "stationary_tol must be < 1.0, got 1.0"),
        ({"on_stationary": "ignore"}, ValueError, "on_stationary must be one of"),
        ({"optim_niter": 0}, ValueError, "optim_niter must be >= 1, got 0"),
        ({"cvxpy_solver": ""}, ValueError, "cvxpy_solver must be a solver name, got ''"),
    ],
)
def test_bad_hyperparameters(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        NashMTL(**options)  # type: ignore[arg-type]


def test_unknown_hyperparameter_through_the_registry() -> None:
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        get_rule("nash-mtl", eps=1.0)


# ---------------------------------------------------------------------------- convergence

CONVERGENCE = [
    ("quadratic", {}, 1e-3),
    ("quadratic", {"n_obj": 3, "n_var": 4}, 2e-2),
    ("mtl-regression", {}, 2e-2),
]


@pytest.mark.parametrize(
    ("name", "params", "front_tol"), CONVERGENCE, ids=["quadratic-2", "quadratic-3", "mtl"]
)
def test_converges_to_pareto_stationarity(
    name: str, params: dict[str, int], front_tol: float
) -> None:
    """With on_stationary="stop", moo.minimize from 10 seeded starts: every accepted step
    decreases every objective (common descent + the multi-objective Armijo test), every run
    ends "converged" where the normalized stationarity is <= stationary_tol, so that
    min_{w ∈ Δ} ||Jᵀw|| <= 1e-6 · max_i ||g_i||, on the known front."""
    problem = moo.get_problem(name, **params)
    front = problem.pareto_front(40000)
    for seed in range(10):
        run = moo.minimize(problem, NashMTL(on_stationary="stop"), seed=seed, steps=500)
        assert run.reason == "converged", run.reason
        assert np.all(np.diff(run.history.F, axis=0) <= 0.0)
        jac = problem.jacobian(run.x)
        assert run.stationarity <= 1e-6 * float(np.max(np.linalg.norm(jac, axis=1)))
        assert normalized_stationarity(jac @ jac.T)[0] <= 1e-6
        assert float(moo.distance_to_front(run.F, front)[0]) <= front_tol
        assert np.all(run.history.residual <= 1e-3)  # certified up to the last step


@pytest.mark.parametrize(("name", "params", "front_tol"), CONVERGENCE[:2], ids=["q2", "q3"])
def test_default_policy_stops_the_loop_with_the_clear_error(
    name: str, params: dict[str, int], front_tol: float
) -> None:
    """With the default on_stationary="raise", the rule raises ParetoStationaryError once the
    iterate is Pareto-stationary to tolerance (on the front); the minimize loop catches it
    and ends the run with reason "stationary"."""
    problem = moo.get_problem(name, **params)
    front = problem.pareto_front(40000)
    for seed in range(3):
        run = moo.minimize(problem, "nash-mtl", seed=seed)
        assert run.reason == "stationary" and run.converged
        jac = problem.jacobian(run.x)
        with pytest.raises(ParetoStationaryError) as info:
            NashMTL().weights(jac @ jac.T, run.F)
        assert info.value.stationarity <= 1e-6
        assert float(moo.distance_to_front(run.F, front)[0]) <= front_tol


# ----------------------------------------------- a zero gradient in training: "keep" policy


def test_keep_policy_reuses_the_last_weights_at_a_stationary_point() -> None:
    """on_stationary="keep" (the reference's behaviour): at a point without solution the
    step reuses the last α (clipped for the current G), the state is left as it was; without
    a last α, the reference's first weights 1."""
    jac = np.array([[1.0, 0.2, 0.0], [0.1, 1.0, 0.3], [0.0, 0.4, 2.0]])
    gram = jac @ jac.T
    f = np.ones(3)
    dead = jac.copy()
    dead[1] = 0.0
    g_dead = dead @ dead.T
    for max_norm in (None, 0.5):
        rule = NashMTL(on_stationary="keep", max_norm=max_norm)
        cold = rule.weights(g_dead, f)
        np.testing.assert_array_equal(cold.weights / cold.info["clip"], np.ones(3))
        assert cold.info["stationary"] is True and cold.info["kept"] is True
        assert rule.state_dict()["alpha"] is None
        alpha = rule.weights(gram, f).weights / 1.0
        state = rule.state_dict()
        state["alpha"] = np.array(state["alpha"])  # a list of floats (plain Python)
        kept = rule.weights(g_dead, f)
        assert kept.info["stationary"] is True and kept.info["kept"] is True
        assert kept.info["stationarity"] == 0.0
        norm = math.sqrt(float(state["alpha"] @ g_dead @ state["alpha"]))
        clip = 1.0 if max_norm is None else min(1.0, max_norm / norm)
        np.testing.assert_array_equal(kept.weights, state["alpha"] * clip)
        np.testing.assert_array_equal(rule.state_dict()["alpha"], state["alpha"])
        assert rule.state_dict()["calls"] == state["calls"] + 1
        assert rule.scale_error(kept.weights, g_dead, f) is None
        # the next solvable step warm-starts from the kept α and solves as before
        again = rule.weights(gram, f)
        np.testing.assert_allclose(again.weights, alpha, rtol=1e-12)


def test_default_policy_raises_except_in_a_training_context() -> None:
    """The default (on_stationary=None) raises, as minimize expects (reason "stationary");
    inside `stationary_policy("keep")` (what moo.torch.backward sets) it keeps; an explicit
    policy wins over the context."""
    from moo.solvers.nash_mtl import stationary_policy

    g_dead = np.diag([1.0, 0.0])
    assert NashMTL().on_stationary is None
    with pytest.raises(ParetoStationaryError):
        NashMTL().weights(g_dead, np.ones(2))
    with stationary_policy("keep"):
        kept = NashMTL().weights(g_dead, np.ones(2))
        np.testing.assert_array_equal(kept.weights, np.ones(2))
        with pytest.raises(ParetoStationaryError):
            NashMTL(on_stationary="raise").weights(g_dead, np.ones(2))
        stop = NashMTL(on_stationary="stop").weights(g_dead, np.ones(2))
        assert not np.any(stop.weights)
    with pytest.raises(ParetoStationaryError):
        NashMTL().weights(g_dead, np.ones(2))  # the context is left as it was
    with pytest.raises(ValueError, match="policy must be one of"):
        with stationary_policy("ignore"):  # type: ignore[arg-type]
            pass
    problem = moo.get_problem("quadratic")
    assert moo.minimize(problem, "nash-mtl", seed=0).reason == "stationary"
