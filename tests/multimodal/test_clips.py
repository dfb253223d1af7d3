"""Tests of moo_multimodal.data.clips: the OGM-GE / MMPareto audio-visual clip sets (CREMA-D,
AVE, Kinetics-Sounds, VGGSound), each on a tiny fixture written in its format
(``_published_fixtures.py``), and `AudioVisualClips` itself.
"""

from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import (  # noqa: E402
    DatasetSplits,
    audio,
    clips,
    iterate_batches,
    load_dataset,
)
from tests.multimodal._published_fixtures import (  # noqa: E402
    CLIPS,
    CREMA_TRAIN,
    SMALL,
    crema_d_mmpareto,
    pil,
    write_fixture,
    write_wav,
)


def test_crema_d_reads_the_ogm_ge_layout(tmp_path: Path) -> None:
    splits = load_dataset("crema-d", root=write_fixture("crema-d", tmp_path), **SMALL)
    assert isinstance(splits, DatasetSplits)
    assert splits.modalities == ("audio", "visual")
    assert splits.num_classes == 6
    assert (len(splits.train), len(splits.test)) == (4, 2)
    assert splits.input_shapes == {"audio": (1, 257, 188), "visual": (3, 1, 12, 12)}
    assert splits.encoders == {"audio": ("resnet18", {}), "visual": ("resnet18", {})}
    inputs, label = splits.test[0]
    assert inputs["audio"].shape == (1, 257, 188) and inputs["audio"].dtype == torch.float32
    assert inputs["visual"].shape == (3, 1, 12, 12)
    assert label.dtype == torch.int64 and int(label) == 3  # FEA
    assert [int(splits.train[i][1]) for i in range(4)] == [5, 1, 0, 2]  # ANG HAP NEU SAD
    # test items are deterministic; frames are ImageNet-normalized
    again, _ = splits.test[0]
    assert torch.equal(inputs["visual"], again["visual"])
    assert torch.equal(inputs["audio"], again["audio"])
    assert -2.2 < float(inputs["visual"].min()) and float(inputs["visual"].max()) < 2.7


def test_crema_d_frames_option_and_mmpareto_layout(tmp_path: Path) -> None:
    pil()
    crema_d_mmpareto(tmp_path)
    splits = load_dataset("crema-d", root=tmp_path, frames=2, image_size=8)
    assert splits.input_shapes == {"audio": (1, 20, 8), "visual": (3, 2, 8, 8)}
    assert "MMPareto" in splits.description
    batch, labels = next(iterate_batches(splits.train, 3))
    assert batch["visual"].shape == (3, 3, 2, 8, 8) and labels.tolist() == [5, 1, 0]


def test_ave_reads_lists_stat_and_pickled_spectrograms(tmp_path: Path) -> None:
    splits = load_dataset("ave", root=write_fixture("ave", tmp_path), **SMALL)
    assert splits.num_classes == 28
    assert splits.input_shapes == {"audio": (1, 9, 13), "visual": (3, 3, 12, 12)}
    # vidA is listed twice: it keeps its last event and moves to the end (OGM-GE)
    train = splits.train
    assert isinstance(train, clips.AudioVisualClips)
    assert [p.name for _, p, _ in train.clips] == ["vidB", "vidC", "vidA"]
    assert [int(train[i][1]) for i in range(3)] == [7, 1, 0]  # sorted event names
    assert [int(splits.test[i][1]) for i in range(2)] == [27, 3]
    spec = pickle.loads((tmp_path / "audio_spec" / "vidD.pkl").read_bytes())
    assert np.allclose(splits.test[0][0]["audio"][0].numpy(), spec)


def test_pick_frames_follows_ogm_ge() -> None:
    assert clips._pick_frames(10, 3, None) == [0, 3, 6]  # frame_00001 / 4 / 7
    assert clips._pick_frames(2, 3, None) == [0, 0, 1]
    rng = np.random.default_rng(0)
    picks = clips._pick_frames(10, 3, rng)
    assert 0 <= picks[0] < 3 <= picks[1] < 6 <= picks[2] < 10


def test_kinetics_sounds_index_lists(tmp_path: Path) -> None:
    splits = load_dataset(
        "kinetics-sounds", root=write_fixture("kinetics-sounds", tmp_path), **SMALL
    )
    assert splits.num_classes == 31
    assert splits.input_shapes == {"audio": (1, 16, 6), "visual": (3, 3, 12, 12)}
    assert [int(splits.train[i][1]) for i in range(3)] == [4, 30, 0]


def test_kinetics_sounds_named_lists_with_stat(tmp_path: Path) -> None:
    write_fixture("kinetics-sounds", tmp_path)
    (tmp_path / "stat.txt").write_text("playing drums\nbowling\nabseiling\n")
    (tmp_path / "my_train.txt").write_text("bowling,--4-0ihtnBU_000058_000068\n")
    (tmp_path / "my_test.txt").write_text("playing drums,-24HxQDHOAM_000001_000011\n")
    splits = load_dataset("kinetics-sounds", root=tmp_path, **SMALL)
    assert splits.num_classes == 3
    assert int(splits.train[0][1]) == 1 and int(splits.test[0][1]) == 2


def test_vggsound_reads_csv_and_name_variants(tmp_path: Path) -> None:
    splits = load_dataset("vggsound", root=write_fixture("vggsound", tmp_path), **SMALL)
    assert splits.num_classes == 3  # the sorted labels of the csv
    assert splits.input_shapes == {"audio": (1, 129, 626), "visual": (3, 3, 12, 12)}
    assert [int(splits.train[i][1]) for i in range(3)] == [1, 0, 1]
    assert [int(splits.test[i][1]) for i in range(2)] == [0, 2]
    # test clips use the window at 0 s (deterministic); training windows a random start
    assert torch.equal(splits.test[1][0]["audio"], splits.test[1][0]["audio"])
    assert splits.train[0][0]["audio"].shape == (1, 129, 626)


def test_missing_skip_drops_clips(tmp_path: Path) -> None:
    write_fixture("vggsound", tmp_path)
    (tmp_path / "test-audios" / "test-set" / "-0Gj8-vB1q4_30.wav").unlink()
    with pytest.raises(FileNotFoundError, match=r"-0Gj8-vB1q4_30\.wav"):
        load_dataset("vggsound", root=tmp_path, **SMALL)
    splits = load_dataset("vggsound", root=tmp_path, missing="skip", **SMALL)
    assert len(splits.test) == 1 and "1 clip(s) skipped" in splits.description


def _first_clip_files(name: str, root: Path) -> tuple[Path, Path]:
    """(the first training clip's audio file, its frame folder) in each fixture."""
    if name == "crema-d":
        clip = CREMA_TRAIN[0][0]
        return root / "AudioWAV" / f"{clip}.wav", root / "Image-01-FPS" / clip
    if name == "ave":
        return root / "audio_spec" / "vidB.pkl", root / "visual" / "vidB"
    if name == "kinetics-sounds":
        clip = "--4-0ihtnBU_000058_000068"
        return root / "audio_spec" / f"{clip}.npy", root / "visual" / clip
    stem = "---g-f_I2yQ_1"
    img = root / "train-videos" / "train-set-img" / "Image-01-FPS" / f"{stem}.mp4"
    return root / "train-audios" / "train-set" / f"{stem}.wav", img


@pytest.mark.parametrize("name", CLIPS)
def test_clip_errors_name_the_file(name: str, tmp_path: Path) -> None:
    root = write_fixture(name, tmp_path)
    audio, folder = _first_clip_files(name, root)
    lists = {"crema-d": "train.csv", "vggsound": "vggsound.csv"}.get(name, "my_train.txt")
    # a malformed first audio file
    original = audio.read_bytes()
    audio.write_bytes(b"not audio at all")
    with pytest.raises(ValueError, match=re.escape(audio.name)):
        load_dataset(name, root=root, **SMALL)
    audio.write_bytes(original)
    # a corrupt frame
    frame = sorted(folder.iterdir())[0]
    pixels = frame.read_bytes()
    frame.write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=re.escape(frame.name)):
        load_dataset(name, root=root, **SMALL)
    frame.write_bytes(pixels)
    # a missing frame folder, then a missing audio file
    for child in folder.iterdir():
        child.unlink()
    with pytest.raises(FileNotFoundError, match="holds no image"):
        load_dataset(name, root=root, **SMALL)
    folder.rmdir()
    with pytest.raises(FileNotFoundError, match=re.escape(folder.name)):
        load_dataset(name, root=root, **SMALL)
    audio.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(audio.stem)):
        load_dataset(name, root=root, **SMALL)
    # a malformed, then a missing split list
    (root / lists).write_text("just-one-field\n")
    with pytest.raises(ValueError, match=re.escape(lists)):
        load_dataset(name, root=root, **SMALL)
    (root / lists).unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(lists)):
        load_dataset(name, root=root, **SMALL)


def test_clip_option_errors(tmp_path: Path) -> None:
    root = write_fixture("ave", tmp_path)
    with pytest.raises(ValueError, match="frames must be >= 1, got 0"):
        load_dataset("ave", root=root, frames=0)
    with pytest.raises(ValueError, match="missing must be one of"):
        load_dataset("ave", root=root, missing="ignore")
    with pytest.raises(ValueError, match="unknown option"):
        load_dataset("ave", root=root, fps=1)
    (root / "stat.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"stat\.txt"):
        load_dataset("ave", root=root)
    (root / "stat.txt").write_text("Event 03\n")
    with pytest.raises(ValueError, match=r"my_train\.txt.*line 2.*'Event 07'"):
        load_dataset("ave", root=root)


def test_pillow_missing_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_fixture("ave", tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_dataset("ave", root=root)


def test_audio_visual_clips_arguments(tmp_path: Path) -> None:
    root = write_fixture("ave", tmp_path)
    clip = (root / "audio_spec" / "vidA.pkl", root / "visual" / "vidA", 0)
    data = clips.AudioVisualClips([clip], num_classes=2, frames=2, image_size=6, train=True)
    inputs, label = data[0]
    assert inputs["visual"].shape == (3, 2, 6, 6) and int(label) == 0
    assert "AudioVisualClips" in repr(data)
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\), got 5"):
        clips.AudioVisualClips([(*clip[:2], 5)], num_classes=2)
    with pytest.raises(ValueError, match="no clip to load"):
        clips.AudioVisualClips([], num_classes=2)
    wav = root / "a.wav"
    write_wav(wav, 0.1, 8000, 0)
    with pytest.raises(ValueError, match=r"not \.wav files"):
        clips.AudioVisualClips([(wav, clip[1], 0)], num_classes=2)
    with pytest.raises(ValueError, match=r"WavSpectrogram\.hop_length must be >= 1"):
        audio.WavSpectrogram(sample_rate=8000, seconds=1.0, n_fft=64, hop_length=0)

