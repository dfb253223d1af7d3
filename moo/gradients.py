"""Gradient providers: how a `Problem` gets its K×d Jacobian.

Three providers, one interface (`GradientProvider`):

- `AnalyticJacobian` calls a user-supplied Jacobian function.
- `FiniteDifferences` uses central differences (one-sided second-order differences
  next to a bound).
- `TorchAutograd` differentiates a function written with torch operations by reverse-mode
  autograd, on CPU or GPU (torch is imported only when it is used).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from moo.validation import FloatArray, check_real

VectorFunction = Callable[[FloatArray], ArrayLike]


class GradientProvider(ABC):
    """Computes the Jacobian ``J`` (K×d, row ``i`` is ``∇f_i``) of a vector function."""

    def values(self, fun: VectorFunction, x: FloatArray) -> FloatArray:
        """Evaluate ``fun`` at ``x`` as a 1-D float64 array (providers for functions written in
        another array library convert here)."""
        return np.asarray(fun(x), dtype=np.float64).reshape(-1)

    @abstractmethod
    def jacobian(
        self,
        fun: VectorFunction,
        x: FloatArray,
        *,
        lower: FloatArray | None = None,
        upper: FloatArray | None = None,
    ) -> ArrayLike:
        """The Jacobian of ``fun`` at ``x``; ``lower``/``upper`` are the problem's box bounds,
        which a provider that evaluates ``fun`` elsewhere must respect."""


class AnalyticJacobian(GradientProvider):
    """A user-supplied Jacobian function ``jac(x) -> (K, d)``."""

    def __init__(self, jac: Callable[[FloatArray], ArrayLike]) -> None:
        if not callable(jac):
            raise TypeError(f"jac must be callable, got {jac!r}")
        self.jac = jac

    def jacobian(
        self,
        fun: VectorFunction,
        x: FloatArray,
        *,
        lower: FloatArray | None = None,
        upper: FloatArray | None = None,
    ) -> ArrayLike:
        return self.jac(x)


class FiniteDifferences(GradientProvider):
    r"""Central finite differences, ``2d`` evaluations of the vector function per Jacobian.

    Step rule: ``h_j = step · max(1, |x_j|)`` with the default ``step = ε^{1/3} ≈ 6.06e-6``
    (``ε`` = float64 machine epsilon), which balances the ``O(h²)`` truncation error of the
    central difference against the ``O(ε/h)`` rounding error. Where ``x_j ± h_j`` would leave
    the box bounds, the one-sided second-order formula ``(−3f(x) + 4f(x+h) − f(x+2h)) / 2h``
    (or its mirror) is used instead, so ``fun`` is never evaluated outside the bounds.

    Args:
        step: relative step ``> 0`` (default ``ε^{1/3}``).
    """

    def __init__(self, step: float | None = None) -> None:
        default = float(np.finfo(np.float64).eps) ** (1.0 / 3.0)
        self.step = default if step is None else check_real(step, "step", low=0.0, low_open=True)

    def jacobian(
        self,
        fun: VectorFunction,
        x: FloatArray,
        *,
        lower: FloatArray | None = None,
        upper: FloatArray | None = None,
    ) -> ArrayLike:
        x = np.asarray(x, dtype=np.float64)
        f0 = self.values(fun, x)
        jac = np.empty((f0.size, x.size))
        for j in range(x.size):
            h = self.step * max(1.0, abs(float(x[j])))
            room_up = math.inf if upper is None else float(upper[j]) - float(x[j])
            room_down = math.inf if lower is None else float(x[j]) - float(lower[j])
            if room_up >= h and room_down >= h:
                jac[:, j] = (self._shifted(fun, x, j, h) - self._shifted(fun, x, j, -h)) / (2 * h)
            elif room_up >= 2.0 * h:
                f1, f2 = self._shifted(fun, x, j, h), self._shifted(fun, x, j, 2 * h)
                jac[:, j] = (-3.0 * f0 + 4.0 * f1 - f2) / (2.0 * h)
            elif room_down >= 2.0 * h:
                f1, f2 = self._shifted(fun, x, j, -h), self._shifted(fun, x, j, -2 * h)
                jac[:, j] = (3.0 * f0 - 4.0 * f1 + f2) / (2.0 * h)
            else:
                raise ValueError(
                    f"bounds on variable {j} are narrower than the finite-difference "
                    f"step {2 * h:.3g}"
                )
        return jac

    def _shifted(self, fun: VectorFunction, x: FloatArray, j: int, h: float) -> FloatArray:
        xh = x.copy()
        xh[j] += h
        return self.values(fun, xh)


class TorchAutograd(GradientProvider):
    """Reverse-mode autograd through a function written with torch operations.

    The function receives a 1-D torch tensor (``dtype``, on ``device``) and returns a 1-D
    tensor of K objective values; the Jacobian is computed with ``torch.func.jacrev`` (one
    vectorized backward pass for all K rows) and returned as a float64 NumPy array. torch is
    imported when the provider is created.

    Args:
        device: torch device for the evaluation, e.g. ``"cpu"`` or ``"cuda"`` (default CPU).
        dtype: ``"float64"`` (default) or ``"float32"``.
    """

    def __init__(self, device: str = "cpu", dtype: str = "float64") -> None:
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - exercised without torch only
            raise ImportError(
                "TorchAutograd needs PyTorch: pip install 'moo-toolkit[torch]' "
                "(see the README for GPU builds)"
            ) from exc
        if dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
        self._torch: Any = torch
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)

    def values(self, fun: VectorFunction, x: FloatArray) -> FloatArray:
        """Evaluate the torch function at a NumPy point, returning float64 values."""
        torch = self._torch
        with torch.no_grad():
            out: Any = fun(torch.as_tensor(x, dtype=self.dtype, device=self.device))
        return np.asarray(out.detach().cpu().numpy(), dtype=np.float64).reshape(-1)

    def jacobian(
        self,
        fun: VectorFunction,
        x: FloatArray,
        *,
        lower: FloatArray | None = None,
        upper: FloatArray | None = None,
    ) -> ArrayLike:
        torch = self._torch
        xt = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        jac = torch.func.jacrev(fun)(xt)
        return np.asarray(jac.detach().cpu().numpy(), dtype=np.float64).reshape(-1, x.size)
