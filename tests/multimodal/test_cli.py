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
    selected = {"joint": [final], "mimo": [final]}
    files = _plots(histories, selected, ["img", "txt"], tmp_path)
    assert files["robustness"].read_bytes()[:4] == b"\x89PNG"


def test_plots_have_integer_epoch_ticks_and_the_legend_clear_of_the_bars(
    tmp_path, monkeypatch
) -> None:
    pytest.importorskip("matplotlib")
    import importlib

    compare_module = importlib.import_module("moo_multimodal.compare")
    figures = {}

    def keep(fig, path):
        figures[path.stem] = fig
        return path

    monkeypatch.setattr(compare_module, "save_figure", keep)
    records = [
        {"epoch": e, "fusion_acc": 0.5, "acc/a": 0.4, "acc/b": 0.3, "drop/a": 0.2, "drop/b": 0.1}
        | {"weight/fusion": 1.0, "weight/a": 0.5, "absent/a": 0.3, "absent/b": 0.2}
        for e in (1, 2, 3)
    ]
    histories = {"joint": [records], "mimo": [records], "mgda": [records]}
    selected = {m: [records[1]] for m in histories}
    compare_module._plots(histories, selected, ["a", "b"], tmp_path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for name in ("accuracy", "weights"):
        fig = figures[name]
        FigureCanvasAgg(fig).draw()
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), (name, ticks)
    canvas = FigureCanvasAgg(figures["robustness"])
    canvas.draw()
    renderer = canvas.get_renderer()
    fig = figures["robustness"]
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.x0 >= ax.get_window_extent(renderer).x1  # right of the axes: no bar hidden


def test_train_help_shows_every_default(capsys) -> None:
    from moo_multimodal.cli import _parser

    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    train_parser = _parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    for action in train_parser._actions:
        default = action.default
        if not action.option_strings or default in (None, False, []) or action.dest == "help":
            continue
        assert f"default: {default}" in text, action.option_strings
    for flag in ("--no-resume", "--valid-fraction", "--select-metric", "--patience"):
        assert flag in text


def test_resume_is_announced_and_no_resume_starts_over(tmp_path, capsys) -> None:
    args = ["train", "--method", "joint", "--epochs", "1", "--out", str(tmp_path), *SMALL]
    args += ["--no-probes"]
    assert main(args) == 0
    assert "resuming" not in capsys.readouterr().err
    args[args.index("--epochs") + 1] = "2"
    assert main(args) == 0
    assert f"resuming {tmp_path} from epoch 1 of 2" in capsys.readouterr().err
    assert main(args) == 0
    assert "the run is complete (2 epochs)" in capsys.readouterr().err
    # another configuration: refused, naming the command line's way out
    assert main([*args, "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "--no-resume" in err and "resume=False" not in err
    assert main([*args, "--lr", "0.5", "--no-resume"]) == 0
    assert "resuming" not in capsys.readouterr().err
    assert json.loads((tmp_path / "config.json").read_text())["lr"] == 0.5
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2


def test_encoder_option_list_values_parse(tmp_path, capsys) -> None:
    args = ["train", "--method", "joint", "--epochs", "1", "--encoder", "mlp", *SMALL]
    args += ["--encoder-option", "hidden=32,16", "--no-probes", "--out", str(tmp_path)]
    assert main(args) == 0
    assert json.loads((tmp_path / "config.json").read_text())["encoder_options"] == {
        "hidden": [32, 16]
    }
