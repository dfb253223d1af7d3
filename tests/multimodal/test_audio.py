"""Tests of moo_multimodal.data.audio's ``.wav`` spectrograms (its log-mel part is tested in
test_av_digits.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
wavfile = pytest.importorskip("scipy.io.wavfile")

from moo_multimodal.data import audio, clips  # noqa: E402
from tests.multimodal._published_fixtures import write_wav  # noqa: E402


def test_wav_spectrogram_matches_torch_stft(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    write_wav(path, 4.0, 22050, 0)
    spec = audio.wav_spectrogram(path, clips.CREMA_D_WAV, None)
    rate, raw = wavfile.read(path)
    x = torch.from_numpy(np.clip(raw[: 3 * rate] / 32768.0, -1, 1))
    window = torch.hann_window(512, periodic=True, dtype=torch.float64)
    ref = torch.stft(
        x, 512, 353, window=window, center=True, pad_mode="reflect", return_complex=True
    ).abs()
    assert spec.shape == clips.CREMA_D_WAV.shape == (257, 188)
    assert np.allclose(spec, np.log(ref.numpy() + 1e-7))
