"""The update-rule contract (two kinds: `Weighting`, `DirectionRule`) and the registry.

An update rule turns the per-objective gradients at the current point into one update
direction. Almost every rule only needs the K×K Gramian ``G = J Jᵀ`` and the K loss values to
choose weights ``w`` (a `Weighting`); the direction is then ``d = Jᵀ w`` (a *descent*
direction: the caller steps along ``-d``). The few whose direction is not ``Jᵀw`` read the
Jacobian (a `DirectionRule`). Rules run on small float64 NumPy arrays on the host.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from moo.validation import FloatArray, as_vector, check_gramian, check_jacobian

Needs = Literal["losses", "gramian", "jacobian"]


class ParetoStationaryError(ValueError):
    """A rule's subproblem has no solution because the point is Pareto-stationary (to tolerance).

    Raised, for example, by `NashMTL` (with ``on_stationary="raise"``) when some gradient is
    zero or ``min_{w ∈ Δ} ||Σ_i w_i g_i / ||g_i|| || <= stationary_tol``. The minimize loop
    catches it and ends the run with reason ``"stationary"`` (converged).

    Attributes:
        stationarity: that minimum ``m`` (``0`` with a zero gradient).
        weights: the minimizing ``w*`` on the simplex (on the zero rows, if any).
        objectives: the objectives with ``w*_i > 0``, whose (normalized) gradients combine
            to (nearly) zero.
    """

    def __init__(self, message: str, stationarity: float, weights: FloatArray) -> None:
        super().__init__(message)
        self.stationarity = stationarity
        self.weights = weights
        self.objectives = [int(i) for i in np.flatnonzero(weights > 0.0)]


@dataclass(frozen=True)
class RuleResult:
    """What a rule returns for one step.

    Attributes:
        weights: ``w`` (K,), float64; the direction is ``d = Jᵀ w``. Each rule documents the
            scale of its weights (simplex, fixed, ...).
        residual: the rule's optimality certificate (e.g. MGDA's KKT residual), ``0.0`` for
            closed-form rules.
        info: rule-specific diagnostics (plain floats and arrays).
    """

    weights: FloatArray
    residual: float = 0.0
    info: Mapping[str, Any] = field(default_factory=dict)


class _RuleMeta(ABCMeta):
    """Marks a rule as built once its ``__init__`` has run: from then on its hyperparameters
    are read-only (see `UpdateRule`)."""

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any
    ) -> _RuleMeta:
        # Deprecated: a direct UpdateRule subclass that implements ``_weights`` is a weighting.
        weighting = globals().get("Weighting")  # None while this module defines it
        if (
            weighting is not None
            and len(bases) == 1
            and bases[0] is globals()["UpdateRule"]
            and "_weights" in namespace
        ):
            warnings.warn(
                f"rule class {name}: subclass moo.solvers.Weighting (weights from the Gramian "
                "and losses) instead of UpdateRule; direct UpdateRule subclasses with _weights "
                "are deprecated and will be refused in the next release",
                DeprecationWarning,
                stacklevel=2,
            )
            bases = (weighting,)
        return super().__new__(mcls, name, bases, namespace, **kwargs)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        rule = super().__call__(*args, **kwargs)
        object.__setattr__(rule, "_built", True)
        return rule


def _hyperparameter(name: str) -> property:
    """The public, read-only attribute of the constructor argument ``name``.

    The value lives in the private attribute ``_<name>``, which the rule's own code reads
    (a plain attribute, the fastest read on hot paths) and its ``__init__`` may set directly.
    Assigning the public name is allowed while ``__init__`` runs (it stores ``_<name>``) and
    refused afterwards: a rule validates its hyperparameters and may derive state from them
    once, so a later assignment would be shown by ``repr`` and silently ignored.
    """
    key = f"_{name}"

    def refuse_after_init(rule: UpdateRule, value: Any) -> None:
        if getattr(rule, "_built", False):
            raise AttributeError(
                f"{type(rule).__name__}.{name} is fixed when the rule is built (got "
                f"{name}={value!r}); build a new rule: rule.replace({name}={value!r})"
            )
        # object.__setattr__, not __dict__: touching __dict__ would make CPython build a dict
        # for the instance and slow down every attribute read of the rule's hot path
        object.__setattr__(rule, key, value)

    return property(attrgetter(key), refuse_after_init, doc=f"Hyperparameter ``{name}``.")


@functools.cache
def _init_parameters(cls: type) -> tuple[str, ...]:
    """The named parameters of ``cls.__init__`` (no ``self``, ``*args`` or ``**kwargs``),
    read once per class (`inspect.signature` costs tens of µs: rules given by name are built
    on every step of the torch bridge)."""
    return tuple(
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


class UpdateRule(metaclass=_RuleMeta):
    """Base class of all update rules: what every rule declares and carries.

    An update rule turns the per-objective gradients at the current point into one update
    direction ``d`` (a *descent* direction: the caller steps along ``-d``). Rules come in two
    kinds, and every rule subclasses exactly one of them:

    - `Weighting`: weights ``w`` from the K×K Gramian ``G = J Jᵀ`` and/or the K loss values;
      the direction is ``d = Jᵀw``. One entry point, ``weights(G, f)``. Almost every rule
      of the field is one (MGDA, MIMO, CAGrad, Nash-MTL, PCGrad, IMTL-G, UPGrad, MoDo, linear
      scalarization): callers that hold only ``G`` (the torch bridge) never form ``J`` on the
      host.
    - `DirectionRule`: the direction from the K×d Jacobian itself, for rules whose ``d`` is
      not ``Jᵀw`` (MoCo's tracked gradients). One entry point, ``direction(J, f)``.

    Callers dispatch on the kind (``isinstance(rule, Weighting)``), never on strings.

    Hyperparameters are the constructor's arguments, validated there (``ValueError`` naming
    the parameter and the value) and **read-only** afterwards: ``rule.gamma = 5`` raises
    ``AttributeError``; `replace` builds a rule with some of them changed. State carried
    between steps (`stateful` rules) is separate: `state_dict`, `load_state_dict`, `reset`.

    Attributes:
        name: registry name, e.g. ``"mgda"``.
        summary: one-line description shown by ``moo rules``.
        needs: what the rule reads, for display: ``"losses"`` or ``"gramian"`` (weightings,
            from `Weighting.uses_gramian`) or ``"jacobian"`` (direction rules).
        common_descent: ``True`` when ``d`` is guaranteed to be a descent direction for every
            objective (``g_iᵀ d >= 0`` for all ``i``); the minimize loop then runs its Armijo
            test on every objective.
        average_descent: ``True`` when ``d`` is guaranteed to be a descent direction for the
            average objective (``g_0ᵀ d >= 0`` with ``g_0`` the mean gradient).
        permutation_equivariant: ``True`` when permuting the objectives permutes the weights
            (``False`` for rules with a random order, such as PCGrad).
        stateful: ``True`` when the weights depend on earlier calls (see `state_dict`).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    needs: ClassVar[Needs]
    common_descent: ClassVar[bool] = False
    average_descent: ClassVar[bool] = False
    permutation_equivariant: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for param in _init_parameters(cls):
            if not any(param in vars(base) for base in cls.__mro__):
                setattr(cls, param, _hyperparameter(param))

    def __init__(self) -> None:
        """A rule without hyperparameters (subclasses with some define their own)."""

    @abstractmethod
    def direction(self, jacobian: ArrayLike, losses: ArrayLike) -> tuple[FloatArray, RuleResult]:
        """The update direction ``d`` from the K×d Jacobian (step along ``-d``) and the
        rule's result."""

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """Check ``weights`` against this rule's documented scale law.

        Returns a message describing the violation, or ``None`` when the law holds (the
        default: no law declared). Used by `moo.testing.check_update_rule`.
        """
        return None

    def merit(self, losses: FloatArray) -> float | None:
        """A merit function ``m(f)`` of the loss values whose gradient ``∇_x m(f(x))`` is the
        rule's direction ``d``, or ``None`` (the default) when there is none.

        The minimize loop's Armijo rule tests sufficient decrease of the merit when it exists.
        It must not change the rule's state.
        """
        return None

    def reset(self) -> None:
        """Forget any state carried between steps (no-op for stateless rules)."""

    def state_dict(self) -> dict[str, Any]:
        """State carried between steps, as plain Python values (numbers, strings, lists: what
        ``torch.load(weights_only=True)`` reads); empty if stateless."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        if state:
            raise ValueError(f"rule {self.name!r} is stateless, got state keys {sorted(state)}")

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments of this rule, as given."""
        return {p: getattr(self, p) for p in _init_parameters(type(self)) if hasattr(self, p)}

    def replace(self, **changes: Any) -> UpdateRule:
        """A new rule of the same class with the hyperparameters ``changes`` and the others
        as here; its state is fresh (as after construction).

        Raises:
            ValueError: an unknown hyperparameter (the message lists the valid ones) or an
                invalid value.
        """
        _check_hyperparameter_names(type(self), changes)
        return type(self)(**{**self.hyperparameters(), **changes})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


class Weighting(UpdateRule):
    """A rule that chooses weights ``w`` from the Gramian ``G = J Jᵀ`` and the loss values;
    its direction is ``d = Jᵀw``.

    Subclasses set `uses_gramian` (``False`` for rules that read the losses alone, such as
    MIMO and linear scalarization) and implement `_weights` on validated float64 inputs.

    Attributes:
        uses_gramian: ``True`` (default) when the weights depend on ``G``; ``False`` when they
            depend on the losses alone (callers may then pass ``gramian=None`` and skip
            computing it).
    """

    uses_gramian: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "needs" in vars(cls) and "uses_gramian" not in vars(cls):  # the older spelling
            if cls.needs not in ("losses", "gramian"):
                raise TypeError(
                    f"weighting {cls.__name__} declares needs={cls.needs!r}; a weighting "
                    "reads 'losses' or 'gramian' (subclass DirectionRule for the Jacobian)"
                )
            cls.uses_gramian = cls.needs == "gramian"
        cls.needs = "gramian" if cls.uses_gramian else "losses"
        super().__init_subclass__(**kwargs)

    def weights(self, gramian: ArrayLike | None, losses: ArrayLike) -> RuleResult:
        """Weights from the K×K Gramian ``G = J Jᵀ`` and the K loss values.

        ``gramian`` may be ``None`` when `uses_gramian` is ``False``.
        """
        if gramian is None:
            if self.uses_gramian:
                raise ValueError(f"rule {self.name!r} needs a gramian, got None")
            f = as_vector(losses, "losses")
            if f.size == 0:
                raise ValueError("losses must hold at least one objective, got an empty array")
            return self._weights(None, f)
        g = check_gramian(gramian)
        f = as_vector(losses, "losses", size=g.shape[0])
        return self._weights(g, f)

    @abstractmethod
    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        """Compute the weights from validated float64 inputs (``gramian`` is ``None`` only
        when `uses_gramian` is ``False``)."""

    def from_jacobian(self, jacobian: ArrayLike, losses: ArrayLike) -> RuleResult:
        """Weights from the K×d Jacobian ``J`` (rows are per-objective gradients): `weights`
        of ``G = J Jᵀ`` (not formed when `uses_gramian` is ``False``)."""
        return self._from_jacobian(jacobian, losses)[1]

    def direction(self, jacobian: ArrayLike, losses: ArrayLike) -> tuple[FloatArray, RuleResult]:
        """The update direction ``d = Jᵀw`` (step along ``-d``) and the rule's result."""
        j, result = self._from_jacobian(jacobian, losses)
        return j.T @ result.weights, result

    def _from_jacobian(
        self, jacobian: ArrayLike, losses: ArrayLike
    ) -> tuple[FloatArray, RuleResult]:
        """The validated (K, d) Jacobian (also for one 1-D gradient) and the weights."""
        f = as_vector(losses, "losses")
        if f.size == 0:
            raise ValueError("losses must hold at least one objective, got an empty array")
        j = check_jacobian(jacobian, f.size)
        return j, self._weights(j @ j.T if self.uses_gramian else None, f)


class DirectionRule(UpdateRule):
    """A rule whose direction is computed from the K×d Jacobian itself and is not ``Jᵀw`` for
    the weights it reports (e.g. MoCo's ``d = Yᵀλ`` with tracked gradients ``Y``).

    Subclasses implement `_direction` on a validated float64 Jacobian. The result's
    ``weights`` are the rule's own weights (MoCo's ``λ``), for the record; the direction is
    what the caller steps along.
    """

    needs: ClassVar[Needs] = "jacobian"

    def direction(self, jacobian: ArrayLike, losses: ArrayLike) -> tuple[FloatArray, RuleResult]:
        """The update direction ``d`` (step along ``-d``) and the rule's result."""
        f = as_vector(losses, "losses")
        if f.size == 0:
            raise ValueError("losses must hold at least one objective, got an empty array")
        return self._direction(check_jacobian(jacobian, f.size), f)

    @abstractmethod
    def _direction(self, jacobian: FloatArray, losses: FloatArray) -> tuple[FloatArray, RuleResult]:
        """Compute the direction from a validated float64 Jacobian and the losses."""


_REGISTRY: dict[str, type[UpdateRule]] = {}

R = TypeVar("R", bound=type[UpdateRule])


def register(cls: R) -> R:
    """Class decorator adding a rule to the registry under ``cls.name``.

    Raises:
        TypeError: ``cls`` is not a concrete `Weighting` or `DirectionRule` (an abstract
            method is missing).
        ValueError: another class is registered under the same name.
    """
    if not issubclass(cls, (Weighting, DirectionRule)) or inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ()))) or "(none)"
        raise TypeError(
            f"rule class {cls.__name__} must be a concrete moo.solvers.Weighting or "
            f"DirectionRule; abstract methods left: {missing}"
        )
    key = cls.name
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise ValueError(f"a rule named {key!r} is already registered: {_REGISTRY[key].__name__}")
    _REGISTRY[key] = cls
    return cls


def available_rules() -> dict[str, type[UpdateRule]]:
    """Registered rules by name, sorted by name."""
    return dict(sorted(_REGISTRY.items()))


def get_rule(name: str | UpdateRule, **hyperparameters: Any) -> UpdateRule:
    """Build a rule from its registry name and keyword hyperparameters.

    An `UpdateRule` instance is returned as is (then no hyperparameters may be given).

    Raises:
        ValueError: unknown name or hyperparameter; the message lists the valid ones.
    """
    if isinstance(name, UpdateRule):
        if hyperparameters:
            raise ValueError(
                f"hyperparameters {sorted(hyperparameters)} given with a rule instance {name!r}; "
                "set them on the instance instead"
            )
        return name
    if not isinstance(name, str) or name.lower() not in _REGISTRY:
        raise ValueError(f"unknown rule {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    cls = _REGISTRY[name.lower()]
    _check_hyperparameter_names(cls, hyperparameters)
    return cls(**hyperparameters)


def _check_hyperparameter_names(cls: type[UpdateRule], given: Mapping[str, Any]) -> None:
    params = _init_parameters(cls)
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for rule {cls.name!r}; "
            f"valid: {', '.join(params) if params else '(none)'}"
        )
