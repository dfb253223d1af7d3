"""The public testing kit: check_update_rule passes the built-in rules and catches bad ones."""

from __future__ import annotations

import numpy as np
import pytest

from moo.solvers import MGDA, LinearScalarization, RuleResult, UpdateRule, available_rules
from moo.solvers._simplex import project_simplex, simplex_error
from moo.testing import check_update_rule


@pytest.mark.parametrize("rule", [MGDA(), MGDA("l2"), MGDA("loss+"), LinearScalarization()])
def test_builtin_rules_pass(rule: UpdateRule) -> None:
    check_update_rule(rule)


def test_every_registered_rule_has_a_kit_test() -> None:
    """New rules must be added to the kit tests (here or in their own test module)."""
    covered = {"mgda", "linear"}
    import pathlib

    tests = pathlib.Path(__file__).parents[1]
    text = "".join(p.read_text() for p in tests.rglob("test_*.py"))
    for name, cls in available_rules().items():
        assert name in covered or f"check_update_rule({cls.__name__}" in text, name


class _Upside(UpdateRule):
    """Weights that point uphill: violates the declared common-descent law."""

    name = "upside"
    summary = "test rule"
    common_descent = True

    def _weights(self, gramian: np.ndarray | None, losses: np.ndarray) -> RuleResult:
        return RuleResult(-np.ones(losses.size) / losses.size)


class _FirstObjective(UpdateRule):
    """Always weights objective 0: not permutation equivariant."""

    name = "first"
    summary = "test rule"

    def _weights(self, gramian: np.ndarray | None, losses: np.ndarray) -> RuleResult:
        w = np.zeros(losses.size)
        w[0] = 1.0
        return RuleResult(w)


class _Counter(UpdateRule):
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
