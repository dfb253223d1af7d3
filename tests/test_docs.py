"""The documentation runs: every Python example in docs/ executes, and the site builds strictly.

Each page's ```python blocks run in order in one namespace (so a later block may use what an
earlier one defined), with the working directory in a fresh temporary folder and matplotlib on
its non-interactive Agg backend. Markers on a block's first line:

- ``# skip-test``: the block is not run (use sparingly, e.g. for ``torch.distributed``);
- ``# requires: mod1, mod2``: the rest of the page is skipped when a module is not importable
  (later blocks may depend on this one).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.glob("*.md"), *DOCS.glob("rules/*.md")])

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```python[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.DOTALL | re.MULTILINE,
)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python fenced blocks of a Markdown text, as (line number, dedented code)."""
    blocks = []
    for match in _FENCE.finditer(text):
        indent = match.group("indent")
        lines = match.group("body").splitlines()
        code = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines)
        blocks.append((text.count("\n", 0, match.start()) + 2, code))
    return blocks


def test_pages_found() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "getting-started.md", "concepts.md", "rules/mgda.md"} <= names
    assert sum(len(python_blocks(p.read_text(encoding="utf-8"))) for p in PAGES) > 0


def test_block_extraction() -> None:
    text = "x\n```python\na = 1\n```\n\n  ```python\n  b = 2\n\n  c = 3\n  ```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(3, "a = 1"), (7, "b = 2\n\nc = 3")]


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if python_blocks(p.read_text(encoding="utf-8"))],
    ids=lambda p: p.relative_to(DOCS).as_posix(),
)
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    try:
        for line, code in python_blocks(page.read_text(encoding="utf-8")):
            first = code.lstrip().splitlines()[0].strip() if code.strip() else ""
            if first.startswith("# skip-test"):
                continue
            if first.startswith("# requires:"):
                missing = [
                    m.strip()
                    for m in first.split(":", 1)[1].split(",")
                    if m.strip() and importlib.util.find_spec(m.strip()) is None
                ]
                if missing:
                    pytest.skip(f"{page.name} line {line}: needs {', '.join(missing)}")
            label = f"{page.relative_to(ROOT).as_posix()}:{line}"
            try:
                exec(compile(code, label, "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"example at {label} failed: {exc!r}") from exc
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")


@pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="mkdocs is not installed (docs extra)"
)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(tmp_path / "site"),
            "--config-file",
            str(ROOT / "mkdocs.yml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()


# ------------------------------------------------------------- lists that follow the registry


def _console_output(page: str, command: str) -> str:
    """The lines a ```console block of ``page`` shows after ``$ command``, up to the next
    prompt or the end of the block."""
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index(f"$ {command}\n") + len(f"$ {command}\n")
    block = text[start : text.index("```", start)]
    return block.split("\n$ ")[0]


def test_cli_page_shows_moo_rules_as_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    """docs/cli.md shows the real `moo rules` table (every registered rule, its options) and
    the real "unknown rule" message."""
    from moo.cli import main

    assert main(["rules"]) == 0
    assert _console_output("cli.md", "moo rules") == capsys.readouterr().out
    assert main(["solve", "quadratic", "--rule", "nosuch"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("moo: error: unknown rule 'nosuch'")
    assert error in _console_output("cli.md", "moo solve quadratic --rule nosuch")


def test_every_rule_is_in_the_rules_table_and_its_state_in_concepts() -> None:
    import moo

    table = (DOCS / "rules" / "index.md").read_text(encoding="utf-8")
    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    named = re.search(r"\(`stateful = True`: ([^)]*)\)", concepts)
    assert named is not None, "concepts.md no longer names the stateful rules"
    stateful = set(re.findall(r"`([a-z0-9-]+)`", named.group(1)))
    rules = moo.available_rules()
    for name in rules:
        assert f"| `{name}` |" in table, f"rule {name!r} is missing from docs/rules/index.md"
    assert stateful == {name for name, cls in rules.items() if cls.stateful}


def test_concepts_lists_every_rule_under_its_kind() -> None:
    """The kinds table of concepts.md names each registered rule in the row of its kind."""
    import moo

    concepts = (DOCS / "concepts.md").read_text(encoding="utf-8")
    for kind in (moo.Weighting, moo.DirectionRule):
        row = next(
            (line for line in concepts.splitlines() if line.startswith(f"| [`{kind.__name__}`]")),
            None,
        )
        assert row is not None, f"concepts.md has no row for {kind.__name__}"
        listed = set(re.findall(r"`([a-z0-9-]+)`", row.split("|")[4]))
        expected = {name for name, cls in moo.available_rules().items() if issubclass(cls, kind)}
        assert listed == expected, kind.__name__


def _registered_rules() -> list[str]:
    import moo

    return list(moo.available_rules())


@pytest.mark.parametrize("page", ["concepts.md", "getting-started.md", "cli.md"])
def test_pages_name_every_registered_rule(page: str) -> None:
    """Each page that lists the rules names every registered one (in backticks, or as a row
    of the `moo rules` table)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    for name in _registered_rules():
        pattern = rf"`{re.escape(name)}`|^{re.escape(name)} +(gramian|losses|jacobian) "
        assert re.search(pattern, text, re.MULTILINE), f"rule {name!r} is missing from {page}"


def test_getting_started_names_exactly_the_registered_rules() -> None:
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    listed = re.search(r"The registered names(.*?);", text, re.DOTALL)
    assert listed is not None, "getting-started.md no longer lists the registered names"
    assert re.findall(r"`([a-z0-9-]+)`", listed.group(1)) == sorted(_registered_rules())


def _stop_reason_rows(page: str) -> list[str]:
    """The reasons of the stop-reason table of ``page``: rows ``| `"reason"` | ... |``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r'^\| `"([a-z ]+)"` \|', text, re.MULTILINE)


def test_getting_started_lists_every_stop_reason_of_the_loop() -> None:
    """Every reason `minimize` can stop with (``STOP_REASONS``, which a test of the loop holds
    to the reasons moo/loop.py assigns) has a row, converged ones first; the `Result`
    docstring names them too."""
    from moo.loop import CONVERGED_REASONS, STOP_REASONS, Result

    rows = _stop_reason_rows("getting-started.md")
    assert sorted(rows) == sorted(STOP_REASONS), "the stop-reason table and the loop disagree"
    assert rows[: len(CONVERGED_REASONS)] == list(CONVERGED_REASONS)
    for reason in STOP_REASONS:
        assert f'``"{reason}"``' in (Result.__doc__ or ""), reason


def test_cli_page_names_the_stop_reasons_of_the_converged_row() -> None:
    """The `converged` row of the `moo solve` report names every reason a command-line run
    can end with (all but "callback": the command line sets none)."""
    from moo.loop import STOP_REASONS

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `converged` |"))
    for reason in STOP_REASONS:
        if reason != "callback":
            assert f"`{reason}`" in row, reason


def test_cli_page_shows_moo_problems_as_it_prints(capsys: pytest.CaptureFixture[str]) -> None:
    from moo.cli import main

    assert main(["problems"]) == 0
    assert _console_output("cli.md", "moo problems") == capsys.readouterr().out


def test_cli_page_documents_every_solve_option() -> None:
    """The option table of `moo solve` has a row for each of its flags (deprecated ones
    aside), and for PROBLEM."""
    import argparse

    from moo.cli import _parser

    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    solve = sub.choices["solve"]
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert "| `PROBLEM` |" in text
    for action in solve._actions:
        flags = [f for f in action.option_strings if f.startswith("--")]
        if not flags or flags[0] in ("--help", "--method"):
            continue
        assert re.search(rf"^\| `{re.escape(flags[0])}[ `]", text, re.MULTILINE), flags[0]


def _box(text: str, n_var: int) -> tuple[list[float], list[float]]:
    """``[a, b]^d``, ``[a, b]^2`` or ``[a, b] × [c, d]^(d-1)`` as per-variable bounds."""
    lower: list[float] = []
    upper: list[float] = []
    for part in text.split(" × "):
        match = re.fullmatch(r"\[(\S+), (\S+)\](?:\^(\w+|\(d-1\)))?", part.strip())
        assert match is not None, f"cannot read the box {text!r}"
        power = match.group(3)
        count = {None: 1, "d": n_var, "(d-1)": n_var - 1}.get(power)
        count = int(power) if count is None else count
        lower += [float(match.group(1))] * count
        upper += [float(match.group(2))] * count
    return lower, upper


def test_problems_page_gives_every_bounds_and_sampling_box() -> None:
    """The catalogue table of docs/problems.md states, for each problem (default
    parameters), its bounds and the box its starts are drawn from, as the code has them."""
    import numpy as np

    from moo.problems import available_problems, get_problem

    text = (DOCS / "problems.md").read_text(encoding="utf-8")
    header = next(line for line in text.splitlines() if line.startswith("| name |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = {}
    for line in text.splitlines():
        match = re.match(r"^\| `([a-z0-9-]+)` \|", line)
        if match:
            rows[match.group(1)] = dict(
                zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True)
            )
    assert set(rows) == set(available_problems())
    for name, row in rows.items():
        problem = get_problem(name)
        bounds, starts = row["bounds"], row["starts drawn from"]
        if bounds == "none":
            assert not problem.bounded, name
        else:
            np.testing.assert_allclose(problem.bounds(), _box(bounds.strip("`"), problem.n_var))
        if starts == "the bounds":
            np.testing.assert_array_equal(problem.sampling_bounds(), problem.bounds())
        else:
            box = starts.split("`")[1]
            np.testing.assert_allclose(problem.sampling_bounds(), _box(box, problem.n_var))
