"""The ``moo`` command line, run in-process through ``moo.cli.main`` (plus one subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from moo.cli import format_table, main, parse_assignments, parse_value


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_problems(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "problems")
    assert code == 0
    assert err == ""
    header = out.splitlines()[0].split()
    assert header == ["name", "K", "d", "bounded", "front", "parameters", "description"]
    row = next(line for line in out.splitlines() if line.startswith("quadratic "))
    assert row.split()[1:5] == ["2", "2", "no", "yes"]
    assert "convex quadratics" in row


def test_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "rules")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert rows["mgda"].split()[1] == "gramian"
    assert "min-norm" in rows["mgda"]
    assert rows["linear"].split()[1:3] == ["losses", "weights"]
    assert rows["moco"].split()[1] == "jacobian"


def test_former_spellings_still_work_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    """``moo methods`` and ``--method`` are deprecated spellings of ``moo rules``/``--rule``."""
    code, out, err = run(capsys, "methods")
    assert code == 0 and "'moo methods' is deprecated: use 'moo rules'" in err
    assert out == run(capsys, "rules")[1]
    argv = ["solve", "quadratic", "--starts", "1", "--steps", "5", "--no-progress"]
    code, out, err = run(capsys, *argv, "--method", "linear")
    assert code == 0 and "--method is deprecated: use --rule" in err
    assert "LinearScalarization(weights=None)" in out
    assert out.split("non-dominated points")[1] == run(capsys, *argv, "--rule", "linear")[
        1
    ].split("non-dominated points")[1]
    code, _, err = run(capsys, *argv, "--rule", "mgda", "--method", "linear")
    assert code == 2 and "not both --rule mgda and --method linear" in err


def test_solve_with_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "out" / "front.png"
    code, out, err = run(capsys, "solve", "quadratic", "--starts", "3", "--plot", str(png))
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = dict(
        (line[:24].strip(), line[24:].strip()) for line in out.split("\n\n")[0].splitlines()
    )
    assert summary["problem"] == "quadratic (K=2, d=2)"
    assert summary["rule"] == "MGDA(normalization='none')"
    assert summary["starts"].startswith("3 (seed 0")
    assert summary["converged"] == "3 / 3"
    assert float(summary["max final stationarity"]) <= 1e-6
    assert float(summary["distance to front"].split()[1].rstrip(",")) < 1e-2
    for key in ("non-dominated", "median steps", "time in rule", "wall time", "IGD"):
        assert key in summary
    assert "non-dominated points (" in out
    assert f"plot written to {png}" in out
    assert err == ""  # no progress bar: stderr is not a TTY here


def test_solve_param_and_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "solve", "quadratic", "--param", "n_var=3", "--param", "seed=1",
        "--rule", "linear", "--option", "weights=0.3,0.7",
        "--starts", "2", "--steps", "200", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "quadratic (K=2, d=3)" in out
    assert "LinearScalarization(weights=[0.3, 0.7])" in out


def test_solve_many_points_table_is_capped(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "solve", "quadratic", "--starts", "25", "--steps", "30")
    assert code == 0
    points = out.split("non-dominated points (")[1]
    assert points.startswith("20 of ")
    assert len(points.strip().splitlines()) == 1 + 2 + 20  # title, header, rule, rows


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["solve", "nosuchproblem"], "unknown problem 'nosuchproblem'"),
        (["solve", "quadratic", "--rule", "nosuchrule"], "unknown rule 'nosuchrule'"),
        (["solve", "quadratic", "--option", "bogus=1"], "unknown hyperparameter(s) bogus"),
        (["solve", "quadratic", "--param", "bogus=1"], "unknown parameter(s) bogus"),
        (["solve", "quadratic", "--param", "n_var"], "--param expects KEY=VALUE, got 'n_var'"),
        (["solve", "quadratic", "--param", "n_var=2.5"], "n_var must be an integer"),
    ],
)
def test_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.startswith("moo: error: ")
    assert message in err
    assert "Traceback" not in err


def test_argparse_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["solve", "quadratic", "--starts", "0"]) == 2
    assert "--starts: must be >= 1" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_parse_value() -> None:
    assert parse_value("3") == 3
    assert parse_value("1e-3") == 1e-3
    assert parse_value("0.3,0.7") == [0.3, 0.7]
    assert parse_value("l2") == "l2"
    assert parse_value("True") is True
    assert parse_value("none") is None
    assert parse_assignments(["a=1", "b = x=y"], "--param") == {"a": 1, "b": "x=y"}


def test_format_table() -> None:
    text = format_table([["a", 1], ["bbb", 22]], ["name", "n"], right=(1,))
    assert text.splitlines() == ["name   n", "----  --", "a      1", "bbb   22"]


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "moo", "rules"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "mgda" in proc.stdout


def test_progress_bar_only_on_a_tty(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code, _, err = run(capsys, "solve", "quadratic", "--starts", "2")
    assert code == 0
    assert "run" in err  # tqdm's bar, unit "run"
    code, _, err = run(capsys, "solve", "quadratic", "--starts", "2", "--no-progress")
    assert code == 0
    assert err == ""


def test_solve_with_constant_step_size(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "solve",
            "quadratic",
            "--rule",
            "moco",
            "--starts",
            "2",
            "--steps",
            "3000",
            "--step-size",
            "0.1",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "constant 0.1" in out and "converged               2 / 2" in out
    assert main(["solve", "quadratic", "--step-size", "0"]) == 2
    assert "step size must be > 0.0, got 0.0" in capsys.readouterr().err


def test_an_indicator_that_cannot_be_computed_is_reported_not_fatal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """32 objectives: moocore's hypervolume refuses (at most 31); the report is printed."""
    pytest.importorskip("moocore")
    code, out, err = run(
        capsys, "solve", "dtlz2", "--param", "n_obj=32", "--param", "n_var=33",
        "--starts", "2", "--steps", "3", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "hypervolume             n/a (" in out and "31" in out
    assert "IGD" in out and "non-dominated points" in out


def test_divergence_is_a_run_outcome_with_exit_code_3(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "solve", "quadratic", "--step-size", "1e308", "--starts", "2", "--no-progress"
    )
    assert code == 3
    assert "converged               0 / 2 (2 diverged)" in out
    assert "2 of 2 runs diverged" in err and "Traceback" not in err
