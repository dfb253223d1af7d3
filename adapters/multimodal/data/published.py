"""Loaders for published multimodal benchmarks, read from the layouts their reference code uses.

Nothing is downloaded: the data are read from ``root``, laid out as the reference repositories
expect (``moo-mm datasets`` prints each layout; the ``*_LAYOUT`` constants below hold them).
Every loader checks its files when it is called and fails on the *first* missing or malformed one
with the path and what was expected: the MultiBench arrays are read whole; for the clip sets the
split lists are parsed, every clip's audio file and frame folder must exist (the folder holding an
image) and each split's first clip is decoded (a later undecodable file fails when it is loaded,
naming it).

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
centred, reflect-padded, periodic-Hann transform in numpy).

MultiBench (P. P. Liang et al., "MultiBench: Multiscale Benchmarks for Multimodal
Representation Learning", NeurIPS 2021 Datasets and Benchmarks; github.com/pliang279/
MultiBench), in-memory `TensorDataset` subclasses:

- ``"av-mnist"`` (`AVMNIST`): AV-MNIST (V. Vielzeuf, A. Lechervy, S. Pateux and F. Jurie,
  "CentralNet: a Multilayer Approach for Multimodal Fusion", ECCV Workshops 2018), 10 digits;
  ``datasets/avmnist/get_data.py``: ``image/{train,test}_data.npy`` (28 x 28 digits),
  ``audio/{train,test}_data.npy`` (112 x 112 spectrograms), ``{train,test}_labels.npy``, both
  divided by 255; the last 5000 training samples are the validation split.
- ``"cmu-mosei"`` / ``"ur-funny"`` (`MultiBenchAffect`): CMU-MOSEI (A. Zadeh, P. P. Liang,
  S. Poria, E. Cambria and L.-P. Morency, "Multimodal Language Analysis in the Wild", ACL 2018)
  and UR-FUNNY (M. K. Hasan et al., "UR-FUNNY: A Multimodal Language Dataset for Understanding
  Humor", EMNLP 2019); ``datasets/affect/get_data.py``: a pickle ``{"train", "valid", "test"}``
  of dicts with ``vision``, ``audio``, ``text`` arrays ``(N, T, F)`` (T = 50; MOSEI F = 35, 74,
  300; UR-FUNNY 371, 81, 300) and ``labels``. MOSEI labels are sentiment scores in [-3, 3]:
  ``score > 0`` is class 1 (MultiBench's binary task) or ``round(clip(score, -3, 3)) + 3``
  (7 classes); UR-FUNNY labels are humor 0 / 1. As MultiBench: samples whose text is all zero
  are dropped and ``-inf`` audio entries become 0.
"""

from __future__ import annotations

import csv
import math
import os
import pickle
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moo.validation import check_bool, check_choice, check_int, check_real
from moo_multimodal.data._dataset import Batch, DatasetSplits, MultimodalDataset, TensorDataset
from moo_multimodal.data._registry import register_dataset, require_root

__all__ = [
    "AVE_LAYOUT",
    "AVMNIST",
    "AVMNIST_LAYOUT",
    "CMU_MOSEI_LAYOUT",
    "CREMA_D_CLASSES",
    "CREMA_D_LAYOUT",
    "CREMA_D_WAV",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "KINETICS_SOUNDS_LAYOUT",
    "UR_FUNNY_LAYOUT",
    "VGGSOUND_LAYOUT",
    "VGGSOUND_WAV",
    "AudioVisualClips",
    "MultiBenchAffect",
    "WavSpectrogram",
    "load_affect_pickle",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
ARRAY_SUFFIXES: tuple[str, ...] = (".npy", ".pkl", ".pt")
MISSING_POLICIES: tuple[str, ...] = ("error", "skip")

CREMA_D_CLASSES: tuple[str, ...] = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
"""CREMA-D's emotions in OGM-GE's ``class_dict`` order (index = label)."""


# ----------------------------------------------------------------------------- small helpers


def _require_file(path: Path, dataset: str, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"dataset {dataset!r}: missing {what} {str(path)!r}")
    return path


def _natural_key(name: str) -> list[Any]:
    """Sort key ordering ``frame_2`` before ``frame_10`` (digit runs compare as numbers)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _frame_files(folder: Path) -> list[str]:
    """The image files of ``folder``, in natural order."""
    with os.scandir(folder) as entries:
        names = [e.name for e in entries if _is_image(e.name) and e.is_file()]
    return sorted(names, key=_natural_key)


def _has_frames(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(_is_image(e.name) and e.is_file() for e in entries)
    except OSError:
        return False


def _read_rows(path: Path, dataset: str) -> list[tuple[int, list[str]]]:
    """The non-empty rows of a split list with their 1-based line numbers. Rows are
    comma-separated (csv quoting honoured), or ``&``-separated as in AVE's own annotation
    files (``Category&VideoID&Quality&StartTime&EndTime``)."""
    _require_file(path, dataset, "split list")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(
            f"dataset {dataset!r}: cannot read split list {str(path)!r}: {err}"
        ) from err
    rows: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "&" in line:
            fields = line.split("&")
        else:
            fields = next(csv.reader([line]))
        rows.append((number, [f.strip() for f in fields]))
    return rows


def _pil_image() -> Any:
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(
            "decoding video frames (.jpg/.png) needs Pillow: pip install pillow"
        ) from err
    return Image


# ----------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class WavSpectrogram:
    """How a ``.wav`` file becomes a log-magnitude spectrogram (librosa's ``load`` + ``stft``
    as the references call them).

    The waveform is averaged to mono, resampled to ``sample_rate``, tiled until it lasts at
    least ``max(min_seconds, seconds)``, cut to a ``seconds`` window (starting at 0, or, for
    training clips, at a uniformly random sample in ``[0, max_offset · sample_rate]``),
    clipped to [-1, 1], and transformed: ``log(|STFT| + 1e-7)`` with a periodic Hann window of
    ``n_fft`` samples, hop ``hop_length``, centred frames (reflect padding).

    Attributes:
        sample_rate: the rate the audio is resampled to (Hz).
        seconds: the window length (s).
        n_fft: FFT size; ``n_fft // 2 + 1`` frequency bins.
        hop_length: hop between frames (samples); ``1 + samples // hop_length`` frames.
        max_offset: training window start drawn in ``[0, max_offset]`` seconds.
        min_seconds: the waveform is tiled to at least this length first.
    """

    sample_rate: int
    seconds: float
    n_fft: int
    hop_length: int
    max_offset: float = 0.0
    min_seconds: float = 0.0

    def __post_init__(self) -> None:
        for field in ("sample_rate", "n_fft", "hop_length"):
            check_int(getattr(self, field), f"WavSpectrogram.{field}", low=1)
        for field in ("seconds", "max_offset", "min_seconds"):
            check_real(getattr(self, field), f"WavSpectrogram.{field}", low=0.0)
        if self.seconds * self.sample_rate < 1:
            raise ValueError(
                f"WavSpectrogram.seconds must cover at least one sample, got {self.seconds!r} "
                f"at {self.sample_rate} Hz"
            )

    @property
    def samples(self) -> int:
        """Samples in the window."""
        return round(self.sample_rate * self.seconds)

    @property
    def shape(self) -> tuple[int, int]:
        """``(frequency bins, frames)`` of the spectrogram."""
        return self.n_fft // 2 + 1, 1 + self.samples // self.hop_length


CREMA_D_WAV = WavSpectrogram(sample_rate=22050, seconds=3.0, n_fft=512, hop_length=353)
"""OGM-GE's CREMA-D audio: 22050 Hz, 3 s, ``n_fft`` 512, hop 353 -> 257 x 188."""

VGGSOUND_WAV = WavSpectrogram(
    sample_rate=16000, seconds=5.0, n_fft=256, hop_length=128, max_offset=5.0, min_seconds=10.0
)
"""OGM-GE's VGGSound audio: 16 kHz, tiled to 10 s, a 5 s window from a random start in
[0, 5] s, ``n_fft`` 256, hop 128 -> 129 x 626."""


def _read_wav(path: Path) -> tuple[int, np.ndarray]:
    """``(rate, mono float64 waveform in [-1, 1] units)`` of a PCM or float ``.wav``."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"cannot read {str(path)!r} as a .wav file: {err}") from err
    x = np.asarray(data)
    if x.dtype == np.uint8:
        x = (x.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float64) / float(2 ** (8 * x.dtype.itemsize - 1))
    else:
        x = x.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{str(path)!r} holds no audio samples (shape {np.shape(data)})")
    return int(rate), x


def _wav_spectrogram(
    path: Path, spec: WavSpectrogram, rng: np.random.Generator | None
) -> np.ndarray:
    from scipy.signal import get_window, resample_poly

    rate, x = _read_wav(path)
    if rate != spec.sample_rate:
        g = math.gcd(rate, spec.sample_rate)
        x = resample_poly(x, spec.sample_rate // g, rate // g)
    n = spec.samples
    need = max(n, round(spec.sample_rate * spec.min_seconds))
    if x.size < need:
        x = np.tile(x, -(-need // x.size))
    start = 0
    if rng is not None and spec.max_offset > 0:
        start = int(rng.integers(0, min(int(spec.sample_rate * spec.max_offset), x.size - n) + 1))
    x = np.clip(x[start : start + n], -1.0, 1.0)
    half = spec.n_fft // 2
    x = np.pad(x, half, mode="reflect")
    frames = 1 + (x.size - spec.n_fft) // spec.hop_length
    index = np.arange(spec.n_fft)[None, :] + spec.hop_length * np.arange(frames)[:, None]
    window = get_window("hann", spec.n_fft, fftbins=True)
    magnitude = np.abs(np.fft.rfft(x[index] * window, axis=1)).T
    log_magnitude: np.ndarray = np.log(magnitude + 1e-7)
    return log_magnitude


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
    image_mod = _pil_image()
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
        if not _has_frames(folder):
            return f"frame folder {str(folder)!r} holds no image ({', '.join(IMAGE_SUFFIXES)})"
        return None

    def _audio(self, path: Path, rng: np.random.Generator | None) -> np.ndarray:
        if path.suffix.lower() == ".wav":
            if self.wav is None:
                raise ValueError(
                    f"{str(path)!r}: this dataset reads spectrogram arrays "
                    f"({', '.join(ARRAY_SUFFIXES)}), not .wav files"
                )
            array = _wav_spectrogram(path, self.wav, rng)
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
        names = _frame_files(folder)
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
        for number, row in _read_rows(path, name):
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
            classes = [row[0] for _, row in _read_rows(path, name) if row[0]]
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
    rows = {split: _read_rows(path, name) for split, path in lists.items()}
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
    for number, row in _read_rows(path, name):
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


# ----------------------------------------------------------------------------- AV-MNIST

AVMNIST_LAYOUT = """\
<root>/  (MultiBench, datasets/avmnist/get_data.py)
    image/train_data.npy, image/test_data.npy   (N, 784) or (N, 28, 28) digit images, 0..255
    audio/train_data.npy, audio/test_data.npy   (N, 112, 112) spectrograms, 0..255
    train_labels.npy, test_labels.npy           (N,) digit labels 0..9
  (60000 train, the last 5000 of them the validation split, and 10000 test samples)"""


def _load_npy(path: Path, dataset: str) -> np.ndarray:
    _require_file(path, dataset, "array file")
    try:
        array: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
        return array
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"dataset {dataset!r}: cannot read {str(path)!r} as .npy: {err}") from err


class AVMNIST(TensorDataset):
    """An AV-MNIST split in memory: ``image`` ``(1, 28, 28)`` and ``audio`` ``(1, 112, 112)``
    float32 (divided by 255 when ``normalize``, as MultiBench's defaults), labels 0..9.

    Args:
        root: the AV-MNIST folder (`AVMNIST_LAYOUT`).
        split: ``"train"`` (the training file's first ``N - n_valid`` samples), ``"valid"``
            (its last ``n_valid``) or ``"test"``.
        normalize: divide both modalities by 255.
        n_valid: samples held out of the training file as the validation split (MultiBench:
            5000); 0 trains on all of them.

    Raises:
        FileNotFoundError: a missing file (the message names it).
        ValueError: a bad argument or a malformed file (wrong size per sample, mismatched
            sample counts, labels outside 0..9; the message names the file).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        *,
        normalize: bool = True,
        n_valid: int = 5000,
    ) -> None:
        name = "av-mnist"
        check_choice(split, "split", ("train", "valid", "test"))
        check_bool(normalize, "normalize")
        n_valid = check_int(n_valid, "n_valid", low=0)
        base = Path(root)
        part = "test" if split == "test" else "train"
        files = {
            "image": base / "image" / f"{part}_data.npy",
            "audio": base / "audio" / f"{part}_data.npy",
            "labels": base / f"{part}_labels.npy",
        }
        arrays = {key: _load_npy(path, name) for key, path in files.items()}
        n = arrays["labels"].shape[0] if arrays["labels"].ndim >= 1 else 0
        sizes = {"image": (28, 28), "audio": (112, 112)}
        for key, array in arrays.items():
            per = int(np.prod(array.shape[1:])) if array.ndim >= 1 else 0
            expected = 1 if key == "labels" else sizes[key][0] * sizes[key][1]
            if array.ndim < 1 or array.shape[0] != n or per != expected:
                shape = "(N,)" if key == "labels" else f"(N, {sizes[key][0]}, {sizes[key][1]})"
                raise ValueError(
                    f"dataset {name!r}: {str(files[key])!r} has shape {array.shape}; expected "
                    f"{shape} with N = {n} (the labels' count)"
                )
        if split == "test":
            rows = slice(0, n)
        else:
            if split == "valid" and n_valid == 0:
                raise ValueError("n_valid must be >= 1 for the 'valid' split, got 0")
            if n_valid >= n:
                raise ValueError(
                    f"n_valid must be below the {n} samples of {str(files['labels'])!r}, "
                    f"got {n_valid}"
                )
            rows = slice(0, n - n_valid) if split == "train" else slice(n - n_valid, n)
        labels_np = np.asarray(arrays["labels"][rows]).reshape(-1)
        if not np.issubdtype(labels_np.dtype, np.number) or not np.all(
            (labels_np == np.round(labels_np)) & (labels_np >= 0) & (labels_np <= 9)
        ):
            raise ValueError(
                f"dataset {name!r}: {str(files['labels'])!r} must hold integer labels 0..9"
            )
        inputs = {}
        for key in ("image", "audio"):
            x = np.asarray(arrays[key][rows], dtype=np.float32).reshape(-1, 1, *sizes[key])
            if normalize:
                x = x / 255.0
            if not np.isfinite(x).all():
                raise ValueError(f"dataset {name!r}: {str(files[key])!r} has non-finite values")
            inputs[key] = torch.from_numpy(np.ascontiguousarray(x))
        super().__init__(inputs, torch.from_numpy(labels_np.astype(np.int64)), num_classes=10)
        self.split = split


def _load_av_mnist(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    normalize: bool = True,
    n_valid: int = 5000,
    test_split: str = "test",
) -> DatasetSplits:
    """The ``"av-mnist"`` loader: train on the training file's first ``N - n_valid`` samples,
    test on ``test_split`` (``"test"`` or ``"valid"``)."""
    name = "av-mnist"
    base = require_root(root, name, AVMNIST_LAYOUT)
    check_choice(test_split, "test_split", ("test", "valid"))
    train = AVMNIST(base, "train", normalize=normalize, n_valid=n_valid)
    test = AVMNIST(base, test_split, normalize=normalize, n_valid=n_valid)
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        # MultiBench's LeNet(1, 6, 3) and LeNet(1, 6, 5): channels doubling from 6
        encoders={
            "image": ("cnn", {"channels": (6, 12, 24, 48)}),
            "audio": ("cnn", {"channels": (6, 12, 24, 48, 96, 192)}),
        },
        description=(
            f"av-mnist: {len(train)} train / {len(test)} {test_split} samples, 10 classes, "
            f"image (1, 28, 28), audio (1, 112, 112)"
            + (", divided by 255" if normalize else "")
            + f"; MultiBench layout at {str(base)!r}"
        ),
    )


# ----------------------------------------------------------------------------- affect

CMU_MOSEI_LAYOUT = """\
<root>/mosei_senti_data.pkl  (MultiBench / MulT; or mosei_raw.pkl, or pass the .pkl as root)
    a pickled dict {'train', 'valid', 'test'}, each a dict of numpy arrays:
    'vision' (N, 50, 35), 'audio' (N, 50, 74), 'text' (N, 50, 300) float features and
    'labels' (N, 1, 1) sentiment scores in [-3, 3] (-> binary: score > 0; or 7 classes)"""

UR_FUNNY_LAYOUT = """\
<root>/humor.pkl  (MultiBench; or pass the .pkl as root)
    a pickled dict {'train', 'valid', 'test'}, each a dict of numpy arrays:
    'vision' (N, 50, 371), 'audio' (N, 50, 81), 'text' (N, 50, 300) float features and
    'labels' (N,) or (N, 1) humor labels 0 / 1"""

AFFECT_MODALITIES: tuple[str, ...] = ("vision", "audio", "text")
AFFECT_SPLITS: tuple[str, ...] = ("train", "valid", "test")
MOSEI_LABELS: tuple[str, ...] = ("binary", "7class")


def load_affect_pickle(path: str | os.PathLike[str], dataset: str = "affect") -> dict[str, Any]:
    """The MultiBench affect pickle at ``path`` (a dict with ``train``, ``valid``, ``test``).

    Raises:
        FileNotFoundError: ``path`` is missing.
        ValueError: it is not a readable pickle of a dict holding the three splits.
    """
    file = _require_file(Path(path), dataset, "pickle")
    try:
        try:
            with open(file, "rb") as fh:
                data = pickle.load(fh)
        except UnicodeDecodeError:  # pickles written by Python 2 (the CMU SDK era)
            with open(file, "rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except Exception as err:  # any unpickling failure names the file
        raise ValueError(f"dataset {dataset!r}: cannot unpickle {str(file)!r}: {err}") from err
    if not isinstance(data, Mapping):
        raise ValueError(
            f"dataset {dataset!r}: {str(file)!r} must hold a dict with keys {AFFECT_SPLITS}, "
            f"got {type(data).__name__}"
        )
    for split in AFFECT_SPLITS:
        if split not in data or not isinstance(data[split], Mapping):
            raise ValueError(
                f"dataset {dataset!r}: {str(file)!r} has no {split!r} split (a dict of arrays); "
                f"keys: {sorted(map(str, data))}"
            )
    return dict(data)


class MultiBenchAffect(TensorDataset):
    """One split of a MultiBench affect pickle in memory: ``vision``, ``audio`` and ``text``
    float32 ``(T, F)`` sequences (as stored: left zero-padded to T = 50) and integer labels.

    As MultiBench's ``get_dataloader``: samples whose text features are all zero are dropped
    (``drop_entry``), ``-inf`` entries become 0 (MultiBench does so for audio; any other
    non-finite value is zeroed too) and ``z_norm`` standardizes each sample's features over
    time. MultiBench trims each batch's common leading padding; here the stored length is kept
    (a fixed shape per modality).

    Args:
        data: the split's dict (``vision``, ``audio``, ``text``, ``labels``).
        labels: ``"binary"`` (MultiBench's ``score > 0`` -> 1, else 0), ``"7class"``
            (``round(clip(score, -3, 3)) + 3``) or ``"humor"`` (0 / 1 as stored).
        z_norm: per-sample, per-feature standardization over time (MultiBench's option).
        drop_empty_text: drop the samples whose text is all zero.
        source: the file and split named in messages.

    Raises:
        ValueError: a missing key, a modality not 3-D ``(N, T, F)``, mismatched sample counts,
            labels not one value per sample, humor labels other than 0 / 1, or no sample left.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        labels: str = "binary",
        z_norm: bool = False,
        drop_empty_text: bool = True,
        source: str = "affect data",
    ) -> None:
        check_choice(labels, "labels", (*MOSEI_LABELS, "humor"))
        check_bool(z_norm, "z_norm")
        check_bool(drop_empty_text, "drop_empty_text")
        for key in (*AFFECT_MODALITIES, "labels"):
            if key not in data:
                raise ValueError(f"{source}: missing key {key!r}; keys: {sorted(map(str, data))}")
        arrays: dict[str, np.ndarray] = {}
        for m in AFFECT_MODALITIES:
            x = np.asarray(data[m])
            if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
                raise ValueError(
                    f"{source}: {m!r} must be a numeric (N, T, F) array, got dtype {x.dtype} "
                    f"and shape {x.shape}"
                )
            arrays[m] = x
        n = arrays["vision"].shape[0]
        raw = np.asarray(data["labels"], dtype=np.float64)
        if raw.ndim == 0 or raw.shape[0] != n or raw.reshape(n, -1).shape[1] != 1:
            raise ValueError(
                f"{source}: 'labels' must hold one value per sample ({n}), got shape {raw.shape}"
            )
        for m, x in arrays.items():
            if x.shape[0] != n:
                raise ValueError(f"{source}: {m!r} has {x.shape[0]} samples, 'vision' has {n}")
        y = raw.reshape(n)
        keep = np.ones(n, dtype=bool)
        if drop_empty_text:
            keep = np.nan_to_num(arrays["text"].reshape(n, -1)).sum(axis=1) != 0
        if not keep.any():
            raise ValueError(f"{source}: no sample left (every sample's text is all zero)")
        inputs = {}
        for m, x in arrays.items():
            x = np.nan_to_num(x[keep].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            if z_norm:
                mean = x.mean(axis=1, keepdims=True)
                std = x.std(axis=1, keepdims=True)
                with np.errstate(divide="ignore", invalid="ignore"):
                    x = np.nan_to_num((x - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)
            inputs[m] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        y = y[keep]
        if not np.isfinite(y).all():
            raise ValueError(f"{source}: 'labels' has non-finite values")
        if labels == "binary":
            classes, target = 2, (y > 0).astype(np.int64)
        elif labels == "7class":
            classes, target = 7, (np.round(np.clip(y, -3.0, 3.0)) + 3).astype(np.int64)
        else:
            if not np.isin(y, (0.0, 1.0)).all():
                bad = y[~np.isin(y, (0.0, 1.0))][0]
                raise ValueError(f"{source}: humor labels must be 0 or 1, got {bad!r}")
            classes, target = 2, y.astype(np.int64)
        super().__init__(inputs, torch.from_numpy(target), num_classes=classes)
        self.dropped = int(n - keep.sum())


def _affect_file(base: Path, candidates: Sequence[str], name: str) -> Path:
    if base.is_file():
        return base
    for file in candidates:
        if (base / file).is_file():
            return base / file
    others = "".join(f" (or {str(base / f)!r})" for f in candidates[1:])
    raise FileNotFoundError(
        f"dataset {name!r}: missing pickle {str(base / candidates[0])!r}{others}"
    )


def _affect_splits(
    name: str,
    path: Path,
    *,
    labels: str,
    z_norm: bool,
    drop_empty_text: bool,
    test_split: str,
    hidden: Mapping[str, int],
) -> DatasetSplits:
    check_choice(test_split, "test_split", ("test", "valid"))
    data = load_affect_pickle(path, name)
    made = {
        split: MultiBenchAffect(
            data[split],
            labels=labels,
            z_norm=z_norm,
            drop_empty_text=drop_empty_text,
            source=f"dataset {name!r}: {str(path)!r}[{split!r}]",
        )
        for split in ("train", test_split)
    }
    train, test = made["train"], made[test_split]
    for m in AFFECT_MODALITIES:
        if train.input_shapes[m][1] != test.input_shapes[m][1]:
            raise ValueError(
                f"dataset {name!r}: {str(path)!r}: {m!r} has {train.input_shapes[m][1]} features "
                f"in 'train' but {test.input_shapes[m][1]} in {test_split!r}"
            )
    shapes = ", ".join(f"{m} {train.input_shapes[m]}" for m in AFFECT_MODALITIES)
    dropped = train.dropped + test.dropped
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        # MultiBench's late-fusion GRU widths for these datasets
        encoders={m: ("gru", {"hidden": hidden[m]}) for m in AFFECT_MODALITIES},
        description=(
            f"{name}: {len(train)} train / {len(test)} {test_split} samples, labels {labels} "
            f"({train.num_classes} classes), {shapes}"
            + (", z-normalized" if z_norm else "")
            + (f"; {dropped} sample(s) with empty text dropped" if dropped else "")
            + f"; MultiBench pickle {str(path)!r}"
        ),
    )


def _load_cmu_mosei(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    labels: str = "binary",
    z_norm: bool = False,
    drop_empty_text: bool = True,
    test_split: str = "test",
) -> DatasetSplits:
    """The ``"cmu-mosei"`` loader: ``labels`` ``"binary"`` (MultiBench) or ``"7class"``."""
    name = "cmu-mosei"
    base = require_root(root, name, CMU_MOSEI_LAYOUT)
    check_choice(labels, "labels", MOSEI_LABELS)
    path = _affect_file(base, ("mosei_senti_data.pkl", "mosei_raw.pkl"), name)
    return _affect_splits(
        name,
        path,
        labels=labels,
        z_norm=z_norm,
        drop_empty_text=drop_empty_text,
        test_split=test_split,
        hidden={"vision": 64, "audio": 128, "text": 512},
    )


def _load_ur_funny(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    z_norm: bool = False,
    drop_empty_text: bool = True,
    test_split: str = "test",
) -> DatasetSplits:
    """The ``"ur-funny"`` loader: humor (1) or not (0)."""
    name = "ur-funny"
    base = require_root(root, name, UR_FUNNY_LAYOUT)
    path = _affect_file(base, ("humor.pkl",), name)
    return _affect_splits(
        name,
        path,
        labels="humor",
        z_norm=z_norm,
        drop_empty_text=drop_empty_text,
        test_split=test_split,
        hidden={"vision": 512, "audio": 256, "text": 600},
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
register_dataset(
    "av-mnist",
    _load_av_mnist,
    "AV-MNIST digits: 28x28 images and 112x112 spoken-digit spectrograms, 10 classes "
    "(MultiBench layout; options normalize, n_valid=5000, test_split)",
    AVMNIST_LAYOUT,
)
register_dataset(
    "cmu-mosei",
    _load_cmu_mosei,
    "CMU-MOSEI sentiment from vision/audio/text feature sequences, binary or 7 classes "
    "(MultiBench pickle; options labels, z_norm, drop_empty_text, test_split)",
    CMU_MOSEI_LAYOUT,
)
register_dataset(
    "ur-funny",
    _load_ur_funny,
    "UR-FUNNY humor detection from vision/audio/text feature sequences, 2 classes "
    "(MultiBench pickle; options z_norm, drop_empty_text, test_split)",
    UR_FUNNY_LAYOUT,
)
