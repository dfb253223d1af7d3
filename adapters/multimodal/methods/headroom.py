"""``headroom``: balance that gives priority to modalities that are behind *and* have shown
that they can be learnt, and leaves a sensor at chance at a floor share.

Derivation (details and guarantee: ``docs/multimodal-methods-headroom.md``). MIMO minimizes
``f_0 + γ · smax_μ(f_1, ..., f_M)``: a (smoothed) Tchebycheff scalarization of the uni-modal
losses with the ideal point 0. A sensor without signal cannot go below the chance loss
``c = log C`` on unseen data, so its distance to 0 stays the largest and MIMO spends its weight
there. ``headroom`` measures each modality's distance to an *estimated reachable point*
instead (compromise programming: Zeleny 1973; Miettinen 1999, ch. 3.4), with the estimate
taken from the loss values only:

    u_m ← (1 − β) u_m + β f_m                      tracked uni-modal loss (pre-step batch loss)
    g_m = clip((c (1 − τ) − u_m) / (α c), 0, 1)    evidence that m learns: u_m left chance
    h_m = g_m u_m                                  headroom: loss above the reachable point
                                                   f*_m = (1 − g_m) u_m (0 once g_m = 1)
    λ_m = (1 − ε) h_m / Σ_j h_j + ε / M            (λ = 1/M while every h_j = 0)
    weights: w_0 = 1 (fusion), w_m = γ M λ_m       (Σ_m w_m = γ M: uniform's total at γ = 1)

then one backward of ``f_0 + Σ_m w_m f_m``. The proportional weights ``λ ∝ h`` are those of
the ℓ2 distance to the reachable point (``∇ ½‖h‖² = Σ h_m ∇f_m`` for a frozen point),
normalized to the simplex; a modality whose tracked loss stays within ``τ`` of chance has
``h_m = 0`` and gets exactly the floor share ``ε / M``.

What the loss values can and cannot tell: in the first epoch a batch's loss before the step is
a loss on unseen data, so a sensor without signal stays at ``c`` there; later epochs revisit
samples and an encoder can lower its training loss by memorizing them. The margin ``τ`` and
the floor weight (which slows memorization down) are the guard; the test of this module checks
the final share on a sensor without signal (≤ 10 %), and the docs page reports where it holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from moo.validation import check_int, check_real
from moo_multimodal import _distributed
from moo_multimodal.methods._base import Method, StepReport, Timer, loss_values, losses, report
from moo_multimodal.methods._registry import register_method

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput, MultimodalModel


def headroom_weights(
    tracked: Sequence[float],
    chance: float,
    *,
    margin: float = 0.05,
    ramp: float = 0.15,
    floor: float = 0.1,
) -> tuple[list[float], list[float], list[float]]:
    """The priority ``λ`` (on the simplex), the gates ``g`` and the headrooms ``h`` of the
    tracked uni-modal losses ``u`` (see the module docstring for the formulas).

    Args:
        tracked: ``u_m >= 0``, one per modality (at least one).
        chance: the chance loss ``c > 0`` (``log C`` for ``C`` balanced classes).
        margin: ``τ ∈ [0, 1)``: a loss above ``c (1 − τ)`` counts as chance.
        ramp: ``α ∈ (0, 1]``: the gate opens linearly over ``α c`` below ``c (1 − τ)``.
        floor: ``ε ∈ [0, 1]``: the share spread uniformly whatever the losses.

    Raises:
        ValueError: an empty ``tracked``, a negative or non-finite loss, or a bad parameter.
    """
    chance = check_real(chance, "chance", low=0.0, low_open=True)
    margin = check_real(margin, "margin", low=0.0, high=1.0, high_open=True)
    ramp = check_real(ramp, "ramp", low=0.0, high=1.0, low_open=True)
    floor = check_real(floor, "floor", low=0.0, high=1.0)
    u = [check_real(v, f"tracked[{i}]", low=0.0) for i, v in enumerate(tracked)]
    if not u:
        raise ValueError("tracked must hold at least one loss, got none")
    top = chance * (1.0 - margin)
    gates = [min(1.0, max(0.0, (top - v) / (ramp * chance))) for v in u]
    heads = [g * v for g, v in zip(gates, u, strict=True)]
    total = sum(heads)
    m = len(u)
    if total <= 1e-12:
        lam = [1.0 / m] * m
    else:
        lam = [(1.0 - floor) * h / total + floor / m for h in heads]
    return lam, gates, heads


@register_method
class Headroom(Method):
    """Priority to modalities that are behind and have left chance; a floor share for the
    rest (one backward pass, weights from the loss values).

    Args:
        gamma: ``γ >= 0``: the uni-modal weights sum to ``γ M`` (1: uniform weighting's total).
        tracking: ``β ∈ (0, 1]``: ``u ← (1 − β) u + β f`` on the uni-modal losses (1: none).
        margin: ``τ ∈ [0, 1)``: tracked losses above ``c (1 − τ)`` count as chance.
        ramp: ``α ∈ (0, 1]``: the width of the gate, in units of ``c``.
        floor: ``ε ∈ [0, 1]``: the uniform share every modality keeps (a modality at chance
            gets exactly ``ε / M`` once another one has left chance).
        chance_loss: ``c``; ``None`` (default) takes ``log C`` from the number of classes of
            the uni-modal logits (the cross-entropy of a uniform prediction; for imbalanced
            labels pass the entropy of the label prior).

    State (checkpointed): the step counter and the tracked losses.
    """

    name = "headroom"
    summary = (
        "fusion + uni-modal losses, priority to modalities above their reachable loss that "
        "have left chance; a floor share for sensors at chance (one backward)"
    )

    def __init__(
        self,
        gamma: float = 1.0,
        tracking: float = 0.1,
        margin: float = 0.05,
        ramp: float = 0.15,
        floor: float = 0.1,
        chance_loss: float | None = None,
    ) -> None:
        self.gamma = check_real(gamma, "gamma", low=0.0)
        self.tracking = check_real(tracking, "tracking", low=0.0, high=1.0, low_open=True)
        # checked here so that a bad value fails when the method is built
        headroom_weights([1.0], 1.0, margin=margin, ramp=ramp, floor=floor)
        self.margin, self.ramp, self.floor = float(margin), float(ramp), float(floor)
        self.chance_loss = (
            None
            if chance_loss is None
            else check_real(chance_loss, "chance_loss", low=0.0, low_open=True)
        )
        self.step = 0
        self.tracked: list[float] | None = None
        self.gates: list[float] = []

    def update(self, unimodal: Sequence[float], num_classes: int) -> list[float]:
        """Track the uni-modal loss values of one step and return the weights
        ``[w_0, w_1, ..., w_M]`` (the host-side rule, for tests and loops of one's own).

        Raises:
            ValueError: a number of losses other than the tracked one's (call `reset`).
        """
        values = [check_real(v, f"unimodal[{i}]", low=0.0) for i, v in enumerate(unimodal)]
        if self.tracked is not None and len(self.tracked) != len(values):
            raise ValueError(
                f"headroom tracks {len(self.tracked)} modalities, got {len(values)} losses; "
                "call reset() for another model"
            )
        beta = self.tracking
        if self.tracked is None:
            self.tracked = list(values)
        else:
            self.tracked = [
                (1 - beta) * u + beta * f for u, f in zip(self.tracked, values, strict=True)
            ]
        chance = self.chance_loss
        if chance is None:
            chance = math.log(check_int(num_classes, "num_classes", low=2))
        lam, self.gates, _ = headroom_weights(
            self.tracked, chance, margin=self.margin, ramp=self.ramp, floor=self.floor
        )
        self.step += 1
        scale = self.gamma * len(lam)
        return [1.0, *(scale * x for x in lam)]

    def reset(self) -> None:
        """Forget the tracked losses (a new run)."""
        self.step = 0
        self.tracked = None

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        packed = loss_values(fusion, uni)
        if _distributed.current().distributed:
            # the weights come from the whole step's mean losses, the same on every rank; the
            # trainer then averages .grad over the ranks, which is exact for fixed weights
            _distributed.all_reduce_mean_([packed])
        values = packed.cpu().tolist()  # the one device→host copy
        num_classes = int(output.fusion.shape[1])
        with Timer() as timer:
            w = self.update(values[1:], num_classes)
        total = fusion
        for wm, f in zip(w[1:], uni, strict=True):
            total = total + wm * f
        torch.autograd.backward(total)
        names = ("fusion", *model.modalities)
        info = {f"gate/{m}": g for m, g in zip(model.modalities, self.gates, strict=True)}
        return report(
            model,
            fusion,
            uni,
            values=values,
            weights=dict(zip(names, w, strict=True)),
            rule_time=timer.seconds,
            info=info,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "tracked": None if self.tracked is None else list(self.tracked)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if set(state) != {"step", "tracked"}:
            raise ValueError(
                f"headroom state must have keys ['step', 'tracked'], got {sorted(state)}"
            )
        self.step = check_int(state["step"], "state['step']", low=0)
        tracked = state["tracked"]
        self.tracked = (
            None
            if tracked is None
            else [check_real(float(v), "state['tracked']", low=0.0) for v in tracked]
        )
