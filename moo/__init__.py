"""moo: gradient-based multi-objective optimization."""

from moo.solvers import (
    MGDA,
    LinearScalarization,
    RuleResult,
    UpdateRule,
    available_rules,
    get_rule,
    pareto_stationarity,
)

__version__ = "0.1.0"

__all__ = [
    "MGDA",
    "LinearScalarization",
    "RuleResult",
    "UpdateRule",
    "__version__",
    "available_rules",
    "get_rule",
    "pareto_stationarity",
]
