"""The public testing kit: check_update_rule catches bad rules; simplex helpers.

The built-in rules pass the kit in ``tests/core/solvers/test_laws.py`` (``LAW_CONFIGS``).
"""

from __future__ import annotations

import numpy as np
import pytest

from moo.solvers import RuleResult, UpdateRule, Weighting
from moo.solvers._simplex import project_simplex, simplex_error
from moo.testing import check_update_rule


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
