"""The ``moo`` command line, run in-process through ``moo.cli.main`` (plus one subprocess)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from moo.cli import format_box, format_table, main, parse_assignments, parse_value


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
    assert (
        out.split("non-dominated points")[1]
        == run(capsys, *argv, "--rule", "linear")[1].split("non-dominated points")[1]
    )
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


# ---- the sampling box, the tolerance mode --------------------------------------------------------


def _summary(out: str) -> dict[str, str]:
    return {line[:24].strip(): line[24:].strip() for line in out.split("\n\n")[0].splitlines()}


def test_summary_shows_the_sampling_box_and_the_tolerance_mode(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["solve", "fonseca", "--starts", "2", "--steps", "20", "--no-progress"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert _summary(out)["sampling box"] == "[-1.5, 1.5]^2"
    assert _summary(out)["starts"].endswith("tol 1e-06)")
    code, out, err = run(capsys, *argv, "--param", "sampling_box=4", "--tol-mode", "relative")
    assert code == 0, err
    assert _summary(out)["sampling box"] == "[-4, 4]^2"
    assert _summary(out)["starts"].endswith("tol 1e-06 relative)")
    code, _, err = run(capsys, *argv, "--tol-mode", "rel")
    assert code == 2 and "invalid choice: 'rel'" in err
    code, _, err = run(capsys, *argv, "--tol-mode", "relative", "--tol", "1")
    assert code == 2 and "tol must be < 1 with tol_mode='relative'" in err


def test_format_box() -> None:
    assert format_box(np.array([-1.5, -1.5]), np.array([1.5, 1.5])) == "[-1.5, 1.5]^2"
    lower, upper = np.array([1e-8, 0.0, 0.0, -1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    assert format_box(lower, upper) == "[1e-08, 1] × [0, 1]^2 × [-1, 1]"
    assert format_box(np.array([0.0]), np.array([2.0])) == "[0, 2]"


# ---- a problem of one's own: MODULE:NAME, FILE.py:NAME -------------------------------------------

USER_PROBLEMS = '''
import numpy as np

from moo.problems import Problem


class TwoWells(Problem):
    """f = (|x - c|², |x + c|²): the Pareto set is the segment [-c, c]."""

    def __init__(self, n_var: int = 3, shift: float = 1.0) -> None:
        self.shift = shift
        super().__init__(
            self.fun_, n_var, 2, jacobian=self.jac_, sampling_bounds=(-2.0, 2.0), name="wells"
        )

    def fun_(self, x):
        return np.array([np.sum((x - self.shift) ** 2), np.sum((x + self.shift) ** 2)])

    def jac_(self, x):
        return np.stack([2.0 * (x - self.shift), 2.0 * (x + self.shift)])


def make(n_var, shift=1.0):
    return TwoWells(n_var=n_var, shift=shift)


def not_a_problem():
    return 42


def unbounded():
    return Problem(lambda x: np.array([x @ x, (x - 1) @ (x - 1)]), 2, 2)


instance = TwoWells(n_var=2)
number = 3


class Other:
    pass
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of one's own in a temporary folder, made the working directory; its name
    is unique to the test and removed from ``sys.modules`` afterwards."""
    name = f"moo_user_problems_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_PROBLEMS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def test_solve_a_problem_from_a_file(capsys: pytest.CaptureFixture[str], user_module: str) -> None:
    path = str(Path.cwd() / f"{user_module}.py")
    argv = ["--starts", "3", "--no-progress"]
    code, out, err = run(capsys, "solve", f"{path}:TwoWells", "--param", "n_var=2", *argv)
    assert code == 0, err
    summary = _summary(out)
    assert summary["problem"] == f"wells (K=2, d=2) from {path}:TwoWells"
    assert summary["converged"] == "3 / 3"
    assert summary["sampling box"] == "[-2, 2]^2"
    assert float(summary["max final stationarity"]) <= 1e-6
    assert "distance to front" not in summary  # no known front: no indicators
    # a relative path, a factory with a required parameter, and an instance
    relative = f"{user_module}.py"
    code, out, err = run(capsys, "solve", f"{relative}:make", "--param", "n_var=4", *argv)
    assert code == 0, err
    assert _summary(out)["problem"].startswith("wells (K=2, d=4)")
    code, out, err = run(capsys, "solve", f"{relative}:instance", *argv)
    assert code == 0, err
    assert _summary(out)["problem"].startswith("wells (K=2, d=2)")


def test_solve_a_problem_from_a_module(
    capsys: pytest.CaptureFixture[str], user_module: str
) -> None:
    """MODULE:NAME imports from the working directory (not on sys.path before) and leaves
    sys.path as it was."""
    path_before = list(sys.path)
    argv = ["--param", "shift=0.5", "--starts", "2", "--no-progress"]
    code, out, err = run(capsys, "solve", f"{user_module}:TwoWells", *argv)
    assert code == 0, err
    assert _summary(out)["problem"] == f"wells (K=2, d=3) from {user_module}:TwoWells"
    assert sys.path == path_before


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("{file}:Nope", [], "{file} has no attribute 'Nope'; it defines: TwoWells, instance, make"),
        ("{file}:TwoWells.nope", [], "TwoWells has no attribute 'nope'"),
        ("missing.py:TwoWells", [], "the file missing.py does not exist"),
        (".:TwoWells", [], "the file . is a directory"),
        ("{module}:Nope", [], "{module} has no attribute 'Nope'"),
        ("no_such_module_here:X", [], "no module named 'no_such_module_here'"),
        ("{file}:number", [], "is an object of type int, not a moo.problems.Problem"),
        ("{file}:Other", [], "is the class Other, not a subclass of moo.problems.Problem"),
        ("{file}:not_a_problem", [], "returned an object of type int, not a moo.problems"),
        ("{file}:instance", ["n_var=2"], "is a Problem instance: it takes no --param"),
        ("{file}:TwoWells", ["size=2"], "unknown parameter(s) size for problem"),
        ("{file}:make", [], "needs --param n_var=VALUE"),
        ("{file}:TwoWells", ["n_var=0"], "n_var must be >= 1, got 0"),
        ("{file}:unbounded", [], "has neither bounds nor sampling_bounds"),
        ("{file}:1abc", [], "is neither a catalogue name nor MODULE:NAME"),
        ("{file}", [], "is neither a catalogue name nor MODULE:NAME"),
    ],
)
def test_a_problem_of_ones_own_that_cannot_be_built_exits_2(
    capsys: pytest.CaptureFixture[str],
    user_module: str,
    name: str,
    params: list[str],
    message: str,
) -> None:
    fields = {"file": f"{user_module}.py", "module": user_module}
    reference = name.format(**fields)
    argv = ["solve", reference, *(a for p in params for a in ("--param", p)), "--steps", "1"]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, ""), err
    assert err.startswith(f"moo: error: PROBLEM {reference!r}") or "PROBLEM" not in message
    assert message.format(**fields) in err
    assert reference in err and "Traceback" not in err


def test_a_file_that_raises_on_import_names_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy\n\nvalue = 1 / 0\n", encoding="utf-8")
    code, _, err = run(capsys, "solve", f"{broken}:value")
    assert code == 2
    assert f"importing {broken} raised ZeroDivisionError at {broken}:3: division by zero" in err
    missing_dependency = tmp_path / "needs.py"
    missing_dependency.write_text("import no_such_dependency_xyz\n", encoding="utf-8")
    code, _, err = run(capsys, "solve", f"{missing_dependency}:P")
    assert code == 1  # a missing dependency is a runtime failure, as for the plot
    assert "ModuleNotFoundError" in err and "no_such_dependency_xyz" in err


def test_warnings_of_the_runs_are_printed_once_as_moo_warnings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warning raised while the runs go (a plateau, say) reaches stderr as one
    ``moo: warning: ...`` line, without a Python source location."""
    import warnings

    import moo.cli

    real = moo.cli.pareto_front

    def warning_front(*args: object, **kwargs: object) -> object:
        for _ in range(2):
            warnings.warn("most runs stalled", UserWarning, stacklevel=1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(moo.cli, "pareto_front", warning_front)
    code, out, err = run(capsys, "solve", "quadratic", "--starts", "2", "--no-progress")
    assert code == 0 and "non-dominated points" in out
    assert err == "moo: warning: most runs stalled\n"
