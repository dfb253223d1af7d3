"""Tests of moo_multimodal.data.av_mnist: MultiBench's AV-MNIST on a tiny fixture written in
its format (``_published_fixtures.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import TensorDataset, av_mnist, load_dataset  # noqa: E402
from tests.multimodal._published_fixtures import write_fixture  # noqa: E402


def test_av_mnist(tmp_path: Path) -> None:
    splits = load_dataset("av-mnist", root=write_fixture("av-mnist", tmp_path), n_valid=2)
    assert isinstance(splits.train, av_mnist.AVMNIST)
    assert isinstance(splits.train, TensorDataset)
    assert splits.modalities == ("image", "audio")
    assert splits.input_shapes == {"image": (1, 28, 28), "audio": (1, 112, 112)}
    assert (len(splits.train), len(splits.test), splits.num_classes) == (4, 4, 10)
    raw = np.load(tmp_path / "image" / "train_data.npy")
    assert torch.allclose(
        splits.train.inputs["image"][1, 0], torch.from_numpy(raw[1] / 255.0).reshape(28, 28).float()
    )
    valid = load_dataset("av-mnist", root=tmp_path, n_valid=2, test_split="valid")
    assert valid.test.labels.tolist() == [4, 5]
    assert valid.valid is None  # the validation split is the test split here
    assert splits.valid is not None and splits.valid.labels.tolist() == [4, 5]
    assert load_dataset("av-mnist", root=tmp_path, n_valid=0).valid is None
    assert splits.encoders["image"] == ("cnn", {"channels": (6, 12, 24, 48)})


def test_av_mnist_errors_name_the_file(tmp_path: Path) -> None:
    root = write_fixture("av-mnist", tmp_path)
    with pytest.raises(ValueError, match="n_valid must be below the 6 samples"):
        load_dataset("av-mnist", root=root)
    np.save(root / "audio" / "test_data.npy", np.zeros((4, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=r"audio/test_data\.npy.*\(N, 112, 112\)"):
        load_dataset("av-mnist", root=root, n_valid=2)
    (root / "audio" / "test_data.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"test_data\.npy"):
        load_dataset("av-mnist", root=root, n_valid=2)
    (root / "train_labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"train_labels\.npy"):
        load_dataset("av-mnist", root=root, n_valid=2)
