"""Training-time modality dropout: fused models that keep working when a sensor is absent.

Balancing the encoders (what the methods of `moo_multimodal.methods` do) does not teach the
fusion head to predict from fewer sensors: trained on complete inputs, it relies on all of them,
and its accuracy collapses when one goes missing at test time (the ``absent/<m>`` metric of
`moo_multimodal.metrics.evaluate`). *ModDrop* (Neverova, Wolf, Taylor & Nebout, "ModDrop:
adaptive multi-modal gesture recognition", IEEE TPAMI 38(8), 2016) trains on inputs where
whole modalities are missing now and then. `ModalityDropout` does this at the input, with the
same convention as the ``absent`` metric: in each training sample, with probability ``p``, one
modality, drawn uniformly among the droppable ones, is replaced by its mean training input.

It composes with every method; every head sees the dropped inputs (a uni-modal head then sees
its modality's mean input for that sample, so the uni-modal losses rise by the share of
dropped samples: methods that weight by loss values, such as MIMO, see that share too).
Modalities whose inputs are not floating point (token ids) are never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from moo.validation import check_real
from moo_multimodal.data import MultimodalDataset
from moo_multimodal.metrics import input_moments


class ModalityDropout:
    """Replace one modality of a sample by its mean input, with probability ``p`` per sample.

    Args:
        p: the probability that a training sample loses one modality, in ``[0, 1)``.
        fill: the value of an absent input per droppable modality (one sample's shape); the
            other modalities are never dropped.

    Raises:
        ValueError: ``p`` outside ``[0, 1)``, or no droppable modality.
    """

    def __init__(self, p: float, fill: Mapping[str, torch.Tensor]) -> None:
        self.p = check_real(p, "modality_dropout", low=0.0, high=1.0, high_open=True)
        if not fill:
            raise ValueError(
                "modality_dropout needs a modality with floating-point inputs to drop; "
                "every modality here has integer inputs"
            )
        self.fill = {m: v.detach() for m, v in fill.items()}
        self.modalities = tuple(self.fill)

    @classmethod
    def from_dataset(
        cls, p: float, dataset: MultimodalDataset, batch_size: int = 512
    ) -> ModalityDropout:
        """The dropout of ``p`` whose fill values are ``dataset``'s mean inputs (floating-point
        modalities only)."""
        return cls(p, {m: mean for m, (mean, _) in input_moments(dataset, batch_size).items()})

    def __call__(
        self, inputs: Mapping[str, torch.Tensor], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        """The batch with the drawn modalities replaced (new tensors; ``inputs`` is unchanged).

        The draw (on the CPU, from ``generator``): per sample, ``u < p`` decides whether it
        loses a modality and a uniform index which one.
        """
        out = dict(inputs)
        if self.p == 0.0:
            return out
        n = next(iter(inputs.values())).shape[0]
        drop = torch.rand(n, generator=generator) < self.p
        which = torch.randint(len(self.modalities), (n,), generator=generator)
        for j, m in enumerate(self.modalities):
            x = inputs[m]
            mask = (drop & (which == j)).to(x.device, non_blocking=True)
            mask = mask.reshape(n, *([1] * (x.ndim - 1)))
            out[m] = torch.where(mask, self.fill[m].to(device=x.device, dtype=x.dtype), x)
        return out
