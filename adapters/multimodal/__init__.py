"""moo_multimodal: balanced multimodal (sensor-fusion) training with moo's update rules.

Multimodal models suffer from *modality imbalance*: the modality that is fastest to learn
dominates the fusion loss and the others stay under-trained. This adapter binds moo's rules
(MIMO first: Fernando et al., "Balancing Multi-modal Sensor Learning via Multi-objective
Optimization", arXiv:2511.06686, 2025) and the field's baselines to PyTorch encoders:

- `moo_multimodal.models`: per-modality encoders (MLP, CNN, ResNet18, GRU, Transformer),
  fusion modules (concat, sum, gated, FiLM), a fusion head and one uni-modal head per modality,
  with explicit parameter groups (`MultimodalModel`, `build_model`);
- `moo_multimodal.data`: datasets (`load_dataset`; the embedded synthetic benchmark with
  controllable imbalance), batching;
- `moo_multimodal.methods`: joint, uniform, uni-modal training, moo's rules over
  ``[fusion loss, uni-modal losses]`` with two backward passes whatever the number of
  modalities, OGM-GE and MMPareto (`make_method`, `available_methods`; `register_method` makes
  a method of one's own nameable like them);
- `moo_multimodal.metrics`: fusion accuracy and macro-F1, per-modality accuracy (heads and
  linear probes), worst-modality accuracy, imbalance, robustness to a dropped or noised sensor;
- `moo_multimodal.augment`: `ModalityDropout` (training with absent sensors);
- `moo_multimodal.training`: `TrainConfig`, `train`, `fit` (metrics logs, atomic checkpoints,
  resume);
- `moo_multimodal.compare`: methods × seeds → a markdown table and plots; the ``moo-mm``
  command line (`moo_multimodal.cli`).

Importing this package imports torch.
"""

from moo_multimodal.augment import ModalityDropout
from moo_multimodal.compare import Comparison, compare
from moo_multimodal.data import DatasetSplits, TensorDataset, available_datasets, load_dataset
from moo_multimodal.methods import (
    Method,
    StepReport,
    available_methods,
    make_method,
    register_method,
)
from moo_multimodal.metrics import evaluate, linear_probe
from moo_multimodal.models import ModelOutput, MultimodalModel, build_model
from moo_multimodal.training import RunResult, TrainConfig, fit, train

__all__ = [
    "Comparison",
    "DatasetSplits",
    "Method",
    "ModalityDropout",
    "ModelOutput",
    "MultimodalModel",
    "RunResult",
    "StepReport",
    "TensorDataset",
    "TrainConfig",
    "available_datasets",
    "available_methods",
    "build_model",
    "compare",
    "evaluate",
    "fit",
    "linear_probe",
    "load_dataset",
    "make_method",
    "register_method",
    "train",
]
