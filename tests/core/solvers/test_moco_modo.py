"""MoCo and MoDo: generic laws, exact one-step math, state, errors and convergence.

Convergence, as asserted here:

- deterministic (``moo.minimize`` on ``quadratic``, K = 2 and 3, seeded starts): both rules end
  Pareto-stationary. With ``rho = 0`` they stop where MGDA would (``λ`` equals MGDA's min-norm
  weights of the final Gramian, end points depend on the start). With ``rho > 0`` the only
  rest points are stationary points of the mean objective, so ``λ`` ends uniform and every run
  ends at the minimizer of ``(1/K) Σ f_i`` (the iteration first reaches the Pareto set, then
  slides along it);
- stochastic (a loop in this file: Jacobians ``J + σ N(0, 1)``, two independent draws for
  MoDo, decaying step ``η_t = 0.1 / sqrt(1 + t/10)``): averaged over 6 seeds, the true
  Pareto-stationarity at the end is below 0.06 and below 1/25 of its start.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import moo
from moo.solvers import available_rules, get_rule, min_norm_weights, pareto_stationarity
from moo.solvers.moco import MoCo
from moo.solvers.modo import MoDo, lambda_step
from moo.testing import check_update_rule

# ----------------------------------------------------------------------------------------------
# generic laws (hypothesis, through the public testing kit)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("beta", "gamma", "rho"), [(0.1, 0.1, 0.1), (1.0, 0.5, 0.0), (0.5, 1e-3, 2.0)]
)
def test_moco_generic_laws(beta: float, gamma: float, rho: float) -> None:
    check_update_rule(MoCo(beta=beta, gamma=gamma, rho=rho))


@pytest.mark.parametrize(("gamma", "rho"), [(0.1, 0.1), (0.5, 0.0), (1e-3, 2.0)])
def test_modo_generic_laws(gamma: float, rho: float) -> None:
    check_update_rule(MoDo(gamma=gamma, rho=rho))


def test_registry_and_declared_properties() -> None:
    rules = available_rules()
    assert rules["moco"] is MoCo and rules["modo"] is MoDo
    moco = get_rule("moco", beta=0.2)
    assert isinstance(moco, MoCo) and moco.hyperparameters() == {
        "beta": 0.2,
        "gamma": 0.1,
        "rho": 0.1,
    }
    assert MoDo().hyperparameters() == {"gamma": 0.1, "rho": 0.1}
    assert MoCo.needs == "jacobian" and MoDo.needs == "gramian"
    for cls in (MoCo, MoDo):
        assert cls.stateful and cls.permutation_equivariant
        assert not cls.common_descent and not cls.average_descent


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
    r2 = rule.from_jacobian(j2, np.ones(2))
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


@pytest.mark.parametrize("rule_factory", [MoCo, MoDo, lambda: MoCo(gamma=5.0, rho=0.0)])
def test_lambda_stays_on_the_simplex(rule_factory: Callable[[], MoCo | MoDo]) -> None:
    rng = np.random.default_rng(0)
    rule = rule_factory()
    for step in range(200):
        jac = rng.normal(size=(5, 3)) * 10.0 ** rng.uniform(-3, 3, size=(5, 1))
        w = rule.from_jacobian(jac, np.ones(5)).weights
        assert np.all(w >= 0.0) and abs(w.sum() - 1.0) < 1e-12, (step, w)
        assert rule.scale_error(w, jac @ jac.T, np.ones(5)) is None
    assert MoCo().scale_error(np.array([0.7, 0.4]), None, np.ones(2)) is not None


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


def _jacobians(k: int, d: int, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(k, d)) for _ in range(n)]


@pytest.mark.parametrize("rule_factory", [lambda: MoCo(beta=0.3, gamma=0.2), MoDo])
def test_state_round_trip_and_copies(rule_factory: Callable[[], MoCo | MoDo]) -> None:
    jacs = _jacobians(3, 5, 8, seed=2)
    rule = rule_factory()
    fresh_state = rule.state_dict()
    assert all(value is None for value in fresh_state.values())
    for jac in jacs[:4]:
        rule.from_jacobian(jac, np.ones(3))
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
    result = rule.from_jacobian(jacs[0], np.ones(3))
    result.weights[...] = 7.0
    assert abs(rule.state_dict()["lambda"].sum() - 1.0) < 1e-12
    # loading the fresh state forgets everything
    rule.load_state_dict(fresh_state)
    assert all(value is None for value in rule.state_dict().values())


@pytest.mark.parametrize("rule_factory", [MoCo, MoDo])
def test_reset_restores_the_initial_uniform_lambda(
    rule_factory: Callable[[], MoCo | MoDo],
) -> None:
    jacs = _jacobians(4, 3, 5, seed=4)
    rule = rule_factory()
    for jac in jacs:
        rule.from_jacobian(jac, np.ones(4))
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
    assert rule.from_jacobian(np.ones((2, 3)), np.ones(2)).weights.shape == (2,)


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
    moco = MoCo()
    moco.from_jacobian(np.ones((3, 2)), np.ones(3))
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

QUADRATICS = [{"n_obj": 2, "n_var": 2}, {"n_obj": 3, "n_var": 4}]
TOL = 1e-6


def _mean_gradient_norm(problem: moo.Problem, x: np.ndarray) -> float:
    return float(np.linalg.norm(problem.jacobian(x).mean(axis=0)))


@pytest.mark.parametrize("params", QUADRATICS, ids=lambda p: f"K={p['n_obj']}")
@pytest.mark.parametrize(
    ("make_rule", "step_size"),
    [(lambda: MoDo(rho=0.0), None), (lambda: MoCo(rho=0.0), 0.1)],
    ids=["modo-armijo", "moco-constant"],
)
def test_without_regularization_runs_stop_where_mgda_would(
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


@pytest.mark.parametrize("params", QUADRATICS, ids=lambda p: f"K={p['n_obj']}")
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
        assert _mean_gradient_norm(problem, run.x) <= 1e-3


def test_moco_with_regularization_and_constant_steps_ends_at_the_mean_minimizer() -> None:
    problem = moo.get_problem("quadratic")
    for seed in range(2):
        run = moo.minimize(problem, MoCo(), seed=seed, steps=4000, tol=TOL, step_size=0.1)
        assert run.converged and run.stationarity <= TOL
        np.testing.assert_allclose(run.history.weights[-1], [0.5, 0.5], atol=1e-3)
        assert _mean_gradient_norm(problem, run.x) <= 1e-3


# ----------------------------------------------------------------------------------------------
# convergence, stochastic: injected gradient noise, averaged over seeds
# ----------------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("params", QUADRATICS, ids=lambda p: f"K={p['n_obj']}")
@pytest.mark.parametrize("make_rule", [MoCo, MoDo], ids=["moco", "modo"])
def test_converges_in_expectation_under_gradient_noise(
    params: dict[str, int], make_rule: Callable[[], MoCo | MoDo]
) -> None:
    problem = moo.get_problem("quadratic", **params)
    runs = np.array([_noisy_run(problem, make_rule(), seed) for seed in SEEDS])
    start, end = runs.mean(axis=0)
    assert end <= 0.06, end
    assert end <= start / 25.0, (start, end)
