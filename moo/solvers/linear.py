"""Linear scalarization: a fixed weighted sum of the objectives."""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from moo.solvers._base import RuleResult, Weighting, register
from moo.validation import FloatArray, as_vector


class _ReadOnlyMethod:
    """A method that an instance cannot shadow: ``rule.weights = [...]`` (the hyperparameter's
    name) raises instead of silently replacing the method (hyperparameters are read-only)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __get__(self, rule: object, owner: type | None = None) -> Any:
        return self.func if rule is None else types.MethodType(self.func, rule)

    def __set__(self, rule: object, value: Any) -> None:
        raise AttributeError(
            f"{type(rule).__name__}.weights is fixed when the rule is built (got "
            f"weights={value!r}); build a new rule: rule.replace(weights={value!r})"
        )


@register
class LinearScalarization(Weighting):
    r"""Linear scalarization: ``d = Jᵀ w`` with fixed weights ``w``.

    Math: minimizing ``Σ_i w_i f_i`` by gradient descent; its stationary points are
    Pareto-stationary when every ``w_i > 0``. Needs only the loss values (one backward pass of
    the weighted sum in a training loop).

    Scale: the weights are used as given (no renormalization); the default is uniform ``1/K``
    (the mean of the objectives). Weights must be finite and non-negative with a positive sum.

    Args:
        weights: fixed weights, one per objective, or ``None`` for ``1/K`` each.
    """

    name = "linear"
    summary = "fixed weighted sum of the objectives (default: the mean)"
    uses_gramian = False
    # the hyperparameter `weights` has the name of the method: guard the method itself
    weights = _ReadOnlyMethod(Weighting.weights)

    def __init__(self, weights: Sequence[float] | None = None) -> None:
        if weights is not None:
            w = as_vector(weights, "weights")
            if w.size == 0 or np.any(w < 0) or w.sum() <= 0:
                raise ValueError(
                    f"weights must be non-negative with a positive sum, got {w.tolist()}"
                )
            self._fixed: FloatArray | None = w
        else:
            self._fixed = None
        self._weights_arg = None if self._fixed is None else self._fixed.tolist()

    def hyperparameters(self) -> dict[str, object]:
        return {"weights": self._weights_arg}

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        k = losses.shape[0]
        if self._fixed is None:
            return RuleResult(np.full(k, 1.0 / k))
        if self._fixed.shape[0] != k:
            raise ValueError(
                f"weights has {self._fixed.shape[0]} entries but there are {k} objectives"
            )
        return RuleResult(self._fixed.copy())

    def merit(self, losses: FloatArray) -> float | None:
        """The weighted sum ``wᵀf``, whose gradient is the direction ``Jᵀw``."""
        return float(self._weights(None, losses).weights @ losses)

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """The weights given (or ``1/K`` each), unchanged."""
        expected = self._weights(None, losses).weights
        if not np.array_equal(weights, expected):
            return f"weights {weights.tolist()} differ from the fixed {expected.tolist()}"
        return None
