"""Update rules: each module implements one rule from its paper's math.

Every rule is an `UpdateRule` registered by name; `get_rule` builds one from a name
and keyword hyperparameters.
"""

from moo.solvers._base import RuleResult, UpdateRule, available_rules, get_rule, register
from moo.solvers.linear import LinearScalarization
from moo.solvers.mgda import MGDA, kkt_residual, min_norm_weights, pareto_stationarity

__all__ = [
    "MGDA",
    "LinearScalarization",
    "RuleResult",
    "UpdateRule",
    "available_rules",
    "get_rule",
    "kkt_residual",
    "min_norm_weights",
    "pareto_stationarity",
    "register",
]
