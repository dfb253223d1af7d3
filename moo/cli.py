"""The ``moo`` command line: list problems and update rules, approximate a Pareto front.

``moo problems``, ``moo rules`` and ``moo solve PROBLEM ...`` (a catalogue name, or a problem
of one's own as ``MODULE:NAME`` or ``FILE.py:NAME``, see `load_problem`); see ``docs/cli.md`` or
``moo --help``. ``moo methods`` and ``moo solve --method`` are deprecated spellings of
``moo rules`` and ``--rule``. `main` is the console-script entry point (also ``python -m moo``).

Exit codes: ``0`` success, ``1`` a runtime failure (an optional dependency is missing, the
plot cannot be written), ``2`` bad command-line input (unknown problem, rule, parameter or
option, malformed ``KEY=VALUE``, invalid value, a ``PROBLEM`` module, file or name that is
missing or holds no problem), ``3`` the report is printed but a run
diverged (a constant ``--step-size`` too large for the problem).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from moo.indicators import distance_to_front, hypervolume, igd
from moo.loop import TOL_MODES
from moo.pareto import ParetoFront, pareto_front
from moo.problems import Problem, available_problems, get_problem
from moo.solvers import available_rules, get_rule
from moo.validation import FloatArray

__all__ = ["main"]

PROG = "moo"
MAX_POINT_ROWS = 20
FRONT_SAMPLES = 5000


class UsageError(Exception):
    """Bad command-line input: reported as ``moo: error: ...``, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``moo`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The exit code: ``0`` success, ``1`` runtime failure, ``2`` bad input.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage or help
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except (UsageError, ValueError, TypeError) as exc:
        return _fail(str(exc), 2)
    except BrokenPipeError:  # e.g. 'moo problems | head': stop quietly
        _silence_stdout()
        return 1
    except (ImportError, OSError) as exc:
        return _fail(str(exc), 1)


def _silence_stdout() -> None:
    """Point stdout at devnull so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


# ----------------------------------------------------------------------------------------------
# argument parsing
# ----------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Gradient-based multi-objective optimization.",
        epilog="Run 'moo COMMAND --help' for the options of a command.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = sub.add_parser("problems", help="list the catalogue problems")
    p.set_defaults(command=_cmd_problems)

    r = sub.add_parser("rules", help="list the registered update rules")
    r.set_defaults(command=_cmd_rules)
    m = sub.add_parser("methods", help="deprecated spelling of 'rules'")
    m.set_defaults(command=_cmd_methods)

    s = sub.add_parser(
        "solve",
        help="approximate the Pareto front of a problem from several starts",
        description="Run the minimize loop from several random starts and report the "
        "non-dominated end points, with indicators when the problem knows its front.",
    )
    s.add_argument(
        "problem",
        metavar="PROBLEM",
        help="a catalogue name (see 'moo problems'), or a problem of your own: MODULE:NAME "
        "or path/to/FILE.py:NAME, where NAME is a moo.problems.Problem, a Problem subclass "
        "or a function returning one (built with the --param values)",
    )
    s.add_argument("--rule", default=None, help="update rule, see 'moo rules' (default: mgda)")
    s.add_argument("--method", default=None, help="deprecated spelling of --rule")
    s.add_argument(
        "--starts", type=_positive_int, default=20, help="number of random starts (default: 20)"
    )
    s.add_argument("--seed", type=int, default=0, help="seed of the starting points (default: 0)")
    s.add_argument(
        "--steps", type=_nonnegative_int, default=1000, help="max steps per run (default: 1000)"
    )
    s.add_argument(
        "--tol", type=float, default=1e-6, help="stop a run when ||d|| <= tol (default: 1e-6)"
    )
    s.add_argument(
        "--tol-mode",
        choices=TOL_MODES,
        default="absolute",
        help="how --tol is read: 'absolute' ||d|| <= tol, or 'relative' ||d|| <= tol * "
        "sum_i |w_i| ||g_i||, i.e. the weighted gradients cancel (default: absolute)",
    )
    s.add_argument(
        "--step-size",
        type=float,
        default=None,
        metavar="T",
        help="constant step size T > 0 (default: Armijo backtracking)",
    )
    s.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="problem parameter, e.g. n_var=10 (repeatable)",
    )
    s.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="rule hyperparameter, e.g. weights=0.3,0.7 (repeatable)",
    )
    s.add_argument("--plot", metavar="PATH", help="write a PNG of the front (K=2: + trajectories)")
    s.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (shown only when stderr is a terminal)",
    )
    s.set_defaults(command=_cmd_solve)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_value(text: str) -> Any:
    """A ``KEY=VALUE`` value: int, float, ``true``/``false``, ``none``, a comma-separated list
    of numbers (ints when every item is an integer, else floats), else the string itself."""
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for convert in (int, float):
        try:
            return convert(s)
        except ValueError:
            pass
    if "," in s:
        for convert in (int, float):
            try:
                return [convert(v) for v in s.split(",")]
            except ValueError:
                pass
    return s


def parse_assignments(items: Sequence[str], flag: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``; a malformed or repeated key raises
    `UsageError` naming ``flag``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        if key in out:
            raise UsageError(f"{flag} {key} given more than once")
        out[key] = parse_value(value)
    return out


# ----------------------------------------------------------------------------------------------
# output
# ----------------------------------------------------------------------------------------------


def format_table(
    rows: Sequence[Sequence[object]],
    header: Sequence[str] | None = None,
    *,
    right: Sequence[int] = (),
) -> str:
    """Plain aligned text columns separated by two spaces.

    Args:
        rows: cells, converted with ``str``.
        header: column titles, underlined with dashes; none by default.
        right: indices of right-aligned columns (numbers).
    """
    table = [[str(c) for c in row] for row in rows]
    if header is not None:
        table.insert(0, list(header))
    if not table:
        return ""
    n_cols = max(len(r) for r in table)
    widths = [max(len(r[i]) if i < len(r) else 0 for r in table) for i in range(n_cols)]
    if header is not None:
        table.insert(1, ["-" * w for w in widths])

    def line(row: list[str]) -> str:
        cells = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    return "\n".join(line(r) for r in table)


def format_box(lower: FloatArray, upper: FloatArray) -> str:
    """A box as text, runs of equal intervals written as powers: ``[-1.5, 1.5]^2``,
    ``[1e-08, 1] × [0, 1]^9``."""
    parts: list[str] = []
    j, d = 0, len(lower)
    while j < d:
        k = j
        while k + 1 < d and lower[k + 1] == lower[j] and upper[k + 1] == upper[j]:
            k += 1
        power = f"^{k - j + 1}" if k > j else ""
        parts.append(f"[{_num(float(lower[j]))}, {_num(float(upper[j]))}]{power}")
        j = k + 1
    return " × ".join(parts)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _num(value: float) -> str:
    return f"{value:.4g}"


def _first_line(text: str | None) -> str:
    lines = inspect.cleandoc(text or "").splitlines()
    return lines[0] if lines else ""


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------


def _cmd_problems(args: argparse.Namespace) -> int:
    rows: list[list[object]] = []
    for name, factory in available_problems().items():
        params = ", ".join(inspect.signature(factory).parameters) or "-"
        try:
            p = factory()
        except Exception as exc:  # a listing must not die on one broken entry
            rows.append([name, "?", "?", "?", "?", params, f"(cannot build: {exc})"])
            continue
        description = p.description or _first_line(factory.__doc__)
        rows.append(
            [name, p.n_obj, p.n_var, _yes(p.bounded), _yes(p.has_pareto_front), params, description]
        )
    header = ["name", "K", "d", "bounded", "front", "parameters", "description"]
    print(format_table(rows, header, right=(1, 2)))
    print("\nK, d: defaults; change them with 'moo solve NAME --param KEY=VALUE'.")
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    print(f"{PROG}: 'moo methods' is deprecated: use 'moo rules'", file=sys.stderr)
    return _cmd_rules(args)


def _cmd_rules(args: argparse.Namespace) -> int:
    rows = []
    for name, cls in available_rules().items():
        options = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        rows.append([name, cls.needs, ", ".join(options) or "-", cls.summary])
    print(format_table(rows, ["name", "needs", "options", "summary"]))
    print("\nSet options with 'moo solve PROBLEM --rule NAME --option KEY=VALUE'.")
    return 0


def _progress_wanted(args: argparse.Namespace) -> bool:
    if args.no_progress:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty()) and importlib.util.find_spec("tqdm") is not None


def _cmd_solve(args: argparse.Namespace) -> int:
    params = parse_assignments(args.param, "--param")
    options = parse_assignments(args.option, "--option")
    if _is_reference(args.problem):
        problem = load_problem(args.problem, params)
    else:
        problem = get_problem(args.problem, **params)
    if problem.sampling_lower is None:
        raise UsageError(
            f"problem {args.problem!r} has neither bounds nor sampling_bounds: 'moo solve' "
            "draws its starts from them; give the Problem sampling_bounds=(lower, upper)"
        )
    rule = get_rule(_rule_name(args), **options)
    if args.plot is not None:
        if problem.n_obj < 2:
            raise UsageError(f"--plot needs at least 2 objectives, {problem.name!r} has 1")
        if importlib.util.find_spec("matplotlib") is None:
            raise ImportError("--plot needs matplotlib: pip install 'moo-toolkit[plot]'")

    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:  # the filters in force still apply
        front = pareto_front(
            problem,
            rule,
            n_starts=args.starts,
            seed=args.seed,
            progress=_progress_wanted(args),
            steps=args.steps,
            tol=args.tol,
            tol_mode=args.tol_mode,
            step_size=args.step_size,
        )
    wall = time.perf_counter() - started
    for message in dict.fromkeys(str(w.message) for w in caught):  # once each, in order
        print(f"{PROG}: warning: {message}", file=sys.stderr)

    print(format_table(_summary(problem, repr(rule), args, front, wall)))
    print()
    print(_points_table(problem, front))
    if args.plot is not None:
        try:
            path = _write_plot(problem, front, args.plot)
        except OSError as exc:
            raise OSError(f"cannot write the plot to {args.plot}: {exc}") from exc
        print(f"\nplot written to {path}")
    diverged = sum(r.reason == "diverged" for r in front.results)
    if diverged:
        print(
            f"{PROG}: {diverged} of {len(front.results)} runs diverged: the objectives stopped "
            "being finite along a constant step; try a smaller --step-size (or Armijo)",
            file=sys.stderr,
        )
        return 3
    return 0


def _rule_name(args: argparse.Namespace) -> str:
    """``--rule``, or the deprecated ``--method`` (with a note on stderr); ``mgda`` if none."""
    if args.method is None:
        return str(args.rule or "mgda")
    if args.rule is not None:
        raise UsageError(f"give --rule, not both --rule {args.rule} and --method {args.method}")
    print(f"{PROG}: --method is deprecated: use --rule", file=sys.stderr)
    return str(args.method)


def _summary(
    problem: Problem, rule: str, args: argparse.Namespace, front: ParetoFront, wall: float
) -> list[list[str]]:
    results = front.results
    n = len(results) + len(front.failed)
    not_converged: dict[str, int] = {}
    for r in results:
        if not r.converged:
            not_converged[r.reason] = not_converged.get(r.reason, 0) + 1
    converged = f"{front.n_converged} / {len(results)}"
    if not_converged:
        converged += " (" + ", ".join(f"{c} {why}" for why, c in not_converged.items()) + ")"
    steps = float(np.median([r.n_steps for r in results]))
    stationarity = max(r.stationarity for r in results)
    rule_time = sum(float(np.sum(r.history.rule_time)) for r in results)
    origin = f" from {args.problem}" if _is_reference(args.problem) else ""
    tol = f"tol {args.tol:g}" + (" relative" if args.tol_mode == "relative" else "")
    lower, upper = problem.sampling_bounds()
    rows = [
        ["problem", f"{problem.name} (K={problem.n_obj}, d={problem.n_var}){origin}"],
        ["rule", rule],
        ["starts", f"{n} (seed {args.seed}, max {args.steps} steps, {tol})"],
        ["sampling box", "-" if lower is None or upper is None else format_box(lower, upper)],
        ["step size", "Armijo" if args.step_size is None else f"constant {args.step_size:g}"],
        ["converged", converged],
    ]
    if front.failed:
        i, message = front.failed[0]
        rows.append(["failed starts", f"{len(front.failed)} (start {i}: {message})"])
    rows += [
        ["non-dominated", str(front.F.shape[0])],
        ["median steps", f"{steps:g}"],
        ["max final stationarity", f"{stationarity:.3g}"],
        ["time in rule", f"{rule_time:.3g} s"],
        ["wall time", f"{wall:.3g} s"],
    ]
    if problem.has_pareto_front:
        rows += _front_rows(problem, front.F)
    return rows


def _front_rows(problem: Problem, F: FloatArray) -> list[list[str]]:
    ref_front = problem.pareto_front(FRONT_SAMPLES)
    dist = distance_to_front(F, ref_front)
    rows = [
        [
            "distance to front",
            f"max {dist.max():.3g}, mean {dist.mean():.3g} "
            f"({ref_front.shape[0]} known-front points)",
        ]
    ]
    rows.append(["IGD", f"{igd(F, ref_front):.4g}"])
    if importlib.util.find_spec("moocore") is None:
        rows.append(["hypervolume", "n/a (needs moocore: pip install 'moo-toolkit[indicators]')"])
        return rows
    ideal, nadir = ref_front.min(axis=0), ref_front.max(axis=0)
    ref_point = nadir + 0.1 * (nadir - ideal)
    try:
        hv = hypervolume(F, ref_point)
        hv_front = hypervolume(ref_front, ref_point) if problem.n_obj <= 4 else None
    except (ValueError, RuntimeError, MemoryError) as exc:  # moocore's limits (31 objectives)
        rows.append(["hypervolume", f"n/a ({exc})"])
        return rows
    ref_text = ", ".join(_num(v) for v in ref_point)
    if hv_front is not None:
        rows.append(["hypervolume", f"{hv:.4g} (known front: {hv_front:.4g})"])
    else:
        rows.append(["hypervolume", f"{hv:.4g}"])
    rows.append(["  reference point", f"({ref_text}) = front nadir + 10% of its range"])
    return rows


def _points_table(problem: Problem, front: ParetoFront) -> str:
    F = front.F
    m = F.shape[0]
    first = problem.objective_names[0]
    if m > MAX_POINT_ROWS:
        idx = np.unique(np.linspace(0, m - 1, MAX_POINT_ROWS).round().astype(int))
        title = f"non-dominated points ({len(idx)} of {m}, evenly spaced, sorted by {first}):"
    else:
        idx = np.arange(m)
        title = f"non-dominated points ({m}, sorted by {first}):"
    rows = [[str(i + 1), *(_num(v) for v in F[i])] for i in idx]
    header = ["#", *problem.objective_names]
    table = format_table(rows, header, right=range(len(header)))
    return f"{title}\n{table}"


def _write_plot(problem: Problem, front: ParetoFront, path: str) -> str:
    """Draw the front (K=2: and the trajectories, side by side) and save it as a PNG."""
    from matplotlib.figure import Figure

    from moo.plotting import plot_front, plot_trajectories, save_figure

    if problem.n_obj == 2:
        fig = Figure(figsize=(11.0, 4.5), layout="constrained")
        left, right = fig.subplots(1, 2)
        plot_front(problem, front, ax=left)
        plot_trajectories(problem, front, ax=right)
    else:
        fig = plot_front(problem, front)
    return str(save_figure(fig, path))


# ----------------------------------------------------------------------------------------------
# a problem of one's own: MODULE:NAME or FILE.py:NAME
# ----------------------------------------------------------------------------------------------


def _is_reference(text: str) -> bool:
    """Whether ``PROBLEM`` names a problem of one's own (``MODULE:NAME``, ``FILE.py:NAME``,
    or a path) rather than a catalogue entry (catalogue names hold no ``:`` or ``/``)."""
    return ":" in text or "/" in text or os.sep in text or text.endswith(".py")


def load_problem(reference: str, parameters: Mapping[str, Any]) -> Problem:
    """Build the problem that ``reference`` names, for ``moo solve``.

    Args:
        reference: ``MODULE:NAME`` (an importable module; the current directory is searched
            first) or ``path/to/FILE.py:NAME`` (the file's folder is searched first while it
            is imported); ``NAME`` may be dotted (``MODULE:Class.factory``).
        parameters: the ``--param`` values, passed as keyword arguments when ``NAME`` is a
            `Problem` subclass or a function returning a `Problem`; none may be given for a
            `Problem` instance.

    Raises:
        UsageError: malformed reference, missing module, file or attribute, an object that is
            not a problem, a parameter the class or function does not take or refuses (its
            ``ValueError`` or ``TypeError``), an exception while importing; the message
            names ``PROBLEM`` and its value.
        ImportError: importing the module raised an ``ImportError`` (a dependency of the
            user's module is missing: a runtime failure, exit code 1).
    """
    where, sep, name = reference.rpartition(":")
    if not sep or not where or not all(part.isidentifier() for part in name.split(".")):
        raise UsageError(
            f"PROBLEM {reference!r} is neither a catalogue name nor MODULE:NAME or "
            "path/to/FILE.py:NAME (NAME: the Problem, Problem subclass or function to use)"
        )
    is_module = all(part.isidentifier() for part in where.split("."))
    is_file = where.endswith(".py") or not is_module
    module = _import_file(reference, where) if is_file else _import_module(reference, where)
    obj: Any = module
    parts = name.split(".")
    for i, part in enumerate(parts):
        if not hasattr(obj, part):
            owner = where if i == 0 else ".".join(parts[:i])
            hint = _candidates(module) if i == 0 else ""
            raise UsageError(f"PROBLEM {reference!r}: {owner} has no attribute {part!r}{hint}")
        obj = getattr(obj, part)
    return _build_problem(reference, obj, parameters)


def _import_module(reference: str, module: str) -> Any:
    with _search_first(os.getcwd()):
        try:
            return importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
                raise UsageError(
                    f"PROBLEM {reference!r}: no module named {exc.name!r} (searched in the "
                    "current directory and on sys.path; for a file, write path/to/FILE.py:NAME)"
                ) from exc
            raise _import_failed(reference, module, exc) from exc
        except Exception as exc:  # the user's module raised while importing
            raise _import_failed(reference, module, exc) from exc


def _import_file(reference: str, where: str) -> Any:
    path = Path(where).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise UsageError(f"PROBLEM {reference!r}: the file {where} {what}")
    if path.suffix != ".py":
        raise UsageError(f"PROBLEM {reference!r}: {where} is not a Python file (*.py)")
    module_name = f"_moo_problem_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover (a .py file always has one)
        raise UsageError(f"PROBLEM {reference!r}: cannot import {where}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up
    with _search_first(str(path.resolve().parent)):
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's file raised while importing
            del sys.modules[module_name]
            raise _import_failed(reference, where, exc) from exc
    return module


@contextmanager
def _search_first(folder: str) -> Iterator[None]:
    """Put ``folder`` first on ``sys.path`` while importing (as ``python`` does for a script)."""
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _import_failed(reference: str, where: str, exc: BaseException) -> Exception:
    """The error to raise when importing the user's module raised ``exc``: an `ImportError`
    (exit code 1, like a missing optional dependency) when it is one, else a `UsageError`;
    the message names the innermost line of the traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    message = f"PROBLEM {reference!r}: importing {where} raised {type(exc).__name__}{at}: {exc}"
    return ImportError(message) if isinstance(exc, ImportError) else UsageError(message)


def _candidates(module: Any) -> str:
    """``"; it defines: A, b"``: the module's Problems, and its own Problem subclasses and
    functions (the names PROBLEM may give)."""
    names = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        own = getattr(value, "__module__", None) == module.__name__
        subclass = inspect.isclass(value) and issubclass(value, Problem)
        if isinstance(value, Problem) or (own and (inspect.isfunction(value) or subclass)):
            names.append(key)
    return f"; it defines: {', '.join(sorted(names))}" if names else ""


def _build_problem(reference: str, obj: Any, parameters: Mapping[str, Any]) -> Problem:
    if isinstance(obj, Problem):
        if parameters:
            raise UsageError(
                f"PROBLEM {reference!r} is a Problem instance: it takes no --param "
                f"(got {', '.join(parameters)}); name a Problem subclass or a function instead"
            )
        return obj
    if inspect.isclass(obj) and not issubclass(obj, Problem):
        raise UsageError(
            f"PROBLEM {reference!r} is the class {obj.__name__}, not a subclass of "
            "moo.problems.Problem"
        )
    if not callable(obj):
        raise UsageError(
            f"PROBLEM {reference!r} is an object of type {type(obj).__name__}, not a "
            "moo.problems.Problem, a Problem subclass or a function returning one"
        )
    _check_parameters(reference, obj, parameters)
    try:
        problem = obj(**parameters)
    except (ValueError, TypeError) as exc:  # bad --param values, as for a catalogue problem
        given = " ".join(f"--param {k}={v}" for k, v in parameters.items())
        raise UsageError(
            f"PROBLEM {reference!r}{' with ' + given if given else ''}: {exc}"
        ) from exc
    if not isinstance(problem, Problem):
        raise UsageError(
            f"PROBLEM {reference!r} returned an object of type {type(problem).__name__}, "
            "not a moo.problems.Problem"
        )
    return problem


def _check_parameters(reference: str, factory: Any, parameters: Mapping[str, Any]) -> None:
    """Refuse ``--param`` keys that ``factory`` does not take (naming the valid ones), and
    say which required ones are missing."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # pragma: no cover (a callable without a signature)
        return
    params = list(signature.parameters.values())
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    valid = [p.name for p in named]
    unknown = sorted(set(parameters) - set(valid))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in params):
        raise UsageError(
            f"unknown parameter(s) {', '.join(unknown)} for problem {reference!r}; "
            f"valid: {', '.join(valid) if valid else '(none)'}"
        )
    missing = [p.name for p in named if p.default is p.empty and p.name not in parameters]
    if missing:
        raise UsageError(
            f"problem {reference!r} needs --param {' --param '.join(f'{m}=VALUE' for m in missing)}"
        )
