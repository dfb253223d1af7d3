"""moo: gradient-based multi-objective optimization.

The core works on NumPy arrays: a `Problem` gives K objective values and their Jacobian,
an update rule turns them into a direction ``d`` (a `Weighting` chooses weights ``w`` from
the Gramian ``G = J Jᵀ`` and the values, ``d = Jᵀw``; a `DirectionRule` reads ``J`` itself),
and `minimize` steps along ``-d``. torch is imported only by the parts that need it.
"""

from moo.gradients import AnalyticJacobian, FiniteDifferences, GradientProvider, TorchAutograd
from moo.indicators import distance_to_front, hypervolume, igd, igd_plus, non_dominated
from moo.loop import History, Result, minimize
from moo.pareto import ParetoFront, pareto_front
from moo.problems import Problem, available_problems, get_problem
from moo.solvers import (
    IMTLG,
    MGDA,
    MIMO,
    CAGrad,
    DirectionRule,
    LinearScalarization,
    MoCo,
    MoDo,
    NashMTL,
    ParetoStationaryError,
    PCGrad,
    RuleResult,
    UpdateRule,
    UPGrad,
    Weighting,
    available_rules,
    get_rule,
    pareto_stationarity,
)
from moo.steps import Armijo, ConstantStep, StepSize

__version__ = "0.1.0"

__all__ = [
    "IMTLG",
    "MGDA",
    "MIMO",
    "AnalyticJacobian",
    "Armijo",
    "CAGrad",
    "ConstantStep",
    "DirectionRule",
    "FiniteDifferences",
    "GradientProvider",
    "History",
    "LinearScalarization",
    "MoCo",
    "MoDo",
    "NashMTL",
    "PCGrad",
    "ParetoFront",
    "ParetoStationaryError",
    "Problem",
    "Result",
    "RuleResult",
    "StepSize",
    "TorchAutograd",
    "UPGrad",
    "UpdateRule",
    "Weighting",
    "__version__",
    "available_problems",
    "available_rules",
    "distance_to_front",
    "get_problem",
    "get_rule",
    "hypervolume",
    "igd",
    "igd_plus",
    "minimize",
    "non_dominated",
    "pareto_front",
    "pareto_stationarity",
]
