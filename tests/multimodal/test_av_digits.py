"""Tests of the av-digits dataset (moo_multimodal.data.av_digits), its eSpeak NG engine
(moo_multimodal.data._espeak) and its log-mel front end.

The build tests need the ``espeakng-loader`` wheel (the ``multimodal`` and ``dev`` extras
install it; no system program is used); without it they fail with `EspeakNotFoundError`, whose
message says how to install it, rather than being skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from scipy.signal import get_window  # noqa: E402

from moo_multimodal.data import (  # noqa: E402
    _espeak,
    available_datasets,
    load_dataset,
)
from moo_multimodal.data import av_digits as avd  # noqa: E402
from moo_multimodal.data.audio import (  # noqa: E402
    hz_to_mel,
    log_mel_spectrogram,
    mel_filterbank,
    mel_to_hz,
    stft_power,
)

# 3 voices x 1 speed x 1 pitch = 30 utterances, small images and spectrograms: a build takes
# about a second.
SMALL: dict[str, Any] = {
    "image_size": 12,
    "n_mels": 16,
    "frames": 24,
    "train_voices": ("en-us+m1", "en+f2"),
    "test_voices": ("en-gb-x-gbclan+f5",),
    "speeds": (150,),
    "pitches": (50,),
}


def _arrays(root: Path) -> dict[str, np.ndarray]:
    return {name: np.load(root / name) for name in avd.FILES}


def _manifest(root: Path) -> dict[str, Any]:
    return json.loads((root / avd.MANIFEST).read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small cache, built once for the read-only tests (copied by the others)."""
    root = tmp_path_factory.mktemp("av-digits")
    avd.build_av_digits(root, **SMALL)
    return root


@pytest.fixture
def no_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    """The eSpeak NG engine is not installed, and no worker may start."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"no eSpeak NG worker may run: {args}")

    monkeypatch.setattr(_espeak, "engine_available", lambda: False)
    monkeypatch.setattr(_espeak.subprocess, "run", refuse)


def _copy(built: Path, tmp_path: Path) -> Path:
    root = tmp_path / "cache"
    shutil.copytree(built, root)
    return root


# ---------------------------------------------------------------- the built data


def test_splits_shapes_and_encoders(built: Path) -> None:
    splits = load_dataset("av-digits", root=built, **SMALL)
    assert splits.name == "av-digits"
    assert splits.modalities == ("image", "audio")
    assert splits.num_classes == 10
    assert splits.input_shapes == {"image": (1, 12, 12), "audio": (1, 16, 24)}
    assert len(splits.train) + len(splits.test) == 1797
    assert splits.encoders["image"][0] == splits.encoders["audio"][0] == "cnn"
    for data in (splits.train, splits.test):
        for x in data.inputs.values():
            assert x.dtype == torch.float32
            assert bool(torch.isfinite(x).all())
    assert "held-out" in splits.description


def test_stratified_split_and_balanced_labels(built: Path) -> None:
    arrays = _arrays(built)
    labels, split = arrays["labels.npy"], arrays["split.npy"]
    assert set(np.unique(split)) == {0, 1}
    for c in range(10):
        n_c = int(np.sum(labels == c))
        n_test = int(np.sum((labels == c) & (split == 1)))
        assert abs(n_test - 0.3 * n_c) <= 1
    counts = np.bincount(labels[split == 0], minlength=10)
    assert counts.min() >= 0.9 * counts.max()


def test_audio_voices_are_held_out(built: Path) -> None:
    arrays, manifest = _arrays(built), _manifest(built)
    voices = manifest["voices"]
    assert voices == [*SMALL["train_voices"], *SMALL["test_voices"]]
    utterances, split = arrays["utterances.npy"], arrays["split.npy"]
    train_voices = {voices[i] for i in np.unique(utterances[split == 0, 0])}
    test_voices = {voices[i] for i in np.unique(utterances[split == 1, 0])}
    assert train_voices == set(SMALL["train_voices"])
    assert test_voices == set(SMALL["test_voices"])
    assert not train_voices & test_voices
    assert set(np.unique(utterances[:, 1])) == {150}
    assert set(np.unique(utterances[:, 2])) == {50}


def test_pca_degradation_keeps_few_components(built: Path) -> None:
    manifest = _manifest(built)
    assert 1 <= manifest["pca_components"] <= 10  # 25 % of the digits' variance
    images = torch.from_numpy(_arrays(built)["images.npy"].reshape(1797, -1)).double()
    rank = torch.linalg.matrix_rank(images - images.mean(dim=0), atol=1e-4)
    assert int(rank) == manifest["pca_components"]


def test_manifest_checksums_match_files(built: Path) -> None:
    manifest = _manifest(built)
    assert manifest["options"]["snr_db"] == -5.0
    assert manifest["options"]["train_voices"] == list(SMALL["train_voices"])
    assert manifest["espeak_ng"] == "eSpeak NG 1.52.0 (espeakng-loader 0.2.4)"
    assert set(manifest["files"]) == set(avd.FILES)
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == entry["sha256"]


def test_rebuild_is_deterministic(built: Path, tmp_path: Path, monkeypatch: Any) -> None:
    avd.build_av_digits(tmp_path, **SMALL)  # another folder
    first, second = _arrays(built), _arrays(tmp_path)
    for name in avd.FILES:
        assert np.array_equal(first[name], second[name]), name
    assert _manifest(built)["files"] == _manifest(tmp_path)["files"]
    # rebuild=True synthesizes again, into the same folder, with the same result
    calls: list[int] = []
    synthesize = avd._synthesize

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return synthesize(*args, **kwargs)

    monkeypatch.setattr(avd, "_synthesize", counted)
    avd.load_av_digits(tmp_path, **SMALL)
    assert calls == []
    avd.load_av_digits(tmp_path, rebuild=True, **SMALL)
    assert calls == [1]
    assert _manifest(tmp_path)["files"] == _manifest(built)["files"]


def test_espeak_output_is_deterministic() -> None:
    """Fresh worker processes, one per voice: the same request gives the same samples, whatever
    the number of workers, and a voice's probe does not depend on what it speaks after it
    (eSpeak NG keeps state between utterances within a process, so order is fixed)."""
    jobs = [("seven", 130, 35), ("two", 200, 65)]
    voices = ("en-gb-x-rp+f4", "en+f2", "en-us+m1")  # f2 is breathy: it draws random noise
    first = _espeak.synthesize(jobs, voices, workers=1)
    again = _espeak.synthesize(jobs, voices, workers=3)
    other = _espeak.synthesize(jobs[::-1], voices[:1], workers=1)
    assert first.sample_rate == again.sample_rate == 22050
    assert first.engine == again.engine == "eSpeak NG 1.52.0 (espeakng-loader 0.2.4)"
    for voice in voices:
        assert len(first.waves[voice]) == len(jobs)
        for a, b in zip(first.waves[voice], again.waves[voice], strict=True):
            assert a.dtype == np.int16 and a.size > 1000 and np.array_equal(a, b)
        assert np.array_equal(first.probes[voice], again.probes[voice])
    assert np.array_equal(first.probes[voices[0]], other.probes[voices[0]])


def test_a_broken_espeak_program_on_path_is_not_used(tmp_path: Path) -> None:
    """The engine is the wheel's library: an ``espeak-ng`` program first on PATH, here one that
    fails, plays no part."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("espeak-ng", "espeak-ng.exe", "espeak"):
        fake = bin_dir / name
        fake.write_text("#!/bin/sh\necho broken >&2\nexit 7\n")
        fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", path)
        root = avd.build_av_digits(tmp_path / "cache", **SMALL)
    assert _manifest(root)["espeak_ng"].startswith("eSpeak NG 1.52")


def test_unreadable_worker_output_is_an_error() -> None:
    header = b'{"sample_rate": 22050, "version": "1.52.0"}\n'
    with pytest.raises(RuntimeError, match="unreadable output"):
        _espeak._decode(header + b"\x05\x00\x00\x00\x01\x00", 1, "en")  # 5 samples, 1 given
    with pytest.raises(RuntimeError, match="trailing bytes"):
        _espeak._decode(header + b"\x00\x00\x00\x00!", 1, "en")


# ---------------------------------------------------------------- the cache


def test_valid_cache_loads_without_espeak(built: Path, tmp_path: Path, no_espeak: None) -> None:
    root = _copy(built, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = avd.load_av_digits(root, **SMALL)
    arrays = _arrays(built)
    train = arrays["split.npy"] == 0
    assert np.array_equal(splits.train.inputs["audio"].numpy(), arrays["spectrograms.npy"][train])
    assert np.array_equal(splits.train.labels.numpy(), arrays["labels.npy"][train])


@pytest.mark.parametrize("damage", ["flip-bytes", "delete", "manifest", "no-manifest"])
def test_damaged_cache_is_rebuilt(built: Path, tmp_path: Path, damage: str) -> None:
    root = _copy(built, tmp_path)
    if damage == "flip-bytes":
        path = root / "spectrograms.npy"
        data = bytearray(path.read_bytes())
        data[-100:-90] = bytes(b ^ 0xFF for b in data[-100:-90])
        path.write_bytes(bytes(data))
        reason = "checksum"
    elif damage == "delete":
        (root / "labels.npy").unlink()
        reason = "labels.npy is unreadable"
    elif damage == "manifest":
        (root / avd.MANIFEST).write_text("{not json")
        reason = "manifest.json is unreadable"
    else:  # a build interrupted before its manifest was written
        (root / avd.MANIFEST).unlink()
        reason = "manifest.json is missing"
    with pytest.warns(RuntimeWarning, match=reason):
        avd.load_av_digits(root, **SMALL)
    rebuilt, original = _arrays(root), _arrays(built)
    for name in avd.FILES:
        assert np.array_equal(rebuilt[name], original[name]), name
    assert _manifest(root)["files"] == _manifest(built)["files"]


def test_damaged_cache_without_espeak_raises(built: Path, tmp_path: Path, no_espeak: None) -> None:
    root = _copy(built, tmp_path)
    (root / "split.npy").write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="split.npy"):
        with pytest.raises(avd.EspeakNotFoundError, match=r"espeakng-loader==0\.2\.4"):
            avd.load_av_digits(root, **SMALL)


def test_changed_options_rebuild_into_the_same_folder(built: Path, tmp_path: Path) -> None:
    root = _copy(built, tmp_path)
    with pytest.warns(RuntimeWarning, match=r"other options \(snr_db: -5\.0 -> None\)"):
        quiet = avd.load_av_digits(root, **{**SMALL, "snr_db": None})
    assert _manifest(root)["options"]["snr_db"] is None
    old, new = _arrays(built), _arrays(root)
    assert np.array_equal(old["images.npy"], new["images.npy"])
    assert np.array_equal(old["utterances.npy"], new["utterances.npy"])
    assert not np.array_equal(old["spectrograms.npy"], new["spectrograms.npy"])
    with warnings.catch_warnings():  # the new build is now the valid cache
        warnings.simplefilter("error")
        again = avd.load_av_digits(root, **{**SMALL, "snr_db": None})
    assert torch.equal(again.test.inputs["audio"], quiet.test.inputs["audio"])


def test_babble_mixes_other_voices_and_keeps_the_rest(built: Path, tmp_path: Path) -> None:
    """Babble changes the spectrograms only; its talkers are other voices of the same split;
    its level follows babble_snr_db; caches without babble keep their manifest options."""
    assert "babble_snr_db" not in _manifest(built)["options"]  # older caches stay valid
    quiet = {**SMALL, "snr_db": None}
    plain = avd.load_av_digits(tmp_path / "plain", **quiet)
    loud = avd.load_av_digits(tmp_path / "loud", **quiet, babble_snr_db=0.0, babble_talkers=3)
    soft = avd.load_av_digits(tmp_path / "soft", **quiet, babble_snr_db=20.0, babble_talkers=3)
    options = _manifest(tmp_path / "loud")["options"]
    assert options["babble_snr_db"] == 0.0 and options["babble_talkers"] == 3
    assert "babble of 3 other-voice utterances at SNR 0 dB" in loud.description
    for name in ("images.npy", "labels.npy", "split.npy", "utterances.npy"):
        assert np.array_equal(_arrays(tmp_path / "plain")[name], _arrays(tmp_path / "loud")[name])

    def gap(other: Any) -> float:  # mean |change| of the log-mel spectrograms
        a, b = plain.train.inputs["audio"], other.train.inputs["audio"]
        return float((a - b).abs().mean())

    assert 0.0 < gap(soft) < gap(loud)

    # the talkers: other voices of the sample's own split, any word (the label stays hidden)
    rng = np.random.default_rng(0)
    voice = np.array([0, 0, 1, 1, 2, 2, 2])
    split = np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.uint8)
    choice = np.array([0, 2, 3, 4, 6])
    babble = avd._babble_choice(choice, np.array([0, 0, 0, 1, 1]), voice, split, 2, rng)
    assert babble.shape == (5, 2)
    for u, row in zip(choice, babble, strict=True):
        assert all(split[b] == split[u] for b in row)
        if split[u] == 0:  # two voices: the other one's utterances
            assert all(voice[b] != voice[u] for b in row)
        else:  # one voice in the split: its other utterances
            assert all(b != u for b in row)
    with pytest.raises(ValueError, match="babble_talkers"):
        avd.load_av_digits(tmp_path / "bad", **quiet, babble_snr_db=0.0, babble_talkers=0)
    with pytest.raises(ValueError, match="babble_snr_db"):
        avd.load_av_digits(tmp_path / "bad", **quiet, babble_snr_db=float("inf"))


def test_missing_espeak_error_says_how_to_install(tmp_path: Path, no_espeak: None) -> None:
    with pytest.raises(avd.EspeakNotFoundError) as info:
        avd.load_av_digits(tmp_path / "new", **SMALL)
    message = str(info.value)
    assert "pip install 'espeakng-loader==0.2.4'" in message
    assert "moo-toolkit[multimodal]" in message
    assert not (tmp_path / "new" / avd.MANIFEST).exists()


@pytest.mark.parametrize(
    ("voices", "match"),
    [
        ({"test_voices": "no-such-voice"}, "no voice 'no-such-voice'"),  # espeak: Norwegian
        ({"test_voices": "en+nosuch"}, "no variant 'nosuch'"),  # espeak: ignored
        ({"test_voices": "en-gb+f2"}, "ignores the variant 'f2'"),
        ({"train_voices": "en-us+m1,en", "test_voices": "en-gb"}, "'en' and 'en-gb' sound"),
    ],
)
def test_unknown_or_aliased_voices_are_refused(
    tmp_path: Path, voices: dict[str, str], match: str
) -> None:
    with pytest.raises(RuntimeError, match=match):
        avd.build_av_digits(tmp_path, **{**SMALL, **voices})
    assert not (tmp_path / avd.MANIFEST).exists()


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("pca_energy_removed", 1.0, "pca_energy_removed"),
        ("pitches", (50, 120), "pitches"),
        ("speeds", (40,), "speeds"),
        ("image_size", 4, "image_size"),
        ("test_fraction", 0.0, "test_fraction"),
        ("test_voices", ("en-us+m1",), "disjoint"),
        ("train_voices", ("-v evil",), "train_voices"),
        ("snr_db", float("nan"), "snr_db"),
    ],
)
def test_bad_options_name_the_argument(
    tmp_path: Path, option: str, value: object, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        avd.load_av_digits(tmp_path, **{**SMALL, option: value})


def test_registry_entry_and_cli_style_options(built: Path) -> None:
    info = {d.name: d for d in available_datasets()}["av-digits"]
    assert "manifest.json" in info.layout and "spectrograms.npy" in info.layout
    with pytest.raises(ValueError, match="unknown option"):
        load_dataset("av-digits", root=built, n_variants=3)
    # `moo-mm --data` gives comma lists of numbers as floats and of names as a string
    cli = {
        **SMALL,
        "train_voices": "en-us+m1,en+f2",
        "test_voices": "en-gb-x-gbclan+f5",
        "speeds": 150.0,
        "pitches": [50.0],
        "frames": 24.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = load_dataset("av-digits", root=built, **cli)
    assert splits.input_shapes["audio"] == (1, 16, 24)


def test_training_runs_on_av_digits(built: Path) -> None:
    from moo_multimodal.training import TrainConfig, train

    config = TrainConfig(
        dataset="av-digits",
        root=str(built),
        dataset_options=dict(SMALL),
        epochs=1,
        batch_size=128,
        probes=False,
        method="mimo",
    )
    final = train(config).final
    for key in ("fusion_acc", "fusion_f1", "acc/image", "acc/audio", "drop/audio"):
        assert 0.0 <= final[key] <= 1.0, key
    assert math.isfinite(final["fusion_acc"])


# ---------------------------------------------------------------- the log-mel front end


def test_mel_scale_is_htk() -> None:
    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.02)
    f = np.array([0.0, 300.0, 4000.0, 11025.0])
    assert np.allclose(mel_to_hz(hz_to_mel(f)), f)


def test_mel_filterbank_shape_and_triangles() -> None:
    bank = mel_filterbank(22050, 512, 40)
    assert bank.shape == (40, 257)
    assert np.all(bank >= 0) and np.all(bank <= 1)
    assert np.all(bank.max(axis=1) > 0.5)  # every band sees at least one bin
    peaks = bank.argmax(axis=1)
    assert np.all(np.diff(peaks) >= 0)  # centres increase
    with pytest.raises(ValueError, match="f_min"):
        mel_filterbank(22050, 512, 40, f_min=20000.0)
    with pytest.raises(ValueError, match="n_mels"):
        mel_filterbank(22050, 512, 0)


def test_stft_power_matches_numpy_rfft() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000)
    n_fft, hop = 512, 256
    power = stft_power(torch.from_numpy(x), n_fft, hop).numpy()
    assert power.shape == (257, 1 + 5000 // hop)
    window = get_window("hann", n_fft)  # periodic Hann
    for t in (1, 7, 15):
        frame = x[t * hop - n_fft // 2 : t * hop + n_fft // 2] * window
        expected = np.abs(np.fft.rfft(frame)) ** 2
        np.testing.assert_allclose(power[:, t], expected, rtol=1e-9, atol=1e-9)
    # frame 0 is centred on sample 0: zero padding on the left
    frame0 = np.concatenate([np.zeros(n_fft // 2), x[: n_fft // 2]]) * window
    np.testing.assert_allclose(power[:, 0], np.abs(np.fft.rfft(frame0)) ** 2, atol=1e-9)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 4000.0])
def test_sine_energy_peaks_in_its_mel_band(freq: float) -> None:
    sr, n_mels = 22050, 40
    t = np.arange(sr // 2) / sr
    x = np.sin(2 * np.pi * freq * t)
    mel = log_mel_spectrogram(torch.from_numpy(x), sample_rate=sr, n_mels=n_mels)
    assert mel.shape == (n_mels, 1 + (sr // 2) // 256)
    assert mel.dtype == torch.float64
    band = int(mel[:, 5:-5].mean(dim=1).argmax())
    centres = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))[1:-1]
    assert abs(band - int(np.argmin(np.abs(centres - freq)))) <= 1
    assert centres[max(band - 1, 0)] <= freq * 1.1 and freq <= centres[min(band + 1, 39)] * 1.1


def test_log_mel_batches_and_silence() -> None:
    x = torch.zeros(2, 3, 1024, dtype=torch.float32)
    mel = log_mel_spectrogram(x, n_mels=8, eps=1e-6)
    assert mel.shape == (2, 3, 8, 5)
    assert torch.allclose(mel, torch.full_like(mel, math.log(1e-6)))
    with pytest.raises(ValueError, match="floating-point"):
        log_mel_spectrogram(torch.zeros(10, dtype=torch.int64))
    with pytest.raises(ValueError, match="eps"):
        log_mel_spectrogram(torch.zeros(10), eps=0.0)
