"""Tests of moo_multimodal.data.affect: MultiBench's CMU-MOSEI and UR-FUNNY pickles on tiny
fixtures written in their format (``_published_fixtures.py``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import affect, load_dataset  # noqa: E402
from tests.multimodal._published_fixtures import (  # noqa: E402
    cmu_mosei_noalign,
    write_fixture,
    write_pickle,
)


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
    assert valid.valid is None and splits.valid is not None and len(splits.valid) == 3
    assert splits.encoders["text"] == ("gru", {"hidden": 512})
    normed = load_dataset("cmu-mosei", root=root, z_norm=True)
    assert abs(float(normed.train.inputs["vision"].mean(dim=1).abs().max())) < 1e-5


def test_z_norm_matches_multibench_by_hand() -> None:
    """MultiBench's Affectdataset(z_norm=True): per sample, after trimming the leading padding
    (from the first non-zero text step, for all modalities), per feature, unbiased std."""
    text = np.zeros((2, 5, 2), dtype=np.float32)
    text[0, 2:] = [[1, 5], [2, 5], [6, 5]]  # two padding steps; feature 1 constant
    text[1, 4] = [7, 8]  # one step left after the padding
    vision = np.zeros((2, 5, 2), dtype=np.float32)
    vision[0, :, 0] = [9, 0, 2, 4, 6]  # 9 sits in text's padding: trimmed, not counted
    vision[0, 2:, 1] = 0.1  # constant (and 0.1 is inexact in binary)
    vision[1, :, 0] = [1, 2, 3, 4, 5]
    audio = np.zeros((2, 5, 1), dtype=np.float32)
    audio[0, 3:, 0] = 3.0  # audio's own padding is longer: the text start (2) still rules
    audio[1, 4, 0] = 1.0
    data = {"vision": vision, "audio": audio, "text": text, "labels": np.array([0.5, -0.5])}

    normed = affect.MultiBenchAffect(data, z_norm=True).inputs
    r7, r3 = np.sqrt(7.0), np.sqrt(3.0)
    # text feature 0: 1, 2, 6 -> mean 3, deviations -2, -1, 3, sum of squares 14, ddof 1: 14 / 2
    want_text = np.zeros((2, 5, 2))
    want_text[0, 2:, 0] = [-2 / r7, -1 / r7, 3 / r7]
    # vision feature 0: 2, 4, 6 -> mean 4, deviations -2, 0, 2, variance 8 / 2 = 4
    want_vision = np.zeros((2, 5, 2))
    want_vision[0, 2:, 0] = [-1.0, 0.0, 1.0]
    # audio: 0, 3, 3 -> mean 2, deviations -2, 1, 1, variance 6 / 2 = 3
    want_audio = np.zeros((2, 5, 1))
    want_audio[0, 2:, 0] = [-2 / r3, 1 / r3, 1 / r3]
    np.testing.assert_allclose(normed["text"].numpy(), want_text, atol=1e-6)
    np.testing.assert_allclose(normed["vision"].numpy(), want_vision, atol=1e-6)
    np.testing.assert_allclose(normed["audio"].numpy(), want_audio, atol=1e-6)
    # ddof 0 over the padded steps (the old behaviour) would give other numbers
    assert abs(float(normed["text"][0, 2, 0]) - (-2 / np.sqrt(14 / 3))) > 0.1
    # off by default, as MultiBench: the stored values are kept
    plain = affect.MultiBenchAffect(data).inputs
    np.testing.assert_array_equal(plain["vision"].numpy(), vision)


def test_cmu_mosei_file_names_and_unaligned_z_norm(tmp_path: Path) -> None:
    cmu_mosei_noalign(tmp_path)
    splits = load_dataset("cmu-mosei", root=tmp_path)
    assert "mosei_senti_data_noalign.pkl" in splits.description
    assert splits.input_shapes == {"vision": (8, 35), "audio": (8, 74), "text": (5, 300)}
    assert splits.train.labels.tolist() == [0, 0, 1, 1, 1]
    # z_norm: a modality longer than text starts at its own first non-zero step
    raw = pickle.loads((tmp_path / "mosei_senti_data_noalign.pkl").read_bytes())["train"]
    normed = load_dataset("cmu-mosei", root=tmp_path, z_norm=True).train.inputs
    vision = np.delete(raw["vision"], 1, axis=0).astype(np.float64)  # sample 1: empty text
    body = vision[:, 3:]
    want = np.zeros_like(vision)
    want[:, 3:] = (body - body.mean(axis=1, keepdims=True)) / body.std(
        axis=1, ddof=1, keepdims=True
    )
    np.testing.assert_allclose(normed["vision"].numpy(), want, atol=1e-5)
    text = np.delete(raw["text"], 1, axis=0).astype(np.float64)[:, 2:]
    want_text = (text - text.mean(axis=1, keepdims=True)) / text.std(axis=1, ddof=1, keepdims=True)
    np.testing.assert_allclose(normed["text"].numpy()[:, 2:], want_text, atol=1e-5)
    assert float(normed["text"][:, :2].abs().max()) == 0.0
    # precedence: mosei_senti_data.pkl, then mosei_raw.pkl, then the _noalign file
    write_fixture("cmu-mosei", tmp_path)
    first = load_dataset("cmu-mosei", root=tmp_path)
    assert first.input_shapes["vision"] == (5, 35)
    assert "mosei_senti_data.pkl'" in first.description
    (tmp_path / "mosei_senti_data.pkl").rename(tmp_path / "mosei_raw.pkl")
    assert "mosei_raw.pkl" in load_dataset("cmu-mosei", root=tmp_path).description


def test_ur_funny_label_conventions_and_file_names(tmp_path: Path) -> None:
    root = write_fixture("ur-funny", tmp_path)
    data = pickle.loads((root / "humor.pkl").read_bytes())
    signed = {**data, "train": {**data["train"], "labels": data["train"]["labels"] * 2 - 1}}
    assert set(signed["train"]["labels"].tolist()) == {-1, 1}
    write_pickle(root / "humor_data.pkl", signed)
    # humor.pkl first, then humor_data.pkl
    assert "humor.pkl" in load_dataset("ur-funny", root=root).description
    (root / "humor.pkl").unlink()
    splits = load_dataset("ur-funny", root=root)
    assert "humor_data.pkl" in splits.description
    assert splits.train.labels.tolist() == [0, 0, 1, 0, 1]  # -1 -> 0, as the 0 / 1 fixture
    column = {**signed, "train": {**signed["train"]}}
    column["train"]["labels"] = signed["train"]["labels"].reshape(-1, 1).astype(np.float32)
    write_pickle(root / "humor_data.pkl", column)
    assert load_dataset("ur-funny", root=root).train.labels.tolist() == [0, 0, 1, 0, 1]
    column["train"]["labels"][0] = 0.0  # 0 and -1 in one split: ambiguous
    write_pickle(root / "humor_data.pkl", column)
    with pytest.raises(ValueError, match=r"humor_data\.pkl.*'train'.*mix 0 and -1"):
        load_dataset("ur-funny", root=root)


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
    with pytest.raises(FileNotFoundError, match=r"humor\.pkl.*humor_data\.pkl.*this order"):
        load_dataset("ur-funny", root=root)
    with pytest.raises(
        FileNotFoundError,
        match=r"mosei_senti_data\.pkl.*mosei_raw\.pkl.*mosei_senti_data_noalign\.pkl.*this order",
    ):
        load_dataset("cmu-mosei", root=root)
