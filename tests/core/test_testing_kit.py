"""The public testing kit: check_update_rule catches bad rules; simplex helpers; the
strategies for many objectives (``LARGE_K_FAMILIES``, ``dim_ratio``).

The built-in rules pass the kit in ``tests/core/solvers/test_laws.py`` (``LAW_CONFIGS``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from moo.solvers import RuleResult, UpdateRule, Weighting
from moo.solvers._simplex import project_simplex, simplex_error
from moo.testing import (
    HARD_FAMILIES,
    LARGE_K_FAMILIES,
    check_update_rule,
    gramians,
    jacobians,
    make_jacobian,
)


class _Upside(Weighting):
    """Weights that point uphill: violates the declared common-descent law."""

    name = "upside"
    summary = "test rule"
    common_descent = True

    def _weights(self, gramian: np.ndarray | None, losses: np.ndarray) -> RuleResult:
        return RuleResult(-np.ones(losses.size) / losses.size)


class _FirstObjective(Weighting):
    """Always weights objective 0: not permutation equivariant."""

    name = "first"
    summary = "test rule"

    def _weights(self, gramian: np.ndarray | None, losses: np.ndarray) -> RuleResult:
        w = np.zeros(losses.size)
        w[0] = 1.0
        return RuleResult(w)


class _Counter(Weighting):
    """Stateful, but forgets to save its state."""

    name = "counter"
    summary = "test rule"
    stateful = True

    def __init__(self) -> None:
        self.calls = 0

    def _weights(self, gramian: np.ndarray | None, losses: np.ndarray) -> RuleResult:
        self.calls += 1
        return RuleResult(np.full(losses.size, float(self.calls)))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (_Upside(), "not a common descent direction"),
        (_FirstObjective(), "does not permute"),
        (_Counter(), "restored from state_dict"),
    ],
)
def test_kit_catches_broken_rules(rule: UpdateRule, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_update_rule(rule, max_examples=10)


def test_project_simplex() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        v = rng.normal(size=rng.integers(1, 9)) * 3
        w = project_simplex(v)
        assert simplex_error(w) is None
        # optimality: v - w is constant on the support and smaller off it
        support = w > 0
        gap = v - w
        assert np.ptp(gap[support]) < 1e-12
        assert np.all(gap[~support] <= gap[support].min() + 1e-12)
    assert simplex_error(np.array([0.5, 0.6])) is not None
    assert simplex_error(np.array([-0.1, 1.1])) is not None


def test_project_simplex_with_huge_entries() -> None:
    np.testing.assert_array_equal(project_simplex(np.array([2e289])), [1.0])
    np.testing.assert_allclose(project_simplex(np.array([1e300, 1e300 - 1e284])), [1.0, 0.0])


# ----------------------------------------------------------------------------------------------
# strategies for many objectives
# ----------------------------------------------------------------------------------------------


def _cosines(jac: np.ndarray) -> np.ndarray:
    units = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    return units @ units.T


@pytest.mark.parametrize("k", [10, 64])
def test_correlated_family_shares_a_component(k: int) -> None:
    """The rows lean the same way: cosines around ρ² >= 0.25 on average; full rank."""
    for seed in range(5):
        jac = make_jacobian("correlated", k, 2 * k, seed)
        cos = _cosines(jac)[np.triu_indices(k, 1)]
        assert float(cos.mean()) > 0.2
        assert np.linalg.matrix_rank(jac) == k


@pytest.mark.parametrize("k", [2, 5, 64])
def test_conflicting_family_has_opposing_pairs(k: int) -> None:
    """Rows 0 and 1 open the first group with opposite signs: nearly opposite gradients."""
    for seed in range(5):
        jac = make_jacobian("conflicting", k, 2 * k, seed)
        cos = _cosines(jac)
        assert cos[0, 1] < -0.4
        assert float(np.min(cos[np.triu_indices(k, 1)])) < -0.4


def test_large_k_families_and_dim_ratio() -> None:
    assert set(LARGE_K_FAMILIES) == {
        "gaussian",
        "correlated",
        "conflicting",
        "rank-deficient",
        "scaled",
    }
    assert not set(LARGE_K_FAMILIES) & set(HARD_FAMILIES)
    seen: list[tuple[int, int]] = []

    @settings(max_examples=20, derandomize=True, deadline=None)
    @given(
        jacobians(
            min_objectives=10,
            max_objectives=64,
            families=LARGE_K_FAMILIES,
            dim_ratio=(1.0, 2.0),
        ),
        gramians(min_objectives=8, max_objectives=40, dim_ratio=(0.25, 0.75)),
    )
    def draw(jac: np.ndarray, gram: np.ndarray) -> None:
        k, d = jac.shape
        assert 10 <= k <= 64 and k <= d <= 2 * k
        assert np.all(np.isfinite(jac))
        # d < K: rank-deficient whatever the family
        assert np.linalg.matrix_rank(gram) < gram.shape[0]
        seen.append((k, d))

    draw()
    assert len({k for k, _ in seen}) > 1


def test_dim_ratio_must_be_ordered_and_positive() -> None:
    @settings(max_examples=1, derandomize=True, deadline=None)
    @given(jacobians(dim_ratio=(2.0, 1.0)))
    def draw(jac: np.ndarray) -> None:
        pass

    with pytest.raises(ValueError, match="dim_ratio must be"):
        draw()


def test_unknown_family_lists_every_family() -> None:
    with pytest.raises(ValueError, match="correlated, conflicting, nearly-weakly-stationary"):
        make_jacobian("celeba", 3, 4, seed=0)
