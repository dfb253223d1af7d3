"""PCGrad: projecting conflicting gradients ("gradient surgery"), computed on the Gramian.

References:
    T. Yu, S. Kumar, A. Gupta, S. Levine, K. Hausman and C. Finn, "Gradient Surgery for
    Multi-Task Learning", NeurIPS 2020 (Algorithm 1).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from moo.solvers._base import RuleResult, Weighting, register
from moo.validation import FloatArray, check_choice, check_int

Reduction = Literal["sum", "mean"]
Order = Literal["per-task", "shared", "fixed"]
REDUCTIONS: tuple[str, ...] = ("sum", "mean")
ORDERS: tuple[str, ...] = ("per-task", "shared", "fixed")


def pcgrad_weights(
    gramian: FloatArray, orders: Sequence[Sequence[int]], reduction: Reduction = "sum"
) -> tuple[FloatArray, int]:
    """PCGrad's weights for explicit projection orders, from the Gramian alone.

    Every projected gradient is a combination ``g_i^PC = Σ_k c_k g_k`` of the rows of ``J``;
    the method tracks the coefficients ``c`` and ``G c`` (whose entry ``j`` is
    ``g_jᵀ g_i^PC``). Projecting onto the normal plane of ``g_j`` changes only ``c_j``, by
    ``-(G c)_j / G_jj``, and ``G c`` by that amount times column ``j`` of ``G``.

    Args:
        gramian: validated K×K Gramian ``G = J Jᵀ``.
        orders: for each objective ``i``, the order in which the other objectives are visited
            (an entry equal to ``i`` is skipped, so full permutations of ``range(K)`` work).
        reduction: ``"sum"`` (the paper's ``Σ_i g_i^PC``) or ``"mean"`` (divided by K).

    Returns:
        ``(w, n)``: the weights (``d = Jᵀ w``) and the number of projections made.
        Objectives with a zero gradient (``G_jj = 0``) are never projected on.
    """
    k = gramian.shape[0]
    if len(orders) != k:
        raise ValueError(f"orders must hold one order per objective ({k}), got {len(orders)}")
    g: list[list[float]] = gramian.tolist()
    total = [0.0] * k
    projections = 0
    for i in range(k):
        c = [0.0] * k
        c[i] = 1.0
        gc = list(g[i])  # G c = column i of G (symmetric)
        for j in orders[i]:
            if j == i:
                continue
            inner = gc[j]
            gjj = g[j][j]
            if inner < 0.0 and gjj > 0.0:
                step = -inner / gjj
                c[j] += step
                col = g[j]
                gc = [a + step * b for a, b in zip(gc, col, strict=True)]
                projections += 1
        total = [t + ci for t, ci in zip(total, c, strict=True)]
    w = np.asarray(total, dtype=np.float64)
    if reduction == "mean":
        w /= k
    return w, projections


@register
class PCGrad(Weighting):
    r"""PCGrad: project each gradient off the gradients it conflicts with, then add them up.

    Math (Yu et al. 2020, Algorithm 1): for each objective ``i``, start from
    ``g_i^PC = g_i`` and visit the other objectives ``j`` in a random order; whenever
    ``g_i^PCᵀ g_j < 0`` (a conflict), replace ``g_i^PC`` by its projection onto the normal
    plane of ``g_j``, ``g_i^PC − (g_i^PCᵀ g_j / ||g_j||²) g_j``. The direction is
    ``d = Σ_i g_i^PC`` (``reduction="sum"``, the paper's and torchjd's convention) or
    ``(1/K) Σ_i g_i^PC`` (``reduction="mean"``, the scale of the mean gradient).

    Solver: every ``g_i^PC`` is a combination of the rows of ``J``, so the rule runs on the
    Gramian alone, tracking the K×K coefficients (see `pcgrad_weights`); ``d = Jᵀ w`` with
    ``w`` the (summed or averaged) coefficient vectors. It is exact (no iteration); the
    residual is ``0``. ``info`` holds ``"projections"``, the number of projections made.

    Order: ``order="per-task"`` (default) draws, for each objective, its own random order of
    the others (Algorithm 1 of the paper; torchjd's ``PCGrad``); ``order="shared"`` draws one
    random permutation per call that every objective follows (what the authors' TensorFlow
    code intends: it calls ``tf.random.shuffle`` on the losses once per step but discards the
    result); ``order="fixed"`` visits the objectives in index order, which is what that code
    actually runs. The random orders come from a NumPy generator seeded with ``seed``: the
    rule is stateful (the generator state is its ``state_dict``), `reset` reseeds it, and it
    is not permutation equivariant.

    Scale: ``w_i = s (1 + Σ_{k≠i} c^(k)_i)`` with ``s = 1`` (sum) or ``1/K`` (mean), where
    ``c^(k)_i >= 0`` is the coefficient of ``g_i`` in ``g_k^PC``: every weight is ``>= s``,
    and ``w = s·1`` (the plain sum or mean of the gradients) when no pair of gradients
    conflicts.

    Guarantees: for K = 2, ``d`` is a common descent direction, ``g_iᵀd = (1 − cos²φ) ||g_i||²
    >= 0`` on a conflict (``φ`` the angle between the gradients), so also a descent direction
    for the average. For K >= 3 neither holds in general: with ``J = [[1, 1], [−4, −2],
    [1, 0]]`` every order gives ``ḡᵀd < 0`` (``ḡ`` the mean gradient). The class therefore
    declares neither ``common_descent`` nor ``average_descent``.

    Args:
        reduction: ``"sum"`` (default) or ``"mean"``.
        order: ``"per-task"`` (default), ``"shared"`` or ``"fixed"``.
        seed: seed of the generator of the random orders (default 0); ``None`` for fresh OS
            entropy at construction and at every `reset`.

    References: Yu, Kumar, Gupta, Levine, Hausman & Finn, NeurIPS 2020.
    """

    name = "pcgrad"
    summary = "project each gradient off the ones it conflicts with, in random order; sum them"
    permutation_equivariant = False
    stateful = True

    def __init__(
        self, reduction: Reduction = "sum", order: Order = "per-task", seed: int | None = 0
    ) -> None:
        self._reduction: Reduction = check_choice(  # type: ignore[assignment]
            reduction, "reduction", REDUCTIONS
        )
        self._order: Order = check_choice(order, "order", ORDERS)  # type: ignore[assignment]
        self._seed = None if seed is None else check_int(seed, "seed", low=0)
        self._rng = np.random.default_rng(self._seed)

    def _orders(self, k: int) -> list[list[int]]:
        if self._order == "fixed":
            return [list(range(k))] * k
        if self._order == "shared":
            perm: list[int] = self._rng.permutation(k).tolist()
            return [perm] * k
        rows: list[list[int]] = self._rng.permuted(np.tile(np.arange(k), (k, 1)), axis=1).tolist()
        return rows

    def _weights(self, gramian: FloatArray | None, losses: FloatArray) -> RuleResult:
        assert gramian is not None
        k = gramian.shape[0]
        if k == 1:
            return RuleResult(np.ones(1), 0.0, {"projections": 0})
        w, projections = pcgrad_weights(gramian, self._orders(k), self._reduction)
        return RuleResult(w, 0.0, {"projections": projections})

    def scale_error(
        self, weights: FloatArray, gramian: FloatArray | None, losses: FloatArray
    ) -> str | None:
        """Every weight ``>= s`` (``s = 1`` for sum, ``1/K`` for mean); ``w = s·1`` without
        conflicts."""
        assert gramian is not None
        k = weights.shape[0]
        s = 1.0 if self._reduction == "sum" else 1.0 / k
        if np.any(weights < s * (1.0 - 1e-12)):
            return f"weights must be >= {s}, got min {float(weights.min())!r}"
        if np.all(gramian >= 0.0) and not np.array_equal(weights, np.full(k, s)):
            return f"no conflict, so the weights must all be {s}, got {weights.tolist()}"
        return None

    def reset(self) -> None:
        """Reseed the generator of the random orders with ``seed``."""
        self._rng = np.random.default_rng(self._seed)

    def state_dict(self) -> dict[str, Any]:
        """``{"rng": state}``: the state of the NumPy bit generator (a plain dict of strings
        and Python ints, loadable with ``torch.load(weights_only=True)``)."""
        return {"rng": copy.deepcopy(self._rng.bit_generator.state)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the generator state saved by `state_dict`."""
        if set(state) != {"rng"}:
            raise ValueError(f"PCGrad state must have the key 'rng', got keys {sorted(state)}")
        rng_state = state["rng"]
        if not isinstance(rng_state, Mapping):
            raise ValueError(f"PCGrad state['rng'] must be a mapping, got {rng_state!r}")
        rng = np.random.default_rng()
        expected = rng.bit_generator.state["bit_generator"]
        if rng_state.get("bit_generator") != expected:
            raise ValueError(
                f"PCGrad state['rng'] must be a {expected} state, "
                f"got bit_generator {rng_state.get('bit_generator')!r}"
            )
        rng.bit_generator.state = copy.deepcopy(dict(rng_state))
        self._rng = rng
