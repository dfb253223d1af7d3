"""The ``moo-mm`` command line: balanced multimodal training runs and comparisons.

Commands:

- ``moo-mm train``: one run (dataset, method, model, budget) with per-epoch metrics in
  ``OUT/metrics.jsonl`` / ``metrics.csv`` and an atomic checkpoint (rerunning the same command
  resumes it);
- ``moo-mm compare``: several methods × seeds on one configuration → a markdown table
  (mean ± std) and PNG plots (accuracy per modality over epochs, weights over time, robustness
  to a dropped or noised sensor);
- ``moo-mm datasets``: the datasets and their expected on-disk layout; ``moo-mm datasets
  check NAME --root DIR``: every sample of a user's copy opened and decoded, problems listed;
- ``moo-mm methods``: the training methods.

``train``, ``compare`` and ``methods`` take ``--plugin MODULE`` (repeatable): a module name or
a ``.py`` file imported first, e.g. one that registers a method of one's own with
`moo_multimodal.methods.register_method`, which ``--method`` / ``--methods`` can then name.

Exit codes: 0 success, 1 runtime failure (e.g. the ``--out`` folder in use by another run),
2 bad input (checked before any work where possible: ``--device``, every ``compare`` method and
its ``--param`` values).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from moo.cli import UsageError, format_table, parse_assignments

PROG = "moo-mm"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``moo-mm`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        threads = getattr(args, "threads", None)
        if threads is not None:
            if threads < 1:
                raise UsageError(f"--threads must be >= 1, got {threads}")
            import torch

            torch.set_num_threads(threads)
        for plugin in getattr(args, "plugin", []):
            _import_plugin(plugin)
        return command(args)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (ImportError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


def _plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module (a name, found from the current folder too, or a .py file) "
        "first, e.g. one that registers a method with register_method (repeatable)",
    )


def _import_plugin(spec: str) -> None:
    """Import ``spec``: a ``.py`` file by path, else a module name (the current folder is
    searched too, as ``python -m`` does)."""
    if spec.endswith(".py"):
        path = Path(spec).resolve()
        if not path.is_file():
            raise UsageError(f"--plugin {spec}: no such file")
        name = f"moo_mm_plugin_{path.stem}"
        loaded = sys.modules.get(name)
        if loaded is not None and getattr(loaded, "__file__", None) == str(path):
            return  # imported already (main() called again in one process)
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"--plugin {spec}: not an importable Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        module_spec.loader.exec_module(module)
        return
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (spec == exc.name or spec.startswith(f"{exc.name}.")):
            raise UsageError(f"--plugin {spec}: no module named {exc.name!r}") from exc
        raise


def _data_options(p: argparse.ArgumentParser) -> None:
    """``--root`` and ``--data``: where a dataset's files are and its loader's options."""
    p.add_argument("--root", default=None, help="data folder of datasets read from disk")
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, e.g. n_train=1000 or missing=skip (repeatable)",
    )


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="synthetic", help="dataset name, see 'moo-mm datasets'")
    _data_options(p)
    p.add_argument(
        "--encoder",
        default=None,
        help="encoder kind for every modality "
        "(mlp, cnn, resnet18, gru, transformer; default: the dataset's preset)",
    )
    p.add_argument(
        "--encoder-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="encoder option for every modality (repeatable)",
    )
    p.add_argument("--fusion", default="concat", help="concat, sum, gated or film")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--scheduler", default="none", help="none, step or cosine")
    p.add_argument("--lr-step", type=int, default=30, help="step scheduler: epochs per decay")
    p.add_argument("--lr-gamma", type=float, default=0.1, help="step scheduler: decay factor")
    p.add_argument(
        "--modality-dropout",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a training sample loses one modality (replaced by its mean "
        "input; default 0)",
    )
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is often fastest for small models)",
    )
    p.add_argument("--no-probes", action="store_true", help="skip the linear probes")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _plugin_option(p)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Balanced multimodal (sensor-fusion) training with moo's rules."
    )
    sub = parser.add_subparsers(dest="name", required=True)

    t = sub.add_parser("train", help="one training run")
    t.add_argument("--method", default="mimo", help="training method, see 'moo-mm methods'")
    t.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method hyperparameter, e.g. gamma=1.0 (repeatable)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help="output folder (logs, checkpoint; resumes)")
    _run_options(t)
    t.set_defaults(command=_cmd_train)

    c = sub.add_parser("compare", help="methods x seeds -> markdown table and plots")
    c.add_argument(
        "--methods",
        default=None,
        help="comma-separated method names (default: joint,uniform,mimo,mgda,cagrad,nash-mtl,"
        "ogm-ge,mmpareto)",
    )
    c.add_argument("--seeds", type=int, default=3, help="number of seeds 0..N-1 (default 3)")
    c.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD:KEY=VALUE",
        help="hyperparameter of one method, e.g. mimo:gamma=2 (repeatable)",
    )
    c.add_argument("--out", default="moo-mm-compare", help="output folder (default: %(default)s)")
    c.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _run_options(c)
    c.set_defaults(command=_cmd_compare)

    d = sub.add_parser(
        "datasets",
        help="list the datasets and their on-disk layout; 'datasets check NAME' walks one",
        description="Without arguments: list the datasets. 'check NAME --root DIR': open and "
        "decode every sample of both splits, report counts per split and class and every "
        "missing or unreadable file by name; exit code 1 when one is found.",
    )
    d.add_argument("action", nargs="?", choices=["check"], help="check one dataset")
    d.add_argument("name", nargs="?", metavar="NAME", help="the dataset to check")
    _data_options(d)
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(command=_cmd_datasets)
    m = sub.add_parser("methods", help="list the training methods")
    _plugin_option(m)
    m.set_defaults(command=_cmd_methods)
    return parser


def _config(args: argparse.Namespace, **extra: Any) -> Any:
    from moo_multimodal.training import TrainConfig

    return TrainConfig(
        dataset=args.dataset,
        dataset_options=parse_assignments(args.data, "--data"),
        root=args.root,
        encoder=args.encoder,
        encoder_options=parse_assignments(args.encoder_option, "--encoder-option"),
        fusion=args.fusion,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        scheduler=args.scheduler,
        lr_step=args.lr_step,
        lr_gamma=args.lr_gamma,
        modality_dropout=args.modality_dropout,
        device=args.device,
        probes=not args.no_probes,
        **extra,
    )


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _cmd_train(args: argparse.Namespace) -> int:
    from moo_multimodal.training import train

    config = _config(
        args,
        method=args.method,
        method_options=parse_assignments(args.param, "--param"),
        seed=args.seed,
    )
    result = train(config, output_dir=args.out, progress=_progress(args))
    final = result.final
    modalities = list(result.model.modalities)
    rows = [
        ["fusion accuracy", f"{100 * final['fusion_acc']:.2f}%"],
        ["fusion macro-F1", f"{100 * final['fusion_f1']:.2f}%"],
    ]
    for m in modalities:
        row = [f"{m}: head accuracy", f"{100 * final[f'acc/{m}']:.2f}%"]
        rows.append(row)
        if f"probe/{m}" in final:
            rows.append([f"{m}: linear probe", f"{100 * final[f'probe/{m}']:.2f}%"])
        rows.append([f"{m} dropped: fusion accuracy", f"{100 * final[f'drop/{m}']:.2f}%"])
    rows += [
        ["step time", f"{final['step_ms']:.2f} ms"],
        ["time in the rule", f"{final['rule_us']:.1f} µs"],
    ]
    print(f"{config.method} on {config.dataset}, {config.epochs} epochs, seed {config.seed}")
    print(format_table(rows, right=(1,)))
    if args.out:
        print(f"logs and checkpoint: {args.out}")
    return 0


def _method_params(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        method, sep, rest = item.partition(":")
        if not sep or not method:
            raise UsageError(f"--param expects METHOD:KEY=VALUE, got {item!r}")
        out.setdefault(method, {}).update(parse_assignments([rest], f"--param {method}:"))
    return out


def _cmd_compare(args: argparse.Namespace) -> int:
    from moo_multimodal.compare import METHODS_DEFAULT, compare

    methods = (
        METHODS_DEFAULT
        if args.methods is None
        else [m.strip() for m in args.methods.split(",") if m.strip()]
    )
    if args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    options = _method_params(args.param)
    unknown = sorted(set(options) - set(methods))
    if unknown:
        raise UsageError(f"--param names methods not compared: {unknown}")
    result = compare(
        methods,
        range(args.seeds),
        _config(args),
        output_dir=args.out,
        method_options=options,
        plots=not args.no_plots,
        progress=_progress(args),
        log=lambda line: print(line, file=sys.stderr),
    )
    print(result.table)
    for name, path in result.files.items():
        print(f"{name}: {path}")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from moo_multimodal.data import available_datasets

    if args.action == "check":
        return _check_dataset(args)
    if args.name is not None or args.root is not None or args.data:
        raise UsageError("a dataset name, --root or --data goes with 'datasets check NAME'")
    for info in available_datasets():
        print(f"{info.name}\n  {info.summary}\n  layout: {info.layout}")
    return 0


def _check_dataset(args: argparse.Namespace) -> int:
    from moo_multimodal.data import check_dataset

    if args.name is None:
        raise UsageError("datasets check needs a dataset NAME (see 'moo-mm datasets')")
    report = check_dataset(
        args.name,
        root=args.root,
        progress=_progress(args) and importlib.util.find_spec("tqdm") is not None,
        **parse_assignments(args.data, "--data"),
    )
    print(
        f"{report.name}: {report.num_classes} classes, modalities "
        f"{', '.join(report.modalities)}"
    )
    rows = [
        [
            s.split,
            s.listed,
            sum(s.per_class),
            len(s.missing),
            len(s.unreadable),
            " ".join(str(n) for n in s.per_class),
        ]
        for s in report.splits
    ]
    header = ["split", "listed", "decoded", "missing", "unreadable", "per class (0, 1, ...)"]
    print(format_table(rows, header, right=(1, 2, 3, 4)))
    problems = 0
    for s in report.splits:
        for path in s.missing:
            print(f"{s.split}: missing {path}")
        for i, message in s.unreadable:
            print(f"{s.split}: sample {i} unreadable: {message}")
        problems += len(s.missing) + len(s.unreadable)
    if problems:
        print(f"{problems} problem(s) found", file=sys.stderr)
        return 1
    print("every listed sample decoded")
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from moo_multimodal.methods import available_methods

    rows = [[name, summary] for name, summary in available_methods().items()]
    print(format_table(rows, ["method", "summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
