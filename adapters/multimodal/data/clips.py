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
  ``train.csv`` / ``test.csv`` rows ``<clip>,<EMO>`` (a ``name,label`` header line, as in the
  MMPareto authors' later release, is skipped) with ``NEU HAP SAD FEA DIS ANG -> 0..5``
  (``label_order="ogm-ge"``, the default of this layout);
  audio ``AudioWAV/<clip>.wav`` loaded at 22050 Hz, tiled to 3 s, clipped to [-1, 1],
  ``log(|STFT| + 1e-7)`` with ``n_fft = 512``, hop 353: a 257 x 188 spectrogram; frames from
  ``Image-{fps:02d}-FPS/<clip>/`` (option ``fps``, default 1), 1 frame per clip by default.
  MMPareto's variant (``audio/<clip>.pt`` filter banks, ``visual/<clip>/`` frames, 2 frames)
  is read too; MMPareto numbers the classes in sorted order, ANG DIS FEA HAP NEU SAD -> 0..5
  (``label_order="sorted"``, the default of that layout).
- ``"ave"``: AVE (Y. Tian, J. Shi, B. Li, Z. Duan and C. Xu, "Audio-Visual Event Localization
  in Unconstrained Videos", ECCV 2018), 28 events; ``"kinetics-sounds"``: Kinetics-Sounds
  (R. Arandjelović and A. Zisserman, "Look, Listen and Learn", ICCV 2017), 31 classes in
  OGM-GE. OGM-GE's ``AVDataset``: ``stat.txt`` (class names, one per line, sorted -> indices;
  7 AVE names hold a comma), ``my_train.txt`` / ``my_test.txt`` rows ``<class>,<clip>`` (AVE's
  own ``&`` rows and split files, Kinetics-Sounds' index lists of OGM-GE and BalanceBenchmark
  also read), pickled 257 x 1004 spectrograms
  ``audio_spec/<clip>.pkl`` (``pre-processing/obtain_audio_spectrogram.py``: 10 s tiled,
  ``scipy.signal.spectrogram(nperseg=512, noverlap=353)``, log, standardized), frames
  ``visual/<clip>/frame_00001.jpg ...`` (10 per clip at 1 fps); 3 frames per clip, the first of
  each third (frames 1, 4, 7 of 10).
- ``"vggsound"``: VGGSound (H. Chen, W. Xie, A. Vedaldi and A. Zisserman, "VGGSound: A
  Large-scale Audio-Visual Dataset", ICASSP 2020), 309 classes. OGM-GE's ``VGGSound``:
  ``vggsound.csv`` rows ``<youtube id>,<start s>,<label>,<train|test>`` (labels numbered by
  first appearance among the usable training clips, clips with fewer than 4 frames left out),
  audio
  ``<split>-audios/<split>-set/<id>_<start>.wav`` at 16 kHz, tiled to 10 s, a 5 s window
  starting at a random second in [0, 5] (training; at 0 s for test clips, where OGM-GE draws
  at random too), ``n_fft = 256``, hop 128: 129 x 626; frames
  ``<split>-videos/<split>-set-img/Image-01-FPS/<id>_<start>.mp4/``; 3 frames per clip.

Each loader's ``label_order`` option sets how class names become label indices (defaulting to
the order of the reference its layout comes from); the order used is stated in the splits'
``description``, and the class names by index are ``splits.train.classes``.

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

import csv
import math
import os
import pickle
import warnings
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
    read_lines,
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
    "UnreadableClipWarning",
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


class UnreadableClipWarning(UserWarning):
    """A clip could not be decoded during training and was replaced (``missing="skip"``)."""


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
        missing: ``"error"`` raises on the first missing audio file or frame folder, and a
            clip that cannot be decoded when loaded raises ``ValueError`` naming its file;
            ``"skip"`` drops missing clips (the references' behaviour) and counts them in
            `skipped`, and a clip found unreadable during training is replaced by the next
            readable one (an `UnreadableClipWarning` the first time; `unreadable` maps each
            such clip's index to the message naming its file).
        name: the dataset name used in messages.
        classes: the class names by label index (kept as the `classes` attribute, ``None``
            when the lists carry bare label indices); its length must be ``num_classes``.

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
        classes: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.num_classes = check_int(num_classes, "num_classes", low=1)
        if classes is not None and len(classes) != self.num_classes:
            raise ValueError(
                f"{name}: {len(classes)} class names given for {self.num_classes} classes"
            )
        self.classes: tuple[str, ...] | None = None if classes is None else tuple(classes)
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
        self.unreadable: dict[int, str] = {}  # clip index -> message naming the file
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
        if self.missing == "error":
            return self.decode(i)
        n = len(self.clips)
        for j in ((i + step) % n for step in range(n)):
            if j in self.unreadable:
                continue
            try:
                return self.decode(j)
            except (ValueError, OSError) as exc:  # the decoders' messages name the file
                self._record_unreadable(j, exc)
        raise ValueError(
            f"dataset {self.name!r}: no readable clip left ({len(self.unreadable)} unreadable)"
        )

    def _record_unreadable(self, j: int, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if not self.unreadable:
            warnings.warn(
                f"dataset {self.name!r}: clip {j} ({str(self.clips[j][1])!r}) is unreadable "
                f"and replaced by the next readable one: {message}; further ones are kept in "
                ".unreadable",
                UnreadableClipWarning,
                stacklevel=3,
            )
        self.unreadable[j] = message

    def decode(self, i: int) -> Batch:
        """Clip ``i`` decoded, whatever ``missing`` says: an unreadable file raises
        ``ValueError`` (or ``OSError``) naming it (what `check_dataset` calls)."""
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
    classes: Sequence[str] | None = None,
    order: str = "",
) -> DatasetSplits:
    """Train and test `AudioVisualClips`; ``paths(split, clip) -> (audio file, frame dir)``.
    ``classes`` (names by label) and ``order`` (how they were numbered) go into the
    description."""
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
            classes=classes,
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
        + (f"; {_describe_order(order, classes)}" if order else "")
        + (f"; {skipped} clip(s) skipped for missing files" if skipped else "")
    )
    return DatasetSplits(
        name=name,
        train=train,
        test=test,
        encoders={"audio": (RESNET18[0], {}), "visual": (RESNET18[0], {})},
        description=description,
    )


def _describe_order(order: str, classes: Sequence[str] | None) -> str:
    """``label order <order>: 0='A', 1='B', ...`` (every class: the order is what a published
    checkpoint's output units mean)."""
    if classes is None:
        return f"label order {order}"
    listed = ", ".join(f"{i}={c!r}" for i, c in enumerate(classes))
    return f"label order {order}: {listed}"


def _explicit_order(
    name: str, label_order: Any, known: Iterable[str], *, exact: bool, named: Sequence[str]
) -> list[str]:
    """``label_order`` given as a sequence of class names (index = label). ``exact``: it must
    hold exactly the ``known`` classes; otherwise it must hold at least them (classes with
    no clip are allowed)."""
    choices = " or ".join(repr(n) for n in named)
    if isinstance(label_order, str) or not isinstance(label_order, Sequence):
        raise ValueError(
            f"dataset {name!r}: label_order must be {choices} or a sequence of class names, "
            f"got {label_order!r}"
        )
    order = list(label_order)
    if not order or not all(isinstance(c, str) and c for c in order):
        raise ValueError(
            f"dataset {name!r}: label_order must hold non-empty class names, got {label_order!r}"
        )
    repeated = sorted({c for c in order if order.count(c) > 1})
    if repeated:
        raise ValueError(f"dataset {name!r}: label_order repeats {repeated}")
    known_set = set(known)
    absent = sorted(known_set - set(order))
    extra = sorted(set(order) - known_set) if exact else []
    if absent or extra:
        raise ValueError(
            f"dataset {name!r}: label_order must list "
            + ("exactly " if exact else "every one of ")
            + f"the classes {sorted(known_set)}"
            + (f"; missing {absent}" if absent else "")
            + (f"; unknown {extra}" if extra else "")
        )
    return order


# ----------------------------------------------------------------------------- CREMA-D

CREMA_D_CLASSES: tuple[str, ...] = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
"""CREMA-D's emotions in OGM-GE's ``class_dict`` order (index = label; ``label_order="ogm-ge"``)."""

CREMA_D_ORDERS: dict[str, tuple[str, ...]] = {
    "ogm-ge": CREMA_D_CLASSES,
    "sorted": tuple(sorted(CREMA_D_CLASSES)),
}
"""CREMA-D's named label orders: ``"ogm-ge"`` (OGM-GE's ``dataset/CramedDataset.py`` and
BalanceBenchmark's ``cremad_dataset.py``: a hard-coded NEU HAP SAD FEA DIS ANG) and
``"sorted"`` (MMPareto's ``code/dataset/av_dataset.py``: ``sorted`` class names, ANG DIS FEA
HAP NEU SAD, whatever order its ``stat.csv`` lists them in)."""

CREMA_D_WAV = WavSpectrogram(sample_rate=22050, seconds=3.0, n_fft=512, hop_length=353)
"""OGM-GE's CREMA-D audio: 22050 Hz, 3 s, ``n_fft`` 512, hop 353 -> 257 x 188."""

CREMA_D_LAYOUT = """\
<root>/  (OGM-GE, CramedDataset)
    train.csv, test.csv   one '<clip>,<EMO>' row per clip (e.g. '1041_TIE_NEU_XX,NEU'); a first
                          line that is a header ('name,label', the MMPareto authors' later
                          release) is skipped; EMO in ANG DIS FEA HAP NEU SAD
    AudioWAV/<clip>.wav   CREMA-D audio (any rate; resampled to 22050 Hz, 3 s, log-STFT 257x188)
    Image-{fps:02d}-FPS/<clip>/   the clip's frames extracted at fps frames per second
                          (*.jpg / *.png); option fps=1 -> Image-01-FPS/
  or (MMPareto, AVDataset_CD): audio/<clip>.pt (a 2-D filter-bank tensor; .npy / .pkl also
    read) instead of AudioWAV/, and visual/<clip>/ frames instead of Image-{fps:02d}-FPS/
  labels (option label_order): 'ogm-ge' NEU HAP SAD FEA DIS ANG -> 0..5 (OGM-GE,
    BalanceBenchmark; the default with AudioWAV/), 'sorted' ANG DIS FEA HAP NEU SAD -> 0..5
    (MMPareto; the default with audio/), or the six codes in any order"""


def _crema_d_order(label_order: Any, default: str) -> tuple[str, list[str]]:
    """(the order's name, the codes by label) for CREMA-D's ``label_order``; a string of
    comma-separated codes (``--data label_order=SAD,NEU,...``) is an explicit order."""
    if label_order is None:
        return f"{default} (the default of this layout)", list(CREMA_D_ORDERS[default])
    if isinstance(label_order, str) and label_order in CREMA_D_ORDERS:
        return label_order, list(CREMA_D_ORDERS[label_order])
    if isinstance(label_order, str) and "," in label_order:
        label_order = [code.strip() for code in label_order.split(",")]
    order = _explicit_order(
        "crema-d", label_order, CREMA_D_CLASSES, exact=True, named=tuple(CREMA_D_ORDERS)
    )
    return "explicit", order


def _is_header(row: Sequence[str]) -> bool:
    """A CSV header such as ``name,label``: two or more fields, none holding a digit (every
    CREMA-D clip name holds its actor number) and the second not an emotion code."""
    return (
        len(row) >= 2
        and row[1] not in CREMA_D_CLASSES
        and not any(ch.isdigit() for field in row for ch in field)
    )


def _load_crema_d(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 1,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
    label_order: str | Sequence[str] | None = None,
    fps: int = 1,
) -> DatasetSplits:
    """The ``"crema-d"`` loader (see the module docstring); ``frames=1`` as OGM-GE's
    ``--fps 1`` (MMPareto uses 2).

    ``label_order``: ``"ogm-ge"`` (NEU HAP SAD FEA DIS ANG, OGM-GE and BalanceBenchmark),
    ``"sorted"`` (ANG DIS FEA HAP NEU SAD, MMPareto) or the six codes in any order (a
    sequence, or one comma-separated string); ``None`` (default): the order of the reference
    the layout comes from, ``"ogm-ge"`` with ``AudioWAV/`` and ``"sorted"`` with ``audio/``.
    The order used is stated in the splits' description. ``fps``: the frame folder
    ``Image-{fps:02d}-FPS/`` (OGM-GE's ``--fps``, which also sets how many frames OGM-GE
    takes per clip: pass ``frames=fps`` to match). A first line with no digit whose second
    field is not an emotion code (the ``name,label`` header of the MMPareto authors' later
    release) is skipped; any other bad row raises naming the file, line and row."""
    name = "crema-d"
    base = require_root(root, name, CREMA_D_LAYOUT)
    _clip_options(frames, image_size, augment, missing)
    fps = check_int(fps, "fps", low=1)
    image_folder = f"Image-{fps:02d}-FPS"
    if (base / "AudioWAV").is_dir():
        audio_dir, default = base / "AudioWAV", "ogm-ge"
        variant = f"OGM-GE layout (AudioWAV/, {image_folder}/)"
        audio_suffixes: tuple[str, ...] = (".wav",)
        frame_roots = (base / image_folder, base / "visual")
    elif (base / "audio").is_dir():
        audio_dir, default = base / "audio", "sorted"
        variant = "MMPareto layout (audio/*.pt, visual/)"
        audio_suffixes = (".pt", ".npy", ".pkl")
        frame_roots = (base / "visual", base / image_folder)
    else:
        raise FileNotFoundError(
            f"dataset {name!r}: missing audio folder {str(base / 'AudioWAV')!r} (OGM-GE layout; "
            f"or {str(base / 'audio')!r}, MMPareto layout)"
        )
    order_name, classes = _crema_d_order(label_order, default)
    index = {emo: i for i, emo in enumerate(classes)}
    records: dict[str, list[tuple[str, int]]] = {}
    for split in ("train", "test"):
        path = base / f"{split}.csv"
        entries = []
        for position, (number, row) in enumerate(read_rows(path, name)):
            if position == 0 and _is_header(row):
                continue
            if len(row) < 2 or not row[0] or row[1] not in index:
                raise ValueError(
                    f"dataset {name!r}: {str(path)!r} line {number}: expected "
                    f"'<clip>,<EMO>' with EMO in {' '.join(CREMA_D_CLASSES)}, got {','.join(row)!r}"
                )
            entries.append((row[0], index[row[1]]))
        records[split] = _dedupe(entries)
    frame_root = next((r for r in frame_roots if r.is_dir()), frame_roots[0])

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
        num_classes=len(classes),
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        seed=seed,
        wav=CREMA_D_WAV,
        detail=f"{variant}; frames from {frame_root.name}/",
        classes=classes,
        order=order_name,
    )


# ----------------------------------------------------------------------------- AVE / KS

AVE_LAYOUT = """\
<root>/  (OGM-GE, AVDataset)
    stat.txt (or stat.csv)      the 28 event names, one per line (the whole line is the name:
                                7 names hold a comma, e.g. 'Male speech, man speaking');
                                optional when the lists are in AVE's own '&' format (the
                                classes are then the events named in the lists)
    my_train.txt, my_test.txt   one '<event>,<clip>' row per clip (an event holding commas is
                                matched against the class names, longest first) or AVE's own
                                'Category&VideoID&Quality&StartTime&EndTime' rows (a header line
                                'Category&VideoID&...' is skipped); a clip listed twice keeps
                                its last event
      or trainSet.txt, testSet.txt   AVE's own split files (read when my_train.txt is absent;
                                valSet.txt is not read)
    audio_spec/<clip>.pkl       pickled 2-D float spectrogram, 257x1004 (OGM-GE's
                                obtain_audio_spectrogram.py); .npy also read
    visual/<clip>/              the clip's frames at 1 fps, frame_00001.jpg ... frame_00010.jpg
  labels (option label_order): 'sorted' event names -> 0..27 (OGM-GE; the default), or the
    event names in any order (a sequence)"""

KINETICS_SOUNDS_LAYOUT = """\
<root>/  (OGM-GE, AVDataset)
    stat.txt (or stat.csv)      the 31 class names, one per line; sorted, their index is the label
    my_train.txt, my_test.txt   one '<class>,<clip>' row per clip, or OGM-GE's
                                data/KineticSound lists '<clip>,<seconds>,<label index>', or
                                BalanceBenchmark's space-separated lines '<clip> ... <label index>'
                                (first token the clip, last the label; then stat.txt is
                                optional: 31 classes)
    audio_spec/<clip>.pkl       pickled 2-D float spectrogram, 257x1004; or audio_spec/<clip>.npy
      or train_spec/<clip>.npy  (the 1024x128 filter banks of OGM-GE's
                                data/KineticSound/process_audio.py, which writes train_spec/;
                                read for both splits when audio_spec/ is absent)
    visual/<clip>/              the clip's frames at 1 fps, frame_00001.jpg ... frame_00010.jpg"""


def _class_name(line: str) -> str:
    """A class-list line's name: the whole line (AVE's names hold commas), unquoted when the
    line is one double-quoted CSV field."""
    if line.startswith('"'):
        row = next(csv.reader([line]))
        if row and row[0].strip():
            return row[0].strip()
    return line


def _read_classes(base: Path, name: str) -> tuple[list[str], Path] | None:
    """The class list ``stat.txt`` (or ``stat.csv``), one name per line, in file order."""
    for file in ("stat.txt", "stat.csv"):
        path = base / file
        if path.is_file():
            classes = [_class_name(line) for _, line in read_lines(path, name)]
            if not classes:
                raise ValueError(f"dataset {name!r}: class list {str(path)!r} is empty")
            duplicates = sorted({c for c in classes if classes.count(c) > 1})
            if duplicates:
                raise ValueError(f"dataset {name!r}: class list {str(path)!r} repeats {duplicates}")
            return classes, path
    return None


def _index_row(line: str) -> tuple[str, int] | None:
    """``(clip, label)`` of a Kinetics-Sounds index row: OGM-GE's ``<clip>,<seconds>,<label>``
    or BalanceBenchmark's space-separated ``<clip> ... <label>`` (``KS_dataset.py``: the first
    token is the clip, used as is, and the last an integer label); else ``None``."""
    if "," in line:
        row = [f.strip() for f in next(csv.reader([line]))]
        if len(row) == 3 and row[0] and row[1].isdigit() and row[2].isdigit():
            return row[0], int(row[2])
        return None
    tokens = line.split()
    if len(tokens) >= 2 and tokens[-1].isdigit():
        return tokens[0], int(tokens[-1])
    return None


def _named_row(line: str, index: Mapping[str, int]) -> tuple[str, str] | None:
    """``(class, clip)`` of an OGM-GE ``<class>,<clip>`` row. The class may hold commas
    (AVE): a quoted first field is taken as is, else the longest run of leading fields that
    is a class name."""
    row = [f.strip() for f in next(csv.reader([line]))]
    if len(row) >= 2 and row[0] in index and row[1]:
        return row[0], row[1]
    parts = line.split(",")
    for k in range(len(parts) - 1, 0, -1):
        candidate = ",".join(parts[:k]).strip()
        if candidate in index and parts[k].strip():
            return candidate, parts[k].strip()
    return None


def _split_lists(base: Path, name: str, own_lists: bool) -> dict[str, Path]:
    lists = {"train": base / "my_train.txt", "test": base / "my_test.txt"}
    if own_lists and not lists["train"].is_file():
        own = {"train": base / "trainSet.txt", "test": base / "testSet.txt"}
        if own["train"].is_file():
            return own
        raise FileNotFoundError(
            f"dataset {name!r}: missing split list {str(lists['train'])!r} (OGM-GE; or AVE's "
            f"own {str(own['train'])!r})"
        )
    return lists


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
    label_order: str | Sequence[str] = "sorted",
    audio_folders: tuple[str, ...] = ("audio_spec",),
) -> DatasetSplits:
    base = require_root(root, name, layout)
    _clip_options(frames, image_size, augment, missing)
    lists = _split_lists(base, name, own_lists=not index_lists)
    lines = {split: read_lines(path, name) for split, path in lists.items()}
    expected = "'<class>,<clip>' or '<class>&<clip>&...'"
    if index_lists:
        expected += " or '<clip>,<seconds>,<label index>' or '<clip> ... <label index>'"
    # AVE's own rows (header skipped), split on '&': the class is the whole first field
    ampersand: dict[str, list[tuple[int, str, str]]] = {"train": [], "test": []}
    for split, path in lists.items():
        for number, line in lines[split]:
            if "&" in line:
                fields = [f.strip() for f in line.split("&")]
                if fields[:2] == ["Category", "VideoID"]:  # AVE's header line
                    continue
                if len(fields) < 2 or not fields[0] or not fields[1]:
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: expected {expected}, "
                        f"got {line!r}"
                    )
                ampersand[split].append((number, fields[0], fields[1]))
            else:
                row = next(csv.reader([line]))
                if len(row) < 2 and not (index_lists and _index_row(line)):
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: expected {expected}, "
                        f"got {line!r}"
                    )
    indexed = index_lists and all(
        "&" not in line and _index_row(line) is not None
        for split in lists
        for _, line in lines[split]
    )
    all_ampersand = all("&" in line for split in lists for _, line in lines[split])
    found = _read_classes(base, name)
    class_file: Path | None = None
    if found is not None:
        known, class_file = found
        source = f"classes from {class_file.name}"
    elif all_ampersand:
        known = sorted({event for rows in ampersand.values() for _, event, _ in rows})
        source = "classes: the events named in the lists (no stat.txt)"
    elif indexed:
        known = []
        source = "label indices from the lists"
    else:
        raise FileNotFoundError(
            f"dataset {name!r}: missing class list {str(base / 'stat.txt')!r} (or stat.csv; "
            "only lists in AVE's own '&' format can do without it)"
        )
    if indexed and found is None:
        classes: list[str] | None = None
        num_classes, order_name = default_classes, "as the lists' label indices"
    elif isinstance(label_order, str) and label_order == "sorted":
        classes, order_name = sorted(known), "sorted (OGM-GE)"
        num_classes = len(classes)
    else:
        classes = _explicit_order(
            name, label_order, known, exact=found is not None, named=("sorted",)
        )
        order_name, num_classes = "explicit", len(classes)
    index = {c: i for i, c in enumerate(classes or [])}
    records: dict[str, list[tuple[str, int]]] = {}
    for split, path in lists.items():
        entries = []
        amp = {number: (event, clip) for number, event, clip in ampersand[split]}
        for number, line in lines[split]:
            if "&" in line:
                if number not in amp:  # the header line
                    continue
                event, clip = amp[number]
                if event not in index:
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: class {event!r} is "
                        f"not in {str(class_file or 'label_order')!r}"
                    )
                entries.append((clip, index[event]))
            elif indexed:
                clip, label = _index_row(line) or ("", -1)
                if label >= num_classes:
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: label index {label} "
                        f"is not below {num_classes}"
                    )
                entries.append((clip, label))
            else:
                named = _named_row(line, index)
                if named is None:
                    first = next(csv.reader([line]))[0].strip()
                    raise ValueError(
                        f"dataset {name!r}: {str(path)!r} line {number}: class {first!r} is "
                        f"not in {str(class_file or 'label_order')!r}"
                    )
                entries.append((named[1], index[named[0]]))
        records[split] = _dedupe(entries)
    audio_dir = next((base / f for f in audio_folders if (base / f).is_dir()), None)
    if audio_dir is None:
        raise FileNotFoundError(
            f"dataset {name!r}: missing audio folder "
            + " or ".join(repr(str(base / f)) for f in audio_folders)
        )
    frame_root = base / "visual"

    def paths(split: str, clip: str) -> tuple[Path, Path]:
        assert audio_dir is not None
        audio = audio_dir / f"{clip}.pkl"
        if not audio.is_file() and (audio_dir / f"{clip}.npy").is_file():
            audio = audio_dir / f"{clip}.npy"
        return audio, frame_root / clip

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
        detail=f"OGM-GE layout ({audio_dir.name}/, visual/; lists {lists['train'].name}, "
        f"{lists['test'].name}); {source}",
        classes=classes,
        order=order_name,
    )


def _load_ave(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 3,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
    label_order: str | Sequence[str] = "sorted",
) -> DatasetSplits:
    """The ``"ave"`` loader (see the module docstring); 3 frames per clip as OGM-GE.

    ``label_order``: ``"sorted"`` (default; OGM-GE's ``dataset.py`` numbers the events in
    Python's ``sorted`` order: Accordion = 0 ... Violin, fiddle = 27) or a sequence of the
    event names (with a class list it must hold exactly its names). AVE's own code numbers
    its 28 events through one-hot ``.h5`` labels and names no order. Without ``stat.txt``
    (lists in AVE's own ``&`` format only) the classes are the events named in the train
    and test lists, sorted as OGM-GE sorts."""
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
        label_order=label_order,
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
    """The ``"kinetics-sounds"`` loader (see the module docstring); 3 frames as OGM-GE.
    Audio from ``audio_spec/`` (OGM-GE's ``AVDataset``) or, when that folder is absent,
    ``train_spec/`` (what OGM-GE's ``process_audio.py`` writes). BalanceBenchmark's
    space-separated lists are read as its ``KS_dataset.py`` reads them: the first token is
    the clip (as is, no extension stripped), the last the integer label."""
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
        audio_folders=("audio_spec", "train_spec"),
    )


# ----------------------------------------------------------------------------- VGGSound

VGGSOUND_WAV = WavSpectrogram(
    sample_rate=16000, seconds=5.0, n_fft=256, hop_length=128, max_offset=5.0, min_seconds=10.0
)
"""OGM-GE's VGGSound audio: 16 kHz, tiled to 10 s, a 5 s window, ``n_fft`` 256, hop 128 ->
129 x 626. Training clips start the window at a random second in [0, 5]; test clips at 0 s
(deterministic). OGM-GE's ``VGGSoundDataset.py`` draws the random start in both modes."""

VGGSOUND_ORDERS: tuple[str, ...] = ("first-appearance", "sorted")

VGGSOUND_LAYOUT = """\
<root>/  (OGM-GE, VGGSound)
    vggsound.csv   the official list: '<youtube id>,<start s>,<label>,<train|test>' rows, no
                   header (labels holding a comma are double-quoted)
    train-audios/train-set/<id>_<start>.wav                    the clip's audio (any rate;
                   resampled to 16 kHz, 5 s window, log-STFT 129x626)
    train-videos/train-set-img/Image-01-FPS/<id>_<start>.mp4/  the clip's frames at 1 fps
    test-audios/test-set/<id>_<start>.wav
    test-videos/test-set-img/Image-01-FPS/<id>_<start>.mp4/
  <start> as written in the csv, or zero-padded to 6 digits (<id>_000030); frame folders
  without the .mp4 suffix are read too; clips with fewer than min_frames (4) frames are left
  out, as OGM-GE and BalanceBenchmark leave out clips with 3 frames or fewer
  or (BalanceBenchmark, VGG_dataset.py: its four roots as these folders)
    video_train/<id>_<start>/, video_test/<id>_<start>/   the clip's frames
    audio_train/<id>_<start>.npy, audio_test/<id>_<start>.npy  a precomputed 2-D spectrogram
  labels (option label_order): 'first-appearance' (OGM-GE, BalanceBenchmark; the default):
    numbered by first appearance among the usable training rows (labels seen only in test
    rows follow, in test order), 'sorted' (the sorted labels of vggsound.csv), or the labels
    in any order (a sequence)"""


def _load_vggsound(
    *,
    root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    frames: int = 3,
    image_size: int = 224,
    augment: bool = True,
    missing: str = "error",
    label_order: str | Sequence[str] = "first-appearance",
    min_frames: int = 4,
) -> DatasetSplits:
    """The ``"vggsound"`` loader (see the module docstring); 3 frames as OGM-GE's
    ``--use_video_frames 3``. VGGSound's YouTube clips are often partly unavailable:
    ``missing="skip"`` drops the clips whose files are absent, as OGM-GE does.

    ``label_order``: ``"first-appearance"`` (default): OGM-GE's ``VGGSoundDataset.py`` and
    BalanceBenchmark's ``VGG_dataset.py`` number the labels in the order they first appear
    among the *usable* training rows (files present, more than 3 frames), so the numbering
    depends on the copy on disk; a label seen only in test rows (OGM-GE asserts that none
    is) is numbered after them, in test order. ``"sorted"``: the sorted distinct labels of
    ``vggsound.csv``. A sequence: the labels by index (it must hold every usable clip's
    label). ``min_frames``: clips whose frame folder holds fewer images are left out
    (default 4: the references keep a clip only if its folder holds more than 3 files) and
    counted in the description. Audio: the test window starts at 0 s (deterministic); OGM-GE
    draws a random start for test clips too."""
    name = "vggsound"
    base = require_root(root, name, VGGSOUND_LAYOUT)
    _clip_options(frames, image_size, augment, missing)
    min_frames = check_int(min_frames, "min_frames", low=1)
    if isinstance(label_order, str):
        check_choice(label_order, "label_order", VGGSOUND_ORDERS)
    path = base / "vggsound.csv"
    rows: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    for number, row in read_rows(path, name):
        if len(row) < 4 or row[3] not in rows or not row[0]:
            raise ValueError(
                f"dataset {name!r}: {str(path)!r} line {number}: expected "
                f"'<youtube id>,<start>,<label>,<train|test>', got {','.join(row)!r}"
            )
        rows[row[3]].append((row[0], row[1], row[2]))

    balance = (base / "video_train").is_dir()  # BalanceBenchmark's four roots

    def paths(split: str, key: str, start: str) -> tuple[Path, Path]:
        if balance:
            return base / f"audio_{split}" / f"{key}.npy", base / f"video_{split}" / key
        ytid = key[: -len(start) - 1]
        padded = f"{ytid}_{int(start):06d}" if start.isdigit() else key
        stems = (key, padded) if padded != key else (key,)
        audio_dir = base / f"{split}-audios" / f"{split}-set"
        frame_dir = base / f"{split}-videos" / f"{split}-set-img" / "Image-01-FPS"
        audio_options = [audio_dir / f"{stem}.wav" for stem in stems]
        frame_options = [frame_dir / f"{stem}{ext}" for stem in stems for ext in (".mp4", "")]
        audio = next((p for p in audio_options if p.is_file()), audio_options[0])
        folder = next((p for p in frame_options if p.is_dir()), frame_options[0])
        return audio, folder

    # the usable clips (the references' rule), in csv order, one entry per clip
    usable: dict[str, list[tuple[Path, Path, str]]] = {}
    skipped = few_frames = 0
    for split, entries in rows.items():
        kept: dict[str, tuple[Path, Path, str]] = {}
        for ytid, start, label in entries:
            key = f"{ytid}_{start}"
            audio, folder = paths(split, key, start)
            problem = AudioVisualClips._problem(audio, folder)
            if problem is not None:
                if missing == "error":
                    raise FileNotFoundError(f"dataset {name!r}: {problem}")
                skipped += 1
                continue
            if len(frame_files(folder)) < min_frames:
                few_frames += 1
                continue
            kept.pop(key, None)
            kept[key] = (audio, folder, label)
        usable[split] = list(kept.values())
    if isinstance(label_order, str) and label_order == "first-appearance":
        classes: list[str] = []
        for split in ("train", "test"):
            for _, _, label in usable[split]:
                if label not in classes:
                    classes.append(label)
        test_only = len(classes) - len({lab for _, _, lab in usable["train"]})
        order_name = "first-appearance (OGM-GE, BalanceBenchmark)" + (
            f", {test_only} label(s) seen only in test rows numbered last" if test_only else ""
        )
    elif isinstance(label_order, str):
        classes = sorted({label for split in rows.values() for _, _, label in split})
        order_name = "sorted"
    else:
        seen = {label for split in usable.values() for _, _, label in split}
        classes = _explicit_order(name, label_order, seen, exact=False, named=VGGSOUND_ORDERS)
        order_name = "explicit"
    index = {c: i for i, c in enumerate(classes)}
    records = {
        split: [(f"{i}", index[label]) for i, (_, _, label) in enumerate(clips)]
        for split, clips in usable.items()
    }

    def clip_paths(split: str, position: str) -> tuple[Path, Path]:
        audio, folder, _ = usable[split][int(position)]
        return audio, folder

    notes = []
    if skipped:
        notes.append(f"{skipped} clip(s) skipped for missing files")
    if few_frames:
        notes.append(f"{few_frames} clip(s) left out for fewer than {min_frames} frames")
    return _clip_splits(
        name,
        records,
        clip_paths,
        num_classes=len(classes),
        frames=frames,
        image_size=image_size,
        augment=augment,
        missing=missing,
        seed=seed,
        wav=VGGSOUND_WAV,
        detail=("BalanceBenchmark layout" if balance else "OGM-GE layout")
        + "".join(f"; {n}" for n in notes),
        classes=classes,
        order=order_name,
    )


# ----------------------------------------------------------------------------- registry

register_dataset(
    "crema-d",
    _load_crema_d,
    "CREMA-D audio-visual emotion recognition, 6 classes (OGM-GE / MMPareto layout; options "
    "frames=1, image_size=224, augment, missing, label_order, fps=1)",
    CREMA_D_LAYOUT,
)
register_dataset(
    "ave",
    _load_ave,
    "AVE audio-visual events, 28 classes (OGM-GE layout; options frames=3, image_size=224, "
    "augment, missing, label_order='sorted')",
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
    "image_size=224, augment, missing='skip' for unavailable clips, "
    "label_order='first-appearance', min_frames=4)",
    VGGSOUND_LAYOUT,
)
