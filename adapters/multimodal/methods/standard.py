"""The three plain baselines: joint (fusion loss only), uniform (fusion + uni-modal losses) and
uni-modal training.

- **joint** ("vanilla" multimodal learning, the baseline of the MIMO paper): the encoders are
  trained by the fusion loss ``f_0`` only; the uni-modal heads are probes on detached features.
- **uniform** (the multitask-like baseline of MMPareto, Wei & Hu 2024): ``f_0 + Σ_m f_m``,
  every loss reaching the encoders with weight 1.
- **unimodal**: each encoder is trained by its own uni-modal loss ``f_m`` only; the fusion
  module and head are trained on detached features (late fusion of independently trained
  encoders).

Each is one backward pass of one scalar; they choose no weights (``rule_time = 0``). Their
gradient is linear in the batch's losses, so the trainer's averaging of ``.grad`` over the
ranks (several processes) and gradient accumulation are both exact for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from moo_multimodal.methods._base import Method, StepReport, losses, report
from moo_multimodal.methods._registry import register_method

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput, MultimodalModel


class _SumOfLosses(Method):
    """One backward of ``f_0 + Σ_m f_m`` (what reaches the encoders depends on the detach flags)."""

    accumulates = True

    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        fusion, uni = losses(model, output, labels)
        torch.autograd.backward(fusion + torch.stack(uni).sum())
        return report(model, fusion, uni)


@register_method
class Joint(_SumOfLosses):
    """Joint training: the encoders learn from the fusion loss only."""

    name = "joint"
    summary = "fusion loss only (vanilla multimodal training); uni-modal heads are probes"
    detach_unimodal = True


@register_method
class Uniform(_SumOfLosses):
    """Uniform weights: the fusion loss plus every uni-modal loss, weight 1 each."""

    name = "uniform"
    summary = "fusion loss + sum of uni-modal losses, weight 1 each (multitask-like baseline)"


@register_method
class Unimodal(_SumOfLosses):
    """Uni-modal training: each encoder learns from its own head; fusion on detached features."""

    name = "unimodal"
    summary = "each encoder trained by its uni-modal loss only; fusion head on frozen features"
    detach_fusion = True
