"""`check_dataset` and ``moo-mm datasets check``: every sample decoded, problems named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.cli import main  # noqa: E402
from moo_multimodal.data import DatasetSplits, MultimodalDataset, register_dataset  # noqa: E402
from moo_multimodal.data._registry import _REGISTRY  # noqa: E402
from moo_multimodal.data.check import check_dataset  # noqa: E402


class _Files(MultimodalDataset):
    """One text file per sample holding a float; a missing file is skipped (``missing``)."""

    def __init__(self, folder: Path, labels: list[int], missing: str) -> None:
        self.modalities = ("a", "b")
        self.num_classes = 3
        self.input_shapes = {"a": (1,), "b": (1,)}
        self.skipped: list[Path] = []
        self.items: list[tuple[Path, int]] = []
        for i, label in enumerate(labels):
            path = folder / f"{i}.txt"
            if not path.is_file():
                if missing == "error":
                    raise FileNotFoundError(f"missing sample file {str(path)!r}")
                self.skipped.append(path)
                continue
            self.items.append((path, label))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[dict[str, Any], Any]:
        path, label = self.items[i]
        try:
            value = float(path.read_text())
        except ValueError as exc:
            raise ValueError(f"sample file {str(path)!r} does not decode: {exc}") from exc
        x = torch.tensor([value])
        return {"a": x, "b": x}, torch.tensor(label)


def _load(root: str, seed: int = 0, missing: str = "error") -> DatasetSplits:
    base = Path(root)
    return DatasetSplits(
        name="check-fixture",
        train=_Files(base / "train", [0, 1, 2, 1], missing),
        test=_Files(base / "test", [2, 0], missing),
        encoders={"a": ("mlp", {}), "b": ("mlp", {})},
        description="test",
    )


@pytest.fixture
def fixture_dataset(tmp_path: Path) -> Iterator[Path]:
    for split, n in (("train", 4), ("test", 2)):
        (tmp_path / split).mkdir()
        for i in range(n):
            (tmp_path / split / f"{i}.txt").write_text(f"{i}.5")
    register_dataset("check-fixture", _load, "test fixture", "train/*.txt, test/*.txt")
    try:
        yield tmp_path
    finally:
        _REGISTRY.pop("check-fixture", None)


def test_a_complete_copy_passes_with_counts_per_class(fixture_dataset: Path) -> None:
    report = check_dataset("check-fixture", root=fixture_dataset)
    assert report.ok and report.num_classes == 3 and report.modalities == ("a", "b")
    train, test = report.splits
    assert (train.listed, train.per_class) == (4, (1, 2, 1))
    assert (test.listed, test.per_class) == (2, (1, 0, 1))


def test_missing_and_damaged_files_are_reported_by_name(
    fixture_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fixture_dataset / "train" / "1.txt").unlink()  # missing: every one listed, not the first
    (fixture_dataset / "test" / "0.txt").unlink()
    (fixture_dataset / "train" / "2.txt").write_text("not a number")  # damaged
    report = check_dataset("check-fixture", root=fixture_dataset)
    assert not report.ok
    train, test = report.splits
    assert train.missing == (str(fixture_dataset / "train" / "1.txt"),)
    assert test.missing == (str(fixture_dataset / "test" / "0.txt"),)
    assert len(train.unreadable) == 1 and "2.txt" in train.unreadable[0][1]
    assert train.per_class == (1, 1, 0)  # samples 0 and 3 decode; the damaged one is not counted

    code = main(["datasets", "check", "check-fixture", "--root", str(fixture_dataset)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"train: missing {fixture_dataset / 'train' / '1.txt'}" in out
    assert "train: sample 1 unreadable: ValueError: sample file" in out and "2.txt" in out
    assert "3 problem(s) found" in err


def test_cli_ok_and_usage_errors(fixture_dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "check", "check-fixture", "--root", str(fixture_dataset)]) == 0
    out = capsys.readouterr().out
    assert "every listed sample decoded" in out and "check-fixture: 3 classes" in out
    assert main(["datasets", "check"]) == 2
    assert "needs a dataset NAME" in capsys.readouterr().err
    assert main(["datasets", "check", "nosuch", "--root", str(fixture_dataset)]) == 2
    assert "unknown dataset 'nosuch'" in capsys.readouterr().err
    assert main(["datasets", "check", "check-fixture", "--root", "/nonexistent/x"]) == 1
    assert main(["datasets", "--root", "x"]) == 2


def test_docs_show_the_real_check_output(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/datasets.md shows what `moo-mm datasets check synthetic` prints."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    start = page.index("$ moo-mm datasets check synthetic\n") + len(
        "$ moo-mm datasets check synthetic\n"
    )
    shown = page[start : page.index("```", start)]
    assert main(["datasets", "check", "synthetic", "--quiet"]) == 0
    assert capsys.readouterr().out == shown


def test_a_damaged_crema_d_clip_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The issue's criterion: on a CREMA-D copy (OGM-GE layout) with one truncated .wav and
    one missing, ``moo-mm datasets check`` names both files and exits 1."""
    from tests.multimodal._published_fixtures import CREMA_TRAIN, crema_d

    crema_d(tmp_path)
    damaged = tmp_path / "AudioWAV" / f"{CREMA_TRAIN[-1][0]}.wav"
    damaged.write_bytes(damaged.read_bytes()[:20])  # a torn download
    gone = tmp_path / "AudioWAV" / f"{CREMA_TRAIN[1][0]}.wav"
    gone.unlink()
    code = main(["datasets", "check", "crema-d", "--root", str(tmp_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert f"train: missing {gone}" in out
    assert f"cannot read {str(damaged)!r} as a .wav file" in out
    assert "2 problem(s) found" in err


def test_training_replaces_an_unreadable_clip_with_missing_skip_and_counts_it(
    tmp_path: Path,
) -> None:
    """missing="error" (the default) stops at a damaged clip naming its file; "skip" replaces
    it by the next readable clip, warns once and counts it; the check still sees it."""
    from moo_multimodal.data import load_dataset
    from moo_multimodal.data.clips import UnreadableClipWarning
    from tests.multimodal._published_fixtures import CREMA_TRAIN, crema_d

    crema_d(tmp_path)
    damaged = tmp_path / "AudioWAV" / f"{CREMA_TRAIN[-1][0]}.wav"
    damaged.write_bytes(damaged.read_bytes()[:20])
    strict = load_dataset("crema-d", root=tmp_path, image_size=8).train
    with pytest.raises(ValueError, match=f"cannot read {str(damaged)!r}"):
        strict[len(strict) - 1]
    lenient = load_dataset("crema-d", root=tmp_path, image_size=8, missing="skip").train
    with pytest.warns(UnreadableClipWarning, match="unreadable and replaced"):
        _, label = lenient[len(lenient) - 1]
    _, first_label = lenient[0]
    assert int(label) == int(first_label)  # the next readable clip (wrapping around)
    assert list(lenient.unreadable) == [len(lenient) - 1]
    assert str(damaged) in lenient.unreadable[len(lenient) - 1]
    report = check_dataset("crema-d", root=tmp_path, image_size=8)
    assert [i for i, _ in report.splits[0].unreadable] == [len(lenient) - 1]
    # the trainer counts the replaced clips in the epoch record
    from moo_multimodal.training import TrainConfig, train

    config = TrainConfig(
        dataset="crema-d",
        dataset_options={"image_size": 8, "missing": "skip"},
        root=str(tmp_path),
        method="joint",
        encoder="mlp",
        encoder_options={"hidden": (8,)},
        epochs=1,
        batch_size=2,
        probes=False,
    )
    with pytest.warns(UnreadableClipWarning):
        run = train(config)
    assert run.final["data/unreadable"] == 1
