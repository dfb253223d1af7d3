"""Tests every published-dataset loader shares (clips, av_mnist, affect): registration with a
layout, a missing root, the recommended encoders, a training epoch and the layouts of
docs/datasets.md, each on the tiny fixtures of ``_published_fixtures.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from moo_multimodal.data import available_datasets, iterate_batches, load_dataset  # noqa: E402
from moo_multimodal.models import make_encoder  # noqa: E402
from moo_multimodal.training import TrainConfig, train  # noqa: E402
from tests.multimodal._published_fixtures import NAMES, OPTIONS, write_fixture  # noqa: E402

# ------------------------------------------------------------------ registry


def test_all_registered_with_layouts() -> None:
    infos = {info.name: info for info in available_datasets()}
    for name in NAMES:
        assert name in infos
        assert "<root>" in infos[name].layout
        assert infos[name].summary


@pytest.mark.parametrize("name", NAMES)
def test_missing_root_names_the_path(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_dataset(name, root=missing)
    with pytest.raises(FileNotFoundError, match="root=<folder>"):
        load_dataset(name)


# ------------------------------------------------------------------ encoders and training


@pytest.mark.parametrize("name", NAMES)
def test_recommended_encoders_accept_the_inputs(name: str, tmp_path: Path) -> None:
    splits = load_dataset(name, root=write_fixture(name, tmp_path), **OPTIONS[name])
    batch, _ = next(iterate_batches(splits.test, 2))
    for m, (kind, options) in splits.encoders.items():
        encoder = make_encoder(kind, splits.input_shapes[m], **options).eval()
        with torch.no_grad():
            z = encoder(batch[m])
        assert z.shape == (2, encoder.out_features)


@pytest.mark.parametrize("name", NAMES)
def test_training_runs_on_each_fixture(name: str, tmp_path: Path) -> None:
    write_fixture(name, tmp_path)
    config = TrainConfig(
        dataset=name,
        dataset_options=OPTIONS[name],
        root=str(tmp_path),
        method="joint",
        encoder="mlp",
        encoder_options={"hidden": (8,)},
        epochs=1,
        batch_size=2,
        probes=False,
        eval_batch_size=4,
    )
    splits = load_dataset(name, root=tmp_path, **OPTIONS[name])
    result = train(config, splits=splits)
    assert len(result.history) == 1
    assert 0.0 <= result.final["fusion_acc"] <= 1.0


def test_docs_show_every_registered_layout() -> None:
    """docs/datasets.md shows each published dataset's layout exactly as registered."""
    from pathlib import Path

    from moo_multimodal.data import available_datasets

    page = (Path(__file__).resolve().parents[2] / "docs" / "datasets.md").read_text()
    for info in available_datasets():
        if info.layout.startswith("generated"):
            continue
        assert f"`{info.name}`" in page, info.name
        if info.name != "av-digits":
            assert info.layout in page, f"docs/datasets.md: layout of {info.name} differs"
