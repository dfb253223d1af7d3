"""Tests of moo_multimodal.data.published: every loader on a tiny fixture written in its format.

Each fixture is fabricated here, in the layout the reference code reads (OGM-GE, MMPareto,
MultiBench), with a handful of samples and small shapes. Frames are written as JPEG with
Pillow; the clip-dataset tests are skipped when Pillow is missing (its ImportError is tested).
"""

from __future__ import annotations

import pickle
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
wavfile = pytest.importorskip("scipy.io.wavfile")

from moo_multimodal.data import (  # noqa: E402
    DatasetSplits,
    TensorDataset,
    available_datasets,
    iterate_batches,
    load_dataset,
    published,
)
from moo_multimodal.models import make_encoder  # noqa: E402
from moo_multimodal.training import TrainConfig, train  # noqa: E402

NAMES = ("crema-d", "ave", "kinetics-sounds", "vggsound", "av-mnist", "cmu-mosei", "ur-funny")
SMALL = {"image_size": 12}  # small frames keep the clip datasets fast


def _pil() -> Any:
    return pytest.importorskip("PIL.Image")


# ------------------------------------------------------------------ fixture writers


def _frames(folder: Path, names: list[str], seed: int) -> None:
    image = _pil()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
        image.fromarray(pixels).save(folder / name, quality=90)


def _wav(path: Path, seconds: float, rate: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    wavfile.write(path, rate, (rng.standard_normal(int(seconds * rate)) * 3000).astype(np.int16))


def _pickle(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(value, fh)


CREMA_TRAIN = [
    ("1001_DFA_ANG_XX", "ANG"),
    ("1002_IEO_HAP_HI", "HAP"),
    ("1003_ITS_NEU_XX", "NEU"),
    ("1004_TIE_SAD_XX", "SAD"),
]
CREMA_TEST = [("1005_MTI_FEA_XX", "FEA"), ("1006_WSI_DIS_XX", "DIS")]


def crema_d(root: Path) -> None:
    """OGM-GE's CREMA-D: csv lists, AudioWAV/*.wav (16 kHz, as CREMA-D), Image-01-FPS frames
    named as OGM-GE's 1-fps extraction (``{frame index:05d}.jpg``)."""
    for split, rows in (("train", CREMA_TRAIN), ("test", CREMA_TEST)):
        (root / f"{split}.csv").write_text("".join(f"{c},{e}\n" for c, e in rows))
    for i, (clip, _) in enumerate(CREMA_TRAIN + CREMA_TEST):
        _wav(root / "AudioWAV" / f"{clip}.wav", 0.4 + 0.1 * i, 16000, i)
        _frames(root / "Image-01-FPS" / clip, ["00000.jpg", "00030.jpg", "00060.jpg"], i)


def crema_d_mmpareto(root: Path) -> None:
    """MMPareto's CREMA-D: the same lists, audio/<clip>.pt filter banks, visual/ frames."""
    for split, rows in (("train", CREMA_TRAIN), ("test", CREMA_TEST)):
        (root / f"{split}.csv").write_text("".join(f"{c},{e}\n" for c, e in rows))
    (root / "audio").mkdir(parents=True)
    for i, (clip, _) in enumerate(CREMA_TRAIN + CREMA_TEST):
        torch.save(torch.randn(20, 8), root / "audio" / f"{clip}.pt")
        _frames(root / "visual" / clip, [f"frame_{k:05d}.jpg" for k in (1, 2, 3)], i)


AVE_CLASSES = [f"Event {k:02d}" for k in range(28)]


def ave(root: Path) -> None:
    """OGM-GE's AVE: stat.txt, my_train.txt ('<event>,<clip>', one clip listed twice),
    my_test.txt in AVE's own '&' format, audio_spec/*.pkl, 10 frames per clip."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "stat.txt").write_text("".join(f"{c}\n" for c in reversed(AVE_CLASSES)))
    train = [("Event 03", "vidA"), ("Event 07", "vidB"), ("Event 01", "vidC"), ("Event 00", "vidA")]
    (root / "my_train.txt").write_text("".join(f"{c},{v}\n" for c, v in train))
    (root / "my_test.txt").write_text("Event 27&vidD&good&0&10\nEvent 03&vidE&good&0&10\n")
    rng = np.random.default_rng(0)
    for i, clip in enumerate(("vidA", "vidB", "vidC", "vidD", "vidE")):
        _pickle(root / "audio_spec" / f"{clip}.pkl", rng.standard_normal((9, 13)))
        _frames(root / "visual" / clip, [f"frame_{k:05d}.jpg" for k in range(1, 11)], i)


def kinetics_sounds(root: Path) -> None:
    """OGM-GE's data/KineticSound lists ('<clip>,10,<label index>', no stat.txt) with the
    .npy filter banks of its process_audio.py."""
    root.mkdir(parents=True, exist_ok=True)
    clips = {
        "train": [
            ("--4-0ihtnBU_000058_000068", 4),
            ("-00nar1nEPc_000033_000043", 30),
            ("-1IlTIWPNs4_000027_000037", 0),
        ],
        "test": [("-239HZbaZ0M_000164_000174", 25), ("-24HxQDHOAM_000001_000011", 6)],
    }
    rng = np.random.default_rng(1)
    for i, (split, rows) in enumerate(clips.items()):
        (root / f"my_{split}.txt").write_text("".join(f"{c},10,{y}\n" for c, y in rows))
        for j, (clip, _) in enumerate(rows):
            (root / "audio_spec").mkdir(exist_ok=True)
            np.save(root / "audio_spec" / f"{clip}.npy", rng.standard_normal((16, 6)))
            _frames(root / "visual" / clip, [f"frame_{k:05d}.jpg" for k in range(1, 5)], 10 * i + j)


VGG_ROWS = [
    ("---g-f_I2yQ", "1", "people marching", "train"),
    ("--0PQM4-hqg", "30", "dog barking, growling", "train"),
    ("--56QUhyDQM", "185", "people marching", "train"),
    ("-0BKyt8iZ1I", "40", "dog barking, growling", "test"),
    ("-0Gj8-vB1q4", "30", "playing cello", "test"),
]


def vggsound(root: Path) -> None:
    """OGM-GE's VGGSound: vggsound.csv (a quoted label with a comma), <split>-audios wavs and
    Image-01-FPS/<id>_<start>.mp4/ frame folders (one clip zero-padded, one without .mp4)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "vggsound.csv").write_text(
        "".join(f'{y},{s},"{lab}",{sp}\n' for y, s, lab, sp in VGG_ROWS)
    )
    for i, (ytid, start, _, split) in enumerate(VGG_ROWS):
        stem = f"{ytid}_{int(start):06d}" if i == 1 else f"{ytid}_{start}"
        folder = f"{stem}.mp4" if i != 2 else stem
        _wav(root / f"{split}-audios" / f"{split}-set" / f"{stem}.wav", 0.3, 8000, i)
        img = root / f"{split}-videos" / f"{split}-set-img" / "Image-01-FPS" / folder
        _frames(img, [f"{k:05d}.jpg" for k in (0, 25, 50, 75)], i)


def av_mnist(root: Path) -> None:
    """MultiBench's AV-MNIST: image (N, 784) and audio (N, 112, 112) in 0..255, labels."""
    rng = np.random.default_rng(2)
    for split, n in (("train", 6), ("test", 4)):
        for mod, shape in (("image", (n, 784)), ("audio", (n, 112, 112))):
            (root / mod).mkdir(parents=True, exist_ok=True)
            np.save(root / mod / f"{split}_data.npy", rng.uniform(0, 255, shape).astype(np.float32))
        np.save(root / f"{split}_labels.npy", np.arange(n) % 10)


def _affect(dims: tuple[int, int, int], labels: Callable[[int], np.ndarray]) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    data: dict[str, Any] = {}
    for split, n in (("train", 6), ("valid", 3), ("test", 4)):
        part = {
            m: rng.standard_normal((n, 5, f)).astype(np.float32)
            for m, f in zip(("vision", "audio", "text"), dims, strict=True)
        }
        part["text"][:, :2] = 0.0  # left zero padding, as the MulT / MultiBench arrays
        part["audio"][0, 0, 0] = -np.inf  # COVAREP's -inf, zeroed by the loader
        part["labels"] = labels(n)
        part["id"] = np.array([[f"vid{k}", str(k)] for k in range(n)])
        data[split] = part
    data["train"]["text"][1] = 0.0  # an empty transcript: dropped
    return data


def cmu_mosei(root: Path) -> None:
    """MultiBench's mosei_senti_data.pkl: (N, T, 35/74/300) and (N, 1, 1) scores."""
    scores = np.array([-2.6, -0.4, 0.0, 0.3, 1.6, 3.0, -3.0, 2.2])
    _pickle(
        root / "mosei_senti_data.pkl",
        _affect((35, 74, 300), lambda n: scores[:n].reshape(n, 1, 1).astype(np.float32)),
    )


def ur_funny(root: Path) -> None:
    """MultiBench's humor.pkl: (N, T, 371/81/300) and 0 / 1 labels."""
    _pickle(root / "humor.pkl", _affect((371, 81, 300), lambda n: np.arange(n) % 2))


WRITERS: dict[str, Callable[[Path], None]] = {
    "crema-d": crema_d,
    "ave": ave,
    "kinetics-sounds": kinetics_sounds,
    "vggsound": vggsound,
    "av-mnist": av_mnist,
    "cmu-mosei": cmu_mosei,
    "ur-funny": ur_funny,
}
OPTIONS: dict[str, dict[str, Any]] = {
    "crema-d": SMALL,
    "ave": SMALL,
    "kinetics-sounds": SMALL,
    "vggsound": SMALL,
    "av-mnist": {"n_valid": 2},
    "cmu-mosei": {},
    "ur-funny": {},
}
CLIPS = ("crema-d", "ave", "kinetics-sounds", "vggsound")


def _fixture(name: str, root: Path) -> Path:
    if name in CLIPS:
        _pil()
    WRITERS[name](root)
    return root


# ------------------------------------------------------------------ registry


def test_all_registered_with_layouts() -> None:
    infos = {info.name: info for info in available_datasets()}
    for name in NAMES:
        assert name in infos
        assert "<root>" in infos[name].layout
        assert infos[name].summary


@pytest.mark.parametrize("name", NAMES)
def test_missing_root_names_the_path(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(name, root=missing)
    with pytest.raises(FileNotFoundError, match="root=<folder>"):
        load_dataset(name)


# ------------------------------------------------------------------ clip datasets


def test_crema_d_reads_the_ogm_ge_layout(tmp_path: Path) -> None:
    splits = load_dataset("crema-d", root=_fixture("crema-d", tmp_path), **SMALL)
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
    _pil()
    crema_d_mmpareto(tmp_path)
    splits = load_dataset("crema-d", root=tmp_path, frames=2, image_size=8)
    assert splits.input_shapes == {"audio": (1, 20, 8), "visual": (3, 2, 8, 8)}
    assert "MMPareto" in splits.description
    batch, labels = next(iterate_batches(splits.train, 3))
    assert batch["visual"].shape == (3, 3, 2, 8, 8) and labels.tolist() == [5, 1, 0]


def test_ave_reads_lists_stat_and_pickled_spectrograms(tmp_path: Path) -> None:
    splits = load_dataset("ave", root=_fixture("ave", tmp_path), **SMALL)
    assert splits.num_classes == 28
    assert splits.input_shapes == {"audio": (1, 9, 13), "visual": (3, 3, 12, 12)}
    # vidA is listed twice: it keeps its last event and moves to the end (OGM-GE)
    train = splits.train
    assert isinstance(train, published.AudioVisualClips)
    assert [p.name for _, p, _ in train.clips] == ["vidB", "vidC", "vidA"]
    assert [int(train[i][1]) for i in range(3)] == [7, 1, 0]  # sorted event names
    assert [int(splits.test[i][1]) for i in range(2)] == [27, 3]
    spec = pickle.loads((tmp_path / "audio_spec" / "vidD.pkl").read_bytes())
    assert np.allclose(splits.test[0][0]["audio"][0].numpy(), spec)


def test_pick_frames_follows_ogm_ge() -> None:
    assert published._pick_frames(10, 3, None) == [0, 3, 6]  # frame_00001 / 4 / 7
    assert published._pick_frames(2, 3, None) == [0, 0, 1]
    rng = np.random.default_rng(0)
    picks = published._pick_frames(10, 3, rng)
    assert 0 <= picks[0] < 3 <= picks[1] < 6 <= picks[2] < 10


def test_kinetics_sounds_index_lists(tmp_path: Path) -> None:
    splits = load_dataset("kinetics-sounds", root=_fixture("kinetics-sounds", tmp_path), **SMALL)
    assert splits.num_classes == 31
    assert splits.input_shapes == {"audio": (1, 16, 6), "visual": (3, 3, 12, 12)}
    assert [int(splits.train[i][1]) for i in range(3)] == [4, 30, 0]


def test_kinetics_sounds_named_lists_with_stat(tmp_path: Path) -> None:
    _fixture("kinetics-sounds", tmp_path)
    (tmp_path / "stat.txt").write_text("playing drums\nbowling\nabseiling\n")
    (tmp_path / "my_train.txt").write_text("bowling,--4-0ihtnBU_000058_000068\n")
    (tmp_path / "my_test.txt").write_text("playing drums,-24HxQDHOAM_000001_000011\n")
    splits = load_dataset("kinetics-sounds", root=tmp_path, **SMALL)
    assert splits.num_classes == 3
    assert int(splits.train[0][1]) == 1 and int(splits.test[0][1]) == 2


def test_vggsound_reads_csv_and_name_variants(tmp_path: Path) -> None:
    splits = load_dataset("vggsound", root=_fixture("vggsound", tmp_path), **SMALL)
    assert splits.num_classes == 3  # the sorted labels of the csv
    assert splits.input_shapes == {"audio": (1, 129, 626), "visual": (3, 3, 12, 12)}
    assert [int(splits.train[i][1]) for i in range(3)] == [1, 0, 1]
    assert [int(splits.test[i][1]) for i in range(2)] == [0, 2]
    # test clips use the window at 0 s (deterministic); training windows a random start
    assert torch.equal(splits.test[1][0]["audio"], splits.test[1][0]["audio"])
    assert splits.train[0][0]["audio"].shape == (1, 129, 626)


def test_missing_skip_drops_clips(tmp_path: Path) -> None:
    _fixture("vggsound", tmp_path)
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
    root = _fixture(name, tmp_path)
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
    root = _fixture("ave", tmp_path)
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
    root = _fixture("ave", tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_dataset("ave", root=root)


def test_wav_spectrogram_matches_torch_stft(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    _wav(path, 4.0, 22050, 0)
    spec = published._wav_spectrogram(path, published.CREMA_D_WAV, None)
    rate, raw = wavfile.read(path)
    x = torch.from_numpy(np.clip(raw[: 3 * rate] / 32768.0, -1, 1))
    window = torch.hann_window(512, periodic=True, dtype=torch.float64)
    ref = torch.stft(
        x, 512, 353, window=window, center=True, pad_mode="reflect", return_complex=True
    ).abs()
    assert spec.shape == published.CREMA_D_WAV.shape == (257, 188)
    assert np.allclose(spec, np.log(ref.numpy() + 1e-7))


def test_audio_visual_clips_arguments(tmp_path: Path) -> None:
    root = _fixture("ave", tmp_path)
    clip = (root / "audio_spec" / "vidA.pkl", root / "visual" / "vidA", 0)
    data = published.AudioVisualClips([clip], num_classes=2, frames=2, image_size=6, train=True)
    inputs, label = data[0]
    assert inputs["visual"].shape == (3, 2, 6, 6) and int(label) == 0
    assert "AudioVisualClips" in repr(data)
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\), got 5"):
        published.AudioVisualClips([(*clip[:2], 5)], num_classes=2)
    with pytest.raises(ValueError, match="no clip to load"):
        published.AudioVisualClips([], num_classes=2)
    wav = root / "a.wav"
    _wav(wav, 0.1, 8000, 0)
    with pytest.raises(ValueError, match=r"not \.wav files"):
        published.AudioVisualClips([(wav, clip[1], 0)], num_classes=2)
    with pytest.raises(ValueError, match=r"WavSpectrogram\.hop_length must be >= 1"):
        published.WavSpectrogram(sample_rate=8000, seconds=1.0, n_fft=64, hop_length=0)


# ------------------------------------------------------------------ MultiBench


def test_av_mnist(tmp_path: Path) -> None:
    splits = load_dataset("av-mnist", root=_fixture("av-mnist", tmp_path), n_valid=2)
    assert isinstance(splits.train, published.AVMNIST)
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
    assert splits.encoders["image"] == ("cnn", {"channels": (6, 12, 24, 48)})


def test_av_mnist_errors_name_the_file(tmp_path: Path) -> None:
    root = _fixture("av-mnist", tmp_path)
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


def test_cmu_mosei_labels(tmp_path: Path) -> None:
    root = _fixture("cmu-mosei", tmp_path)
    splits = load_dataset("cmu-mosei", root=root)
    assert splits.modalities == ("vision", "audio", "text")
    assert splits.input_shapes == {"vision": (5, 35), "audio": (5, 74), "text": (5, 300)}
    assert isinstance(splits.train, published.MultiBenchAffect)
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
    splits = load_dataset("ur-funny", root=_fixture("ur-funny", tmp_path))
    assert splits.input_shapes == {"vision": (5, 371), "audio": (5, 81), "text": (5, 300)}
    assert splits.train.labels.tolist() == [0, 0, 1, 0, 1]
    assert (len(splits.train), len(splits.test), splits.num_classes) == (5, 4, 2)


def test_affect_errors_name_the_file(tmp_path: Path) -> None:
    root = _fixture("ur-funny", tmp_path)
    data = pickle.loads((root / "humor.pkl").read_bytes())
    data["train"]["labels"] = np.full(6, 2)
    _pickle(root / "humor.pkl", data)
    with pytest.raises(ValueError, match=r"humor\.pkl.*'train'.*0 or 1"):
        load_dataset("ur-funny", root=root)
    del data["valid"]
    _pickle(root / "humor.pkl", data)
    with pytest.raises(ValueError, match=r"humor\.pkl.*no 'valid' split"):
        load_dataset("ur-funny", root=root)
    data["valid"] = {"vision": np.zeros((2, 5)), "audio": None, "text": None, "labels": None}
    data["train"]["text"] = np.zeros((6, 5))
    _pickle(root / "humor.pkl", data)
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


# ------------------------------------------------------------------ encoders and training


@pytest.mark.parametrize("name", NAMES)
def test_recommended_encoders_accept_the_inputs(name: str, tmp_path: Path) -> None:
    splits = load_dataset(name, root=_fixture(name, tmp_path), **OPTIONS[name])
    batch, _ = next(iterate_batches(splits.test, 2))
    for m, (kind, options) in splits.encoders.items():
        encoder = make_encoder(kind, splits.input_shapes[m], **options).eval()
        with torch.no_grad():
            z = encoder(batch[m])
        assert z.shape == (2, encoder.out_features)


@pytest.mark.parametrize("name", NAMES)
def test_training_runs_on_each_fixture(name: str, tmp_path: Path) -> None:
    _fixture(name, tmp_path)
    config = TrainConfig(
        dataset=name,
        dataset_options=OPTIONS[name],
        root=str(tmp_path),
        method="joint",
        encoder="mlp",
        encoder_options={"hidden": (8,)},
        epochs=1,
        batch_size=2,
        probes=False,
        eval_batch_size=4,
    )
    splits = load_dataset(name, root=tmp_path, **OPTIONS[name])
    result = train(config, splits=splits)
    assert len(result.history) == 1
    assert 0.0 <= result.final["fusion_acc"] <= 1.0


def test_docs_show_every_registered_layout() -> None:
    """docs/datasets.md shows each published dataset's layout exactly as registered."""
    from pathlib import Path

    from moo_multimodal.data import available_datasets

    page = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    for info in available_datasets():
        if info.layout.startswith("generated"):
            continue
        assert f"`{info.name}`" in page, info.name
        if info.name != "av-digits":
            assert info.layout in page, f"docs/datasets.md: layout of {info.name} differs"
