"""Tests of the synthetic benchmark's custom modalities: the ``none`` cue (a sensor without
signal) and custom specs that round-trip through ``config.json`` and ``--data``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from moo.cli import parse_assignments
from moo_multimodal import TrainConfig, train
from moo_multimodal.data import load_dataset
from moo_multimodal.data.synthetic import ModalitySpec, make_synthetic, parse_modalities

SPECS = (
    ModalitySpec("fast", "linear", dim=32, signal=1.3),
    ModalitySpec("blank", "none", dim=24, noise=2.0),
)


def test_none_cue_is_pure_noise_independent_of_the_label() -> None:
    splits = make_synthetic(modalities=SPECS, n_train=4000, n_test=100, seed=0)
    x, y = splits.train.inputs["blank"].double(), splits.train.labels
    assert x.shape == (4000, 24)
    assert abs(float(x.std()) - 2.0) < 0.05
    # no class mean differs from the grand mean beyond sampling noise (0.03 per coordinate)
    for c in range(4):
        assert float((x[y == c].mean(dim=0) - x.mean(dim=0)).abs().max()) < 0.2
    # a linear classifier fit on the training split is at chance on the test split
    big = make_synthetic(modalities=SPECS, n_train=2000, n_test=2000, seed=1)
    xtr, ytr = big.train.inputs["blank"].double(), big.train.labels
    xte, yte = big.test.inputs["blank"].double(), big.test.labels
    onehot = torch.nn.functional.one_hot(ytr, 4).double()
    w = torch.linalg.lstsq(torch.cat([xtr, torch.ones(2000, 1)], 1), onehot).solution
    acc = float(((torch.cat([xte, torch.ones(2000, 1)], 1) @ w).argmax(1) == yte).double().mean())
    assert abs(acc - 0.25) < 0.04


def test_none_cue_leaves_the_other_modalities_unchanged() -> None:
    """A ``none`` modality draws no task parameters: the other cues' parameters stay."""
    alone = make_synthetic(modalities=(SPECS[0], ModalitySpec("slow", "xor", dim=8)), seed=3)
    mixed = make_synthetic(
        modalities=(SPECS[0], ModalitySpec("blank", "none"), ModalitySpec("slow", "xor", dim=8)),
        seed=3,
    )
    assert torch.equal(alone.train.labels, mixed.train.labels)
    assert torch.equal(alone.train.inputs["fast"], mixed.train.inputs["fast"])
    assert "blank: none, dim 16" in mixed.description


def test_spec_dict_round_trip_and_errors() -> None:
    for spec in SPECS:
        assert ModalitySpec.from_dict(spec.to_dict()) == spec
        assert ModalitySpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert ModalitySpec.from_dict({"name": "a", "cue": "none"}) == ModalitySpec("a", "none")
    with pytest.raises(ValueError, match=r"unknown modality spec keys \['colour'\]"):
        ModalitySpec.from_dict({"name": "a", "cue": "none", "colour": 1})
    with pytest.raises(ValueError, match=r"lacks \['cue'\]"):
        ModalitySpec.from_dict({"name": "a"})
    with pytest.raises(ValueError, match="cue of 'a' must be one of"):
        ModalitySpec.from_dict({"name": "a", "cue": "sine"})


def test_make_synthetic_accepts_dicts_and_json_text() -> None:
    reference = make_synthetic(modalities=SPECS, n_train=50, n_test=20)
    as_dicts = make_synthetic(modalities=[s.to_dict() for s in SPECS], n_train=50, n_test=20)
    as_json = make_synthetic(
        modalities=json.dumps([s.to_dict() for s in SPECS]), n_train=50, n_test=20
    )
    for other in (as_dicts, as_json):
        for m in ("fast", "blank"):
            assert torch.equal(reference.train.inputs[m], other.train.inputs[m])
    assert parse_modalities(None) is None and parse_modalities("null") is None


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("[{'name': 'a'}]", "modalities must be a JSON array"),
        ('{"name": "a", "cue": "none"}', "modalities must be a list"),
        ("[1, 2]", "modalities must hold ModalitySpec entries, got 1"),
        ('[{"name": "a", "cue": "none", "dims": 3}]', r"bad entry .*unknown modality spec keys"),
        ('[{"name": "a", "cue": "none", "dim": 0}]', r"bad entry .*dim"),
        ('[{"name": "a", "cue": "none"}]', "at least 2 entries"),
    ],
)
def test_bad_modalities_name_the_option(value: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_synthetic(modalities=value, n_train=10, n_test=10)


def test_data_flag_expresses_custom_specs() -> None:
    """``--data modalities=<JSON>``: `parse_assignments` keeps JSON text as a string (it holds
    commas but is no list of numbers) and the loader parses it."""
    text = '[{"name": "fast", "cue": "linear", "dim": 32, "signal": 1.3}, {"name": "blank", "cue": "none", "dim": 24, "noise": 2}]'  # noqa: E501
    options = parse_assignments([f"modalities={text}", "n_train=40", "n_test=20"], "--data")
    assert options["modalities"] == text
    splits = load_dataset("synthetic", **options)
    assert splits.modalities == ("fast", "blank")
    assert splits.input_shapes == {"fast": (32,), "blank": (24,)}


def test_cli_train_with_custom_specs(tmp_path: Path) -> None:
    from moo_multimodal.cli import main

    text = '[{"name": "a", "cue": "linear", "dim": 8}, {"name": "b", "cue": "none", "dim": 8}]'
    out = tmp_path / "run"
    argv = ["train", "--method", "uniform", "--epochs", "1", "--no-probes", "--out", str(out)]
    assert main([*argv, "--data", f"modalities={text}", "--data", "n_train=64",
                 "--data", "n_test=32"]) == 0  # fmt: skip
    saved = json.loads((out / "config.json").read_text())
    assert saved["dataset_options"]["modalities"] == text


def _config_with_specs() -> TrainConfig:
    return TrainConfig(
        dataset_options={"modalities": list(SPECS), "n_train": 64, "n_test": 32},
        method="uniform",
        epochs=1,
        probes=False,
        valid_fraction=0.0,
    )


def test_config_with_custom_specs_round_trips_through_config_json(tmp_path: Path) -> None:
    """A saved configuration with `ModalitySpec` entries loads and trains again on the same
    data (``to_dict`` writes the specs as dicts; the loader reads them back)."""
    config = _config_with_specs()
    first = train(config, output_dir=tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["dataset_options"]["modalities"] == [s.to_dict() for s in SPECS]
    again = train(TrainConfig.from_dict(saved))
    assert again.final["fusion_acc"] == first.final["fusion_acc"]
    # resuming the finished run with the loaded configuration is accepted (same config)
    resumed = train(TrainConfig.from_dict(saved), output_dir=tmp_path / "run")
    assert resumed.final["fusion_acc"] == first.final["fusion_acc"]


def test_config_with_custom_specs_equals_its_round_trip() -> None:
    """``TrainConfig.from_dict(c.to_dict()) == c``: ``__post_init__`` stores dataset options
    in their JSON form (specs as dicts)."""
    config = _config_with_specs()
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
