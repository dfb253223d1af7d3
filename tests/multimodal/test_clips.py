"""Tests of moo_multimodal.data.clips: the OGM-GE / MMPareto audio-visual clip sets (CREMA-D,
AVE, Kinetics-Sounds, VGGSound), each on a tiny fixture written in its format
(``_published_fixtures.py``), and `AudioVisualClips` itself.
"""

from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import (  # noqa: E402
    DatasetSplits,
    audio,
    clips,
    iterate_batches,
    load_dataset,
)
from moo_multimodal.training import TrainConfig  # noqa: E402
from tests.multimodal._published_fixtures import (  # noqa: E402
    AVE_HEADER,
    CLIPS,
    CREMA_TRAIN,
    SMALL,
    ave_real,
    crema_d_mmpareto,
    crema_d_real,
    kinetics_sounds_real,
    pil,
    real_lines,
    vggsound_real,
    write_fixture,
    write_wav,
)


def test_crema_d_reads_the_ogm_ge_layout(tmp_path: Path) -> None:
    splits = load_dataset("crema-d", root=write_fixture("crema-d", tmp_path), **SMALL)
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
    pil()
    crema_d_mmpareto(tmp_path)
    splits = load_dataset("crema-d", root=tmp_path, frames=2, image_size=8)
    assert splits.input_shapes == {"audio": (1, 20, 8), "visual": (3, 2, 8, 8)}
    assert "MMPareto" in splits.description
    batch, labels = next(iterate_batches(splits.train, 3))
    # MMPareto layout: MMPareto's sorted order by default, ANG DIS FEA HAP NEU SAD -> 0..5
    assert batch["visual"].shape == (3, 3, 2, 8, 8) and labels.tolist() == [0, 3, 4]
    assert "label order sorted (the default of this layout)" in splits.description


def test_ave_reads_lists_stat_and_pickled_spectrograms(tmp_path: Path) -> None:
    splits = load_dataset("ave", root=write_fixture("ave", tmp_path), **SMALL)
    assert splits.num_classes == 28
    assert splits.input_shapes == {"audio": (1, 9, 13), "visual": (3, 3, 12, 12)}
    # vidA is listed twice: it keeps its last event and moves to the end (OGM-GE)
    train = splits.train
    assert isinstance(train, clips.AudioVisualClips)
    assert [p.name for _, p, _ in train.clips] == ["vidB", "vidC", "vidA"]
    assert [int(train[i][1]) for i in range(3)] == [7, 1, 0]  # sorted event names
    assert [int(splits.test[i][1]) for i in range(2)] == [27, 3]
    spec = pickle.loads((tmp_path / "audio_spec" / "vidD.pkl").read_bytes())
    assert np.allclose(splits.test[0][0]["audio"][0].numpy(), spec)


def test_pick_frames_follows_ogm_ge() -> None:
    assert clips._pick_frames(10, 3, None) == [0, 3, 6]  # frame_00001 / 4 / 7
    assert clips._pick_frames(2, 3, None) == [0, 0, 1]
    rng = np.random.default_rng(0)
    picks = clips._pick_frames(10, 3, rng)
    assert 0 <= picks[0] < 3 <= picks[1] < 6 <= picks[2] < 10


def test_kinetics_sounds_index_lists(tmp_path: Path) -> None:
    splits = load_dataset(
        "kinetics-sounds", root=write_fixture("kinetics-sounds", tmp_path), **SMALL
    )
    assert splits.num_classes == 31
    assert splits.input_shapes == {"audio": (1, 16, 6), "visual": (3, 3, 12, 12)}
    assert [int(splits.train[i][1]) for i in range(3)] == [4, 30, 0]


def test_kinetics_sounds_named_lists_with_stat(tmp_path: Path) -> None:
    write_fixture("kinetics-sounds", tmp_path)
    (tmp_path / "stat.txt").write_text("playing drums\nbowling\nabseiling\n")
    (tmp_path / "my_train.txt").write_text("bowling,--4-0ihtnBU_000058_000068\n")
    (tmp_path / "my_test.txt").write_text("playing drums,-24HxQDHOAM_000001_000011\n")
    splits = load_dataset("kinetics-sounds", root=tmp_path, **SMALL)
    assert splits.num_classes == 3
    assert int(splits.train[0][1]) == 1 and int(splits.test[0][1]) == 2


def test_vggsound_reads_csv_and_name_variants(tmp_path: Path) -> None:
    splits = load_dataset("vggsound", root=write_fixture("vggsound", tmp_path), **SMALL)
    assert splits.num_classes == 3
    assert splits.input_shapes == {"audio": (1, 129, 626), "visual": (3, 3, 12, 12)}
    # first appearance among the training clips (OGM-GE); the test-only label comes last
    assert [int(splits.train[i][1]) for i in range(3)] == [0, 1, 0]
    assert [int(splits.test[i][1]) for i in range(2)] == [1, 2]
    assert "1 label(s) seen only in test rows numbered last" in splits.description
    by_name = load_dataset("vggsound", root=tmp_path, label_order="sorted", **SMALL)
    assert [int(by_name.train[i][1]) for i in range(3)] == [1, 0, 1]
    assert [int(by_name.test[i][1]) for i in range(2)] == [0, 2]
    # test clips use the window at 0 s (deterministic); training windows a random start
    assert torch.equal(splits.test[1][0]["audio"], splits.test[1][0]["audio"])
    assert splits.train[0][0]["audio"].shape == (1, 129, 626)


def test_missing_skip_drops_clips(tmp_path: Path) -> None:
    write_fixture("vggsound", tmp_path)
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
    root = write_fixture(name, tmp_path)
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
    root = write_fixture("ave", tmp_path)
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
    root = write_fixture("ave", tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_dataset("ave", root=root)


def test_audio_visual_clips_arguments(tmp_path: Path) -> None:
    root = write_fixture("ave", tmp_path)
    clip = (root / "audio_spec" / "vidA.pkl", root / "visual" / "vidA", 0)
    data = clips.AudioVisualClips([clip], num_classes=2, frames=2, image_size=6, train=True)
    inputs, label = data[0]
    assert inputs["visual"].shape == (3, 2, 6, 6) and int(label) == 0
    assert "AudioVisualClips" in repr(data)
    with pytest.raises(ValueError, match=r"must lie in \[0, 2\), got 5"):
        clips.AudioVisualClips([(*clip[:2], 5)], num_classes=2)
    with pytest.raises(ValueError, match="no clip to load"):
        clips.AudioVisualClips([], num_classes=2)
    wav = root / "a.wav"
    write_wav(wav, 0.1, 8000, 0)
    with pytest.raises(ValueError, match=r"not \.wav files"):
        clips.AudioVisualClips([(wav, clip[1], 0)], num_classes=2)
    with pytest.raises(ValueError, match=r"WavSpectrogram\.hop_length must be >= 1"):
        audio.WavSpectrogram(sample_rate=8000, seconds=1.0, n_fft=64, hop_length=0)


# ------------------------------------------------------------------ real annotation lines
# (tests/multimodal/fixtures/, sources and format facts in its README.md)

SORTED_CREMA = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")


def _labels(data: object) -> list[int]:
    assert isinstance(data, clips.AudioVisualClips)
    return [label for _, _, label in data.clips]


def _emotions(lines: list[str]) -> list[str]:
    return [line.split(",")[1] for line in lines if not line.startswith("name,")]


def test_crema_d_later_release_header_and_label_orders(tmp_path: Path) -> None:
    crema_d_real(tmp_path)  # the MMPareto authors' later release: 'name,label' headers
    train_emotions = _emotions(real_lines("crema-d/train.csv"))
    splits = load_dataset("crema-d", root=tmp_path, **SMALL)
    assert (len(splits.train), len(splits.test)) == (13, 12)
    assert splits.input_shapes["visual"] == (3, 1, 12, 12)
    # OGM-GE layout: OGM-GE's order by default, which its stat.csv lists too
    assert clips.CREMA_D_CLASSES == tuple(real_lines("crema-d/ogm-ge/stat.csv"))
    ogm = {"NEU": 0, "HAP": 1, "SAD": 2, "FEA": 3, "DIS": 4, "ANG": 5}
    assert _labels(splits.train) == [ogm[e] for e in train_emotions]
    assert "label order ogm-ge (the default of this layout): 0='NEU', 1='HAP'" in (
        splits.description
    )
    # matching an MMPareto checkpoint: sorted order, ANG = 0 ... SAD = 5
    mmpareto = load_dataset("crema-d", root=tmp_path, label_order="sorted", **SMALL)
    assert _labels(mmpareto.train) == [SORTED_CREMA.index(e) for e in train_emotions]
    assert mmpareto.train.classes == SORTED_CREMA  # type: ignore[attr-defined]
    assert "label order sorted: 0='ANG', 1='DIS', 2='FEA', 3='HAP', 4='NEU', 5='SAD'" in (
        mmpareto.description
    )
    # an explicit order, as a sequence or one comma-separated string (--data label_order=...)
    mine = ["SAD", "NEU", "HAP", "FEA", "DIS", "ANG"]
    for given in (mine, ",".join(mine)):
        explicit = load_dataset("crema-d", root=tmp_path, label_order=given, **SMALL)
        assert _labels(explicit.test)[:2] == [1, 0]  # NEU, SAD
        assert "label order explicit: 0='SAD'" in explicit.description
    with pytest.raises(ValueError, match=r"label_order must list exactly.*missing \['ANG'\]"):
        load_dataset("crema-d", root=tmp_path, label_order=mine[:5], **SMALL)
    with pytest.raises(ValueError, match=r"label_order must be 'ogm-ge' or 'sorted'"):
        load_dataset("crema-d", root=tmp_path, label_order="mmpareto", **SMALL)
    # the order is a dataset option: the run's config records it
    config = TrainConfig(dataset="crema-d", dataset_options={"label_order": "sorted"})
    assert config.to_dict()["dataset_options"] == {"label_order": "sorted"}


def test_crema_d_header_only_on_the_first_line(tmp_path: Path) -> None:
    crema_d_real(tmp_path)
    path = tmp_path / "test.csv"
    lines = real_lines("crema-d/test.csv")
    path.write_text("\n".join([*lines[1:3], lines[0], *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match=r"test\.csv' line 3: expected.*got 'name,label'"):
        load_dataset("crema-d", root=tmp_path, **SMALL)
    path.write_text("\n".join([lines[0], "1041_TIE_NEU_XX,XYZ"]) + "\n")
    with pytest.raises(ValueError, match=r"test\.csv' line 2: .*'1041_TIE_NEU_XX,XYZ'"):
        load_dataset("crema-d", root=tmp_path, **SMALL)


def test_crema_d_ogm_ge_release_and_fps(tmp_path: Path) -> None:
    crema_d_real(tmp_path, release="ogm-ge", fps=2)  # no header; frames in Image-02-FPS/
    with pytest.raises(FileNotFoundError, match=r"Image-01-FPS"):
        load_dataset("crema-d", root=tmp_path, **SMALL)
    splits = load_dataset("crema-d", root=tmp_path, fps=2, frames=2, **SMALL)
    assert (len(splits.train), len(splits.test)) == (13, 12)
    assert splits.input_shapes["visual"] == (3, 2, 12, 12)
    assert "frames from Image-02-FPS/" in splits.description
    assert _labels(splits.test)[0] == 0  # 1041_TIE_NEU_XX,NEU
    with pytest.raises(ValueError, match="fps must be >= 1"):
        load_dataset("crema-d", root=tmp_path, fps=0)


def test_crema_d_mmpareto_layout_with_the_later_lists(tmp_path: Path) -> None:
    crema_d_real(tmp_path, layout="mmpareto")
    splits = load_dataset("crema-d", root=tmp_path, frames=2, **SMALL)
    emotions = _emotions(real_lines("crema-d/test.csv"))
    assert _labels(splits.test) == [SORTED_CREMA.index(e) for e in emotions]
    ogm = load_dataset("crema-d", root=tmp_path, label_order="ogm-ge", **SMALL)
    assert _labels(ogm.test) == [clips.CREMA_D_CLASSES.index(e) for e in emotions]


AVE_SORTED = sorted(line.split("&")[0] for line in real_lines("ave/Annotations.txt"))


def _ave_expected(rows: list[str]) -> list[int]:
    return [AVE_SORTED.index(row.split("&")[0]) for row in rows]


@pytest.mark.parametrize("lists", ["ampersand", "csv"])
def test_ave_real_rows_keep_comma_names(lists: str, tmp_path: Path) -> None:
    ave_real(tmp_path, lists=lists)
    splits = load_dataset("ave", root=tmp_path, **SMALL)
    assert splits.num_classes == 28 and len(AVE_SORTED) == 28
    assert sum("," in name for name in AVE_SORTED) == 7
    assert _labels(splits.train) == _ave_expected(real_lines("ave/Annotations.txt"))
    # OGM-GE's sorted order (fixtures/README.md, AVE fact 7)
    assert splits.train.classes[:3] == (  # type: ignore[attr-defined]
        "Accordion",
        "Acoustic guitar",
        "Baby cry, infant cry",
    )
    assert AVE_SORTED.index("Male speech, man speaking") == 17
    assert AVE_SORTED.index("Violin, fiddle") == 27
    # the video listed with two events keeps the later one (Female speech = 10)
    assert _labels(splits.test) == [8, 10]
    assert "label order sorted (OGM-GE): 0='Accordion'" in splits.description


def test_ave_quoted_csv_rows_and_quoted_class_lines(tmp_path: Path) -> None:
    ave_real(tmp_path, lists="csv")
    (tmp_path / "stat.txt").write_text("".join(f'"{name}"\n' for name in AVE_SORTED))
    (tmp_path / "my_test.txt").write_text('"Violin, fiddle",VWi2ENBuTbw\n')
    splits = load_dataset("ave", root=tmp_path, **SMALL)
    assert _labels(splits.test) == [27]


def test_ave_own_split_files_without_a_class_list(tmp_path: Path) -> None:
    ave_real(tmp_path, lists="own", stat=False)  # header line, then the rows
    splits = load_dataset("ave", root=tmp_path, **SMALL)
    assert splits.num_classes == 28
    assert _labels(splits.train) == _ave_expected(real_lines("ave/Annotations.txt"))
    assert "trainSet.txt" in splits.description and "no stat.txt" in splits.description
    # AVE's block order (the order of data/Annotations.txt), given explicitly
    blocks = [line.split("&")[0] for line in real_lines("ave/Annotations.txt")]
    explicit = load_dataset("ave", root=tmp_path, label_order=blocks, **SMALL)
    assert _labels(explicit.train) == list(range(28))
    with pytest.raises(
        ValueError, match=r"label_order must list every one.*missing \['Mandolin'\]"
    ):
        load_dataset("ave", root=tmp_path, label_order=blocks[:-1], **SMALL)
    with pytest.raises(ValueError, match=r"label_order must be 'sorted' or a sequence"):
        load_dataset("ave", root=tmp_path, label_order="first-appearance", **SMALL)
    # a header line is skipped wherever it is (e.g. two files concatenated)
    lines = real_lines("ave/Annotations.txt")
    (tmp_path / "trainSet.txt").write_text("\n".join([lines[0], AVE_HEADER, lines[1]]) + "\n")
    assert len(load_dataset("ave", root=tmp_path, **SMALL).train) == 2
    (tmp_path / "trainSet.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"my_train\.txt.*trainSet\.txt"):
        load_dataset("ave", root=tmp_path, **SMALL)


def test_ave_csv_rows_need_the_class_list(tmp_path: Path) -> None:
    ave_real(tmp_path, lists="csv", stat=False)
    with pytest.raises(FileNotFoundError, match=r"stat\.txt.*'&' format"):
        load_dataset("ave", root=tmp_path, **SMALL)


def test_kinetics_sounds_real_lists_in_train_spec(tmp_path: Path) -> None:
    kinetics_sounds_real(tmp_path)  # OGM-GE's process_audio.py output folder
    splits = load_dataset("kinetics-sounds", root=tmp_path, **SMALL)
    assert splits.num_classes == 31 and (len(splits.train), len(splits.test)) == (12, 12)
    train = real_lines("kinetics-sounds/ogm-ge/my_train.txt")
    assert _labels(splits.train) == [int(line.split(",")[2]) for line in train]
    assert "train_spec/" in splits.description
    (tmp_path / "train_spec").rename(tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match=r"audio_spec'.*or.*train_spec'"):
        load_dataset("kinetics-sounds", root=tmp_path, **SMALL)


def test_kinetics_sounds_balancebenchmark_lines(tmp_path: Path) -> None:
    # BalanceBenchmark's KS_dataset.py: split on spaces, first token the clip, last the label
    # (no real list in this format was found: lines made from the real OGM-GE rows)
    kinetics_sounds_real(tmp_path, audio_folder="audio_spec")
    for split in ("train", "test"):
        rows = [line.split(",") for line in real_lines(f"kinetics-sounds/ogm-ge/my_{split}.txt")]
        (tmp_path / f"my_{split}.txt").write_text("".join(f"{c} {s} {y}\n" for c, s, y in rows))
    splits = load_dataset("kinetics-sounds", root=tmp_path, **SMALL)
    assert _labels(splits.test)[:3] == [23, 14, 16]


def test_vggsound_real_csv_first_appearance_and_min_frames(tmp_path: Path) -> None:
    rows = vggsound_real(tmp_path)
    first: list[str] = []
    for split in ("train", "test"):
        for _, _, label, where in rows:
            if where == split and label not in first:
                first.append(label)
    splits = load_dataset("vggsound", root=tmp_path, **SMALL)
    assert (len(splits.train), len(splits.test)) == (28, 2)
    assert splits.train.classes == tuple(first)  # type: ignore[attr-defined]
    assert first[:2] == ["waterfall burbling", "playing tennis"]
    assert "bee, wasp, etc. buzzing" in first  # a quoted label keeps its commas
    assert splits.num_classes == len(first) == 28
    assert "2 label(s) seen only in test rows numbered last" in splits.description
    # a clip with 3 frames is left out (OGM-GE keeps > 3), and with it its label's place
    folder = tmp_path / "train-videos" / "train-set-img" / "Image-01-FPS" / "--0PQM4-hqg_30.mp4"
    (folder / "frame_00004.jpg").unlink()
    fewer = load_dataset("vggsound", root=tmp_path, **SMALL)
    assert len(fewer.train) == 27 and fewer.train.classes[0] == "playing tennis"  # type: ignore[attr-defined]
    assert "1 clip(s) left out for fewer than 4 frames" in fewer.description
    kept = load_dataset("vggsound", root=tmp_path, min_frames=3, **SMALL)
    assert len(kept.train) == 28
    by_name = load_dataset("vggsound", root=tmp_path, label_order="sorted", **SMALL)
    assert by_name.train.classes == tuple(sorted({r[2] for r in rows}))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="label_order must be one of"):
        load_dataset("vggsound", root=tmp_path, label_order="alphabetical", **SMALL)
    with pytest.raises(ValueError, match=r"missing \['people coughing'\]"):
        load_dataset("vggsound", root=tmp_path, label_order=first[:-1], **SMALL)


def test_vggsound_balancebenchmark_layout_with_the_real_csv(tmp_path: Path) -> None:
    """BalanceBenchmark's VGG_dataset.py: frame folders <id>_<start>/ without .mp4 and
    precomputed .npy spectrograms, under its four roots (here video_train/, audio_train/ ...);
    the same real csv gives the same splits and label numbering as the OGM-GE layout."""
    import csv

    from tests.multimodal._published_fixtures import real_lines, stand_in_clip

    lines = real_lines("vggsound/vggsound.csv")
    (tmp_path / "vggsound.csv").write_text("".join(f"{line}\n" for line in lines))
    rows = list(csv.reader(lines))
    for i, (ytid, start, _, split) in enumerate(rows):
        key = f"{ytid}_{start}"
        audio = tmp_path / f"audio_{split}" / f"{key}.npy"
        stand_in_clip(audio, tmp_path / f"video_{split}" / key, i)
    splits = load_dataset("vggsound", root=tmp_path, **SMALL)
    assert "BalanceBenchmark layout" in splits.description
    assert (len(splits.train), len(splits.test)) == (28, 2)
    first = []
    for split in ("train", "test"):
        first += [r[2] for r in rows if r[3] == split and r[2] not in first]
    assert splits.train.classes == tuple(dict.fromkeys(first))  # type: ignore[attr-defined]
    x, _ = splits.train[0]
    assert x["audio"].ndim == 3  # (1, F, T): the stored 2-D spectrogram
