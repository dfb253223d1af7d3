"""PCGrad, IMTL-G and UPGrad: generic laws, differential tests, singular cases, convergence.

Differential references: a direct vector implementation of PCGrad on ``J``; the IMTL-G paper's
closed form ``α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹`` on ``J``; a CVXPY (Clarabel) formulation of each
UPGrad projection ``min ||x − g_i||² s.t. J x >= 0``; torchjd's weightings where installed
(torchjd's UPGrad needs ``qpsolvers`` and ``quadprog``, skipped when missing).

Convergence on ``quadratic`` (``moo.minimize``, default Armijo steps, 5 seeded starts), as
asserted here:

- UPGrad (common descent, so Armijo tests every objective): K = 2 and K = 3 (``n_var = 4``)
  runs converge (``||d|| <= 1e-6``), end Pareto-stationary and on the front, and every
  accepted step decreases every objective;
- IMTL-G: the same runs converge Pareto-stationary and on the front (observed; for K >= 3
  IMTL-G is not a descent method in general). With more objectives than variables (K = 3,
  ``n_var = 2``) the default ``"weighted"`` Armijo test can cycle; ``Armijo(condition="all")``
  stops every run at a Pareto-stationary point;
- PCGrad: K = 2 runs converge Pareto-stationary (Yu et al.'s Theorem 1). For K = 3 the
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
from hypothesis import given, settings

import moo
from moo.solvers import get_rule
from moo.solvers.imtl import IMTLG
from moo.solvers.pcgrad import PCGrad, pcgrad_weights
from moo.solvers.upgrad import UPGrad, dual_cone_weights, upgrad_weights
from moo.steps import Armijo
from moo.testing import check_update_rule, jacobians, make_jacobian

FAMILIES = ("gaussian", "rank-deficient", "near-parallel", "scaled", "duplicated")


def _max_norm(jac: np.ndarray) -> float:
    return max(float(np.linalg.norm(jac, axis=1).max()), 1e-300)


# ----------------------------------------------------------------------------------------------
# generic laws (hypothesis, through the public testing kit)
# ----------------------------------------------------------------------------------------------


def test_pcgrad_generic_laws() -> None:
    check_update_rule(PCGrad())
    check_update_rule(PCGrad(reduction="mean", order="shared", seed=7))
    check_update_rule(PCGrad(order="fixed"))


def test_imtlg_generic_laws() -> None:
    check_update_rule(IMTLG())


def test_upgrad_generic_laws() -> None:
    check_update_rule(UPGrad())


def test_registry_and_declared_properties() -> None:
    assert isinstance(get_rule("pcgrad", reduction="mean"), PCGrad)
    assert isinstance(get_rule("imtl-g"), IMTLG)
    assert isinstance(get_rule("upgrad"), UPGrad)
    assert PCGrad().hyperparameters() == {"reduction": "sum", "order": "per-task", "seed": 0}
    assert PCGrad.stateful and not PCGrad.permutation_equivariant
    assert not PCGrad.common_descent and not PCGrad.average_descent
    assert not IMTLG.common_descent and not IMTLG.average_descent and not IMTLG.stateful
    assert UPGrad.common_descent and UPGrad.average_descent and not UPGrad.stateful
    for cls in (PCGrad, IMTLG, UPGrad):
        assert cls.needs == "gramian"


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: PCGrad(reduction="max"), r"reduction must be one of .* got 'max'"),  # type: ignore[arg-type]
        (lambda: PCGrad(order="random"), r"order must be one of .* got 'random'"),  # type: ignore[arg-type]
        (lambda: PCGrad(seed=-1), r"seed must be >= 0, got -1"),
        (lambda: get_rule("pcgrad", reduction="avg"), "reduction must be one of"),
        (lambda: get_rule("upgrad", pref_vector=[1, 1]), "unknown hyperparameter"),
        (lambda: get_rule("imtl-g", eps=1e-3), "unknown hyperparameter"),
    ],
)
def test_bad_hyperparameters(factory: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()  # type: ignore[operator]


def test_non_integer_seed_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"seed must be an integer, got 1.5"):
        PCGrad(seed=1.5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# PCGrad
# ----------------------------------------------------------------------------------------------


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
    np.testing.assert_allclose(jac.T @ w, expected, rtol=0, atol=1e-12 * k * _max_norm(jac))
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
            jac.T @ ours, jac.T @ theirs, rtol=0, atol=1e-12 * k * _max_norm(jac)
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
# IMTL-G
# ----------------------------------------------------------------------------------------------


def _unit_projections(jac: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.linalg.norm(jac, axis=1)
    d = jac.T @ w
    nonzero = norms > 0.0
    return (jac[nonzero] @ d) / norms[nonzero], d


@settings(max_examples=200)
@given(
    jacobians(
        max_objectives=6,
        min_dim=8,
        max_dim=20,
        families=("gaussian", "scaled", "near-parallel", "duplicated"),
    )
)
def test_imtlg_equal_projections(jac: np.ndarray) -> None:
    """``u_iᵀd`` equal for every objective with a non-zero gradient, to 1e-10 of ``||d||``,
    measured on ``J`` (K <= d, so equal projections are attainable)."""
    gram = jac @ jac.T
    result = IMTLG().weights(gram, np.ones(jac.shape[0]))
    assert abs(result.weights.sum() - 1.0) <= 1e-12 * max(1.0, np.abs(result.weights).sum())
    proj, d = _unit_projections(jac, result.weights)
    dnorm = float(np.linalg.norm(d))
    assert np.ptp(proj) <= 1e-10 * dnorm
    assert not result.info["least_squares"] and result.residual <= 1e-10
    assert abs(result.info["projection"] - proj.mean()) <= 1e-10 * dnorm


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_imtlg_matches_the_paper_closed_form(k: int) -> None:
    """``α_{2:K} = g_1 Uᵀ (D Uᵀ)⁻¹``, ``α_1 = 1 − Σ α_{2:K}`` (Liu et al. 2021) on ``J``."""
    for seed in range(5):
        jac = make_jacobian("gaussian", k, 12, seed=seed)
        u = jac / np.linalg.norm(jac, axis=1, keepdims=True)
        dmat = jac[0] - jac[1:]
        umat = u[0] - u[1:]
        tail = np.linalg.solve((dmat @ umat.T).T, umat @ jac[0])
        paper = np.concatenate([[1.0 - tail.sum()], tail])
        ours = IMTLG().weights(jac @ jac.T, np.ones(k)).weights
        np.testing.assert_allclose(jac.T @ ours, jac.T @ paper, atol=1e-10 * _max_norm(jac))


@pytest.mark.parametrize("family", ["gaussian", "duplicated"])
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_imtlg_matches_torchjd_where_equal_projections_exist(family: str, k: int) -> None:
    """torchjd's ``G⁺ n / 1ᵀG⁺ n`` and ours agree where equal projections are attainable and
    ``G`` is well conditioned (invertible, or dependent rows whose unit vectors coincide).
    (On badly scaled or nearly parallel gradients torchjd's pseudo-inverse of the raw ``G``
    loses digits that the correlation matrix keeps.)"""
    torch = pytest.importorskip("torch")
    aggregation = pytest.importorskip("torchjd.aggregation")
    for seed in range(3):
        jac = make_jacobian(family, k, 12, seed=10 * k + seed)
        gram = jac @ jac.T
        ours = IMTLG().weights(gram, np.ones(k)).weights
        theirs = aggregation.IMTLGWeighting()(torch.from_numpy(gram.copy())).numpy()
        np.testing.assert_allclose(jac.T @ ours, jac.T @ theirs, atol=1e-9 * _max_norm(jac))


def test_imtlg_least_squares_policy_differs_from_torchjd() -> None:
    """More objectives than dimensions: no equal-projection direction exists. Ours minimizes
    ``Σ (u_iᵀd' − 1)²`` (every objective counts the same); torchjd weighs by ``||g_i||²``."""
    jac = np.array([[1.0, 0.0], [0.0, 3.0], [-1.0, -1.0]])
    gram = jac @ jac.T
    result = IMTLG().weights(gram, np.ones(3))
    assert result.info["least_squares"] and result.info["rank"] == 2
    u = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    d_ls = np.linalg.lstsq(u, np.ones(3), rcond=None)[0]  # argmin ||U d' − 1||
    d = jac.T @ result.weights
    assert abs(float(d @ d_ls) / (np.linalg.norm(d) * np.linalg.norm(d_ls)) - 1.0) < 1e-12
    expected = float(np.max(np.abs(u @ d_ls - 1.0)))
    assert result.residual == pytest.approx(expected, rel=1e-10)


def test_imtlg_two_objectives_closed_form_and_descent() -> None:
    for seed in range(20):
        jac = make_jacobian("scaled", 2, 4, seed=seed)
        n1, n2 = np.linalg.norm(jac, axis=1)
        w = IMTLG().weights(jac @ jac.T, np.ones(2)).weights
        np.testing.assert_allclose(w, [n2 / (n1 + n2), n1 / (n1 + n2)], rtol=1e-12)
        assert np.all(jac @ (jac.T @ w) >= -1e-12 * max(n1, n2) ** 2)


def test_imtlg_can_be_an_ascent_direction() -> None:
    """The documented counterexample: weights sum to 1, projections are equal, and negative."""
    jac = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.1, 0.1, 0.01]])
    result = IMTLG().weights(jac @ jac.T, np.ones(3))
    np.testing.assert_allclose(result.weights, [-0.12770, -0.12770, 1.25539], atol=1e-5)
    proj, _ = _unit_projections(jac, result.weights)
    assert result.info["projection"] < 0.0
    np.testing.assert_allclose(proj, result.info["projection"], rtol=1e-12)
    assert np.all(jac @ (jac.T @ result.weights) < 0.0)


def test_imtlg_zero_gradients() -> None:
    jac = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    result = IMTLG().weights(jac @ jac.T, np.ones(3))
    assert result.weights[1] == 0.0 and result.info["zero_gradients"] == 1
    np.testing.assert_allclose(result.weights, [2 / 3, 0.0, 1 / 3], rtol=1e-14)
    all_zero = IMTLG().weights(np.zeros((3, 3)), np.ones(3))
    np.testing.assert_allclose(all_zero.weights, np.full(3, 1 / 3))
    single = IMTLG().weights(np.diag([0.0, 4.0]), np.ones(2))
    assert single.weights.tolist() == [0.0, 1.0] and single.info["projection"] == 2.0


@pytest.mark.parametrize(
    "jac",
    [
        np.array([[1.0, 2.0], [-2.0, -4.0]]),  # opposite
        np.array([[1.0, 0.0], [-0.5, 0.5 * np.sqrt(3.0)], [-2.0, -2.0 * np.sqrt(3.0)]]),  # 120°
    ],
)
def test_imtlg_cancelling_unit_gradients_give_zero(jac: np.ndarray) -> None:
    """``Σ u_i = 0``: only ``d = 0`` has equal projections; ``α ∝ 1 / ||g_i||``."""
    result = IMTLG().weights(jac @ jac.T, np.ones(jac.shape[0]))
    inv = 1.0 / np.linalg.norm(jac, axis=1)
    np.testing.assert_allclose(result.weights, inv / inv.sum(), rtol=1e-12)
    assert np.linalg.norm(jac.T @ result.weights) <= 1e-12 * _max_norm(jac)
    assert abs(result.info["projection"]) <= 1e-12 * _max_norm(jac) and result.residual <= 1e-12


def test_imtlg_raises_where_the_weights_cannot_sum_to_one() -> None:
    """Equal projections exist with ``d ≠ 0`` but every such ``α`` sums to 0."""
    phi = 0.3  # u_3 leans on u_1 + u_2, so C⁻¹1 has a negative entry
    units = np.array(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [np.cos(phi) / np.sqrt(2)] * 2 + [np.sin(phi)]]
    )
    beta = np.linalg.solve(units @ units.T, np.ones(3))
    assert beta[2] < 0.0 < beta[0] + beta[1]
    jac = units * np.array([1.0, 1.0, -beta[2] / (beta[0] + beta[1])])[:, None]
    with pytest.raises(ValueError, match="IMTL-G is undefined for this gramian"):
        IMTLG().weights(jac @ jac.T, np.ones(3))
    # nearby, the weights are finite and large, as in the paper's formula
    jac[2] *= 1.01
    result = IMTLG().weights(jac @ jac.T, np.ones(3))
    assert np.abs(result.weights).max() > 10.0 and result.residual <= 1e-12


# ----------------------------------------------------------------------------------------------
# UPGrad
# ----------------------------------------------------------------------------------------------


def _cvxpy_projection(jac: np.ndarray, i: int) -> tuple[np.ndarray, float]:
    """``argmin ||x − g_i||² s.t. J x >= 0`` by CVXPY + Clarabel, solved on the unit rows (the
    cone does not change when rows are rescaled) and rescaled back."""
    cp = pytest.importorskip("cvxpy")
    norms = np.linalg.norm(jac, axis=1)
    units = jac[norms > 0.0] / norms[norms > 0.0, None]
    x = cp.Variable(jac.shape[1])
    problem = cp.Problem(cp.Minimize(cp.sum_squares(x - jac[i] / norms[i])), [units @ x >= 0])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return np.asarray(x.value) * norms[i], float(problem.value) * norms[i] ** 2


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_upgrad_projections_agree_with_cvxpy(family: str, k: int) -> None:
    """Each ``π(g_i) = Jᵀ v^(i)`` within 1e-8 ``||g_i||`` of CVXPY's projection, and its
    objective ``||π(g_i) − g_i||²`` within 1e-8 ``||g_i||²``."""
    for seed in range(2):
        jac = make_jacobian(family, k, 12, seed=1000 * k + seed)
        sol = upgrad_weights(jac @ jac.T)
        assert sol.residual <= 1e-10
        np.testing.assert_allclose(sol.weights, sol.projected.mean(axis=0), rtol=1e-15)
        for i in range(k):
            norm = float(np.linalg.norm(jac[i]))
            if norm == 0.0:
                np.testing.assert_array_equal(sol.projected[i], np.eye(k)[i])
                continue
            ours = jac.T @ sol.projected[i]
            ref, value = _cvxpy_projection(jac, i)
            assert np.linalg.norm(ours - ref) <= 1e-8 * norm
            assert abs(float(np.sum((ours - jac[i]) ** 2)) - value) <= 1e-8 * norm**2
            assert np.all(sol.projected[i] >= np.eye(k)[i])


@settings(max_examples=150)
@given(jacobians(max_objectives=10))
def test_upgrad_dual_cone_and_certificate(jac: np.ndarray) -> None:
    """Every projection lies in the dual cone (``J π(g_i) >= 0``), so ``J d >= 0``; the KKT
    residual is at rounding level; weights ``>= 1/K``."""
    k = jac.shape[0]
    gram = jac @ jac.T
    sol = upgrad_weights(gram)
    scale = max(float(np.max(np.diag(gram))), 1e-300)
    assert sol.residual <= 1e-9
    assert np.all(jac @ (jac.T @ sol.projected.T) >= -1e-9 * scale)
    assert np.all(jac @ (jac.T @ sol.weights) >= -1e-9 * scale)
    assert np.all(sol.weights >= (1.0 - 1e-12) / k)
    i = k - 1
    row = dual_cone_weights(gram, i)
    np.testing.assert_allclose(jac.T @ row.weights, jac.T @ sol.projected[i], atol=1e-12 * scale)


def test_upgrad_two_objectives_is_mean_pcgrad() -> None:
    for family in FAMILIES:
        for seed in range(5):
            jac = make_jacobian(family, 2, 5, seed=seed)
            gram = jac @ jac.T
            up = UPGrad().weights(gram, np.ones(2)).weights
            pc = PCGrad(reduction="mean").weights(gram, np.ones(2)).weights
            np.testing.assert_allclose(up, pc, rtol=1e-14)


def test_upgrad_special_cases() -> None:
    no_conflict = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    assert UPGrad().weights(no_conflict @ no_conflict.T, np.ones(3)).weights.tolist() == [1 / 3] * 3
    opposite = np.array([[1.0, 2.0], [-2.0, -4.0], [3.0, 1.0]])  # dual cone is a half-line
    result = UPGrad().weights(opposite @ opposite.T, np.ones(3))
    assert np.all(opposite @ (opposite.T @ result.weights) >= -1e-12)
    assert abs(float(opposite[0] @ opposite.T @ result.weights)) <= 1e-12
    zero = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 1.0]])
    sol = upgrad_weights(zero @ zero.T)
    np.testing.assert_array_equal(sol.projected[1], [0.0, 1.0, 0.0])
    assert sol.projected[0, 1] == 0.0 and sol.projected[2, 1] == 0.0
    np.testing.assert_allclose(upgrad_weights(np.zeros((3, 3))).weights, np.full(3, 1 / 3))
    with pytest.raises(ValueError, match=r"i must be in \[0, 3\), got 3"):
        dual_cone_weights(zero @ zero.T, 3)


def _torchjd_upgrad(gram: np.ndarray, reg_eps: float | None) -> np.ndarray:
    torch = pytest.importorskip("torch")
    aggregation = pytest.importorskip("torchjd.aggregation")
    pytest.importorskip("qpsolvers")
    pytest.importorskip("quadprog")
    from torchjd.linalg import QuadprogProjector

    projector = None if reg_eps is None else QuadprogProjector(reg_eps=reg_eps)
    weighting = aggregation.UPGradWeighting(projector=projector)
    return np.asarray(weighting(torch.from_numpy(gram.copy())).numpy())


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_upgrad_matches_torchjd(k: int) -> None:
    """torchjd solves each QP with quadprog on ``G / tr(G) + 1e-4 I``; without that
    regularization (``reg_eps=0``, full-rank ``G``) both agree to rounding. With its default
    the direction differs by up to ~1e-3 of the largest gradient on these Gramians."""
    for seed in range(3):
        jac = make_jacobian("gaussian", k, 12, seed=seed)
        gram = jac @ jac.T
        d = jac.T @ UPGrad().weights(gram, np.ones(k)).weights
        exact = jac.T @ _torchjd_upgrad(gram, 0.0)
        default = jac.T @ _torchjd_upgrad(gram, None)
        scale = _max_norm(jac)
        np.testing.assert_allclose(d, exact, atol=1e-10 * scale)
        np.testing.assert_allclose(d, default, atol=5e-3 * scale)


# ----------------------------------------------------------------------------------------------
# convergence on convex quadratics
# ----------------------------------------------------------------------------------------------

QUADRATICS = [({}, 1e-3, 5000), ({"n_obj": 3, "n_var": 4}, 2e-2, 40000)]


@pytest.mark.parametrize(("params", "front_tol", "points"), QUADRATICS)
@pytest.mark.parametrize("rule", [UPGrad(), IMTLG()], ids=["upgrad", "imtl-g"])
def test_upgrad_and_imtlg_converge_pareto_stationary(
    rule: moo.solvers.UpdateRule, params: dict[str, int], front_tol: float, points: int
) -> None:
    problem = moo.get_problem("quadratic", **params)
    front = problem.pareto_front(points)
    for seed in range(5):
        run = moo.minimize(problem, rule, seed=seed, steps=500, tol=1e-6)
        assert run.converged, f"{run.reason} after {run.n_steps} steps"
        assert run.stationarity <= 1e-5
        assert float(moo.distance_to_front(run.F, front)[0]) <= front_tol
        if rule.common_descent:  # UPGrad: Armijo tested every objective
            assert np.all(np.diff(run.history.F, axis=0) <= 0.0)


def test_imtlg_with_more_objectives_than_variables_needs_the_all_objectives_test() -> None:
    problem = moo.get_problem("quadratic", n_obj=3, n_var=2)
    for seed in range(5):
        run = moo.minimize(
            problem, IMTLG(), seed=seed, steps=200, step_size=Armijo(condition="all")
        )
        assert run.converged, run.reason
        assert run.stationarity <= 1e-6
        assert np.all(np.diff(run.history.F, axis=0) <= 0.0)


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
