"""The update-rule protocol, the registry and linear scalarization."""

from __future__ import annotations

import numpy as np
import pytest

from moo.solvers import MGDA, LinearScalarization, UpdateRule, available_rules, get_rule


def test_registry_lists_rules_with_summaries() -> None:
    rules = available_rules()
    assert {"mgda", "linear"} <= set(rules)
    for name, cls in rules.items():
        assert issubclass(cls, UpdateRule)
        assert cls.name == name and cls.summary and cls.needs in ("losses", "gramian", "jacobian")


def test_get_rule_by_name_with_hyperparameters() -> None:
    rule = get_rule("MGDA", normalization="l2")
    assert isinstance(rule, MGDA) and rule.normalization == "l2"
    assert repr(rule) == "MGDA(normalization='l2')"


def test_get_rule_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown method 'mgdx'; available: .*linear.*mgda"):
        get_rule("mgdx")


def test_get_rule_unknown_hyperparameter_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) c for method 'mgda'; "
                       r"valid: normalization"):
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
    message = f"unknown hyperparameter\\(s\\) bogus for method '{name}'"
    with pytest.raises(ValueError, match=message):
        get_rule(name, bogus=1)
