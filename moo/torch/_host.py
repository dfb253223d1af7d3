"""The host side of a step: what the rule sees, its one timed call, and the `StepInfo`.

`run_rule` is the one host-side step of every path of `backward` (loss-only, Gramian,
representation, Jacobian; distributed or not):

1. copy what the rule reads to the host as float64 NumPy, in as few transfers as the path
   allows: ``[G | f]`` (K×(K+1), one copy) for a weighting that reads the Gramian, ``f`` alone
   for one that reads the losses only, ``J`` and then ``f`` for a direction rule (its
   ``G = J Jᵀ``, for the record and the check, is formed on the host);
2. check that the losses and ``G`` are finite, naming the first bad objective (and, after a
   batched extraction, that an objective with a zero row reaches its shared parameters);
3. call the rule's one entry point, ``rule.weights(G, f)`` or ``rule.direction(J, f)``, and
   time that call alone (`StepInfo.rule_time`). The call runs in a training context:
   ``stationary_policy("keep")``, so that a Nash-MTL rule built without ``on_stationary``
   keeps its previous weights when an objective's gradient is exactly zero in a batch
   instead of raising `ParetoStationaryError` (see `moo.solvers.nash_mtl.NashMTL`).

`step_info` turns what the rule saw and chose into the public `StepInfo`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import torch

from moo.solvers import RuleResult, UpdateRule, Weighting
from moo.solvers._min_norm import stationarity
from moo.solvers.nash_mtl import stationary_policy
from moo.validation import FloatArray


@dataclass(frozen=True)
class StepInfo:
    """What `backward` did in one step.

    Attributes:
        weights: the rule's weights ``w`` (K,), float64; the shared parameters received
            ``d = Jᵀw`` (for a direction rule, its own direction, e.g. MoCo's ``Yᵀλ`` with
            ``w = λ``).
        gramian: ``G = J Jᵀ`` (K×K, float64) of the (all-reduced) per-objective gradients, or
            of the gradients with respect to the representation for
            ``extraction="representation"``; ``None`` for loss-only rules.
        residual: the rule's optimality certificate (``0.0`` for closed-form rules).
        stationarity: ``min_{w ∈ Δ} ||Jᵀw||`` (the square root of MGDA's min-norm value on
            ``G``); ``0`` at a Pareto-stationary point; ``None`` for loss-only rules.
        rule_time: seconds spent in the rule's own call on the host: ``rule.weights(G, f)``
            (weights from the Gramian and/or the losses) or ``rule.direction(J, f)`` (a
            direction rule). Not the extraction, the Gramian, the host copy, the finiteness
            checks or the write-back of ``d`` into ``.grad``.
        losses: the K loss values the rule saw (host, float64; averaged over the ranks when
            distributed): the step's one device→host copy of them, free to log.
        info: the rule's diagnostics plus ``"extraction"`` (the path taken),
            ``"backward_passes"`` (autograd calls made) and ``"world_size"``.
    """

    weights: FloatArray
    gramian: FloatArray | None
    residual: float
    stationarity: float | None
    rule_time: float
    losses: FloatArray
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RuleRun:
    """What the rule saw and chose on the host in one step.

    Attributes:
        gramian: the symmetrized ``G`` the rule saw (``J Jᵀ`` for a direction rule), float64;
            ``None`` for a weighting that reads the losses only.
        losses: ``f`` (K,), float64.
        result: the rule's result (its weights, residual and diagnostics).
        direction: ``d`` (d,) of a direction rule, to write back; ``None`` for a weighting
            (``d = Jᵀw`` is formed on the device).
        rule_time: seconds in the rule's call alone.
    """

    gramian: FloatArray | None
    losses: FloatArray
    result: RuleResult
    direction: FloatArray | None
    rule_time: float


def run_rule(
    rule: UpdateRule,
    losses: torch.Tensor,
    *,
    gramian: torch.Tensor | None = None,
    jacobian: torch.Tensor | None = None,
    what: str = "gradient",
    verify: Callable[[Sequence[int]], None] | None = None,
) -> RuleRun:
    """The host-side step: copy, check finite, call the rule (timed).

    Args:
        rule: a `Weighting` (given ``gramian``, or neither matrix when it reads the losses
            only) or any rule given ``jacobian`` (its `direction` is called).
        losses: the K loss values, float64, on the device.
        gramian: ``G`` (K×K, float64) on the device.
        jacobian: ``J`` (K×d, float64) on the device.
        what: what ``G`` is the Gramian of, for the messages (``"gradient"`` or ``"gradient
            with respect to the representation"``).
        verify: called, before the rule, with the objectives whose row of ``J`` is exactly
            zero (``G_ii = 0``), when there are some (`moo.torch._extract.Extracted.verify`);
            ``None``: no such check.

    Raises:
        ValueError: a non-finite loss (named by objective), a non-finite diagonal of ``G``
            (the objective whose gradient is not finite) or another non-finite entry of ``G``;
            whatever ``verify`` raises.
    """
    if jacobian is not None:
        j_host: FloatArray | None = jacobian.cpu().numpy()
        g_host, f_host = None, _vector(losses)
    else:
        j_host = None
        g_host, f_host = _to_host(gramian, losses)
    _check_losses_finite(f_host)
    if j_host is not None:
        g_host = j_host @ j_host.T
    if g_host is not None:
        _check_gramian_finite(g_host, what)
        if verify is not None:
            diag = g_host.diagonal()
            if not diag.all():  # some row is exactly zero: was it reached at all?
                verify(np.flatnonzero(diag == 0.0).tolist())
    direction: FloatArray | None = None
    with stationary_policy("keep"):  # a training step: a zero gradient must not abort the run
        start = time.perf_counter()
        if j_host is not None:
            direction, result = rule.direction(j_host, f_host)
        else:  # the loss-only and Gramian paths serve weightings only (see backward's _path_for)
            result = cast(Weighting, rule).weights(g_host, f_host)
        rule_time = time.perf_counter() - start
    return RuleRun(g_host, f_host, result, direction, rule_time)


def step_info(run: RuleRun, info: Mapping[str, Any]) -> StepInfo:
    """The `StepInfo` of a step: the rule's weights and result, ``G``'s stationarity (when
    the rule saw ``G``), and ``info`` after the rule's own diagnostics."""
    g = run.gramian
    return StepInfo(
        run.result.weights,
        g,
        float(run.result.residual),
        None if g is None else stationarity(g),
        run.rule_time,
        run.losses,
        {**run.result.info, **info},
    )


def _vector(f: torch.Tensor) -> FloatArray:
    """One device→host copy of the loss values."""
    return f.cpu().numpy().astype(np.float64, copy=False)


def _to_host(gram: torch.Tensor | None, f: torch.Tensor) -> tuple[FloatArray | None, FloatArray]:
    """One device→host copy of ``[G | f]`` (or of ``f`` alone); ``G`` symmetrized."""
    if gram is None:
        return None, _vector(f)
    packed = torch.cat([gram, f.to(gram.device)[:, None]], dim=1).cpu().numpy()
    g = packed[:, :-1]
    return np.ascontiguousarray(0.5 * (g + g.T)), np.ascontiguousarray(packed[:, -1])


def _check_losses_finite(f: FloatArray) -> None:
    if math.isfinite(float(f.sum())):  # one call; a NaN or an infinity makes the sum one too
        return
    bad = np.flatnonzero(~np.isfinite(f))  # (or the sum overflowed: then none is bad)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"loss of objective {i} is not finite: losses[{i}] = {f[i]}")


def _check_gramian_finite(g: FloatArray, what: str) -> None:
    diag = np.diag(g)
    bad = np.flatnonzero(~np.isfinite(diag))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"the {what} of objective {i} is not finite (its squared norm is {diag[i]}): "
            f"check losses[{i}] for overflow, a division by zero or a log of zero"
        )
    if not np.all(np.isfinite(g)):
        raise ValueError(f"the Gramian of the {what}s is not finite (overflow in a product)")
