"""MIMO: the smoothing math, options, state, validation and convergence (the generic laws:
``test_laws.py``)."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize as scipy_minimize
from scipy.special import logsumexp, softmax

import moo
from moo.problems import Problem
from moo.solvers import get_rule
from moo.solvers.linear import LinearScalarization
from moo.solvers.mimo import MIMO, smoothed_max
from moo.steps import ConstantStep
from moo.testing import loss_vectors


def _w(rule: MIMO, losses: Any) -> np.ndarray:
    return rule.weights(None, losses).weights


sizes = st.integers(2, 10)


@st.composite
def losses_k(draw: st.DrawFn, *, positive: bool = True) -> np.ndarray:
    return draw(loss_vectors(draw(sizes), positive=positive))


def test_class_attributes_and_registry() -> None:
    assert MIMO.name == "mimo" and MIMO.needs == "losses"
    assert not MIMO.common_descent and not MIMO.permutation_equivariant and MIMO.stateful
    rule = get_rule("mimo", gamma=2.0, smoothing="quadratic")
    assert isinstance(rule, MIMO) and rule.gamma == 2.0 and rule.smoothing == "quadratic"
    assert repr(MIMO(group=[2, 1])).startswith("MIMO(gamma=1.0, mu=0.5, smoothing='logsumexp'")
    assert MIMO(group=[2, 1]).hyperparameters()["group"] == (2, 1)


# -- the closed form -------------------------------------------------------------------------


@given(losses_k(positive=False), st.sampled_from([1e-3, 0.5, 7.0]), st.sampled_from([0.0, 2.5]))
def test_logsumexp_weights_and_value(f: np.ndarray, mu: float, gamma: float) -> None:
    result = MIMO(gamma=gamma, mu=mu).weights(None, f)
    lam = softmax(f[1:] / mu)
    # exp(x) carries a relative rounding error of about |x|·eps, with |x| up to ~745 here
    np.testing.assert_allclose(result.weights, [1.0, *(gamma * lam)], rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(result.info["lambda"], lam, rtol=1e-10, atol=1e-300)
    assert result.info["smax"] == pytest.approx(mu * logsumexp(f[1:] / mu), rel=1e-12, abs=1e-12)
    assert result.residual == 0.0 and result.info["gamma"] == gamma


@given(losses_k(positive=False), st.sampled_from([1e-3, 0.5, 7.0]))
def test_quadratic_weights_maximize_the_regularized_problem(f: np.ndarray, mu: float) -> None:
    """λ is on the simplex and satisfies the variational inequality of
    max_{λ∈Δ} λᵀz − μ/2 ||λ||²: (z − μλ)ᵀ(e_j − λ) <= 0 for every vertex e_j."""
    result = MIMO(mu=mu, smoothing="quadratic").weights(None, f)
    z = f[1:]
    lam = result.info["lambda"]
    assert np.all(lam >= 0.0) and abs(lam.sum() - 1.0) <= 1e-12
    grad = z - mu * lam
    assert np.all(grad - grad @ lam <= 1e-9 * max(1.0, float(np.abs(z).max())))
    np.testing.assert_allclose(result.weights[1:], lam)
    value = float(lam @ z + 0.5 * mu * (1.0 - lam @ lam))
    assert result.info["smax"] == pytest.approx(value, rel=1e-12, abs=1e-12)


@given(losses_k(positive=False), st.sampled_from([1e-3, 0.5, 7.0, 1e3]))
def test_smoothed_max_bounds(f: np.ndarray, mu: float) -> None:
    """max f <= smax <= max f + μ log M (logsumexp), + μ(1 − 1/M)/2 (quadratic)."""
    m, top = f.size, float(f.max())
    tol = 1e-12 * max(1.0, abs(top), mu)
    lse = smoothed_max(f, mu).value
    assert top - tol <= lse <= top + mu * math.log(m) + tol
    quad = smoothed_max(f, mu, "quadratic").value
    assert top - tol <= quad <= top + 0.5 * mu * (1.0 - 1.0 / m) + tol


@pytest.mark.parametrize("m", [1, 2, 5])
def test_smoothed_max_bounds_are_attained_at_equal_values(m: int) -> None:
    f = np.full(m, 0.7)
    assert smoothed_max(f, 0.3).value == pytest.approx(0.7 + 0.3 * math.log(m), rel=1e-14)
    assert smoothed_max(f, 0.3, "quadratic").value == pytest.approx(0.7 + 0.15 * (1 - 1 / m))
    np.testing.assert_allclose(smoothed_max(f, 0.3).weights, 1.0 / m)


def test_smoothed_max_is_stable_for_large_values() -> None:
    f = np.array([1e4, 1e4 - 1.0, -1e4])
    value, lam = smoothed_max(f, 1e-3)
    assert value == pytest.approx(1e4, rel=1e-12)
    np.testing.assert_allclose(lam, [1.0, 0.0, 0.0], atol=1e-300)
    with pytest.raises(ValueError, match=r"mu must be > 0\.0, got 0\.0"):
        smoothed_max(f, 0.0)


@given(losses_k(), st.sampled_from(["logsumexp", "quadratic"]))
def test_small_mu_puts_the_group_weight_on_the_worst(f: np.ndarray, smoothing: Any) -> None:
    z = f[1:]
    gap = np.sort(z)[-1] - np.sort(z)[-2] if z.size > 1 else 1.0
    if gap < 1e-6:
        return
    w = _w(MIMO(mu=gap / 100.0, smoothing=smoothing), f)
    expected = np.zeros(z.size)
    expected[np.argmax(z)] = 1.0
    np.testing.assert_allclose(w[1:], expected, atol=1e-40)


@given(losses_k(), st.sampled_from(["logsumexp", "quadratic"]))
def test_large_mu_spreads_the_group_weight_uniformly(f: np.ndarray, smoothing: Any) -> None:
    z = f[1:]
    spread = float(z.max() - z.min())
    mu = 1e9 * max(spread, 1e-300)
    np.testing.assert_allclose(
        _w(MIMO(mu=mu, smoothing=smoothing), f)[1:],
        1.0 / z.size,
        rtol=1e-8,
    )
    # quadratic: full support once μ >= Σ (z_m − min z), where λ = 1/M + (z − mean z)/μ
    if smoothing == "quadratic":
        mu = float((z - z.min()).sum()) * (1.0 + 1e-9) + 1e-300
        w = _w(MIMO(mu=mu, smoothing="quadratic"), f)
        np.testing.assert_allclose(w[1:], 1.0 / z.size + (z - z.mean()) / mu, atol=1e-12)


@given(losses_k(positive=False), st.sampled_from([0.0, 0.3, 4.0]), st.sampled_from(["none", "sum"]))
def test_weights_sum_law(f: np.ndarray, gamma: float, normalize: Any) -> None:
    for smoothing in ("logsumexp", "quadratic"):
        w = _w(MIMO(gamma=gamma, normalize=normalize, smoothing=smoothing), f)
        c0 = 1.0 if normalize == "none" else 1.0 / (1.0 + gamma)
        assert w[0] == c0 and np.all(w >= 0.0)
        assert w[1:].sum() == pytest.approx(gamma * c0, rel=1e-12, abs=1e-15)
        if normalize == "sum":
            assert w.sum() == pytest.approx(1.0, rel=1e-12)


@given(losses_k(positive=False))
def test_equivariance_under_permutations_of_the_group(f: np.ndarray) -> None:
    """Permuting the group permutes its weights; moving the nominal index with the objectives
    (``nominal`` relabelled) permutes all weights."""
    k = f.size
    perm_group = np.random.default_rng(k).permutation(np.arange(1, k))
    for smoothing in ("logsumexp", "quadratic"):
        w = _w(MIMO(smoothing=smoothing), f)
        wp = _w(MIMO(smoothing=smoothing), f[[0, *perm_group]])
        np.testing.assert_allclose(wp, w[[0, *perm_group]], rtol=1e-12, atol=1e-300)
        perm = np.random.default_rng(k + 1).permutation(k)
        nominal = int(np.flatnonzero(perm == 0)[0])
        wq = _w(MIMO(smoothing=smoothing, nominal=nominal), f[perm])
        np.testing.assert_allclose(wq, w[perm], rtol=1e-12, atol=1e-300)


def test_explicit_group_and_nominal_placement() -> None:
    f = np.array([3.0, 1.0, 9.0, 2.0])
    w = _w(MIMO(nominal=1, group=[3, 0], mu=1.0), f)
    lam = softmax([2.0, 3.0])
    np.testing.assert_allclose(w, [lam[1], 1.0, 0.0, lam[0]])
    w_sum = _w(MIMO(nominal=1, group=[3, 0], mu=1.0, gamma=3.0, normalize="sum"), f)
    np.testing.assert_allclose(w_sum, [0.75 * lam[1], 0.25, 0.0, 0.75 * lam[0]])
    lam2 = softmax(f[[0, 1, 3]] / 0.5)
    np.testing.assert_allclose(_w(MIMO(nominal=2), f), [lam2[0], lam2[1], 1.0, lam2[2]])


def test_entry_points_agree() -> None:
    f = [0.5, 2.0, 1.0]
    jac = np.arange(9.0).reshape(3, 3)
    fast = _w(MIMO(), f)
    np.testing.assert_array_equal(_w(MIMO(), np.array(f)), fast)
    np.testing.assert_array_equal(MIMO().from_jacobian(jac, f).weights, fast)
    np.testing.assert_array_equal(MIMO().weights(jac @ jac.T, f).weights, fast)
    np.testing.assert_array_equal(_w(MIMO(), np.array(f, dtype=np.float32)), fast)
    d, _ = MIMO().direction(jac, f)
    np.testing.assert_allclose(d, jac.T @ fast)


# -- the merit function ----------------------------------------------------------------------


def _random_quadratics(k: int, d: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d))
    curv = 10.0 ** rng.uniform(-1, 1, size=(k, 1))

    def fun(x: np.ndarray) -> np.ndarray:
        return 0.5 * (curv[:, 0] * ((x - centers) ** 2).sum(axis=1))

    def jac(x: np.ndarray) -> np.ndarray:
        return curv * (x - centers)

    return Problem(fun, d, k, jacobian=jac)


@pytest.mark.parametrize("smoothing", ["logsumexp", "quadratic"])
@pytest.mark.parametrize("normalize", ["none", "sum"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merit_gradient_is_the_direction(smoothing: Any, normalize: Any, seed: int) -> None:
    """Central finite differences of merit(f(x)) agree with d = Jᵀw."""
    k = 3 + seed
    problem = _random_quadratics(k, 4, seed)
    rule = MIMO(gamma=1.7, mu=0.3, smoothing=smoothing, normalize=normalize, nominal=seed % k)
    x = np.random.default_rng(seed + 10).normal(size=4)
    d, _ = rule.direction(problem.jacobian(x), problem.values(x))
    h = 1e-6
    fd = np.zeros(4)
    for j in range(4):
        e = np.zeros(4)
        e[j] = h
        hi, lo = rule.merit(problem.values(x + e)), rule.merit(problem.values(x - e))
        assert hi is not None and lo is not None
        fd[j] = (hi - lo) / (2 * h)
    np.testing.assert_allclose(fd, d, rtol=1e-6, atol=1e-7 * max(1.0, float(np.abs(d).max())))


def test_merit_value_stability_and_state() -> None:
    rule = MIMO(gamma=2.0, mu=1e-3)
    f = np.array([1.0, 5e3, 5e3 - 1.0, 2.0])
    assert rule.merit(f) == pytest.approx(1.0 + 2.0 * 5e3, rel=1e-12)
    assert MIMO(gamma=2.0, normalize="sum").merit(np.array([1.0, 1.0])) == pytest.approx(1.0)
    before = rule.state_dict()
    rule.merit(f)
    assert rule.state_dict() == before


@pytest.mark.parametrize(
    "options",
    [
        {"update": "ascent"},
        {"tracking": 0.5},
        {"relative": True},
        {"gamma_schedule": "linear-warmup", "warmup_steps": 3},
        {"gamma": lambda t: 1.0},
    ],
)
def test_no_merit_when_the_weights_depend_on_earlier_calls(options: dict[str, Any]) -> None:
    assert MIMO(**options).merit(np.array([1.0, 2.0, 3.0])) is None


# -- options: ascent, tracking, relative, schedule -------------------------------------------


@given(
    losses_k(positive=False),
    st.sampled_from(["logsumexp", "quadratic"]),
    st.sampled_from([0.25, 0.5, 1.0, 1.6]),
)
@settings(max_examples=30)
def test_ascent_converges_to_the_closed_form(f: np.ndarray, smoothing: Any, step: float) -> None:
    """At fixed losses, repeated ascent steps (ημ = step) converge to the closed form; with
    ημ = 1 one step is exact. The residual reports ||λ − λ*||_1."""
    mu = 0.5
    rule = MIMO(update="ascent", smoothing=smoothing, mu=mu, ascent_lr=step / mu)
    closed = MIMO(smoothing=smoothing).weights(None, f)
    first = rule.weights(None, f)
    if step == 1.0:
        np.testing.assert_allclose(first.weights, closed.weights, atol=1e-12)
    for _ in range(150):
        result = rule.weights(None, f)
    np.testing.assert_allclose(result.weights, closed.weights, atol=1e-9)
    assert result.residual <= 2e-9
    assert result.residual == pytest.approx(
        np.abs(result.info["lambda"] - closed.info["lambda"]).sum(), abs=1e-15
    )


def test_ascent_starts_uniform_and_contracts() -> None:
    f = np.array([0.0, 1.0, 3.0, 2.0])
    for smoothing in ("logsumexp", "quadratic"):
        rule = MIMO(update="ascent", smoothing=smoothing, ascent_lr=0.4)  # ημ = 0.2
        residuals = [rule.weights(None, f).residual for _ in range(30)]
        assert all(b < a for a, b in itertools.pairwise(residuals) if a > 1e-13)
        assert residuals[-1] <= 0.8**29 * residuals[0] * 3
    rule = MIMO(update="ascent", ascent_lr=1.0, mu=0.5)
    # log λ_1 = (1 − ημ)·0 + η z: one step from uniform is softmax(η z)
    np.testing.assert_allclose(rule.weights(None, f).info["lambda"], softmax(f[1:]))


def test_tracking_math() -> None:
    beta = 0.25
    seq = [np.array([1.0, 2.0, 0.5]), np.array([0.0, 0.1, 3.0]), np.array([5.0, 1.0, 1.0])]
    rule = MIMO(tracking=beta)
    u = seq[0][1:]
    for i, f in enumerate(seq):
        if i:
            u = (1 - beta) * u + beta * f[1:]
        result = rule.weights(None, f)
        np.testing.assert_allclose(result.weights, [1.0, *softmax(u / 0.5)], rtol=1e-13)
    np.testing.assert_allclose(rule.state_dict()["tracked"], u, rtol=1e-14)
    # β = 1 is no tracking
    free, plain = MIMO(tracking=1.0), MIMO()
    for f in seq:
        np.testing.assert_array_equal(_w(free, f), _w(plain, f))


@given(st.lists(loss_vectors(4), min_size=1, max_size=4), st.floats(1e-3, 1e3))
def test_relative_mode_divides_by_the_first_losses(seq: list[np.ndarray], c: float) -> None:
    """λ comes from the group losses over their first values, so it is blind to the scale of a
    group objective: multiplying one by c > 0 in every call leaves the weights unchanged."""
    rule, scaled = MIMO(relative=True), MIMO(relative=True)
    ref = seq[0][1:]
    for f in seq:
        w = _w(rule, f)
        np.testing.assert_allclose(w, [1.0, *softmax(f[1:] / ref / 0.5)], rtol=1e-12)
        g = f.copy()
        g[2] *= c
        np.testing.assert_allclose(_w(scaled, g), w, rtol=1e-9, atol=1e-300)
    np.testing.assert_array_equal(rule.state_dict()["reference"], ref)


def test_relative_mode_needs_positive_first_losses() -> None:
    with pytest.raises(
        ValueError,
        match=r"positive group losses on the first call, got "
        r"losses\[2\] = -1.0",
    ):
        MIMO(relative=True).weights(None, [1.0, 2.0, -1.0])
    rule = MIMO(relative=True)
    rule.weights(None, [1.0, 2.0, 1.0])
    rule.weights(None, [1.0, -2.0, 0.0])  # later values may be anything finite


def test_linear_warmup_and_gamma_function() -> None:
    f = np.array([1.0, 2.0, 3.0])
    rule = MIMO(gamma=2.0, gamma_schedule="linear-warmup", warmup_steps=4)
    gammas = [rule.weights(None, f).info["gamma"] for _ in range(6)]
    assert gammas == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    assert rule.state_dict()["step"] == 6
    rule.reset()
    assert rule.weights(None, f).weights[1:].sum() == pytest.approx(0.5)
    fn = MIMO(gamma=lambda t: 10.0 / (t + 1), normalize="sum")
    for t in range(3):
        w = _w(fn, f)
        g = 10.0 / (t + 1)
        assert w[0] == pytest.approx(1 / (1 + g)) and w[1:].sum() == pytest.approx(g / (1 + g))
    both = MIMO(gamma=lambda t: 3.0, gamma_schedule="linear-warmup", warmup_steps=3)
    assert [both.weights(None, f).info["gamma"] for _ in range(4)] == pytest.approx([1, 2, 3, 3])


@pytest.mark.parametrize("value", [-1.0, math.nan, math.inf, "a"])
def test_gamma_function_bad_value(value: Any) -> None:
    rule = MIMO(gamma=lambda t: value)
    with pytest.raises(ValueError, match=r"gamma\(0\) returned"):
        rule.weights(None, [1.0, 2.0])


# -- state -----------------------------------------------------------------------------------

STATEFUL: dict[str, Any] = {
    "update": "ascent",
    "tracking": 0.4,
    "relative": True,
    "gamma_schedule": "linear-warmup",
    "warmup_steps": 5,
}


@pytest.mark.parametrize("smoothing", ["logsumexp", "quadratic"])
def test_state_round_trip_and_reset(smoothing: Any) -> None:
    rng = np.random.default_rng(0)
    seq = [np.abs(rng.normal(size=4)) + 0.1 for _ in range(8)]
    rule = MIMO(smoothing=smoothing, **STATEFUL)
    for f in seq[:4]:
        rule.weights(None, f)
    state = copy.deepcopy(rule.state_dict())
    assert set(state) == {"step", "tracked", "reference", "dual"} and state["step"] == 4
    restored = MIMO(smoothing=smoothing, **STATEFUL)
    restored.load_state_dict(state)
    for f in seq[4:]:
        np.testing.assert_array_equal(_w(restored, f), _w(rule, f))
    rule.reset()
    fresh = MIMO(smoothing=smoothing, **STATEFUL)
    for f in seq:
        np.testing.assert_array_equal(_w(rule, f), _w(fresh, f))
    assert MIMO().state_dict() == {"step": 0, "tracked": None, "reference": None, "dual": None}


def test_load_state_dict_rejects_bad_state() -> None:
    rule = MIMO(**STATEFUL)
    rule.weights(None, [1.0, 2.0, 3.0])
    good = rule.state_dict()
    with pytest.raises(ValueError, match="state must have the keys"):
        rule.load_state_dict({"step": 1})
    with pytest.raises(ValueError, match="one length"):
        rule.load_state_dict({**good, "tracked": np.ones(3)})
    with pytest.raises(ValueError, match=r"state\['reference'\] must be positive"):
        rule.load_state_dict({**good, "reference": np.array([1.0, 0.0])})
    with pytest.raises(ValueError, match=r"state\['tracked'\] must be finite"):
        rule.load_state_dict({**good, "tracked": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match=r"state\['step'\] must be >= 0"):
        rule.load_state_dict({**good, "step": -1})
    with pytest.raises(ValueError, match=r"state\['tracked'\] is set but this rule does not"):
        MIMO().load_state_dict({**good, "reference": None, "dual": None})
    with pytest.raises(ValueError, match=r"state\['dual'\] must be on the simplex"):
        MIMO(update="ascent", smoothing="quadratic").load_state_dict(
            {"step": 0, "tracked": None, "reference": None, "dual": np.array([0.7, 0.7])}
        )
    with pytest.raises(ValueError, match="state holds 2; call reset"):
        rule.weights(None, [1.0, 2.0, 3.0, 4.0])


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mu": 0.0}, "mu must be > 0.0, got 0.0"),
        ({"mu": -1.0}, "mu must be > 0.0, got -1.0"),
        ({"mu": math.inf}, "mu must be finite, got inf"),
        ({"gamma": -0.5}, "gamma must be >= 0.0, got -0.5"),
        ({"gamma": math.nan}, "gamma must be finite, got nan"),
        ({"gamma": math.inf}, "gamma must be finite, got inf"),
        ({"tracking": 0.0}, "tracking must be > 0.0, got 0.0"),
        ({"tracking": 1.5}, "tracking must be <= 1.0, got 1.5"),
        ({"ascent_lr": 0.0}, "ascent_lr must be > 0.0, got 0.0"),
        ({"ascent_lr": -2.0}, "ascent_lr must be > 0.0, got -2.0"),
        ({"update": "ascent", "ascent_lr": 4.0}, r"ascent_lr=4.0 with mu=0.5 gives ascent_lr\*mu"),
        ({"smoothing": "softmax"}, "smoothing must be one of 'logsumexp', 'quadratic'; got"),
        ({"update": "mirror"}, "update must be one of .*; got 'mirror'"),
        ({"normalize": "l2"}, "normalize must be one of 'none', 'sum'; got 'l2'"),
        ({"nominal": -1}, "nominal must be >= 0, got -1"),
        ({"group": []}, r"group must hold at least one index, got \[\]"),
        ({"group": [0, 1]}, r"group=\[0, 1\] overlaps the nominal objective nominal=0"),
        ({"group": [1, 1]}, r"group indices must be distinct, got group=\[1, 1\]"),
        ({"group": [-1, 2]}, r"group indices must be >= 0, got group=\[-1, 2\]"),
        ({"gamma_schedule": "cosine"}, "gamma_schedule must be one of .*; got 'cosine'"),
        ({"gamma_schedule": "linear-warmup"}, "needs warmup_steps >= 1, got 0"),
        ({"warmup_steps": 10}, "warmup_steps=10 has no effect with gamma_schedule='constant'"),
        ({"warmup_steps": -1}, "warmup_steps must be >= 0, got -1"),
    ],
)
def test_bad_hyperparameters(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MIMO(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": "1"}, "gamma must be a real number"),
        ({"relative": 1}, "relative must be a bool"),
        ({"group": "12"}, "group must be a sequence of indices"),
        ({"group": [1.0, 2]}, "group must hold integer indices"),
        ({"nominal": 1.0}, "nominal must be an integer"),
    ],
)
def test_hyperparameters_of_the_wrong_type(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        MIMO(**options)


@pytest.mark.parametrize(
    ("rule", "losses", "message"),
    [
        (MIMO(), [1.0], "at least 2 objectives .*, got 1"),
        (MIMO(), [], "at least 2 objectives .*, got 0"),
        (MIMO(nominal=5), [1.0, 2.0, 3.0], "nominal=5 is out of range for 3 objectives"),
        (MIMO(group=[1, 5]), [1.0, 2.0, 3.0], r"group=\[1, 5\] is out of range for 3 objectives"),
        (
            MIMO(group=[1, 2]),
            [1.0, 2.0, 3.0, 4.0],
            r"losses has 4 objectives but MIMO\(nominal=0, group=\[1, 2\]\) expects exactly 3",
        ),
        (MIMO(), [1.0, math.nan, 2.0], r"losses must be finite, got losses\[1\] = nan"),
        (MIMO(), [1.0, math.inf, -math.inf], r"losses must be finite, got losses\[1\] = inf"),
        (MIMO(), [[1.0, 2.0]], "losses must be a 1-D array"),
    ],
)
def test_bad_losses(rule: MIMO, losses: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rule.weights(None, losses)


def test_overflowing_sum_is_not_mistaken_for_a_non_finite_loss() -> None:
    w = _w(MIMO(), [1e308, 1e308, 1e308])
    np.testing.assert_allclose(w, [1.0, 0.5, 0.5])


def test_given_gramian_is_checked() -> None:
    with pytest.raises(ValueError, match="losses must have length 2"):
        MIMO().weights(np.eye(2), [1.0, 2.0, 3.0])


# -- convergence on an imbalanced problem ----------------------------------------------------

# f_0 (nominal) centred at 0; two "easy" group objectives with strong curvature on one side and
# one "hard" group objective with weak curvature on the other. The uniform sum follows the easy
# ones and leaves the hard one high; MIMO balances the worst of the group.
CENTERS = np.array([[0.0, 0.0], [1.5, 0.0], [1.5, 0.5], [-2.0, 0.0]])
CURVATURES = np.array([1.0, 4.0, 4.0, 0.5])


def imbalanced_problem() -> Problem:
    def fun(x: np.ndarray) -> np.ndarray:
        return 0.5 * CURVATURES * ((x - CENTERS) ** 2).sum(axis=1)

    def jac(x: np.ndarray) -> np.ndarray:
        return CURVATURES[:, None] * (x - CENTERS)

    return Problem(fun, 2, 4, jacobian=jac, sampling_bounds=(-3.0, 3.0), name="imbalanced")


SEEDS = [0, 1, 2, 3]
MARGIN = 0.5  # MIMO's worst group objective is lower than linear scalarization's by this much


@pytest.mark.parametrize(
    "options", [{}, {"smoothing": "quadratic", "mu": 0.2}], ids=["logsumexp", "quadratic"]
)
def test_mimo_reaches_a_stationary_point_of_its_penalty_and_a_lower_worst_group(
    options: dict[str, Any],
) -> None:
    problem = imbalanced_problem()
    rule = MIMO(**options)

    def penalty(x: np.ndarray) -> float:
        value = rule.merit(problem.values(x))
        assert value is not None
        return value

    reference = scipy_minimize(penalty, np.zeros(2), method="BFGS", options={"gtol": 1e-10}).x
    worst_mimo, worst_linear = [], []
    for seed in SEEDS:
        run = moo.minimize(problem, rule, seed=seed, steps=2000, tol=1e-6)
        assert run.converged, run.reason
        # ||∇F|| = ||d|| at the end: the direction is the gradient of the penalty F
        d, _ = rule.direction(problem.jacobian(run.x), run.F)
        assert np.linalg.norm(d) <= 1e-6
        np.testing.assert_allclose(run.x, reference, atol=1e-5)
        # Armijo on the merit: F decreases at every accepted step (no cycling); exactly, since
        # `penalty` repeats the line search's own evaluation (same x, same operations)
        merits = [penalty(x) for x in run.history.x]
        assert np.all(np.diff(merits) <= 0.0)
        linear = moo.minimize(problem, LinearScalarization([1.0, 1.0, 1.0, 1.0]), seed=seed)
        assert linear.converged
        worst_mimo.append(run.F[1:].max())
        worst_linear.append(linear.F[1:].max())
    assert np.mean(worst_mimo) <= np.mean(worst_linear) - MARGIN
    assert max(worst_mimo) < min(worst_linear)


@pytest.mark.parametrize(
    "options",
    [
        {"tracking": 0.5},
        {"update": "ascent"},
        {"gamma_schedule": "linear-warmup", "warmup_steps": 20},
    ],
    ids=["tracking", "ascent", "warmup"],
)
def test_stateful_options_reach_the_same_point_with_a_small_constant_step(
    options: dict[str, Any],
) -> None:
    """Tracking, the ascent and the warmup change the path, not the fixed point."""
    problem = imbalanced_problem()
    closed = moo.minimize(problem, MIMO(), seed=0)
    run = moo.minimize(problem, MIMO(**options), seed=0, steps=1000, step_size=ConstantStep(0.05))
    assert run.converged
    np.testing.assert_allclose(run.x, closed.x, atol=1e-5)
