"""One's own data from one ``.npz`` file (issue 18): the documented layout, read by
`load_dataset` and ``moo-mm train --dataset path.npz``, and clear errors naming the file and
the key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from moo_multimodal.cli import main
from moo_multimodal.data import load_dataset, load_npz


def _arrays(n: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    return {
        "audio": rng.normal(size=(n, 5, 4)).astype(np.float32) + labels[:, None, None],
        "video": rng.normal(size=(n, 6)) - labels[:, None],
        "labels": labels,
    }


def _write(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def test_an_npz_without_splits_holds_out_a_stratified_test_split(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.npz", **_arrays())
    splits = load_dataset(str(path), seed=3)
    assert splits.modalities == ("audio", "video") and splits.num_classes == 3
    assert splits.input_shapes == {"audio": (5, 4), "video": (6,)}
    assert (len(splits.train), len(splits.test)) == (48, 12)
    assert splits.test.labels.bincount().tolist() == [4, 4, 4]
    assert splits.valid is None
    assert splits.encoders == {"audio": ("gru", {}), "video": ("mlp", {})}
    again = load_dataset(str(path), seed=3)
    assert again.test.labels.tolist() == splits.test.labels.tolist()
    assert len(load_dataset(str(path), test_fraction=0.5).test) == 30
    # relative to --root
    assert len(load_dataset("mine.npz", root=tmp_path).train) == 48


def test_an_npz_with_split_indices(tmp_path: Path) -> None:
    arrays = _arrays()
    path = _write(
        tmp_path / "split.npz",
        **arrays,
        train_idx=np.arange(0, 40),
        valid_idx=np.arange(40, 50),
        test_idx=np.arange(50, 60),
    )
    splits = load_npz(path)
    assert (len(splits.train), len(splits.valid or []), len(splits.test)) == (40, 10, 10)
    assert splits.test.labels.tolist() == (np.arange(50, 60) % 3).tolist()
    # without train_idx: every sample in no other split
    path = _write(tmp_path / "part.npz", **arrays, test_idx=np.arange(50, 60))
    assert len(load_npz(path).train) == 50


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": None}, r"no 'labels' array"),
        ({"video": np.zeros((59, 6))}, r"modality 'video' has 59 samples .* 'labels' has 60"),
        ({"audio": np.full((60, 5, 4), np.nan)}, r"'audio' has non-finite values.*sample 0"),
        ({"labels": np.full(60, 0.5)}, r"'labels' must hold integer classes"),
        ({"labels": np.full(60, -1)}, r"'labels' must lie in"),
        ({"test_idx": np.array([0, 99])}, r"'test_idx' must lie in \[0, 60\)"),
        (
            {"train_idx": np.arange(10), "test_idx": np.arange(5, 15)},
            r"'train_idx' and 'test_idx' share sample 5",
        ),
        ({"audio": None, "video": None}, r"no modality array"),
        ({"video": np.array(["a"] * 60)}, r"modality 'video' must hold numbers"),
    ],
)
def test_bad_npz_files_are_named_with_the_key(tmp_path: Path, change, message) -> None:
    arrays = {**_arrays(), **change}
    path = _write(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(ValueError, match=message) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.npz' does not exist"):
        load_dataset(str(tmp_path / "nope.npz"))
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match=r"text\.npz' is not a readable \.npz archive"):
        load_dataset(str(tmp_path / "text.npz"))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_train'\]"):
        load_dataset(str(tmp_path / "text.npz"), n_train=3)


def test_moo_mm_trains_on_an_npz(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path / "mine.npz", **_arrays(), valid_idx=np.arange(0, 9))
    out = tmp_path / "run"
    argv = ["train", "--dataset", str(path), "--epochs", "1", "--method", "uniform"]
    argv += ["--quiet", "--no-probes", "--out", str(out)]
    assert main(argv) == 0
    assert "selected: epoch 1" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == str(path)
    assert "9 valid" in (out / "dataset.txt").read_text()
    assert "val/fusion_acc" in json.loads((out / "results.json").read_text())["selected"]
    assert main(["train", "--dataset", str(tmp_path / "nope.npz"), "--quiet"]) == 1
    assert "nope.npz' does not exist" in capsys.readouterr().err
