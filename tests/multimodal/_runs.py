"""Shared steps of the trainer tests: a run killed mid-way, and two models compared exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from moo_multimodal.models import MultimodalModel
from moo_multimodal.training import RunResult, TrainConfig, train


class Crash(Exception):
    """Raised from the epoch callback: the run stops as if killed after that epoch's save."""


def crash_then_resume(config: TrainConfig, output_dir: Path, epoch: int = 2) -> RunResult:
    """Train into ``output_dir`` until ``epoch`` is saved, crash, then resume to the end."""

    def crash(record: dict[str, float]) -> None:
        if record["epoch"] == epoch:
            raise Crash

    with pytest.raises(Crash):
        train(config, output_dir=output_dir, callback=crash)
    return train(config, output_dir=output_dir)


def assert_same_model(a: MultimodalModel, b: MultimodalModel) -> None:
    """Every parameter and buffer bit-identical."""
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)
