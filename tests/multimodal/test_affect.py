"""Tests of moo_multimodal.data.affect: MultiBench's CMU-MOSEI and UR-FUNNY pickles on tiny
fixtures written in their format (``_published_fixtures.py``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import affect, load_dataset  # noqa: E402
from tests.multimodal._published_fixtures import write_fixture, write_pickle  # noqa: E402


def test_cmu_mosei_labels(tmp_path: Path) -> None:
    root = write_fixture("cmu-mosei", tmp_path)
    splits = load_dataset("cmu-mosei", root=root)
    assert splits.modalities == ("vision", "audio", "text")
    assert splits.input_shapes == {"vision": (5, 35), "audio": (5, 74), "text": (5, 300)}
    assert isinstance(splits.train, affect.MultiBenchAffect)
    # sample 1 (empty text) is dropped; scores -2.6 0.0 0.3 1.6 3.0 -> score > 0
    assert splits.train.labels.tolist() == [0, 0, 1, 1, 1]
    assert splits.num_classes == 2 and splits.train.dropped == 1
    assert bool(torch.isfinite(splits.train.inputs["audio"]).all())
    seven = load_dataset("cmu-mosei", root=root / "mosei_senti_data.pkl", labels="7class")
    assert seven.train.labels.tolist() == [0, 3, 3, 5, 6] and seven.num_classes == 7
    valid = load_dataset("cmu-mosei", root=root, test_split="valid")
    assert len(valid.test) == 3
    assert splits.encoders["text"] == ("gru", {"hidden": 512})
    normed = load_dataset("cmu-mosei", root=root, z_norm=True)
    assert abs(float(normed.train.inputs["vision"].mean(dim=1).abs().max())) < 1e-5


def test_ur_funny(tmp_path: Path) -> None:
    splits = load_dataset("ur-funny", root=write_fixture("ur-funny", tmp_path))
    assert splits.input_shapes == {"vision": (5, 371), "audio": (5, 81), "text": (5, 300)}
    assert splits.train.labels.tolist() == [0, 0, 1, 0, 1]
    assert (len(splits.train), len(splits.test), splits.num_classes) == (5, 4, 2)


def test_affect_errors_name_the_file(tmp_path: Path) -> None:
    root = write_fixture("ur-funny", tmp_path)
    data = pickle.loads((root / "humor.pkl").read_bytes())
    data["train"]["labels"] = np.full(6, 2)
    write_pickle(root / "humor.pkl", data)
    with pytest.raises(ValueError, match=r"humor\.pkl.*'train'.*0 or 1"):
        load_dataset("ur-funny", root=root)
    del data["valid"]
    write_pickle(root / "humor.pkl", data)
    with pytest.raises(ValueError, match=r"humor\.pkl.*no 'valid' split"):
        load_dataset("ur-funny", root=root)
    data["valid"] = {"vision": np.zeros((2, 5)), "audio": None, "text": None, "labels": None}
    data["train"]["text"] = np.zeros((6, 5))
    write_pickle(root / "humor.pkl", data)
    with pytest.raises(ValueError, match=r"humor\.pkl.*'text' must be a numeric \(N, T, F\)"):
        load_dataset("ur-funny", root=root)
    (root / "humor.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"cannot unpickle.*humor\.pkl"):
        load_dataset("ur-funny", root=root)
    (root / "humor.pkl").unlink()
    with pytest.raises(FileNotFoundError, match=r"humor\.pkl"):
        load_dataset("ur-funny", root=root)
    with pytest.raises(FileNotFoundError, match=r"mosei_senti_data\.pkl.*mosei_raw\.pkl"):
        load_dataset("cmu-mosei", root=root)
