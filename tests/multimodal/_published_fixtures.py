"""Fixture writers shared by the published-dataset tests (test_clips, test_av_mnist,
test_affect, test_audio, test_published).

Each fixture is fabricated here, in the layout the reference code reads (OGM-GE, MMPareto,
MultiBench), with a handful of samples and small shapes. Frames are written as JPEG with
Pillow; the clip-dataset tests are skipped when Pillow is missing (its ImportError is tested).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
wavfile = pytest.importorskip("scipy.io.wavfile")

NAMES = ("crema-d", "ave", "kinetics-sounds", "vggsound", "av-mnist", "cmu-mosei", "ur-funny")
SMALL = {"image_size": 12}  # small frames keep the clip datasets fast


def pil() -> Any:
    """Pillow's ``PIL.Image``, or skip the test."""
    return pytest.importorskip("PIL.Image")


# ------------------------------------------------------------------ fixture writers


def write_frames(folder: Path, names: list[str], seed: int) -> None:
    image = pil()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 256, size=(10, 14, 3), dtype=np.uint8)
        image.fromarray(pixels).save(folder / name, quality=90)


def write_wav(path: Path, seconds: float, rate: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    wavfile.write(path, rate, (rng.standard_normal(int(seconds * rate)) * 3000).astype(np.int16))


def write_pickle(path: Path, value: Any) -> None:
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
        write_wav(root / "AudioWAV" / f"{clip}.wav", 0.4 + 0.1 * i, 16000, i)
        write_frames(root / "Image-01-FPS" / clip, ["00000.jpg", "00030.jpg", "00060.jpg"], i)


def crema_d_mmpareto(root: Path) -> None:
    """MMPareto's CREMA-D: the same lists, audio/<clip>.pt filter banks, visual/ frames."""
    for split, rows in (("train", CREMA_TRAIN), ("test", CREMA_TEST)):
        (root / f"{split}.csv").write_text("".join(f"{c},{e}\n" for c, e in rows))
    (root / "audio").mkdir(parents=True)
    for i, (clip, _) in enumerate(CREMA_TRAIN + CREMA_TEST):
        torch.save(torch.randn(20, 8), root / "audio" / f"{clip}.pt")
        write_frames(root / "visual" / clip, [f"frame_{k:05d}.jpg" for k in (1, 2, 3)], i)


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
        write_pickle(root / "audio_spec" / f"{clip}.pkl", rng.standard_normal((9, 13)))
        write_frames(root / "visual" / clip, [f"frame_{k:05d}.jpg" for k in range(1, 11)], i)


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
            names = [f"frame_{k:05d}.jpg" for k in range(1, 5)]
            write_frames(root / "visual" / clip, names, 10 * i + j)


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
        write_wav(root / f"{split}-audios" / f"{split}-set" / f"{stem}.wav", 0.3, 8000, i)
        img = root / f"{split}-videos" / f"{split}-set-img" / "Image-01-FPS" / folder
        write_frames(img, [f"{k:05d}.jpg" for k in (0, 25, 50, 75)], i)


# ------------------------------------------------------------------ real annotation lines

FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""Real annotation lines of the published files (sources in fixtures/README.md)."""


def real_lines(relative: str) -> list[str]:
    """The lines of ``fixtures/<relative>``, verbatim."""
    return (FIXTURES / relative).read_text(encoding="utf-8").splitlines()


def stand_in_clip(audio: Path, folder: Path, seed: int, frames: int = 4) -> None:
    """A stand-in clip: ``audio`` by its suffix (a short .wav, or a small 2-D array in a .pkl,
    .npy or .pt file) and ``frames`` JPEG frames ``frame_00001.jpg ...`` in ``folder``."""
    suffix = audio.suffix
    audio.parent.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(seed).standard_normal((9, 13))
    if suffix == ".wav":
        write_wav(audio, 0.2, 8000, seed)
    elif suffix == ".pkl":
        write_pickle(audio, array)
    elif suffix == ".npy":
        np.save(audio, array)
    else:
        torch.save(torch.from_numpy(array).float(), audio)
    write_frames(folder, [f"frame_{k:05d}.jpg" for k in range(1, frames + 1)], seed)


def crema_d_real(
    root: Path, *, release: str = "later", layout: str = "ogm-ge", fps: int = 1
) -> None:
    """CREMA-D with real list lines: ``release="later"``: the MMPareto authors' later
    train.csv / test.csv (``name,label`` header); ``"ogm-ge"``: OGM-GE's test.csv (no header)
    and, as OGM-GE publishes no train.csv, the later train.csv without its header line.
    ``layout``: ``"ogm-ge"`` (AudioWAV/*.wav, Image-{fps:02d}-FPS/) or ``"mmpareto"``
    (audio/*.pt, visual/)."""
    pil()
    root.mkdir(parents=True, exist_ok=True)
    train = real_lines("crema-d/train.csv")
    test = real_lines("crema-d/test.csv" if release == "later" else "crema-d/ogm-ge/test.csv")
    if release != "later":
        train = train[1:]
    for split, lines in (("train", train), ("test", test)):
        (root / f"{split}.csv").write_text("".join(f"{line}\n" for line in lines))
    clips = [line.split(",")[0] for line in train + test if not line.startswith("name,")]
    for i, clip in enumerate(dict.fromkeys(clips)):
        if layout == "ogm-ge":
            audio, folder = root / "AudioWAV" / f"{clip}.wav", root / f"Image-{fps:02d}-FPS" / clip
        else:
            audio, folder = root / "audio" / f"{clip}.pt", root / "visual" / clip
        stand_in_clip(audio, folder, i, frames=2)


AVE_ROWS = "ave/Annotations.txt"
AVE_EDGE_ROWS = "ave/Annotations_edge_cases.txt"
AVE_HEADER = "Category&VideoID&Quality&StartTime&EndTime"


def ave_real(root: Path, *, lists: str = "ampersand", stat: bool = True) -> None:
    """AVE with the real rows of AVE-ECCV18's data/Annotations.txt (one per class) as the
    training list and its edge cases (a zero-length event, a video with two events) as the
    test list. ``lists``: ``"ampersand"`` (my_train.txt / my_test.txt hold the rows as they
    are), ``"csv"`` (OGM-GE's ``<event>,<clip>`` made from them, commas unquoted),
    ``"own"`` (AVE's trainSet.txt / testSet.txt: the rows after the header line).
    ``stat``: write stat.txt, the 28 event names one per line, in file order."""
    pil()
    root.mkdir(parents=True, exist_ok=True)
    train, test = real_lines(AVE_ROWS), real_lines(AVE_EDGE_ROWS)
    if stat:
        (root / "stat.txt").write_text("".join(f"{r.split('&')[0]}\n" for r in train))
    files = ("trainSet.txt", "testSet.txt") if lists == "own" else ("my_train.txt", "my_test.txt")
    for file, rows in zip(files, (train, test), strict=True):
        if lists == "csv":
            lines = [",".join(r.split("&")[:2]) for r in rows]
        elif lists == "own":
            lines = [AVE_HEADER, *rows]
        else:
            lines = rows
        (root / file).write_text("".join(f"{line}\n" for line in lines))
    for i, row in enumerate(train + test):
        clip = row.split("&")[1]
        stand_in_clip(root / "audio_spec" / f"{clip}.pkl", root / "visual" / clip, i)


def kinetics_sounds_real(root: Path, *, audio_folder: str = "train_spec") -> None:
    """Kinetics-Sounds with OGM-GE's real data/KineticSound lists (``<clip>,10,<label>``) and
    stand-in .npy arrays in ``audio_folder`` (process_audio.py writes ``train_spec/``)."""
    pil()
    root.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        lines = real_lines(f"kinetics-sounds/ogm-ge/my_{split}.txt")
        (root / f"my_{split}.txt").write_text("".join(f"{line}\n" for line in lines))
        for i, line in enumerate(lines):
            clip = line.split(",")[0]
            stand_in_clip(root / audio_folder / f"{clip}.npy", root / "visual" / clip, i)


def vggsound_real(root: Path) -> list[list[str]]:
    """VGGSound with the real vggsound.csv lines (a third-party copy, see the README) and
    stand-in clips in OGM-GE's layout (4 frames each); returns the parsed csv rows."""
    import csv

    pil()
    root.mkdir(parents=True, exist_ok=True)
    lines = real_lines("vggsound/vggsound.csv")
    (root / "vggsound.csv").write_text("".join(f"{line}\n" for line in lines))
    rows = list(csv.reader(lines))
    for i, (ytid, start, _, split) in enumerate(rows):
        stem = f"{ytid}_{start}"
        folder = root / f"{split}-videos" / f"{split}-set-img" / "Image-01-FPS" / f"{stem}.mp4"
        stand_in_clip(root / f"{split}-audios" / f"{split}-set" / f"{stem}.wav", folder, i)
    return rows


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
    write_pickle(
        root / "mosei_senti_data.pkl",
        _affect((35, 74, 300), lambda n: scores[:n].reshape(n, 1, 1).astype(np.float32)),
    )


def ur_funny(root: Path) -> None:
    """MultiBench's humor.pkl: (N, T, 371/81/300) and 0 / 1 labels."""
    write_pickle(root / "humor.pkl", _affect((371, 81, 300), lambda n: np.arange(n) % 2))


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


def write_fixture(name: str, root: Path) -> Path:
    """Write dataset ``name``'s fixture under ``root`` (skipping without Pillow for the clip
    sets) and return ``root``."""
    if name in CLIPS:
        pil()
    WRITERS[name](root)
    return root


def cmu_mosei_noalign(root: Path) -> None:
    """BalanceBenchmark's default file name, mosei_senti_data_noalign.pkl: the cmu-mosei
    fixture's arrays, with vision and audio 8 steps long (text stays 5), each front-padded by
    its own number of zero steps (test_affect's unaligned z_norm case)."""
    scores = np.array([-2.6, -0.4, 0.0, 0.3, 1.6, 3.0, -3.0, 2.2])
    data = _affect((35, 74, 300), lambda n: scores[:n].reshape(n, 1, 1).astype(np.float32))
    rng = np.random.default_rng(4)
    for part in data.values():
        n = part["text"].shape[0]
        for m, f, pad in (("vision", 35, 3), ("audio", 74, 1)):
            part[m] = rng.standard_normal((n, 8, f)).astype(np.float32)
            part[m][:, :pad] = 0.0
    write_pickle(root / "mosei_senti_data_noalign.pkl", data)
