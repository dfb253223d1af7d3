"""The registry of training methods: `register_method`, `make_method`, `available_methods`.

A method is named in one of two ways:

- a registered `Method` subclass, under its ``name`` (the built-in baselines register
  themselves with `register_method`, exactly as a user's method does);
- a `moo` update rule, under the rule's registry name (optionally with ``@extraction``), built
  as a `RuleMethod`. Rules are looked up in `moo.solvers` at each call, so a rule registered
  with `moo.solvers.register` is a method too.

The two sets of names are disjoint: `register_method` refuses a rule's name.

Seed protocol: a method whose constructor declares a ``seed`` parameter, and a rule whose
constructor does (PCGrad), is given the run's seed (``make_method(..., run_seed=...)``, which
the trainer always fills with ``TrainConfig.seed``) unless the hyperparameters name a ``seed``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from moo.solvers import available_rules
from moo_multimodal.methods._base import Method
from moo_multimodal.methods.rules import RuleMethod, rule_names

_METHODS: dict[str, type[Method]] = {}

M = TypeVar("M", bound=type[Method])

# characters the command line and compare use as separators: "--methods a,b",
# "--param METHOD:KEY=VALUE", "rule@extraction"
_RESERVED = frozenset(",:@")


def register_method(cls: M) -> M:
    """Class decorator: make a `Method` subclass nameable by its ``name`` everywhere the
    built-in methods are (`make_method`, ``TrainConfig(method=...)``, `compare`, ``moo-mm``).

    Example::

        @register_method
        class Mine(Method):
            name = "mine"
            summary = "one line for moo-mm methods"

            def __init__(self, scale: float = 1.0, seed: int = 0) -> None: ...

            def backward(self, model, output, labels, *, epoch): ...

    The hyperparameters of a run (``TrainConfig.method_options``, ``moo-mm train --param``) are
    the constructor's keyword arguments. A constructor that declares ``seed`` receives the run's
    seed when the options do not set it (see `make_method`). Registering the same class twice
    is a no-op.

    Returns:
        ``cls``, unchanged.

    Raises:
        TypeError: ``cls`` is not a `Method` subclass, or is abstract (no ``backward``).
        ValueError: ``cls.name`` is empty, not a string, holds whitespace or one of ``, : @``,
            or is taken: by another registered method, or by a `moo` rule (``moo rules``
            lists them; rule names are matched case-insensitively).
    """
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"register_method takes a Method subclass, got {cls!r}")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise TypeError(f"method class {cls.__qualname__} is abstract: implement {missing}")
    name = cls.name
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"method class {cls.__qualname__} needs a non-empty class attribute name (str), "
            f"got {name!r}"
        )
    bad = sorted({c for c in name if c in _RESERVED or c.isspace()})
    if bad:
        raise ValueError(
            f"method name {name!r} holds {bad}: names may not hold whitespace or ',', ':', '@' "
            "(separators of moo-mm's --methods and --param and of rule@extraction)"
        )
    existing = _METHODS.get(name)
    if existing is cls:
        return cls
    if existing is not None:
        raise ValueError(
            f"a method named {name!r} is already registered: "
            f"{existing.__module__}.{existing.__qualname__}; choose another name"
        )
    if name.lower() in available_rules():
        raise ValueError(
            f"method name {name!r} is the name of a moo rule (moo methods lists them); "
            "choose another name"
        )
    _METHODS[name] = cls
    return cls


def available_methods() -> dict[str, str]:
    """Method names with a one-line summary: the registered methods (the built-in baselines
    first, in registration order), then moo's rules."""
    out = {name: cls.summary or _first_line(cls.__doc__) for name, cls in _METHODS.items()}
    for name in rule_names():
        out[name] = RuleMethod(name).summary
    return out


def make_method(name: str, *, run_seed: int | None = None, **hyperparameters: Any) -> Method:
    """Build a method by name with its hyperparameters.

    A moo rule's name may carry its gradient extraction after ``@`` (``"mgda@batched"``,
    ``"mgda@representation"``: `RuleMethod`'s ``extraction``), so that variants of one rule
    can sit side by side in a comparison.

    Args:
        name: a registered method's name or a moo rule's (`available_methods`).
        run_seed: the run's seed (the trainer passes ``TrainConfig.seed``). It is given as
            ``seed=`` to a method whose constructor declares a ``seed`` parameter, and to a moo
            rule whose constructor does (PCGrad's random projection order), unless
            ``hyperparameters`` hold a ``seed``: an explicit seed wins. ``None`` gives nothing
            (each constructor's default seed).
        **hyperparameters: the method's (or the rule's) keyword arguments.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or hyperparameter, an
            extraction on a method that is not a moo rule.
    """
    if not isinstance(name, str):
        raise TypeError(f"method must be a name (str), got {name!r}")
    options = dict(hyperparameters)
    base, at, extraction = name.partition("@")
    if at:
        if base not in rule_names():
            raise ValueError(
                f"method {name!r}: only moo rules take an extraction after '@' "
                f"(rules: {', '.join(rule_names())})"
            )
        if "extraction" in options:
            raise ValueError(f"method {name!r} names its extraction: drop extraction=")
        _give_seed(available_rules()[base], options, run_seed)
        return RuleMethod(base, extraction=extraction, **options)
    cls = _METHODS.get(name)
    if cls is None:
        if name not in rule_names():
            raise ValueError(
                f"unknown method {name!r}; available: {', '.join(available_methods())}"
            )
        _give_seed(available_rules()[name], options, run_seed)
        return RuleMethod(name, **options)
    _give_seed(cls, options, run_seed)
    factory: Callable[..., Method] = cls
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(
            f"bad hyperparameters {sorted(options)} for method {name!r}: {exc}"
        ) from exc


def _takes_seed(cls: type[object]) -> bool:
    """Whether the constructor of ``cls`` (a method or rule class) declares a ``seed`` keyword
    parameter: the seed protocol's test (``**kwargs`` does not count)."""
    # the class's __init__: the signature of the class itself may be a metaclass __call__'s
    try:
        parameters = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return False
    seed = parameters.get("seed")
    return seed is not None and seed.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


def _give_seed(cls: type[object], options: dict[str, Any], seed: int | None) -> None:
    if seed is not None and "seed" not in options and _takes_seed(cls):
        options["seed"] = seed


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]
