"""Training methods of the multimodal adapter: how one batch's losses become gradients.

Plain baselines (`Joint`, `Uniform`, `Unimodal`), moo's update rules through the torch bridge
(`RuleMethod`: MIMO, MGDA, CAGrad, Nash-MTL, MoCo, MoDo, PCGrad, IMTL-G, UPGrad) and the two
published multimodal baselines `OGMGE` and `MMPareto`, and this project's `Headroom` (priority
to modalities that are behind and still learning). `make_method` builds one by name;
`available_methods` lists them; `register_method` makes a method of one's own nameable like
the built-in ones (the baselines register themselves with it); `losses`, `report` and `Timer`
are the helpers a method's ``backward`` uses.
"""

from __future__ import annotations

from moo_multimodal.methods._base import Method, StepReport, Timer, losses, report
from moo_multimodal.methods._registry import available_methods, make_method, register_method

# isort: split
# the built-in baselines register themselves on import, in this order (moo-mm methods lists
# them so): the plain baselines, then OGM-GE, MMPareto and headroom
from moo_multimodal.methods.standard import Joint, Uniform, Unimodal

# isort: split
from moo_multimodal.methods.ogm_ge import OGMGE

# isort: split
from moo_multimodal.methods.mmpareto import MMPareto

# isort: split
from moo_multimodal.methods.headroom import Headroom
from moo_multimodal.methods.rules import RuleMethod

__all__ = [
    "OGMGE",
    "Headroom",
    "Joint",
    "MMPareto",
    "Method",
    "RuleMethod",
    "StepReport",
    "Timer",
    "Uniform",
    "Unimodal",
    "available_methods",
    "losses",
    "make_method",
    "register_method",
    "report",
]
