"""The training-method interface of the adapter: how one step's gradients are formed.

A method receives the model's outputs on a batch (fusion logits, uni-modal logits, encoder
features) and the labels, computes the losses it needs and writes the parameters' ``.grad``
(the trainer zeroes them before and steps the optimizer after). Every method trains every
head: heads whose losses do not belong to the method's objective are trained on *detached*
features (they are probes then: they report what a modality has learnt without changing the
encoders), so that per-modality metrics exist for every method.

Objectives, in the order used everywhere in the adapter (and by `moo.torch.backward`):
``f_0`` the fusion loss, ``f_m`` (m = 1..M) the uni-modal head losses, in the model's
modality order.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F

from moo_multimodal.models import MultimodalModel, ParameterGroups

if TYPE_CHECKING:
    from moo_multimodal.models import ModelOutput


@dataclass
class StepReport:
    """What a method did in one step.

    Attributes:
        fusion_loss: the fusion loss ``f_0`` on the batch.
        unimodal_losses: ``f_m`` per modality (from the uni-modal heads, detached or not).
        weights: the per-objective or per-modality coefficients the method used this step,
            by name (e.g. ``{"fusion": 1.0, "audio": 0.3, ...}``), for the weights-over-time
            plots; empty when the method has none.
        rule_time: seconds spent choosing the weights/coefficients (the "subroutine": a QP,
            a closed form, a score ratio), excluding the backward passes.
        info: extra diagnostics (scalars only).
    """

    fusion_loss: float
    unimodal_losses: dict[str, float]
    weights: dict[str, float] = field(default_factory=dict)
    rule_time: float = 0.0
    info: dict[str, float] = field(default_factory=dict)


class Method(ABC):
    """A way to turn one batch's losses into gradients.

    A subclass implements `backward`; decorated with
    `moo_multimodal.methods.register_method`, it is named like the built-in methods
    (``TrainConfig(method=...)``, `compare`, ``moo-mm``), its constructor's keyword arguments
    being the run's method options. Conventions:

    - **Seed protocol.** A method with randomness declares a ``seed`` constructor parameter;
      a method built by name receives the run's seed there (``TrainConfig.seed``) unless the
      method options give one, and it draws from its own generator seeded with it (never the
      global torch or NumPy streams, which the trainer's other draws use). Its generator state
      belongs in `state_dict`, so that a resumed run draws what an uninterrupted one would.
    - **Parameter groups.** The encoder/fusion/head split comes from
      ``model.parameter_groups()`` (`moo_multimodal.models.ParameterGroups`), which leaves
      frozen parameters out.

    Attributes:
        name: the registry name (``moo-mm methods`` lists them); may be set per instance.
        summary: one line for listings; may be set per instance.
        detach_unimodal: the uni-modal heads see detached features (their losses never reach
            the encoders): the method trains the encoders from the fusion loss only.
        detach_fusion: the fusion module and head see detached features (uni-modal training).
        reduces_over_ranks: under `torch.distributed` (several processes, each with a shard
            of the batch) the method averages over the ranks itself whatever it needs (loss
            values, statistics, gradients) so that every rank writes the same ``.grad`` as one
            process on the whole batch. ``False`` (default): the trainer averages every
            ``.grad`` over the ranks after `backward`, as DistributedDataParallel does, which
            is exact for methods whose gradient is a fixed linear combination of the batch
            losses' gradients (joint, uniform, unimodal) and an approximation (each rank's
            own weights, averaged) for the others.
        accumulates: gradient accumulation is exact: the ``.grad`` written by `backward` on
            several micro-batches, one after the other (each loss scaled by `losses`'s
            weight), is the ``.grad`` of one step on their union. True for fixed linear
            combinations of the losses; the trainer refuses ``accumulate > 1`` for methods
            where it is ``False`` (weights chosen from a batch's losses or gradients).
    """

    name: str = ""
    summary: str = ""
    detach_unimodal: ClassVar[bool] = False
    detach_fusion: ClassVar[bool] = False
    reduces_over_ranks: ClassVar[bool] = False
    accumulates: ClassVar[bool] = False

    @abstractmethod
    def backward(
        self, model: MultimodalModel, output: ModelOutput, labels: torch.Tensor, *, epoch: int
    ) -> StepReport:
        """Write ``.grad`` of the model's parameters for this batch and report.

        ``output`` was computed with ``model(inputs, detach_unimodal=self.detach_unimodal,
        detach_fusion=self.detach_fusion)``; ``epoch`` counts from 0 (for schedules).
        """

    def state_dict(self) -> dict[str, Any]:
        """The method's state (for checkpoints); stateless methods return ``{}``."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore `state_dict`'s output."""
        if state:
            raise ValueError(f"method {self.name!r} is stateless, got state keys {sorted(state)}")


_LOSS_WEIGHT: contextvars.ContextVar[float] = contextvars.ContextVar(
    "moo_multimodal_loss_weight", default=1.0
)


@contextlib.contextmanager
def loss_weight(weight: float) -> Iterator[None]:
    """Within the block, `losses` multiplies every loss by ``weight``.

    The trainer sets it when a step's batch is split (into shards over the ranks, or into
    micro-batches for gradient accumulation): a part of ``n`` samples of a step of ``N``
    samples on ``W`` ranks gets ``weight = W · n / N``, so that averaging the parts' losses
    and gradients over the ranks, and summing them over the micro-batches, gives the mean
    over the whole step's batch even when the parts are unequal. It is 1 otherwise.
    """
    token = _LOSS_WEIGHT.set(float(weight))
    try:
        yield
    finally:
        _LOSS_WEIGHT.reset(token)


def losses(
    model: MultimodalModel, output: ModelOutput, labels: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(f_0, [f_1, ..., f_M])``: mean cross-entropy of the fusion and uni-modal heads (times
    the weight of `loss_weight`, when the trainer splits a step's batch)."""
    fusion = F.cross_entropy(output.fusion, labels)
    uni = [F.cross_entropy(output.unimodal[m], labels) for m in model.modalities]
    weight = _LOSS_WEIGHT.get()
    if weight != 1.0:
        fusion = fusion * weight
        uni = [u * weight for u in uni]
    return fusion, uni


def parameter_groups(model: MultimodalModel) -> ParameterGroups:
    """``model.parameter_groups()``; for a model of one's own that has only the three
    accessors (``encoder_parameters``, ``fusion_parameters``, ``head_parameters``), the same
    computed from them by `MultimodalModel.parameter_groups`."""
    own = getattr(model, "parameter_groups", None)
    if callable(own):
        groups: ParameterGroups = own()
        return groups
    return MultimodalModel.parameter_groups(model)


def loss_values(fusion: torch.Tensor, uni: list[torch.Tensor]) -> torch.Tensor:
    """The M + 1 loss values as one detached float64 tensor, on the losses' device."""
    return torch.stack([fusion.detach(), *(u.detach() for u in uni)]).double()


def report(
    model: MultimodalModel,
    fusion: torch.Tensor,
    uni: list[torch.Tensor],
    *,
    values: Sequence[float] | None = None,
    **kwargs: Any,
) -> StepReport:
    """A `StepReport` from the loss tensors.

    ``values``: the M + 1 loss values already on the host (a method that copies other numbers
    to the host copies these with them, so that a step makes one device→host copy); without
    it, the values are copied here.
    """
    if values is None:
        values = loss_values(fusion, uni).cpu().tolist()
    values = [float(v) for v in values]
    names = ("fusion", *model.modalities)
    if len(values) != len(names):
        raise ValueError(f"values must hold {len(names)} loss values, got {len(values)}")
    for name, value in zip(names, values, strict=True):
        if not math.isfinite(value):
            raise ValueError(
                f"the {name} loss is not finite ({value}): check the inputs for NaN/inf and "
                "lower the learning rate"
            )
    return StepReport(
        fusion_loss=values[0],
        unimodal_losses=dict(zip(model.modalities, values[1:], strict=True)),
        **kwargs,
    )


class Timer:
    """A context manager measuring host wall time (``perf_counter``) into ``.seconds``."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
