"""Audio features without torchaudio or librosa: the log-mel spectrograms of ``av-digits`` and
the ``.wav`` log-magnitude spectrograms of the OGM-GE clip sets.

**Log-mel** (used by `moo_multimodal.data.av_digits`): ``log_mel_spectrogram(wave)`` computes,
for waveforms ``(..., L)`` sampled at ``sample_rate``:

1. the short-time Fourier transform with `torch.stft`: a periodic Hann window of ``n_fft``
   samples, hop ``hop_length``, ``center=True`` with zero padding (frame ``t`` is centred on
   sample ``t · hop_length``, so there are ``1 + L // hop_length`` frames), one-sided;
2. its power ``|X|²`` (`stft_power`);
3. ``n_mels`` triangular filters equally spaced on the **HTK** mel scale
   ``mel(f) = 2595 · log10(1 + f / 700)`` between ``f_min`` and ``f_max`` (`mel_filterbank`,
   built in NumPy; each triangle peaks at 1, no area normalization, as HTK and
   ``librosa.filters.mel(htk=True, norm=None)`` do);
4. ``log(mel_power + eps)``.

Defaults (`SAMPLE_RATE`, `N_FFT`, `HOP_LENGTH`, `N_MELS`) suit eSpeak NG's 22 050 Hz speech:
a 512-sample window (23 ms), a 256-sample hop (11.6 ms) and 40 mel bands up to 11 025 Hz.
Computation is in float64 for waveforms given as float64 (float32 otherwise).

**Wav spectrograms** (used by `moo_multimodal.data.clips` for CREMA-D and VGGSound, as
librosa's ``load`` + ``stft`` in the references): `read_wav` reads a PCM or float ``.wav`` with
scipy and averages it to mono; `wav_spectrogram` resamples it with
``scipy.signal.resample_poly`` (in place of librosa's resampler), tiles and cuts it as a
`WavSpectrogram` says and returns ``log(|STFT| + 1e-7)``: a periodic Hann window, centred
frames with **reflect** padding (librosa's default), in NumPy float64.

The two STFTs stay separate: they differ in padding (zeros / reflect), in what they return
(power / magnitude) and in FFT (torch / NumPy), and the same transform computed by the other
path differs in the last bits (relative differences up to about 1e-11), so sharing one would
change the output of one of them.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from moo.validation import check_int, check_real

__all__ = [
    "HOP_LENGTH",
    "N_FFT",
    "N_MELS",
    "SAMPLE_RATE",
    "WavSpectrogram",
    "hz_to_mel",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mel_to_hz",
    "read_wav",
    "stft_power",
    "wav_spectrogram",
]

SAMPLE_RATE = 22050
"""eSpeak NG's output rate (Hz)."""
N_FFT = 512
"""STFT window and FFT length (samples)."""
HOP_LENGTH = 256
"""STFT hop (samples)."""
N_MELS = 40
"""Mel bands."""


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale: ``2595 · log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """The inverse of `hz_to_mel`: ``700 · (10^(m / 2595) - 1)``."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> np.ndarray:
    """Triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)`` (float64).

    Filter ``m`` rises linearly from the ``m``-th to the ``(m+1)``-th of ``n_mels + 2`` points
    equally spaced on the HTK mel scale between ``f_min`` and ``f_max`` (default: Nyquist)
    and falls to the ``(m+2)``-th, evaluated at the FFT bin frequencies
    ``k · sample_rate / n_fft``; the peak is 1.

    Raises:
        ValueError: a non-positive ``sample_rate``, ``n_fft`` or ``n_mels``, or not
            ``0 <= f_min < f_max <= sample_rate / 2``.
    """
    sample_rate = check_int(sample_rate, "sample_rate", low=1)
    n_fft = check_int(n_fft, "n_fft", low=1)
    n_mels = check_int(n_mels, "n_mels", low=1)
    nyquist = sample_rate / 2.0
    top = nyquist if f_max is None else float(f_max)
    if not (math.isfinite(f_min) and 0.0 <= f_min < top <= nyquist):
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {nyquist:g}, got f_min={f_min!r}, "
            f"f_max={f_max!r}"
        )
    freqs = np.arange(n_fft // 2 + 1, dtype=np.float64) * sample_rate / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(top), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / (centre - lower)
    falling = (upper - freqs[None, :]) / (upper - centre)
    bank: np.ndarray = np.maximum(0.0, np.minimum(rising, falling))
    return bank


def _as_wave(wave: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(wave)
    if not x.is_floating_point():
        raise ValueError(f"wave must be a floating-point array, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"wave must have a non-empty time axis, got shape {tuple(x.shape)}")
    return x


def stft_power(
    wave: torch.Tensor | np.ndarray, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> torch.Tensor:
    """``|STFT|²`` of waveforms ``(..., L)``: shape ``(..., n_fft // 2 + 1, 1 + L // hop)``.

    Periodic Hann window of ``n_fft`` samples, ``center=True`` with zero padding of
    ``n_fft // 2`` on both sides (frame ``t`` covers samples
    ``[t · hop - n_fft/2, t · hop + n_fft/2)``), no normalization.

    Raises:
        ValueError: a non-float or empty ``wave``, or a non-positive ``n_fft`` / ``hop_length``.
    """
    n_fft = check_int(n_fft, "n_fft", low=1)
    hop_length = check_int(hop_length, "hop_length", low=1)
    x = _as_wave(wave)
    batch = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    window = torch.hann_window(n_fft, periodic=True, dtype=flat.dtype)
    spec = torch.stft(
        flat,
        n_fft,
        hop_length=hop_length,
        window=window,
        center=True,
        pad_mode="constant",
        onesided=True,
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()
    return power.reshape(*batch, *power.shape[-2:])


def log_mel_spectrogram(
    wave: torch.Tensor | np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    n_mels: int = N_MELS,
    f_min: float = 0.0,
    f_max: float | None = None,
    eps: float = 1e-6,
) -> torch.Tensor:
    """``log(mel_filterbank @ |STFT(wave)|² + eps)``: shape ``(..., n_mels, 1 + L // hop)``.

    Args:
        wave: waveforms ``(..., L)``, float (float64 keeps the computation in float64).
        sample_rate: Hz; sets the FFT bin frequencies of the filterbank.
        n_fft: window and FFT length; hop_length: the hop (see `stft_power`).
        n_mels: mel bands; f_min, f_max: their range in Hz (see `mel_filterbank`).
        eps: added before the log (``log(eps)`` is the value of silence).

    Raises:
        ValueError: a bad ``wave``, size, frequency range, or ``eps <= 0``.
    """
    check_real(eps, "eps", low=0.0, low_open=True)
    power = stft_power(wave, n_fft, hop_length)
    bank = torch.as_tensor(
        mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max), dtype=power.dtype
    )
    return torch.log(torch.matmul(bank, power) + eps)


# ----------------------------------------------------------------------------- .wav files


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


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    """``(rate, mono float64 waveform in [-1, 1] units)`` of a PCM or float ``.wav``."""
    from scipy.io import wavfile

    try:
        rate, data = wavfile.read(path)
    except (ValueError, OSError, EOFError, struct.error) as err:  # struct: a torn header
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


def wav_spectrogram(
    path: Path, spec: WavSpectrogram, rng: np.random.Generator | None
) -> np.ndarray:
    """The ``spec.shape`` float64 log-magnitude spectrogram of the ``.wav`` file at ``path``
    (see `WavSpectrogram`); ``rng`` draws the window's start when ``spec.max_offset > 0``
    (``None``: the window starts at 0).

    Raises:
        ValueError: the file cannot be read as a ``.wav`` or holds no samples (naming it).
    """
    from scipy.signal import get_window, resample_poly

    rate, x = read_wav(path)
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
