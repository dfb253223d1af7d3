"""The audio-visual clip sets of OGM-GE and MMPareto: CREMA-D, AVE, Kinetics-Sounds, VGGSound.

Nothing is downloaded: the data are read from ``root``, laid out as the reference repositories
expect (``moo-mm datasets`` prints each layout; the ``*_LAYOUT`` constants below hold them).
Every loader checks its files when it is called and fails on the *first* missing or malformed one
with the path and what was expected: the split lists are parsed, every clip's audio file and
frame folder must exist (the folder holding an image) and each split's first clip is decoded (a
later undecodable file fails when it is loaded, naming it).

Audio-visual clips (`AudioVisualClips`, items loaded lazily: the sets are tens of GB), the
layouts and protocols of OGM-GE (X. Peng, Y. Wei, A. Deng, D. Wang and D. Hu, "Balanced
Multimodal Learning via On-the-fly Gradient Modulation", CVPR 2022; github.com/GeWu-Lab/
OGM-GE_CVPR2022) and MMPareto (Y. Wei and D. Hu, "MMPareto: Boosting Multimodal Learning with
Innocent Unimodal Assistance", ICML 2024; github.com/GeWu-Lab/MMPareto_ICML2024):

- ``"crema-d"``: CREMA-D (H. Cao et al., "CREMA-D: Crowd-sourced Emotional Multimodal Actors
  Dataset", IEEE Trans. Affective Computing 2014), 6 emotions. OGM-GE's ``CramedDataset``:
  ``train.csv`` / ``test.csv`` rows ``<clip>,<EMO>`` with ``NEU HAP SAD FEA DIS ANG -> 0..5``;
  audio ``AudioWAV/<clip>.wav`` loaded at 22050 Hz, tiled to 3 s, clipped to [-1, 1],
  ``log(|STFT| + 1e-7)`` with ``n_fft = 512``, hop 353: a 257 x 188 spectrogram; frames from
  ``Image-01-FPS/<clip>/`` (1 frame per second), ``--fps 1`` frame per clip by default.
  MMPareto's variant (``audio/<clip>.pt`` filter banks, ``visual/<clip>/`` frames, 2 frames)
  is read too.
- ``"ave"``: AVE (Y. Tian, J. Shi, B. Li, Z. Duan and C. Xu, "Audio-Visual Event Localization
  in Unconstrained Videos", ECCV 2018), 28 events; ``"kinetics-sounds"``: Kinetics-Sounds
  (R. Arandjelović and A. Zisserman, "Look, Listen and Learn", ICCV 2017), 31 classes in
  OGM-GE. OGM-GE's ``AVDataset``: ``stat.txt`` (class names, sorted -> indices), ``my_train.txt``
  / ``my_test.txt`` rows ``<class>,<clip>``, pickled 257 x 1004 spectrograms
  ``audio_spec/<clip>.pkl`` (``pre-processing/obtain_audio_spectrogram.py``: 10 s tiled,
  ``scipy.signal.spectrogram(nperseg=512, noverlap=353)``, log, standardized), frames
  ``visual/<clip>/frame_00001.jpg ...`` (10 per clip at 1 fps); 3 frames per clip, the first of
  each third (frames 1, 4, 7 of 10).
- ``"vggsound"``: VGGSound (H. Chen, W. Xie, A. Vedaldi and A. Zisserman, "VGGSound: A
  Large-scale Audio-Visual Dataset", ICASSP 2020), 309 classes. OGM-GE's ``VGGSound``:
  ``vggsound.csv`` rows ``<youtube id>,<start s>,<label>,<train|test>``, audio
  ``<split>-audios/<split>-set/<id>_<start>.wav`` at 16 kHz, tiled to 10 s, a 5 s window
  starting at a random second in [0, 5], ``n_fft = 256``, hop 128: 129 x 626; frames
  ``<split>-videos/<split>-set-img/Image-01-FPS/<id>_<start>.mp4/``; 3 frames per clip.

Frames are resized to ``image_size`` (224 in the papers) and normalized with the ImageNet
mean and standard deviation; training clips get ``RandomResizedCrop`` and a horizontal flip
(as the references' torchvision transforms). A clip's ``frames`` frames are the first (test) or
a random (training) frame of each of ``frames`` equal segments of its sorted frame files.
Inputs: ``audio`` ``(1, F, T)``, ``visual`` ``(3, frames, image_size, image_size)``;
recommended encoders: ResNet-18 for both (OGM-GE's backbones). Decoding frames needs Pillow
(``pip install pillow``); ``.wav`` files are read with scipy, so librosa is not needed (its
resampler is replaced by ``scipy.signal.resample_poly`` and its ``stft`` by the same
centred, reflect-padded, periodic-Hann transform in numpy: `moo_multimodal.data.audio`).
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moo.validation import check_bool, check_choice, check_int
from moo_multimodal.data._dataset import Batch, DatasetSplits, MultimodalDataset
from moo_multimodal.data._files import (
    IMAGE_SUFFIXES,
    frame_files,
    has_frames,
    pil_image,
    read_rows,
)
from moo_multimodal.data._registry import register_dataset, require_root
from moo_multimodal.data.audio import WavSpectrogram, wav_spectrogram

__all__ = [
    "AVE_LAYOUT",
    "CREMA_D_CLASSES",
    "CREMA_D_LAYOUT",
    "CREMA_D_WAV",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KINETICS_SOUNDS_LAYOUT",
    "VGGSOUND_LAYOUT",
    "VGGSOUND_WAV",
    "AudioVisualClips",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
ARRAY_SUFFIXES: tuple[str, ...] = (".npy", ".pkl", ".pt")
MISSING_POLICIES: tuple[str, ...] = ("error", "skip")


# ----------------------------------------------------------------------------- audio arrays


def _load_array(path: Path) -> np.ndarray:
    """A 2-D spectrogram / filter-bank array from ``.npy``, ``.pkl`` (pickled array, OGM-GE)
    or ``.pt`` (a saved tensor, MMPareto)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            value: Any = np.load(path, allow_pickle=False)
        elif suffix == ".pkl":
            with open(path, "rb") as fh:
                value = pickle.load(fh)
        elif suffix == ".pt":
            value = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise ValueError(f"unsupported audio file type {suffix!r}")
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
    except Exception as err:  # any decoding failure names the file
        raise ValueError(f"cannot read audio array {str(path)!r}: {err}") from err
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"audio file {str(path)!r} must hold a 2-D numeric array (a spectrogram), "
            f"got dtype {array.dtype} and shape {array.shape}"
        )
    return array


# ----------------------------------------------------------------------------- frames


def _crop_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop`` box (scale (0.08, 1), ratio (3/4, 4/3))."""
    area = width * height
    log_lo, log_hi = math.log(3 / 4), math.log(4 / 3)
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return left, top, left + w, top + h
    ratio = width / height
    if ratio < 3 / 4:
        w, h = width, round(width / (3 / 4))
    elif ratio > 4 / 3:
        w, h = round(height * (4 / 3)), height
    else:
        w, h = width, height
    w, h = min(w, width), min(h, height)
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _load_frame(path: Path, size: int, rng: np.random.Generator | None) -> np.ndarray:
    """One frame as float32 ``(3, size, size)``, ImageNet-normalized; ``rng``: augment."""
    image_mod = pil_image()
    try:
        with image_mod.open(path) as img:
            rgb = img.convert("RGB")
    except Exception as err:  # PIL raises several types for broken files
        raise ValueError(f"cannot decode frame {str(path)!r}: {err}") from err
    bilinear = getattr(image_mod, "Resampling", image_mod).BILINEAR  # Pillow >= 9.1 names
    if rng is None:
        rgb = rgb.resize((size, size), bilinear)
    else:
        box = _crop_box(rgb.width, rgb.height, rng)
        rgb = rgb.resize((size, size), bilinear, box=box)
        if rng.random() < 0.5:
            rgb = rgb.transpose(getattr(image_mod, "Transpose", image_mod).FLIP_LEFT_RIGHT)
    array = np.asarray(rgb, dtype=np.float32) / 255.0
    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)
    std = np.asarray(IMAGENET_STD, dtype=np.float32)
    chw: np.ndarray = ((array - mean) / std).transpose(2, 0, 1)
    return chw


def _pick_frames(n: int, k: int, rng: np.random.Generator | None) -> list[int]:
    """``k`` indices into ``n`` sorted frames: split ``[0, n)`` into ``k`` equal segments and
    take each segment's first index (``rng`` None) or a random one. With 10 frames and
    ``k = 3`` that is frames 0, 3, 6 (OGM-GE's ``frame_00001/4/7.jpg``); ``n < k`` repeats."""
    picks = []
    for i in range(k):
        start = (i * n) // k
        stop = max(start + 1, ((i + 1) * n) // k)
        picks.append(start if rng is None else int(rng.integers(start, stop)))
    return picks


# ----------------------------------------------------------------------------- clips


class AudioVisualClips(MultimodalDataset):
    """Audio-visual clips read lazily from disk: one audio file and one frame folder per clip.

    A sample is ``({"audio": (1, F, T), "visual": (3, frames, image_size, image_size)},
    label)``. Audio files are ``.wav`` (turned into spectrograms by ``wav``), or ``.npy``,
    ``.pkl`` or ``.pt`` files holding a 2-D array used as stored. Frames are the image files
    (``.jpg``, ``.jpeg``, ``.png``) of the clip's folder in natural name order; see the module
    docstring for the selection and the transforms.

    At construction every clip's audio file and frame folder (with at least one image) is
    checked, and the first clip is decoded to fix the input shapes; a later audio file of
    another shape, or an undecodable file, raises ``ValueError`` naming it when loaded.

    Args:
        clips: ``(audio file, frame folder, label)`` per clip.
        num_classes: ``C``; labels must lie in ``[0, C)``.
        frames: frames per clip (``T`` of the visual input).
        image_size: frames are resized to ``image_size x image_size``.
        wav: how ``.wav`` files become spectrograms (``None``: ``.wav`` files are refused).
        train: training split: random frame per segment, random crops and flips (when
            ``augment``) and a random audio window (when ``wav.max_offset > 0``).
        augment: random crops and flips of training frames.
        seed: seeds the training randomness (one generator, drawn in loading order).
        missing: ``"error"`` raises on the first missing audio file or frame folder;
            ``"skip"`` drops such clips (the references' behaviour) and counts them in
            `skipped`.
        name: the dataset name used in messages.

    Raises:
        FileNotFoundError: (``missing="error"``) a clip's audio file or frame folder is
            missing, or the folder holds no image; the message names the path.
        ValueError: bad arguments, a label outside ``[0, C)``, no clip left, or a first clip
            whose files cannot be decoded (the message names the file).
        ImportError: Pillow is not installed (frames cannot be decoded).
    """

    def __init__(
        self,
        clips: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str], int]],
        *,
        num_classes: int,
        frames: int = 3,
        image_size: int = 224,
        wav: WavSpectrogram | None = None,
        train: bool = False,
        augment: bool = True,
        seed: int = 0,
        missing: str = "error",
        name: str = "clips",
    ) -> None:
        self.name = name
        self.num_classes = check_int(num_classes, "num_classes", low=1)
        self.frames = check_int(frames, "frames", low=1)
        self.image_size = check_int(image_size, "image_size", low=1)
        self.train = check_bool(train, "train")
        self.augment = check_bool(augment, "augment")
        self.seed = check_int(seed, "seed", low=0)
        self.missing = check_choice(missing, "missing", MISSING_POLICIES)
        if wav is not None and not isinstance(wav, WavSpectrogram):
            raise ValueError(f"wav must be a WavSpectrogram or None, got {wav!r}")
        self.wav = wav
        self.modalities = ("audio", "visual")
        kept: list[tuple[Path, Path, int]] = []
        self.skipped: list[Path] = []
        for audio, folder, label in clips:
            audio_path, frame_dir = Path(audio), Path(folder)
            if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
                raise ValueError(f"{name}: label of clip {str(frame_dir)!r} must be an int")
            if not 0 <= int(label) < self.num_classes:
                raise ValueError(
                    f"{name}: label of clip {str(frame_dir)!r} must lie in "
                    f"[0, {self.num_classes}), got {label}"
                )
            problem = self._problem(audio_path, frame_dir)
            if problem is not None:
                if self.missing == "error":
                    raise FileNotFoundError(f"dataset {name!r}: {problem}")
                self.skipped.append(audio_path if not audio_path.is_file() else frame_dir)
                continue
            kept.append((audio_path, frame_dir, int(label)))
        if not kept:
            what = f" ({len(self.skipped)} skipped for missing files)" if self.skipped else ""
            raise ValueError(f"dataset {name!r}: no clip to load{what}")
        self.clips = kept
        self._rng = np.random.default_rng(self.seed)
        audio0 = self._audio(kept[0][0], None)
        self.audio_shape: tuple[int, int] = (int(audio0.shape[0]), int(audio0.shape[1]))
        self._visual(kept[0][1], None)  # decodes the first clip's frames (or fails naming one)
        self.input_shapes = {
            "audio": (1, *self.audio_shape),
            "visual": (3, self.frames, self.image_size, self.image_size),
        }

    @staticmethod
    def _problem(audio: Path, folder: Path) -> str | None:
        if not audio.is_file():
            return f"missing audio file {str(audio)!r}"
        if not folder.is_dir():
            return f"missing frame folder {str(folder)!r}"
        if not has_frames(folder):
            return f"frame folder {str(folder)!r} holds no image ({', '.join(IMAGE_SUFFIXES)})"
        return None

    def _audio(self, path: Path, rng: np.random.Generator | None) -> np.ndarray:
        if path.suffix.lower() == ".wav":
            if self.wav is None:
                raise ValueError(
                    f"{str(path)!r}: this dataset reads spectrogram arrays "
                    f"({', '.join(ARRAY_SUFFIXES)}), not .wav files"
                )
            array = wav_spectrogram(path, self.wav, rng)
        else:
            array = _load_array(path)
        expected = getattr(self, "audio_shape", None)
        if expected is not None and tuple(array.shape) != expected:
            raise ValueError(
                f"audio file {str(path)!r} has shape {tuple(array.shape)}, expected {expected} "
                "(the shape of the split's first clip)"
            )
        array = np.asarray(array, dtype=np.float32)
        if not np.isfinite(array).all():
            raise ValueError(f"audio file {str(path)!r} holds non-finite values")
        return array

    def _visual(self, folder: Path, rng: np.random.Generator | None) -> np.ndarray:
        names = frame_files(folder)
        if not names:
            raise ValueError(f"frame folder {str(folder)!r} holds no image")
        picks = _pick_frames(len(names), self.frames, rng)
        crop_rng = rng if self.augment else None
        stack = [_load_frame(folder / names[i], self.image_size, crop_rng) for i in picks]
        return np.stack(stack, axis=1)  # (3, T, H, W)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> Batch:
        audio_path, folder, label = self.clips[i]
        rng = self._rng if self.train else None
        audio = self._audio(audio_path, rng)
        visual = self._visual(folder, rng)
        return (
            {"audio": torch.from_numpy(audio)[None], "visual": torch.from_numpy(visual)},
            torch.tensor(label, dtype=torch.int64),
        )

    def __repr__(self) -> str:
        return (
            f"AudioVisualClips({self.name!r}, n={len(self)}, num_classes={self.num_classes}, "
            f"audio={self.input_shapes['audio']}, visual={self.input_shapes['visual']}, "
            f"train={self.train})"
        )


RESNET18: tuple[str, dict[str, Any]] = ("resnet18", {})


def _clip_options(frames: int, image_size: int, augment: bool, missing: str) -> None:
    check_int(frames, "frames", low=1)
    check_int(image_size, "image_size", low=1)
    check_bool(augment, "augment")
    check_choice(missing, "missing", MISSING_POLICIES)


def _dedupe(records: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """One entry per clip: a clip listed again moves to its last position with its last label
    (OGM-GE's rule for AVE's clips annotated twice)."""
    order: dict[str, int] = {}
    for clip, label in records:
        order.pop(clip, None)
        order[clip] = label
    return list(order.items())


def _clip_splits(
    name: str,
    records: Mapping[str, Sequence[tuple[str, int]]],
    paths: Any,
    *,
    num_classes: int,
    frames: int,
    image_size: int,
    augment: bool,
    missing: str,
    seed: int,
    wav: WavSpectrogram | None,
    detail: str,
) -> DatasetSplits:
    """Train and test `AudioVisualClips`; ``paths(split, clip) -> (audio file, frame dir)``."""
    built: dict[str, AudioVisualClips] = {}
    for split in ("train", "test"):
        clips = [(*paths(split, clip), label) for clip, label in records[split]]
        built[split] = AudioVisualClips(
            clips,
            num_classes=num_classes,
            frames=frames,
            image_size=image_size,
            wav=wav,
            train=split == "train",
            augment=augment,
            seed=seed,
            missing=missing,
            name=name,
        )
    train, test = built["train"], built["test"]
    if train.audio_shape != test.audio_shape:
        raise ValueError(
            f"dataset {name!r}: train audio is {train.audio_shape} but test audio is "
            f"{test.audio_shape}"
        )
    skipped = len(train.skipped) + len(test.skipped)
    description = (
        f"{name}: {len(train)} train / {len(test)} test clips, {num_classes} classes, audio "
        f"{train.input_shapes['audio']}, visual {train.input_shapes['visual']} "
        f"({frames} frame(s) at {image_size}px); {detail}"
        + (f"; {skipped} clip(s) skipped for missing files" if skipped else "")
    )
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        encoders={"audio": (RESNET18[0], {}), "visual": (RESNET18[0], {})},
        description=description,
    )


# ----------------------------------------------------------------------------- CREMA-D

CREMA_D_CLASSES: tuple[str, ...] = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
"""CREMA-D's emotions in OGM-GE's ``class_dict`` order (index = label)."""

CREMA_D_WAV = WavSpectrogram(sample_rate=22050, seconds=3.0, n_fft=512, hop_length=353)
"""OGM-GE's CREMA-D audio: 22050 Hz, 3 s, ``n_fft`` 512, hop 353 -> 257 x 188."""

CREMA_D_LAYOUT = """\
<root>/  (OGM-GE, CramedDataset)
    train.csv, test.csv   one '<clip>,<EMO>' row per clip, no header (e.g. '1041_TIE_NEU_XX,NEU');
                          EMO in NEU HAP SAD FEA DIS ANG -> labels 0..5
    AudioWAV/<clip>.wav   CREMA-D audio (any rate; resampled to 22050 Hz, 3 s, log-STFT 257x188)
    Image-01-FPS/<clip>/  the clip's frames extracted at 1 fps (*.jpg / *.png)
  or (MMPareto, AVDataset_CD): audio/<clip>.pt (a 2-D filter-bank tensor; .npy / .pkl also
    read) instead of AudioWAV/, and visual/<clip>/ frames instead of Image-01-FPS/"""


def _load_crema_d(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 1,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
) -> DatasetSplits:
    """The ``"crema-d"`` loader (see the module docstring); ``frames=1`` as OGM-GE's
    ``--fps 1`` (MMPareto uses 2)."""
    name = "crema-d"
    base = require_root(root, name, CREMA_D_LAYOUT)
    _clip_options(frames, image_size, augment, missing)
    index = {emo: i for i, emo in enumerate(CREMA_D_CLASSES)}
    records: dict[str, list[tuple[str, int]]] = {}
    for split in ("train", "test"):
        path = base / f"{split}.csv"
        entries = []
        for number, row in read_rows(path, name):
            if len(row) < 2 or row[1] not in index:
                raise ValueError(
                    f"dataset {name!r}: {str(path)!r} line {number}: expected "
                    f"'<clip>,<EMO>' with EMO in {' '.join(CREMA_D_CLASSES)}, got {','.join(row)!r}"
                )
            entries.append((row[0], index[row[1]]))
        records[split] = _dedupe(entries)
    if (base / "AudioWAV").is_dir():
        audio_dir, variant = base / "AudioWAV", "OGM-GE layout (AudioWAV/, Image-01-FPS/)"
        audio_suffixes: tuple[str, ...] = (".wav",)
    elif (base / "audio").is_dir():
        audio_dir, variant = base / "audio", "MMPareto layout (audio/*.pt, visual/)"
        audio_suffixes = (".pt", ".npy", ".pkl")
    else:
        raise FileNotFoundError(
            f"dataset {name!r}: missing audio folder {str(base / 'AudioWAV')!r} (OGM-GE layout; "
            f"or {str(base / 'audio')!r}, MMPareto layout)"
        )
    frame_root = base / "Image-01-FPS"
    if not frame_root.is_dir() and (base / "visual").is_dir():
        frame_root = base / "visual"

    def paths(split: str, clip: str) -> tuple[Path, Path]:
        audio = audio_dir / f"{clip}{audio_suffixes[0]}"
        for suffix in audio_suffixes[1:]:
            if not audio.is_file() and (audio_dir / f"{clip}{suffix}").is_file():
                audio = audio_dir / f"{clip}{suffix}"
        return audio, frame_root / clip

    return _clip_splits(
        name,
        records,
        paths,
        num_classes=len(CREMA_D_CLASSES),
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        seed=seed,
        wav=CREMA_D_WAV,
        detail=f"{variant}; classes {' '.join(CREMA_D_CLASSES)}",
    )


# ----------------------------------------------------------------------------- AVE / KS

AVE_LAYOUT = """\
<root>/  (OGM-GE, AVDataset)
    stat.txt (or stat.csv)      the 28 event names, one per line; sorted, their index is the label
    my_train.txt, my_test.txt   one '<event>,<clip>' row per clip ('<event>,<clip>,...' and AVE's
                                own 'Category&VideoID&Quality&Start&End' lines also read);
                                a clip listed twice keeps its last event
    audio_spec/<clip>.pkl       pickled 2-D float spectrogram, 257x1004 (OGM-GE's
                                obtain_audio_spectrogram.py); .npy also read
    visual/<clip>/              the clip's frames at 1 fps, frame_00001.jpg ... frame_00010.jpg"""

KINETICS_SOUNDS_LAYOUT = """\
<root>/  (OGM-GE, AVDataset)
    stat.txt (or stat.csv)      the 31 class names, one per line; sorted, their index is the label
    my_train.txt, my_test.txt   one '<class>,<clip>' row per clip, or OGM-GE's
                                data/KineticSound lists '<clip>,<seconds>,<label index>'
                                (then stat.txt is optional: 31 classes)
    audio_spec/<clip>.pkl       pickled 2-D float spectrogram, 257x1004; or audio_spec/<clip>.npy
                                (e.g. the 1024x128 filter banks of OGM-GE's
                                data/KineticSound/process_audio.py)
    visual/<clip>/              the clip's frames at 1 fps, frame_00001.jpg ... frame_00010.jpg"""


def _read_classes(base: Path, name: str) -> tuple[list[str], Path] | None:
    for file in ("stat.txt", "stat.csv"):
        path = base / file
        if path.is_file():
            # OGM-GE: the first csv column of each row
            classes = [row[0] for _, row in read_rows(path, name) if row[0]]
            if not classes:
                raise ValueError(f"dataset {name!r}: class list {str(path)!r} is empty")
            duplicates = sorted({c for c in classes if classes.count(c) > 1})
            if duplicates:
                raise ValueError(f"dataset {name!r}: class list {str(path)!r} repeats {duplicates}")
            return sorted(classes), path
    return None


def _is_index_row(row: Sequence[str]) -> bool:
    return len(row) == 3 and row[1].isdigit() and row[2].isdigit()


def _load_ogm_avdataset(
    name: str,
    layout: str,
    default_classes: int,
    *,
    root: str | os.PathLike[str] | None,
    seed: int,
    frames: int,
    image_size: int,
    augment: bool,
    missing: str,
    index_lists: bool,
) -> DatasetSplits:
    base = require_root(root, name, layout)
    _clip_options(frames, image_size, augment, missing)
    lists = {"train": base / "my_train.txt", "test": base / "my_test.txt"}
    rows = {split: read_rows(path, name) for split, path in lists.items()}
    expected = "'<class>,<clip>'" + (" or '<clip>,<seconds>,<label index>'" if index_lists else "")
    for split, path in lists.items():
        for number, row in rows[split]:
            if len(row) < 2 or not row[0] or not row[1]:
                raise ValueError(
                    f"dataset {name!r}: {str(path)!r} line {number}: expected {expected}, "
                    f"got {','.join(row)!r}"
                )
    indexed = index_lists and all(_is_index_row(r) for s in rows.values() for _, r in s)
    found = _read_classes(base, name)
    if found is None and not indexed:
        raise FileNotFoundError(
            f"dataset {name!r}: missing class list {str(base / 'stat.txt')!r} (or stat.csv)"
        )
    classes, class_file = found if found is not None else ([], None)
    num_classes = default_classes if indexed and found is None else len(classes)
    index = {c: i for i, c in enumerate(classes)}
    records: dict[str, list[tuple[str, int]]] = {}
    for split, path in lists.items():
        entries = []
        for number, row in rows[split]:
            if indexed:
                clip, label = row[0], int(row[2])
                if label >= num_classes:
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: label index {label} "
                        f"is not below {num_classes}"
                    )
            else:
                if row[0] not in index:
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: class {row[0]!r} is "
                        f"not in {str(class_file)!r}"
                    )
                clip, label = row[1], index[row[0]]
            entries.append((clip, label))
        records[split] = _dedupe(entries)
    audio_dir, frame_root = base / "audio_spec", base / "visual"

    def paths(split: str, clip: str) -> tuple[Path, Path]:
        audio = audio_dir / f"{clip}.pkl"
        if not audio.is_file() and (audio_dir / f"{clip}.npy").is_file():
            audio = audio_dir / f"{clip}.npy"
        return audio, frame_root / clip

    how = "label indices from the lists"
    if class_file is not None and not indexed:
        how = f"classes from {class_file.name}"
    return _clip_splits(
        name,
        records,
        paths,
        num_classes=num_classes,
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        seed=seed,
        wav=None,
        detail=f"OGM-GE layout (audio_spec/, visual/); {how}",
    )


def _load_ave(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 3,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
) -> DatasetSplits:
    """The ``"ave"`` loader (see the module docstring); 3 frames per clip as OGM-GE."""
    return _load_ogm_avdataset(
        "ave",
        AVE_LAYOUT,
        28,
        root=root,
        seed=seed,
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        index_lists=False,
    )


def _load_kinetics_sounds(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 3,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
) -> DatasetSplits:
    """The ``"kinetics-sounds"`` loader (see the module docstring); 3 frames as OGM-GE."""
    return _load_ogm_avdataset(
        "kinetics-sounds",
        KINETICS_SOUNDS_LAYOUT,
        31,
        root=root,
        seed=seed,
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        index_lists=True,
    )


# ----------------------------------------------------------------------------- VGGSound

VGGSOUND_WAV = WavSpectrogram(
    sample_rate=16000, seconds=5.0, n_fft=256, hop_length=128, max_offset=5.0, min_seconds=10.0
)
"""OGM-GE's VGGSound audio: 16 kHz, tiled to 10 s, a 5 s window from a random start in
[0, 5] s, ``n_fft`` 256, hop 128 -> 129 x 626."""

VGGSOUND_LAYOUT = """\
<root>/  (OGM-GE, VGGSound)
    vggsound.csv   the official list: '<youtube id>,<start s>,<label>,<train|test>' rows, no
                   header; the sorted distinct labels are the classes (309)
    train-audios/train-set/<id>_<start>.wav                    the clip's audio (any rate;
                   resampled to 16 kHz, 5 s window, log-STFT 129x626)
    train-videos/train-set-img/Image-01-FPS/<id>_<start>.mp4/  the clip's frames at 1 fps
    test-audios/test-set/<id>_<start>.wav
    test-videos/test-set-img/Image-01-FPS/<id>_<start>.mp4/
  <start> as written in the csv, or zero-padded to 6 digits (<id>_000030); frame folders
  without the .mp4 suffix are read too"""


def _load_vggsound(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 3,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
) -> DatasetSplits:
    """The ``"vggsound"`` loader (see the module docstring); 3 frames as OGM-GE's
    ``--use_video_frames 3``. VGGSound's YouTube clips are often partly unavailable:
    ``missing="skip"`` drops the clips whose files are absent, as OGM-GE does."""
    name = "vggsound"
    base = require_root(root, name, VGGSOUND_LAYOUT)
    _clip_options(frames, image_size, augment, missing)
    path = base / "vggsound.csv"
    rows: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    for number, row in read_rows(path, name):
        if len(row) < 4 or row[3] not in rows or not row[0]:
            raise ValueError(
                f"dataset {name!r}: {str(path)!r} line {number}: expected "
                f"'<youtube id>,<start>,<label>,<train|test>', got {','.join(row)!r}"
            )
        rows[row[3]].append((row[0], row[1], row[2]))
    classes = sorted({label for split in rows.values() for _, _, label in split})
    index = {c: i for i, c in enumerate(classes)}
    records: dict[str, list[tuple[str, int]]] = {}
    stems: dict[str, tuple[str, ...]] = {}
    for split, entries in rows.items():
        listed = []
        for ytid, start, label in entries:
            key = f"{ytid}_{start}"
            padded = f"{ytid}_{int(start):06d}" if start.isdigit() else key
            stems[key] = (key, padded) if padded != key else (key,)
            listed.append((key, index[label]))
        records[split] = _dedupe(listed)

    def paths(split: str, key: str) -> tuple[Path, Path]:
        audio_dir = base / f"{split}-audios" / f"{split}-set"
        frame_dir = base / f"{split}-videos" / f"{split}-set-img" / "Image-01-FPS"
        audio_options = [audio_dir / f"{stem}.wav" for stem in stems[key]]
        frame_options = [frame_dir / f"{stem}{ext}" for stem in stems[key] for ext in (".mp4", "")]
        audio = next((p for p in audio_options if p.is_file()), audio_options[0])
        folder = next((p for p in frame_options if p.is_dir()), frame_options[0])
        return audio, folder

    return _clip_splits(
        name,
        records,
        paths,
        num_classes=len(classes),
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        seed=seed,
        wav=VGGSOUND_WAV,
        detail="OGM-GE layout; classes: the sorted labels of vggsound.csv",
    )


# ----------------------------------------------------------------------------- registry

register_dataset(
    "crema-d",
    _load_crema_d,
    "CREMA-D audio-visual emotion recognition, 6 classes (OGM-GE / MMPareto layout; options "
    "frames=1, image_size=224, augment, missing)",
    CREMA_D_LAYOUT,
)
register_dataset(
    "ave",
    _load_ave,
    "AVE audio-visual events, 28 classes (OGM-GE layout; options frames=3, image_size=224, "
    "augment, missing)",
    AVE_LAYOUT,
)
register_dataset(
    "kinetics-sounds",
    _load_kinetics_sounds,
    "Kinetics-Sounds audio-visual actions, 31 classes (OGM-GE layout; options frames=3, "
    "image_size=224, augment, missing)",
    KINETICS_SOUNDS_LAYOUT,
)
register_dataset(
    "vggsound",
    _load_vggsound,
    "VGGSound audio-visual sounds, 309 classes (OGM-GE layout; options frames=3, "
    "image_size=224, augment, missing='skip' for unavailable clips)",
    VGGSOUND_LAYOUT,
)
