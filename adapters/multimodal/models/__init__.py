"""The model layer of the multimodal adapter: encoders, fusion modules and the model.

`MultimodalModel` = per-modality encoders + a fusion module + a fusion head + one uni-modal
head per modality, with explicit per-module parameter groups (`MultimodalModel.parameter_groups`:
the trainable ones, as `ParameterGroups`); `build_model` makes one from
input shapes and kind names (`ENCODERS`, `FUSIONS`).
"""

from __future__ import annotations

from ._model import ModelOutput, MultimodalModel, ParameterGroups, build_model
from .encoders import (
    ENCODERS,
    CNNEncoder,
    GRUEncoder,
    MLPEncoder,
    ResNet18Encoder,
    TransformerEncoder,
    make_encoder,
)
from .fusion import (
    FUSIONS,
    ConcatFusion,
    FiLMFusion,
    FusionModule,
    GatedFusion,
    SumFusion,
    make_fusion,
)

__all__ = [
    "ENCODERS",
    "FUSIONS",
    "CNNEncoder",
    "ConcatFusion",
    "FiLMFusion",
    "FusionModule",
    "GRUEncoder",
    "GatedFusion",
    "MLPEncoder",
    "ModelOutput",
    "MultimodalModel",
    "ParameterGroups",
    "ResNet18Encoder",
    "SumFusion",
    "TransformerEncoder",
    "build_model",
    "make_encoder",
    "make_fusion",
]
