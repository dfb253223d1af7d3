"""PCGrad: differential tests, descent on two objectives, orders and state, convergence.

The generic laws are checked in ``test_laws.py``. Differential references: a direct vector
implementation of PCGrad on ``J``; torchjd's weighting where installed, with its random orders
patched to ours.

Convergence on ``quadratic`` (``moo.minimize``, default Armijo steps, 5 seeded starts), as
asserted here: K = 2 runs converge Pareto-stationary (Yu et al.'s Theorem 1). For K = 3 the
direction does not vanish at Pareto-stationary points, so runs never converge; over the
second half of 300 steps they stay near the front (stationarity <= 5e-2), close to the
minimizer of the sum, where the mean objective averages within 2 % of its minimum.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from hypothesis import given

import moo
from moo.solvers import get_rule
from moo.solvers.pcgrad import PCGrad, pcgrad_weights
from moo.testing import FAMILIES, jacobians, make_jacobian
from tests.core.solvers._helpers import max_norm


def test_registry_and_declared_properties() -> None:
    assert isinstance(get_rule("pcgrad", reduction="mean"), PCGrad)
    assert PCGrad().hyperparameters() == {"reduction": "sum", "order": "per-task", "seed": 0}
    assert PCGrad.stateful and not PCGrad.permutation_equivariant
    assert not PCGrad.common_descent and not PCGrad.average_descent
    assert PCGrad.needs == "gramian"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: PCGrad(reduction="max"), r"reduction must be one of .* got 'max'"),  # type: ignore[arg-type]
        (lambda: PCGrad(order="random"), r"order must be one of .* got 'random'"),  # type: ignore[arg-type]
        (lambda: PCGrad(seed=-1), r"seed must be >= 0, got -1"),
        (lambda: get_rule("pcgrad", reduction="avg"), "reduction must be one of"),
    ],
)
def test_bad_hyperparameters(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def test_non_integer_seed_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"seed must be an integer, got 1.5"):
        PCGrad(seed=1.5)  # type: ignore[arg-type]


def _pcgrad_vectors(jac: np.ndarray, orders: Sequence[Sequence[int]]) -> np.ndarray:
    """Yu et al.'s Algorithm 1 on the gradient vectors themselves: ``Σ_i g_i^PC``."""
    out = np.zeros(jac.shape[1])
    for i, order in enumerate(orders):
        g = jac[i].copy()
        for j in order:
            if j == i:
                continue
            inner = float(g @ jac[j])
            norm2 = float(jac[j] @ jac[j])
            if inner < 0.0 and norm2 > 0.0:
                g -= inner / norm2 * jac[j]
        out += g
    return out


@given(jacobians(max_objectives=8))
def test_pcgrad_matches_the_vector_algorithm(jac: np.ndarray) -> None:
    k = jac.shape[0]
    rng = np.random.default_rng(k + jac.shape[1])
    orders = [rng.permutation(k).tolist() for _ in range(k)]
    w, _ = pcgrad_weights(jac @ jac.T, orders)
    expected = _pcgrad_vectors(jac, orders)
    np.testing.assert_allclose(jac.T @ w, expected, rtol=0, atol=1e-12 * k * max_norm(jac))
    w_mean, _ = pcgrad_weights(jac @ jac.T, orders, "mean")
    np.testing.assert_allclose(w_mean, w / k, rtol=1e-15)


def _patched_randperm(orders: Sequence[Sequence[int]]) -> Iterator[object]:
    import torch

    for order in orders:
        yield torch.tensor(order)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_pcgrad_matches_torchjd_with_the_same_orders(
    family: str, k: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torchjd's PCGradWeighting draws ``torch.randperm(K)`` for each objective in turn;
    patching it to return our orders makes both compute the same PCGrad."""
    torch = pytest.importorskip("torch")
    aggregation = pytest.importorskip("torchjd.aggregation")
    for seed in range(3):
        jac = make_jacobian(family, k, 12, seed=100 * k + seed)
        gram = jac @ jac.T
        orders = [np.random.default_rng([seed, i]).permutation(k).tolist() for i in range(k)]
        supply = _patched_randperm(orders)
        monkeypatch.setattr(torch, "randperm", lambda n, supply=supply: next(supply))
        theirs = aggregation.PCGradWeighting()(torch.from_numpy(gram.copy())).numpy()
        monkeypatch.undo()
        ours, _ = pcgrad_weights(gram, orders)
        np.testing.assert_allclose(
            jac.T @ ours, jac.T @ theirs, rtol=0, atol=1e-12 * k * max_norm(jac)
        )


@given(jacobians(min_objectives=2, max_objectives=2))
def test_pcgrad_two_objectives_is_a_common_descent_direction(jac: np.ndarray) -> None:
    """K = 2: ``g_iᵀd = (1 − cos²φ) ||g_i||²`` on a conflict, ``>= 0`` in every case."""
    gram = jac @ jac.T
    result = PCGrad().weights(gram, np.ones(2))
    d = jac.T @ result.weights
    scale = float(np.max(np.diag(gram)))
    tol = 1e-10 * max(scale, 1e-300)
    assert np.all(jac @ d >= -tol)
    assert float(jac.mean(axis=0) @ d) >= -tol
    if gram[0, 1] < 0.0 and gram[0, 0] > 0.0 and gram[1, 1] > 0.0:
        cos2 = gram[0, 1] ** 2 / (gram[0, 0] * gram[1, 1])
        np.testing.assert_allclose(jac @ d, (1.0 - cos2) * np.diag(gram), rtol=0, atol=tol)


def test_pcgrad_three_objectives_can_ascend_the_average() -> None:
    """K = 3: with this J, every choice of orders gives ``ḡᵀd < 0`` (and ``g_jᵀd < 0`` for some
    ``j``): neither average nor common descent holds in general."""
    jac = np.array([[1.0, 1.0], [-4.0, -2.0], [1.0, 0.0]])
    gram = jac @ jac.T
    others = [[j for j in range(3) if j != i] for i in range(3)]
    choices = [[order, order[::-1]] for order in others]
    for orders in itertools.product(*choices):
        w, _ = pcgrad_weights(gram, list(orders))
        d = jac.T @ w
        assert float(jac.mean(axis=0) @ d) < -0.3
        assert float(np.min(jac @ d)) < 0.0


def test_pcgrad_scale_without_conflict() -> None:
    jac = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    for reduction, s in (("sum", 1.0), ("mean", 1.0 / 3.0)):
        result = PCGrad(reduction=reduction).weights(jac @ jac.T, np.ones(3))  # type: ignore[arg-type]
        assert result.weights.tolist() == [s, s, s]
        assert result.info["projections"] == 0 and result.residual == 0.0


def test_pcgrad_orders_come_from_the_seeded_generator() -> None:
    """``"per-task"``: one ``rng.permuted`` row per objective; ``"shared"``: one
    ``rng.permutation`` per call, followed by every objective."""
    jac = np.array([[1.0, 0.2], [-1.0, 0.5], [0.3, -1.0], [-0.4, -0.6]])  # many conflicts
    gram = jac @ jac.T
    rng = np.random.default_rng(5)
    per_task = [rng.permuted(np.tile(np.arange(4), (4, 1)), axis=1).tolist() for _ in range(2)]
    rule = PCGrad(seed=5)
    for orders in per_task:
        expected = pcgrad_weights(gram, orders)[0]
        np.testing.assert_array_equal(rule.weights(gram, np.ones(4)).weights, expected)
    rng = np.random.default_rng(5)
    shared = [rng.permutation(4).tolist() for _ in range(2)]
    rule = PCGrad(order="shared", seed=5)
    for order in shared:
        expected = pcgrad_weights(gram, [order] * 4)[0]
        np.testing.assert_array_equal(rule.weights(gram, np.ones(4)).weights, expected)
    # the orders matter here: the two shared orders give different directions
    directions = [jac.T @ pcgrad_weights(gram, [order] * 4)[0] for order in shared]
    assert shared[0] != shared[1] and not np.allclose(*directions)


def test_pcgrad_fixed_order_is_the_index_order() -> None:
    """``order="fixed"``: what the authors' TensorFlow code runs (its shuffle is discarded)."""
    jac = np.array([[1.0, 0.2], [-1.0, 0.5], [0.3, -1.0], [-0.4, -0.6]])
    rule = PCGrad(order="fixed")
    for _ in range(2):
        d = jac.T @ rule.weights(jac @ jac.T, np.ones(4)).weights
        np.testing.assert_allclose(d, _pcgrad_vectors(jac, [[0, 1, 2, 3]] * 4), atol=1e-15)


def test_pcgrad_state_reset_and_restore() -> None:
    jac = make_jacobian("gaussian", 5, 3, seed=2)
    gram = jac @ jac.T
    rule = PCGrad(seed=3)
    first = [rule.weights(gram, np.ones(5)).weights for _ in range(4)]
    assert any(not np.array_equal(first[0], w) for w in first[1:])  # the orders change
    rule.reset()
    np.testing.assert_array_equal(rule.weights(gram, np.ones(5)).weights, first[0])
    state = rule.state_dict()
    after = rule.weights(gram, np.ones(5)).weights
    other = PCGrad(seed=99)
    other.load_state_dict(copy.deepcopy(state))
    np.testing.assert_array_equal(other.weights(gram, np.ones(5)).weights, after)
    with pytest.raises(ValueError, match="key 'rng'"):
        other.load_state_dict({"generator": state["rng"]})
    with pytest.raises(ValueError, match="PCG64 state"):
        other.load_state_dict({"rng": {"bit_generator": "MT19937", "state": {}}})


def test_pcgrad_without_seed_draws_fresh_entropy() -> None:
    """``seed=None``: a fresh generator at construction and at every reset (the state after a
    reset repeats with probability about 2⁻¹²⁸); copies still continue identically."""
    rule = PCGrad(seed=None)
    before = rule.state_dict()
    twin = copy.deepcopy(rule)
    jac = make_jacobian("gaussian", 4, 3, seed=0)
    gram = jac @ jac.T
    np.testing.assert_array_equal(
        rule.weights(gram, np.ones(4)).weights, twin.weights(gram, np.ones(4)).weights
    )
    rule.reset()
    assert rule.state_dict() != before


def test_pcgrad_zero_gradient_is_never_projected_on() -> None:
    jac = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w, n = pcgrad_weights(jac @ jac.T, [[0, 1, 2]] * 3)
    assert n == 2  # g_0 and g_2 conflict; nothing is projected on the zero row
    np.testing.assert_allclose(jac.T @ w, _pcgrad_vectors(jac, [[0, 1, 2]] * 3), atol=1e-15)
    with pytest.raises(ValueError, match="one order per objective"):
        pcgrad_weights(jac @ jac.T, [[0, 1, 2]])


# ----------------------------------------------------------------------------------------------
# convergence on convex quadratics
# ----------------------------------------------------------------------------------------------


def test_pcgrad_two_objectives_converges_pareto_stationary() -> None:
    problem = moo.get_problem("quadratic")
    front = problem.pareto_front(5000)
    for seed in range(5):
        run = moo.minimize(problem, PCGrad(), seed=seed, steps=500, tol=1e-6)
        assert run.converged and run.stationarity <= 1e-5
        assert float(moo.distance_to_front(run.F, front)[0]) <= 1e-3


def test_pcgrad_three_objectives_settles_near_the_minimizer_of_the_mean() -> None:
    problem = moo.get_problem("quadratic", n_obj=3, n_var=4)
    x = np.zeros(4)  # minimizer of the mean: one Newton step on a quadratic, exact
    grad = problem.jacobian(x).sum(axis=0)
    hess = np.stack([problem.jacobian(e).sum(axis=0) - grad for e in np.eye(4)])
    x = x - np.linalg.solve(hess, grad)
    best_mean = float(problem.values(x).mean())
    for seed in range(5):
        run = moo.minimize(problem, PCGrad(seed=seed), seed=seed, steps=300, tol=1e-6)
        assert not run.converged  # ||d|| does not vanish at Pareto-stationary points
        assert run.history.stationarity[150:].max() <= 5e-2
        # the mean objective, averaged over the second half of the run, is near its minimum
        assert float(run.history.F[150:].mean()) <= 1.02 * best_mean
