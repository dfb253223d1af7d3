"""Update rules: each module implements one rule from its paper's math.

Every rule is a `Weighting` (weights from the Gramian and the losses, direction ``Jᵀw``) or
a `DirectionRule` (the direction from the Jacobian), both `UpdateRule`; it is registered by
name, and `get_rule` builds one from a name and keyword hyperparameters.
"""

from moo.solvers._base import (
    DirectionRule,
    ParetoStationaryError,
    RuleResult,
    UpdateRule,
    Weighting,
    available_rules,
    get_rule,
    register,
)
from moo.solvers._min_norm import (
    MinNormSolution,
    kkt_residual,
    min_norm_weights,
    pareto_stationarity,
)
from moo.solvers.cagrad import CAGrad
from moo.solvers.epo import EPO
from moo.solvers.imtl import IMTLG
from moo.solvers.linear import LinearScalarization
from moo.solvers.mgda import MGDA
from moo.solvers.mimo import MIMO, smoothed_max
from moo.solvers.moco import MoCo
from moo.solvers.modo import MoDo
from moo.solvers.nash_mtl import NashMTL
from moo.solvers.pcgrad import PCGrad
from moo.solvers.pmtl import PMTL
from moo.solvers.upgrad import UPGrad

__all__ = [
    "EPO",
    "IMTLG",
    "MGDA",
    "MIMO",
    "PMTL",
    "CAGrad",
    "DirectionRule",
    "LinearScalarization",
    "MinNormSolution",
    "MoCo",
    "MoDo",
    "NashMTL",
    "PCGrad",
    "ParetoStationaryError",
    "RuleResult",
    "UPGrad",
    "UpdateRule",
    "Weighting",
    "available_rules",
    "get_rule",
    "kkt_residual",
    "min_norm_weights",
    "pareto_stationarity",
    "register",
    "smoothed_max",
]
