"""The update-rule protocol and the registry of rules by name.

An update rule turns the per-objective gradients at the current point into one update
direction. Almost every rule only needs the K×K Gramian ``G = J Jᵀ`` and the K loss values to
choose weights ``w``; the direction is then ``d = Jᵀ w`` (a *descent* direction: the caller
steps along ``-d``). Rules run on small float64 NumPy arrays on the host.
"""

from __future__ import annotations

import inspect
from abc import ABC
from collections.abc import Mapping
from dataclasses import dataclass, field
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


class UpdateRule(ABC):
    """Base class of all update rules.

    Subclasses set `name`, `summary` and `needs`, validate their
    hyperparameters in ``__init__`` (raising ``ValueError`` that names the parameter and value)
    and implement `_weights` (Gramian or loss rules) or override `from_jacobian`
    (rules that need the full Jacobian).

    Attributes:
        name: registry name, e.g. ``"mgda"``.
        summary: one-line description shown by ``moo methods``.
        needs: what the rule reads: ``"losses"`` (loss values only), ``"gramian"`` (``G`` and
            losses) or ``"jacobian"`` (the full ``J``).
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
    needs: ClassVar[Needs] = "gramian"
    common_descent: ClassVar[bool] = False
    average_descent: ClassVar[bool] = False
    permutation_equivariant: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self) -> None:
        """A rule without hyperparameters (subclasses with some define their own)."""

    def weights(self, gramian: ArrayLike | None, losses: ArrayLike) -> RuleResult:
        """Weights from the K×K Gramian ``G = J Jᵀ`` and the K loss values.

        ``gramian`` may be ``None`` for rules with ``needs == "losses"``.
        """
        if self.needs == "jacobian":
            raise TypeError(f"rule {self.name!r} needs the Jacobian: call from_jacobian(J, losses)")
        if gramian is None:
            if self.needs == "gramian":
                raise ValueError(f"rule {self.name!r} needs a gramian, got None")
            f = as_vector(losses, "losses")
            if f.size == 0:
                raise ValueError("losses must hold at least one objective, got an empty array")
            return self._weights(None, f)
        g = check_gramian(gramian)
        f = as_vector(losses, "losses", size=g.shape[0])
        return self._weights(g, f)

    def from_jacobian(self, jacobian: ArrayLike, losses: ArrayLike) -> RuleResult:
        """Weights from the K×d Jacobian ``J`` (rows are per-objective gradients)."""
        f = as_vector(losses, "losses")
        if f.size == 0:
            raise ValueError("losses must hold at least one objective, got an empty array")
        j = check_jacobian(jacobian, f.size)
        gram = None if self.needs == "losses" else j @ j.T
        return self._weights(gram, f)

    def direction(self, jacobian: ArrayLike, losses: ArrayLike) -> tuple[FloatArray, RuleResult]:
        """The update direction ``d = Jᵀ w`` (step along ``-d``) and the rule's result."""
        j = np.asarray(jacobian, dtype=np.float64)
        result = self.from_jacobian(j, losses)
        return j.T @ result.weights, result

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        """Compute the weights from validated float64 inputs."""
        raise NotImplementedError(f"rule {self.name!r} does not implement weights from a Gramian")

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
        """State carried between steps, as plain Python/NumPy values (empty if stateless)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        if state:
            raise ValueError(f"rule {self.name!r} is stateless, got state keys {sorted(state)}")

    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments of this rule, as given."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self" and hasattr(self, p)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({args})"


_REGISTRY: dict[str, type[UpdateRule]] = {}

R = TypeVar("R", bound=type[UpdateRule])


def register(cls: R) -> R:
    """Class decorator adding a rule to the registry under ``cls.name``."""
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
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    cls = _REGISTRY[name.lower()]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(hyperparameters) - set(params))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for method {cls.name!r}; "
            f"valid: {', '.join(params) if params else '(none)'}"
        )
    return cls(**hyperparameters)
