"""A small log-mel spectrogram (no torchaudio): STFT power, HTK mel filterbank, ``log``.

``log_mel_spectrogram(wave)`` computes, for waveforms ``(..., L)`` sampled at ``sample_rate``:

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
"""

from __future__ import annotations

import math

import numpy as np
import torch

from moo.validation import check_int, check_real

__all__ = [
    "HOP_LENGTH",
    "N_FFT",
    "N_MELS",
    "SAMPLE_RATE",
    "hz_to_mel",
    "log_mel_spectrogram",
    "mel_filterbank",
    "mel_to_hz",
    "stft_power",
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
