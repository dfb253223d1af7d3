"""The update-rule contract (two kinds, read-only hyperparameters), the registry and linear
scalarization."""

from __future__ import annotations

import numpy as np
import pytest

from moo.solvers import (
    MGDA,
    MIMO,
    DirectionRule,
    LinearScalarization,
    MoCo,
    RuleResult,
    UpdateRule,
    Weighting,
    available_rules,
    get_rule,
    register,
)
from moo.validation import FloatArray


def test_registry_lists_rules_with_summaries() -> None:
    rules = available_rules()
    assert {"mgda", "linear"} <= set(rules)
    for name, cls in rules.items():
        assert cls.name == name and cls.summary
        assert issubclass(cls, Weighting) != issubclass(cls, DirectionRule), name  # one kind
        if issubclass(cls, Weighting):
            assert cls.needs == ("gramian" if cls.uses_gramian else "losses"), name
        else:
            assert cls.needs == "jacobian", name


def test_each_rule_kind_has_one_abstract_entry_point() -> None:
    for base in (UpdateRule, Weighting, DirectionRule):
        with pytest.raises(TypeError, match="abstract"):
            base()  # type: ignore[abstract]

    class NoWeights(Weighting):
        name = "no-weights"
        summary = "test rule"

    class NoDirection(DirectionRule):
        name = "no-direction"
        summary = "test rule"

    with pytest.raises(TypeError, match="_weights"):
        NoWeights()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="_direction"):
        NoDirection()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="abstract methods left: _weights"):
        register(NoWeights)


def test_hyperparameters_are_read_only_after_construction() -> None:
    """``r = MIMO(gamma=1); r.gamma = 5`` used to be shown by repr and ignored."""
    rule = MIMO(gamma=1.0)
    with pytest.raises(AttributeError, match=r"MIMO.gamma is fixed .* rule.replace\(gamma=5\)"):
        rule.gamma = 5  # type: ignore[misc]
    assert rule.gamma == 1.0 and "gamma=1.0" in repr(rule)
    with pytest.raises(AttributeError, match="no deleter"):
        del rule.gamma
    changed = rule.replace(gamma=5.0)
    assert isinstance(changed, MIMO) and changed.gamma == 5.0 and changed.mu == rule.mu
    losses = np.array([1.0, 2.0, 3.0])
    w_changed, w_rule = changed.weights(None, losses).weights, rule.weights(None, losses).weights
    assert not np.array_equal(w_changed, w_rule)
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) gama for rule 'mimo'"):
        rule.replace(gama=2.0)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        rule.replace(gamma=-1.0)


def test_a_user_rule_sets_its_hyperparameters_in_init() -> None:
    class Scaled(Weighting):
        name = "scaled"
        summary = "test rule"
        uses_gramian = False

        def __init__(self, scale: float = 1.0) -> None:
            self.scale = float(scale)

        def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
            return RuleResult(np.full(losses.size, self.scale))

    rule = Scaled(2.0)
    assert repr(rule) == "Scaled(scale=2.0)" and Scaled.needs == "losses"
    np.testing.assert_array_equal(rule.weights(None, [1.0, 1.0]).weights, [2.0, 2.0])
    with pytest.raises(AttributeError, match="fixed when the rule is built"):
        rule.scale = 3.0  # type: ignore[misc]


def test_direct_update_rule_subclass_with_weights_is_a_deprecated_weighting() -> None:
    with pytest.warns(DeprecationWarning, match="subclass moo.solvers.Weighting"):

        class Old(UpdateRule):
            name = "old"
            summary = "test rule"
            needs = "losses"

            def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
                return RuleResult(np.full(losses.size, 1.0 / losses.size))

    assert issubclass(Old, Weighting) and not Old.uses_gramian
    np.testing.assert_array_equal(Old().weights(None, [1.0, 3.0]).weights, [0.5, 0.5])


def test_direction_rule_validates_its_inputs_and_moco_keeps_its_former_entry_point() -> None:
    jac = np.array([[1.0, 0.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match=r"must have shape \(3, d\)"):
        MoCo().direction(jac, np.ones(3))
    with pytest.raises(ValueError, match="at least one objective"):
        MoCo().direction(np.zeros((0, 2)), np.zeros(0))
    d, result = MoCo().direction(jac, np.ones(2))
    with pytest.warns(DeprecationWarning, match="MoCo.from_jacobian is deprecated"):
        old = MoCo().from_jacobian(jac, np.ones(2))
    np.testing.assert_array_equal(old.weights, result.weights)
    np.testing.assert_array_equal(old.info["direction"], d)


def test_get_rule_by_name_with_hyperparameters() -> None:
    rule = get_rule("MGDA", normalization="l2")
    assert isinstance(rule, MGDA) and rule.normalization == "l2"
    assert repr(rule) == "MGDA(normalization='l2')"


def test_get_rule_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown rule 'mgdx'; available: .*linear.*mgda"):
        get_rule("mgdx")


def test_get_rule_unknown_hyperparameter_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown hyperparameter\(s\) c for rule 'mgda'; "
        r"valid: normalization",
    ):
        get_rule("mgda", c=0.5)


def test_get_rule_instance_passthrough_and_conflict() -> None:
    rule = MGDA()
    assert get_rule(rule) is rule
    with pytest.raises(ValueError, match="given with a rule instance"):
        get_rule(rule, normalization="l2")


def test_stateless_rules_state_round_trip() -> None:
    rule = MGDA()
    assert rule.state_dict() == {}
    rule.load_state_dict({})
    with pytest.raises(ValueError, match="stateless"):
        rule.load_state_dict({"lambda": [1.0]})


def test_from_jacobian_equals_weights_from_gramian() -> None:
    jac = np.random.default_rng(0).normal(size=(4, 7))
    a = MGDA().from_jacobian(jac, np.ones(4)).weights
    b = MGDA().weights(jac @ jac.T, np.ones(4)).weights
    np.testing.assert_allclose(a, b, rtol=0, atol=0)


def test_gramian_rule_rejects_missing_gramian_and_empty_losses() -> None:
    with pytest.raises(ValueError, match="needs a gramian"):
        MGDA().weights(None, np.ones(2))
    with pytest.raises(ValueError, match="at least one objective"):
        MGDA().from_jacobian(np.zeros((0, 3)), np.zeros(0))


def test_jacobian_of_wrong_shape_or_non_finite_row_names_the_objective() -> None:
    with pytest.raises(ValueError, match=r"must have shape \(2, d\)"):
        MGDA().from_jacobian(np.ones((3, 4)), np.ones(2))
    jac = np.ones((2, 3))
    jac[1, 2] = np.nan
    with pytest.raises(ValueError, match="row of objective 1 is not finite"):
        MGDA().from_jacobian(jac, np.ones(2))


def test_linear_scalarization_default_and_fixed_weights() -> None:
    assert LinearScalarization.needs == "losses"
    np.testing.assert_allclose(LinearScalarization().weights(None, [1.0, 2.0, 3.0]).weights, 1 / 3)
    rule = get_rule("linear", weights=[0.2, 0.8])
    np.testing.assert_allclose(rule.weights(None, [5.0, 1.0]).weights, [0.2, 0.8])
    assert rule.hyperparameters() == {"weights": [0.2, 0.8]}
    with pytest.raises(ValueError, match="weights has 2 entries but there are 3 objectives"):
        rule.weights(None, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("weights", [[-0.1, 1.0], [0.0, 0.0], [np.nan, 1.0], []])
def test_linear_scalarization_bad_weights(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        LinearScalarization(weights)


@pytest.mark.parametrize("name", sorted(available_rules()))
def test_every_rule_has_explicit_hyperparameters(name: str) -> None:
    """No rule takes *args/**kwargs: unknown hyperparameters are refused by name."""
    import inspect

    cls = available_rules()[name]
    kinds = {p.kind for p in inspect.signature(cls.__init__).parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    message = f"unknown hyperparameter\\(s\\) bogus for rule '{name}'"
    with pytest.raises(ValueError, match=message):
        get_rule(name, bogus=1)
