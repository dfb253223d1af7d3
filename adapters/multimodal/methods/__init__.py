"""Training methods of the multimodal adapter: how one batch's losses become gradients.

Plain baselines (`Joint`, `Uniform`, `Unimodal`), moo's update rules through the torch bridge
(`RuleMethod`: MIMO, MGDA, CAGrad, Nash-MTL, MoCo, MoDo, PCGrad, IMTL-G, UPGrad) and the two
published multimodal baselines `OGMGE` and `MMPareto`. `make_method` builds one by name;
`available_methods` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moo_multimodal.methods._base import Method, StepReport
from moo_multimodal.methods.mmpareto import MMPareto
from moo_multimodal.methods.ogm_ge import OGMGE
from moo_multimodal.methods.rules import RuleMethod, rule_names
from moo_multimodal.methods.standard import Joint, Uniform, Unimodal

_CLASSES: dict[str, type[Method]] = {
    cls.name: cls for cls in (Joint, Uniform, Unimodal, OGMGE, MMPareto)
}


def available_methods() -> dict[str, str]:
    """Method names with a one-line summary: the baselines, then moo's rules."""
    out = {name: cls.summary for name, cls in _CLASSES.items()}
    for name in rule_names():
        out[name] = RuleMethod(name).summary
    return out


def make_method(name: str, **hyperparameters: Any) -> Method:
    """Build a method by name with its hyperparameters.

    A moo rule's name may carry its gradient extraction after ``@`` (``"mgda@batched"``,
    ``"mgda@representation"``: `RuleMethod`'s ``extraction``), so that variants of one rule
    can sit side by side in a comparison.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or hyperparameter, an
            extraction on a method that is not a moo rule.
    """
    if not isinstance(name, str):
        raise TypeError(f"method must be a name (str), got {name!r}")
    base, at, extraction = name.partition("@")
    if at:
        if base not in rule_names():
            raise ValueError(
                f"method {name!r}: only moo rules take an extraction after '@' "
                f"(rules: {', '.join(rule_names())})"
            )
        if "extraction" in hyperparameters:
            raise ValueError(f"method {name!r} names its extraction: drop extraction=")
        return RuleMethod(base, extraction=extraction, **hyperparameters)
    factory: Callable[..., Method] | None = _CLASSES.get(name)
    if factory is None:
        if name not in rule_names():
            raise ValueError(
                f"unknown method {name!r}; available: {', '.join(available_methods())}"
            )
        return RuleMethod(name, **hyperparameters)
    try:
        return factory(**hyperparameters)
    except TypeError as exc:
        raise ValueError(
            f"bad hyperparameters {sorted(hyperparameters)} for method {name!r}: {exc}"
        ) from exc


__all__ = [
    "OGMGE",
    "Joint",
    "MMPareto",
    "Method",
    "RuleMethod",
    "StepReport",
    "Uniform",
    "Unimodal",
    "available_methods",
    "make_method",
]
