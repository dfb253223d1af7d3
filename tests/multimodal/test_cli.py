"""The moo-mm command line."""

from __future__ import annotations

import json

import pytest

from moo_multimodal.cli import main

SMALL = ["--data", "n_train=256", "--data", "n_test=128", "--quiet"]


def test_methods_and_datasets_list(capsys) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in ("joint", "uniform", "mimo", "mgda", "ogm-ge", "mmpareto"):
        assert name in out
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "synthetic" in out and "layout" in out


def test_train_runs_and_resumes(tmp_path, capsys) -> None:
    args = [
        "train",
        "--method",
        "mimo",
        "--param",
        "gamma=2",
        "--epochs",
        "1",
        "--out",
        str(tmp_path),
        *SMALL,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fusion accuracy" in out and "time in the rule" in out
    assert json.loads((tmp_path / "config.json").read_text())["method_options"] == {"gamma": 2}
    args[args.index("--epochs") + 1] = "2"
    assert main(args) == 0
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_compare_writes_table_and_plots(tmp_path, capsys) -> None:
    args = [
        "compare",
        "--methods",
        "joint,mimo",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--no-probes",
        "--param",
        "mimo:mu=0.3",
        "--out",
        str(tmp_path),
        *SMALL,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| joint | 2 |" in out and "| mimo | 2 |" in out
    for name in ("results.md", "results.json", "accuracy.png", "weights.png", "robustness.png"):
        assert (tmp_path / name).exists()
    cfg = json.loads((tmp_path / "mimo" / "seed-1" / "config.json").read_text())
    assert cfg["method_options"] == {"mu": 0.3} and cfg["seed"] == 1


def test_bad_input_exit_code_2(tmp_path, capsys) -> None:
    assert main(["train", "--method", "nope", "--epochs", "1", *SMALL]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert main(["train", "--dataset", "nope", *SMALL]) == 2
    assert (
        main(["compare", "--methods", "joint", "--param", "mimo:gamma=1", "--out", str(tmp_path)])
        == 2
    )
    assert "not compared" in capsys.readouterr().err
    assert main(["train", "--epochs", "0", *SMALL]) == 2
    assert main(["train", "--threads", "0", *SMALL]) == 2
    assert "--threads must be >= 1" in capsys.readouterr().err


def test_robustness_plot_shows_only_the_perturbations_measured(tmp_path) -> None:
    """An integer-input modality (token ids) has no noise/absent metrics: the plot skips them."""
    pytest.importorskip("matplotlib")
    from moo_multimodal.compare import _plots

    final = {
        "epoch": 1,
        "fusion_acc": 0.9,
        "acc/img": 0.8,
        "acc/txt": 0.7,
        "drop/img": 0.5,
        "drop/txt": 0.6,
        "absent/img": 0.55,
        "noise/img": 0.4,
    }
    histories = {"joint": [[final]], "mimo": [[final]]}
    files = _plots(histories, ["img", "txt"], tmp_path)
    assert files["robustness"].read_bytes()[:4] == b"\x89PNG"
