"""``"av-digits"``: real handwritten digits paired by label with spoken digits, built offline.

An AV-MNIST-style audio-visual benchmark (AV-MNIST: V. Vielzeuf, A. Lechervy, S. Pateux and
F. Jurie, "CentralNet: a Multilayer Approach for Multimodal Fusion", ECCV Workshops 2018; used
by MultiBench: P. P. Liang et al., "MultiBench: Multiscale Benchmarks for Multimodal
Representation Learning", NeurIPS Datasets and Benchmarks 2021) that needs no download:

- **image**: the 1797 handwritten digits shipped with scikit-learn
  (``sklearn.datasets.load_digits``, the test part of the UCI "Optical Recognition of
  Handwritten Digits" (optdigits) data: 8x8 images, 17 grey levels), scaled to ``[0, 1]`` and
  upsampled bilinearly to ``image_size x image_size``. As AV-MNIST does, the images are then
  degraded by removing PCA energy: a PCA fitted on the training images keeps only the ``k``
  leading components, ``k`` the smallest number whose explained variance reaches
  ``1 - pca_energy_removed`` (25 % by default), and every image is replaced by its
  reconstruction from them (``pca_energy_removed = 0`` keeps the images as they are).
- **audio**: the English words "zero" .. "nine" synthesized by the eSpeak NG speech
  synthesizer (the library bundled in the ``espeakng-loader`` wheel, see
  `moo_multimodal.data._espeak`; no system program) with several voices (an accent plus a
  speaker variant, e.g. ``en-us+m1``), speeds (words per minute) and pitches (0-99). The
  training split hears only the training voices, the test split only held-out voices (other
  accents and other speaker variants), so
  the audio encoder must generalize across speakers. Each utterance is trimmed of silence,
  scaled to an RMS of 0.1, placed at a seeded random offset in (or centre-cropped to) a window
  of ``hop_length · (frames - 1)`` samples, optionally mixed with **babble** (the sum of
  ``babble_talkers`` other utterances of the same split spoken by its other voices, any word,
  each at a random offset, at ``babble_snr_db`` below the utterance's power; off by default),
  mixed with white Gaussian noise at ``snr_db`` (relative to the utterance's power) and
  turned into a ``n_mels x frames`` log-mel spectrogram
  (`moo_multimodal.data.audio.log_mel_spectrogram`, 22 050 Hz, 512-sample Hann window, hop 256,
  HTK mel scale).
- **pairing**: the images are split by a seeded stratified split (``test_fraction`` of each
  class to the test split, 30 % by default); each image gets an utterance of its label drawn
  uniformly (seeded) from its split's utterances of that word, and its own noise and offset.

Defaults: 6 training voices and 2 held-out test voices x 3 speeds x 3 pitches = 720
utterances (540 for training, 180 for testing), 1258 training / 539 test samples, images
``(1, 28, 28)`` (2 PCA components kept), spectrograms ``(1, 40, 64)`` (0.73 s) at -5 dB SNR.
Building took 4-5 s on two cores shared with another job (synthesis: one fresh eSpeak NG
worker process per voice, up to twice the cores at a time) and is deterministic: the same
options give bit-identical arrays whatever the number of cores (eSpeak NG keeps state between
utterances within a process, so each voice speaks its utterances in a fixed order in a fresh
process, with the engine's random generator seeded). The engine is pinned
(``espeakng-loader==0.2.4``, eSpeak NG 1.52.0): another release may synthesize slightly
different audio, so the cache, not the engine, is the source of truth: its manifest records
the engine.

Difficulty (measured with scikit-learn's logistic regression, ``C = 0.1``, on the standardized
raw inputs of the training split, test accuracy, seed 0, other options default, eSpeak NG
1.52.0): image alone 0.57 (the PCA degradation caps it); audio alone 0.97 at 10 dB SNR, 0.88
at 0 dB, 0.73 at -5 dB, 0.51 at -10 dB; both concatenated 0.97, 0.94, 0.88, 0.78. At the
default -5 dB neither modality suffices and their fusion is clearly better than either, as in
AV-MNIST; audio is the stronger modality there and the image the stronger one below about
-9 dB.

The cache (``root``; default ``$XDG_CACHE_HOME/moo-toolkit/av-digits``, i.e.
``~/.cache/moo-toolkit/av-digits``) holds ``manifest.json`` (the build options, the
engine and its version, the number of PCA components kept, and per file its SHA-256, shape and
dtype) and five ``.npy`` files over all 1797 samples: ``images.npy`` (float32
``(N, 1, S, S)``), ``spectrograms.npy`` (float32 ``(N, 1, n_mels, frames)``), ``labels.npy``
(int64 ``(N,)``), ``split.npy`` (uint8 ``(N,)``: 0 train, 1 test) and ``utterances.npy`` (int32
``(N, 3)``: voice index into the manifest's ``voices``, speed, pitch). Every file is written
atomically and the manifest last. Loading checks the manifest and every checksum: a missing,
truncated or corrupted file is never used, the cache is **rebuilt** (with a warning), and so
is a cache built with other options (the folder holds one build; loading with other options
replaces it, with a warning). A valid cache loads without the engine (and without
scikit-learn); building needs both and raises `EspeakNotFoundError`, with the ``pip install``
line, when the engine is missing. Concurrent loaders of one folder are serialized by a lock file
``.lock`` (POSIX ``flock``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moo.io import atomic_write_bytes
from moo_multimodal.data import _espeak
from moo_multimodal.data._dataset import DatasetSplits, TensorDataset
from moo_multimodal.data._espeak import EspeakNotFoundError
from moo_multimodal.data._registry import register_dataset
from moo_multimodal.data.audio import HOP_LENGTH, N_FFT, log_mel_spectrogram

__all__ = [
    "DEFAULT_PITCHES",
    "DEFAULT_SPEEDS",
    "DEFAULT_TEST_VOICES",
    "DEFAULT_TRAIN_VOICES",
    "FILES",
    "MANIFEST",
    "WORDS",
    "EspeakNotFoundError",
    "build_av_digits",
    "default_root",
    "load_av_digits",
]

NAME = "av-digits"
FORMAT_VERSION = 2
"""Bumped whenever the build changes what the same options produce (old caches rebuild)."""

WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip
"""The spoken word of each label."""

DEFAULT_TRAIN_VOICES: tuple[str, ...] = (
    "en-us+m1",
    "en+f2",
    "en-gb-scotland+m3",
    "en-gb-x-rp+f4",
    "en-029+m6",
    "en-us+f1",
)
"""eSpeak NG voices (``accent+variant``) of the training split."""
DEFAULT_TEST_VOICES: tuple[str, ...] = ("en-gb-x-gbcwmd+m4", "en-gb-x-gbclan+f5")
"""Held-out voices of the test split: accents and speaker variants unseen in training."""
DEFAULT_SPEEDS: tuple[int, ...] = (130, 165, 200)
"""Speaking rates (words per minute; eSpeak NG's default is 175)."""
DEFAULT_PITCHES: tuple[int, ...] = (35, 50, 65)
"""Pitches (0-99; eSpeak NG's default is 50)."""

MANIFEST = "manifest.json"
FILES: tuple[str, ...] = (
    "images.npy",
    "spectrograms.npy",
    "labels.npy",
    "split.npy",
    "utterances.npy",
)
"""The cache's array files (besides `MANIFEST`)."""

CNN_ENCODER: tuple[str, dict[str, Any]] = ("cnn", {"channels": (16, 32, 64)})
"""The recommended encoder of both modalities. Two blocks, ``(16, 32)``, are too shallow: the
global average pool then sees 5x5 patches and discards the layout of the spectrogram
(measured at 10 dB, one modality alone, Adam 1e-3, batch 64, 6 epochs: audio test accuracy
0.30 with ``(16, 32)``, 0.78 with ``(16, 32, 64)``, 0.93 with ``(32, 64, 128)``; image 0.45,
0.57, 0.61)."""

_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+\-]*")
_TRIM = 0.01  # silence threshold, relative to the utterance's peak
_RMS = 0.1  # utterance level after scaling
_CHUNK = 256  # samples per log-mel batch


def default_root() -> Path:
    """The default cache folder: ``$XDG_CACHE_HOME/moo-toolkit/av-digits`` (``XDG_CACHE_HOME``
    defaults to ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "moo-toolkit" / NAME


# ----------------------------------------------------------------------------------------------
# options
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """The normalized build options (what the manifest records and compares)."""

    seed: int
    image_size: int
    pca_energy_removed: float
    n_mels: int
    frames: int
    snr_db: float | None
    test_fraction: float
    train_voices: tuple[str, ...]
    test_voices: tuple[str, ...]
    speeds: tuple[int, ...]
    pitches: tuple[int, ...]
    babble_snr_db: float | None = None
    babble_talkers: int = 4

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``options``: these plus the fixed STFT sizes and the format.

        Without babble, ``babble_talkers`` (which then changes nothing) is left out and
        ``babble_snr_db`` is ``None``, as in the manifests written before babble existed, so
        those caches stay valid."""
        out: dict[str, Any] = json.loads(json.dumps(asdict(self)))
        if self.babble_snr_db is None:
            del out["babble_snr_db"], out["babble_talkers"]
        out.update(n_fft=N_FFT, hop_length=HOP_LENGTH, format_version=FORMAT_VERSION)
        return out

    @property
    def voices(self) -> tuple[str, ...]:
        return self.train_voices + self.test_voices


def _int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, float) and value.is_integer():  # "--data frames=64.0", CLI lists
        value = int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < low
        or (high is not None and value > high)
    ):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def _items(value: Any, name: str) -> list[Any]:
    """A list from a sequence, a comma-separated string or a single value."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def _voices(value: Any, name: str) -> tuple[str, ...]:
    voices = _items(value, name)
    if not voices:
        raise ValueError(f"{name} must name at least one eSpeak NG voice, got {value!r}")
    for v in voices:
        if not isinstance(v, str) or not _VOICE.fullmatch(v):
            raise ValueError(
                f"{name} must hold eSpeak NG voice names such as 'en-us' or 'en+f2' "
                f"({_espeak.VOICE_HINT}), got {v!r}"
            )
    if len(set(voices)) != len(voices):
        raise ValueError(f"{name} has duplicate voices: {voices}")
    return tuple(voices)


def _numbers(value: Any, name: str, low: int, high: int) -> tuple[int, ...]:
    items = _items(value, name)
    if not items:
        raise ValueError(f"{name} must hold at least one value, got {value!r}")
    out = tuple(_int(v, f"each of {name}", low, high) for v in items)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicate values: {list(out)}")
    return out


def _normalize(
    *,
    seed: Any,
    image_size: Any,
    pca_energy_removed: Any,
    n_mels: Any,
    frames: Any,
    snr_db: Any,
    test_fraction: Any,
    train_voices: Any,
    test_voices: Any,
    speeds: Any,
    pitches: Any,
    babble_snr_db: Any,
    babble_talkers: Any,
) -> _Options:
    removed = _real(pca_energy_removed, "pca_energy_removed")
    if not 0.0 <= removed < 1.0:
        raise ValueError(f"pca_energy_removed must lie in [0, 1), got {pca_energy_removed!r}")
    fraction = _real(test_fraction, "test_fraction")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    train = _voices(train_voices, "train_voices")
    test = _voices(test_voices, "test_voices")
    shared = sorted(set(train) & set(test))
    if shared:
        raise ValueError(
            f"train_voices and test_voices must be disjoint (test voices are held out), "
            f"both hold {shared}"
        )
    return _Options(
        seed=_int(seed, "seed", 0),
        image_size=_int(image_size, "image_size", 8),
        pca_energy_removed=removed,
        n_mels=_int(n_mels, "n_mels", 1, N_FFT // 2),
        frames=_int(frames, "frames", 2),
        snr_db=None if snr_db is None else _real(snr_db, "snr_db"),
        test_fraction=fraction,
        train_voices=train,
        test_voices=test,
        speeds=_numbers(speeds, "speeds", 80, 450),
        pitches=_numbers(pitches, "pitches", 0, 99),
        babble_snr_db=None if babble_snr_db is None else _real(babble_snr_db, "babble_snr_db"),
        babble_talkers=_int(babble_talkers, "babble_talkers", 1),
    )


# ----------------------------------------------------------------------------------------------
# the cache
# ----------------------------------------------------------------------------------------------


def _resolve_root(root: str | os.PathLike[str] | None) -> Path:
    path = default_root() if root is None else Path(root).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"root must be a folder for the av-digits cache, got the file {str(path)!r}"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path/.lock`` (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # Windows: no cross-process lock
        yield
        return
    with open(path / ".lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _expected_shapes(opts: _Options, n: int) -> dict[str, tuple[tuple[int, ...], str]]:
    s = opts.image_size
    return {
        "images.npy": ((n, 1, s, s), "float32"),
        "spectrograms.npy": ((n, 1, opts.n_mels, opts.frames), "float32"),
        "labels.npy": ((n,), "int64"),
        "split.npy": ((n,), "uint8"),
        "utterances.npy": ((n, 3), "int32"),
    }


def _read_cache(path: Path, opts: _Options) -> tuple[dict[str, Any] | None, str | None]:
    """``(cache, None)`` for a valid cache of ``opts``; ``(None, reason)`` otherwise, the
    reason ``None`` for an empty folder (a first build, nothing to warn about)."""
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        present = [f for f in FILES if (path / f).exists()]
        return None, (f"{MANIFEST} is missing (found {present})" if present else None)
    try:
        manifest = json.loads(manifest_path.read_bytes())
        files = manifest["files"]
        cached = manifest["options"]
        n = int(manifest["counts"]["samples"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{MANIFEST} is unreadable ({type(exc).__name__}: {exc})"
    if manifest.get("dataset") != NAME or cached.get("format_version") != FORMAT_VERSION:
        return None, (
            f"{MANIFEST} is not an av-digits cache of format {FORMAT_VERSION} "
            f"(dataset {manifest.get('dataset')!r}, format {cached.get('format_version')!r})"
        )
    wanted = opts.to_json()
    if cached != wanted:
        keys = sorted(k for k in set(cached) | set(wanted) if cached.get(k) != wanted.get(k))
        diff = ", ".join(f"{k}: {cached.get(k)!r} -> {wanted.get(k)!r}" for k in keys)
        return None, f"it was built with other options ({diff})"
    arrays: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in _expected_shapes(opts, n).items():
        try:
            data = (path / name).read_bytes()
        except OSError as exc:
            return None, f"{name} is unreadable ({type(exc).__name__}: {exc})"
        digest = hashlib.sha256(data).hexdigest()
        entry = files.get(name) if isinstance(files, dict) else None
        if not isinstance(entry, dict) or entry.get("sha256") != digest:
            return None, f"{name} does not match its SHA-256 checksum in {MANIFEST}"
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError) as exc:
            return None, f"{name} is not a readable .npy file ({exc})"
        if array.shape != shape or array.dtype != np.dtype(dtype):
            return None, (
                f"{name} has shape {array.shape} and dtype {array.dtype}, expected {shape} "
                f"and {dtype}"
            )
        arrays[name] = array
    return {"manifest": manifest, "arrays": arrays}, None


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _write_cache(
    path: Path, opts: _Options, arrays: dict[str, np.ndarray], info: dict[str, Any]
) -> dict[str, Any]:
    """Write the arrays then the manifest (each atomically); return the manifest."""
    with contextlib.suppress(FileNotFoundError):  # a crash below leaves no stale manifest
        (path / MANIFEST).unlink()
    files: dict[str, dict[str, Any]] = {}
    for name in FILES:
        data = _npy_bytes(arrays[name])
        atomic_write_bytes(path / name, data)
        files[name] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "shape": list(arrays[name].shape),
            "dtype": str(arrays[name].dtype),
        }
    manifest = {
        "dataset": NAME,
        "options": opts.to_json(),
        **info,
        "files": files,
    }
    atomic_write_bytes(path / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


# ----------------------------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------------------------


def _check_voices(voices: Sequence[str], probes: dict[str, np.ndarray]) -> None:
    """Fail unless every voice sounds different from its base voice and from every other one.

    eSpeak NG selects voices loosely: some accents ignore variants (``en-gb+f2`` sounds
    exactly like ``en-gb``; ``en+f2`` works) and two names can select one voice (``en`` and
    ``en-gb``), which would let held-out test voices be training voices. Every voice's probe
    (`_espeak.PROBE`, spoken first by a fresh process) is compared sample for sample with its
    base voice's and with every other voice's.
    """
    for voice in voices:
        base, plus, variant = voice.partition("+")
        if plus and np.array_equal(probes[voice], probes[base]):
            raise RuntimeError(
                f"eSpeak NG voice {voice!r} sounds exactly like {base!r}: eSpeak NG ignores "
                f"the variant {variant!r} there; {_espeak.VOICE_HINT}"
            )
    seen: dict[bytes, str] = {}
    for voice in voices:
        key = probes[voice].tobytes()
        if key in seen:
            raise RuntimeError(
                f"eSpeak NG voices {seen[key]!r} and {voice!r} sound exactly alike (both name "
                f"one voice); {_espeak.VOICE_HINT}"
            )
        seen[key] = voice


def _synthesize(
    jobs: Sequence[tuple[str, str, int, int]], voices: Sequence[str], workers: int
) -> tuple[list[np.ndarray], int, str]:
    """The int16 waveform of every ``(word, voice, speed, pitch)`` job (in order), the sample
    rate and the engine's version, after `_check_voices`. ``jobs`` must hold the same
    ``(word, speed, pitch)`` list for every voice."""
    per_voice = [(w, s, p) for w, v, s, p in jobs if v == voices[0]]
    bases = sorted({v.partition("+")[0] for v in voices if "+" in v} - set(voices))
    spoken = _espeak.synthesize(per_voice, voices, probe_voices=bases, workers=workers)
    _check_voices(voices, spoken.probes)
    index = {u: i for i, u in enumerate(per_voice)}
    waves = [spoken.waves[v][index[(w, s, p)]] for w, v, s, p in jobs]
    return waves, spoken.sample_rate, spoken.engine


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dev dependency
        raise ImportError(
            "building the av-digits cache needs scikit-learn (its bundled digits images): "
            "pip install scikit-learn"
        ) from exc
    digits = load_digits()
    return np.asarray(digits.images, dtype=np.float64), np.asarray(digits.target, np.int64)


def _stratified_split(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``split[i] = 1`` for the test samples: ``round(fraction · n_c)`` per class (at least
    one, at most ``n_c - 1``), drawn without replacement."""
    split = np.zeros(labels.shape[0], dtype=np.uint8)
    for c in range(len(WORDS)):
        idx = np.flatnonzero(labels == c)
        n_test = min(max(1, round(fraction * idx.size)), idx.size - 1)
        split[rng.permutation(idx)[:n_test]] = 1
    return split


def _images(raw: np.ndarray, split: np.ndarray, opts: _Options) -> tuple[np.ndarray, int]:
    """Upsampled, PCA-degraded images ``(N, 1, S, S)`` float32 and the components kept.

    Bilinear upsampling is linear: ``x = z A`` for the 8x8 image ``z`` (64 values) and the
    ``64 x S²`` matrix ``A`` (`torch.nn.functional.interpolate` of the 64 unit images). The
    PCA of the upsampled training images is computed exactly in that 64-dimensional space
    (``A^T = Q R``, SVD of ``(Z - z̄) R^T = U Σ W^T``, principal directions ``W^T Q^T``),
    which is ~100 times cheaper than an SVD of the ``n x S²`` images.
    """
    s = opts.image_size
    # torch.linalg, not numpy's: NumPy's OpenBLAS threads right after torch's OpenMP ones
    # contend for the cores (measured: a 1258 x 64 SVD took 1 s instead of 10 ms)
    units = torch.eye(64, dtype=torch.float64).reshape(64, 1, 8, 8)
    up = torch.nn.functional.interpolate(units, size=(s, s), mode="bilinear", align_corners=False)
    a = up.reshape(64, s * s)
    z = torch.from_numpy(raw.reshape(raw.shape[0], 64) / 16.0)
    flat = z @ a
    k = s * s
    if opts.pca_energy_removed > 0:
        train = z[torch.from_numpy(split == 0)]
        centre = train.mean(dim=0)
        q, r = torch.linalg.qr(a.T)
        _, sv, wt = torch.linalg.svd((train - centre) @ r.T, full_matrices=False)
        ratio = torch.cumsum(sv**2, 0) / torch.sum(sv**2)
        keep = 1.0 - opts.pca_energy_removed
        k = int(torch.searchsorted(ratio, keep - 1e-12)) + 1
        basis = wt[:k] @ q.T  # (k, S²), orthonormal rows
        mean = centre @ a
        flat = (flat - mean) @ basis.T @ basis + mean
    return flat.reshape(-1, 1, s, s).to(torch.float32).numpy(), k


def _prepare(samples: np.ndarray) -> np.ndarray:
    """An utterance trimmed of leading/trailing silence and scaled to RMS `_RMS` (float64)."""
    x = samples.astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.abs(x) > _TRIM * np.abs(x).max())
    x = x[loud[0] : loud[-1] + 1]
    return x * (_RMS / math.sqrt(float(np.mean(x**2))))


def _place(wave: np.ndarray, x: np.ndarray, offset: int) -> None:
    """Add ``x`` into ``wave`` starting at ``offset`` (negative: its head is cut; what runs
    past the end is cut)."""
    lo, hi = max(offset, 0), min(offset + x.size, wave.size)
    if hi > lo:
        wave[lo:hi] += x[lo - offset : hi - offset]


def _babble_choice(
    choice: np.ndarray,
    sample_split: np.ndarray,
    utterance_voice: np.ndarray,
    utterance_split: np.ndarray,
    talkers: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(N, talkers)`` babble utterances per sample: drawn without replacement from its
    split's utterances spoken by the other voices of that split (any word, speed and pitch,
    the sample's own word included, so the babble says nothing about the label); from the
    split's other utterances when the split has a single voice."""
    out = np.empty((choice.shape[0], talkers), dtype=np.int64)
    others: dict[tuple[int, int], np.ndarray] = {}  # (split, voice): the split's other voices
    for i, (u, part) in enumerate(zip(choice, sample_split, strict=True)):
        key = (int(part), int(utterance_voice[u]))
        if key not in others:
            same = utterance_split == part
            others[key] = np.flatnonzero(same & (utterance_voice != utterance_voice[u]))
        pool = others[key]
        if pool.size == 0:  # one voice in the split
            pool = np.flatnonzero(
                (utterance_split == part) & (np.arange(utterance_split.size) != u)
            )
        out[i] = rng.choice(pool, size=talkers, replace=pool.size < talkers)
    return out


def _spectrograms(
    utterances: list[np.ndarray],
    choice: np.ndarray,
    opts: _Options,
    sample_rate: int,
    rng_shift: np.random.Generator,
    rng_noise: np.random.Generator,
    babble: tuple[np.ndarray, np.random.Generator] | None = None,
) -> np.ndarray:
    """Log-mel spectrograms ``(N, 1, n_mels, frames)`` of the chosen utterances, each at its
    own random offset with its own noise (float32 throughout: twice as fast as float64).

    With ``babble`` (``(N, talkers)`` utterance indices from `_babble_choice`, and the
    generator of their offsets), each sample's
    babble is the sum of those utterances, each at a random offset that keeps at least half
    of it in the window, scaled to ``opts.babble_snr_db`` below the utterance's power (the
    babble's power measured over the window), before the white noise of ``opts.snr_db``."""
    length = HOP_LENGTH * (opts.frames - 1)
    sigma = 0.0 if opts.snr_db is None else _RMS / 10.0 ** (opts.snr_db / 20.0)
    level = 0.0 if opts.babble_snr_db is None else _RMS / 10.0 ** (opts.babble_snr_db / 20.0)
    n = choice.shape[0]
    talkers, rng_babble = (None, None) if babble is None else babble
    out = np.empty((n, 1, opts.n_mels, opts.frames), dtype=np.float32)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        waves = np.zeros((stop - start, length), dtype=np.float32)
        for row, u in enumerate(choice[start:stop]):
            x = utterances[u]
            if x.size >= length:
                off = (x.size - length) // 2
                waves[row] = x[off : off + length]
            else:
                off = int(rng_shift.integers(0, length - x.size + 1))
                waves[row, off : off + x.size] = x
            if talkers is not None and rng_babble is not None:
                noise = np.zeros(length, dtype=np.float64)
                for b in talkers[start + row]:
                    y = utterances[b]
                    half = y.size // 2
                    _place(noise, y, int(rng_babble.integers(-half, length - half + 1)))
                power = float(np.mean(noise**2))
                if power > 0.0:
                    waves[row] += (noise * (level / math.sqrt(power))).astype(np.float32)
        if sigma > 0:
            waves += np.float32(sigma) * rng_noise.standard_normal(waves.shape, np.float32)
        mel = log_mel_spectrogram(
            torch.from_numpy(waves), sample_rate=sample_rate, n_mels=opts.n_mels
        )
        out[start:stop, 0] = mel.numpy()
    return out


def _build(path: Path, opts: _Options) -> dict[str, Any]:
    """Synthesize, pair and write the cache; return it as `_read_cache` does."""
    # one worker process per voice (see _espeak); they mostly wait on process start-up
    workers = min(8, 2 * (os.cpu_count() or 1))
    jobs = [
        (word, voice, speed, pitch)
        for voice in opts.voices
        for word in WORDS
        for speed in opts.speeds
        for pitch in opts.pitches
    ]
    waves, sample_rate, engine = _synthesize(jobs, opts.voices, workers)
    prepared = [_prepare(w) for w in waves]

    raw, labels = _load_digits()
    # SeedSequence children depend on their index only: the babble's stream (the fifth)
    # leaves the other four, and so the caches built without babble, unchanged
    rng_split, rng_pair, rng_shift, rng_noise, rng_babble = (
        np.random.default_rng(s) for s in np.random.SeedSequence(opts.seed).spawn(5)
    )
    split = _stratified_split(labels, opts.test_fraction, rng_split)
    images, components = _images(raw, split, opts)

    voice_index = {v: i for i, v in enumerate(opts.voices)}
    meta = np.array(
        [(voice_index[v], s, p) for _, v, s, p in jobs], dtype=np.int32
    )  # per utterance
    words = np.array([WORDS.index(w) for w, _, _, _ in jobs])
    is_test_voice = meta[:, 0] >= len(opts.train_voices)
    choice = np.empty(labels.shape[0], dtype=np.int64)
    for part in (0, 1):
        for c in range(len(WORDS)):
            members = np.flatnonzero((split == part) & (labels == c))
            pool = np.flatnonzero((words == c) & (is_test_voice == bool(part)))
            choice[members] = pool[rng_pair.integers(0, pool.size, size=members.size)]
    babble = None
    if opts.babble_snr_db is not None:
        talkers = _babble_choice(
            choice, split, meta[:, 0], is_test_voice.astype(np.uint8), opts.babble_talkers,
            rng_babble,
        )  # fmt: skip
        babble = (talkers, rng_babble)
    spectrograms = _spectrograms(prepared, choice, opts, sample_rate, rng_shift, rng_noise, babble)

    arrays = {
        "images.npy": images,
        "spectrograms.npy": spectrograms,
        "labels.npy": labels,
        "split.npy": split,
        "utterances.npy": meta[choice],
    }
    info = {
        "format_version": FORMAT_VERSION,
        "espeak_ng": engine,
        "sample_rate": sample_rate,
        "pca_components": components,
        "voices": list(opts.voices),
        "counts": {
            "samples": int(labels.shape[0]),
            "train": int(np.sum(split == 0)),
            "test": int(np.sum(split == 1)),
            "utterances": len(jobs),
        },
    }
    manifest = _write_cache(path, opts, arrays, info)
    return {"manifest": manifest, "arrays": arrays}


def _ensure(
    root: str | os.PathLike[str] | None, opts: _Options, rebuild: bool
) -> tuple[Path, dict[str, Any]]:
    if not isinstance(rebuild, bool):
        raise ValueError(f"rebuild must be a bool, got {rebuild!r}")
    path = _resolve_root(root)
    with _locked(path):
        if not rebuild:
            cache, reason = _read_cache(path, opts)
            if cache is not None:
                return path, cache
            if reason is not None:
                warnings.warn(
                    f"av-digits cache at {str(path)!r}: {reason}; rebuilding it",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return path, _build(path, opts)


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------


def build_av_digits(
    root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    image_size: int = 28,
    pca_energy_removed: float = 0.75,
    n_mels: int = 40,
    frames: int = 64,
    snr_db: float | None = -5.0,
    test_fraction: float = 0.3,
    train_voices: Sequence[str] | str = DEFAULT_TRAIN_VOICES,
    test_voices: Sequence[str] | str = DEFAULT_TEST_VOICES,
    speeds: Sequence[int] | int = DEFAULT_SPEEDS,
    pitches: Sequence[int] | int = DEFAULT_PITCHES,
    babble_snr_db: float | None = None,
    babble_talkers: int = 4,
    rebuild: bool = False,
) -> Path:
    """Make sure ``root`` holds a valid av-digits cache built with these options; return it.

    Reuses a valid cache (checksums verified); builds one when the folder has none, when a
    file is missing or corrupted, when it was built with other options (each with a
    ``RuntimeWarning``) or when ``rebuild`` is true. See `load_av_digits` for the options.

    Raises:
        ValueError: a bad option (the message names it and its value).
        EspeakNotFoundError: a build is needed and the ``espeakng-loader`` wheel is missing.
        RuntimeError: eSpeak NG failed (e.g. an unknown voice; the message names the voice).
    """
    opts = _normalize(
        seed=seed,
        image_size=image_size,
        pca_energy_removed=pca_energy_removed,
        n_mels=n_mels,
        frames=frames,
        snr_db=snr_db,
        test_fraction=test_fraction,
        train_voices=train_voices,
        test_voices=test_voices,
        speeds=speeds,
        pitches=pitches,
        babble_snr_db=babble_snr_db,
        babble_talkers=babble_talkers,
    )
    path, _ = _ensure(root, opts, rebuild)
    return path


def load_av_digits(
    root: str | os.PathLike[str] | None = None,
    *,
    seed: int = 0,
    image_size: int = 28,
    pca_energy_removed: float = 0.75,
    n_mels: int = 40,
    frames: int = 64,
    snr_db: float | None = -5.0,
    test_fraction: float = 0.3,
    train_voices: Sequence[str] | str = DEFAULT_TRAIN_VOICES,
    test_voices: Sequence[str] | str = DEFAULT_TEST_VOICES,
    speeds: Sequence[int] | int = DEFAULT_SPEEDS,
    pitches: Sequence[int] | int = DEFAULT_PITCHES,
    babble_snr_db: float | None = None,
    babble_talkers: int = 4,
    rebuild: bool = False,
) -> DatasetSplits:
    """The av-digits benchmark (see the module docstring), built into ``root`` if needed.

    Args:
        root: the cache folder (created if missing); ``None`` uses `default_root`.
        seed: the split, the pairing, the offsets and the noise (not the synthesis).
        image_size: the side ``S >= 8`` the 8x8 digits are upsampled to (bilinear).
        pca_energy_removed: the fraction of the training images' PCA variance removed, in
            ``[0, 1)``; 0.75 as in AV-MNIST, 0 keeps the images intact.
        n_mels: mel bands of the spectrograms (``1 .. 256``).
        frames: spectrogram frames (``>= 2``; the window is ``256 · (frames - 1)`` samples at
            22 050 Hz, 0.73 s for 64); longer utterances are centre-cropped, shorter ones
            zero-padded at a random offset.
        snr_db: the signal-to-noise ratio of the additive white noise in dB (-5 by default:
            see "Difficulty" in the module docstring); ``None``: no noise.
        babble_snr_db: the signal-to-babble ratio in dB (the babble's power over the
            window); ``None`` (default): no babble. Babble is speech the encoder must learn
            to ignore, where white noise only masks: see docs/reproduction.md for the
            variant where joint training leaves the audio encoder under-trained.
        babble_talkers: the number of utterances summed into each sample's babble (``>= 1``;
            recorded only with babble).
        test_fraction: the fraction of each class in the test split, in ``(0, 1)``.
        train_voices: eSpeak NG voices of the training audio (a sequence or a comma-separated
            string); test_voices: the held-out voices of the test audio (disjoint from them).
        speeds: speaking rates in words per minute (``80 .. 450``).
        pitches: pitches (``0 .. 99``). The synthesis makes ``10 · voices · speeds ·
            pitches`` utterances; fewer voices, speeds or pitches build faster.
        rebuild: rebuild even if the cache is valid.

    Returns:
        `DatasetSplits` named ``"av-digits"``: float32 `TensorDataset` splits with modalities
        ``"image"`` ``(1, S, S)`` and ``"audio"`` ``(1, n_mels, frames)``, 10 classes, and the
        ``"cnn"`` encoder recommended for both.

    Raises:
        ValueError: a bad option (the message names it and its value), or ``root`` a file.
        EspeakNotFoundError: a build is needed and the ``espeakng-loader`` wheel is missing.
        RuntimeError: eSpeak NG failed (e.g. an unknown voice; the message names the voice).
    """
    opts = _normalize(
        seed=seed,
        image_size=image_size,
        pca_energy_removed=pca_energy_removed,
        n_mels=n_mels,
        frames=frames,
        snr_db=snr_db,
        test_fraction=test_fraction,
        train_voices=train_voices,
        test_voices=test_voices,
        speeds=speeds,
        pitches=pitches,
        babble_snr_db=babble_snr_db,
        babble_talkers=babble_talkers,
    )
    path, cache = _ensure(root, opts, rebuild)
    arrays = cache["arrays"]
    manifest = cache["manifest"]
    split = arrays["split.npy"]

    def part(mask: np.ndarray) -> TensorDataset:
        return TensorDataset(
            {
                "image": torch.from_numpy(arrays["images.npy"][mask]),
                "audio": torch.from_numpy(arrays["spectrograms.npy"][mask]),
            },
            torch.from_numpy(arrays["labels.npy"][mask]),
            num_classes=len(WORDS),
        )

    train, test = part(split == 0), part(split == 1)
    noise = "no noise" if opts.snr_db is None else f"SNR {opts.snr_db:g} dB"
    if opts.babble_snr_db is not None:
        noise += (
            f", babble of {opts.babble_talkers} other-voice utterances at SNR "
            f"{opts.babble_snr_db:g} dB"
        )
    description = (
        f"av-digits ({len(train)} train / {len(test)} test, seed {opts.seed}): scikit-learn "
        f"digits (UCI optdigits) upsampled to {opts.image_size}x{opts.image_size} with "
        f"{opts.pca_energy_removed:.0%} of the PCA energy removed "
        f"({manifest['pca_components']} components kept), paired by label with eSpeak NG "
        f"spoken digits ({len(opts.train_voices)} training and {len(opts.test_voices)} "
        f"held-out test voices x {len(opts.speeds)} speeds x {len(opts.pitches)} pitches, "
        f"{noise}) as {opts.n_mels}x{opts.frames} log-mel spectrograms; cache {str(path)!r}"
    )
    return DatasetSplits(
        name=NAME,
        train=train,
        test=test,
        encoders={m: (CNN_ENCODER[0], dict(CNN_ENCODER[1])) for m in ("image", "audio")},
        description=description,
    )


register_dataset(
    NAME,
    load_av_digits,
    "scikit-learn's 1797 handwritten digits (PCA-degraded as in AV-MNIST) paired by label with "
    "eSpeak NG spoken digits as log-mel spectrograms, held-out test voices; built offline",
    "a cache folder (default ~/.cache/moo-toolkit/av-digits; built on first use with the "
    "espeakng-loader wheel): manifest.json (build options, SHA-256 per file) + images.npy, "
    "spectrograms.npy, labels.npy, split.npy, utterances.npy",
)
