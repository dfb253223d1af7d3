"""The ``moo-mm`` command line: balanced multimodal training runs and comparisons.

Commands:

- ``moo-mm train``: one run (dataset, method, model, budget) with per-epoch metrics in
  ``OUT/metrics.jsonl`` / ``metrics.csv``, an atomic checkpoint (rerunning the same command
  resumes it, and says from which epoch; ``--no-resume`` starts over), the checkpoint selected
  on the validation split (``--select-metric``, ``--patience``) and ``OUT/results.json``;
  ``--dataset`` also takes the path of an ``.npz`` file of one's own data;
- ``moo-mm compare``: several methods × seeds on one configuration → markdown tables
  (mean ± std; the selected checkpoints, then the last epochs) and PNG plots (accuracy per
  modality over epochs, weights over time, robustness to a dropped or noised sensor);
- ``moo-mm datasets``: the datasets and their expected on-disk layout; ``moo-mm datasets
  check NAME --root DIR``: every sample of a user's copy opened and decoded, problems listed;
- ``moo-mm methods``: the training methods.

``python -m moo_multimodal`` is the same command line. Under ``torchrun`` (``WORLD_SIZE`` above
1), ``train`` initializes `torch.distributed` from torchrun's environment and trains
data-parallel (``--batch-size`` is the global batch; rank 0 alone writes ``--out`` and prints
the summary): ``torchrun --standalone --nproc-per-node=N -m moo_multimodal train ...``; see
docs/multimodal-gpus.md.

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
        # a refused resume names the command line's flags (--no-resume), not resume=False
        cli_message = getattr(exc, "cli_message", None)
        message = cli_message() if callable(cli_message) else exc
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2
    except (ImportError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


class _DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default (unless the help states it already, or the
    default is nothing: ``None``, an empty list, a flag's ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default:" in text
            or default is None
            or default is argparse.SUPPRESS
            or default is False
            or default == []
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


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
    p.add_argument(
        "--dataset",
        default="synthetic",
        help="dataset name (see 'moo-mm datasets') or the path of an .npz file of one's own "
        "data (see docs/multimodal-own-data.md)",
    )
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
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size")
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    p.add_argument("--scheduler", default="none", help="none, step or cosine")
    p.add_argument("--lr-step", type=int, default=30, help="step scheduler: epochs per decay")
    p.add_argument("--lr-gamma", type=float, default=0.1, help="step scheduler: decay factor")
    p.add_argument(
        "--modality-dropout",
        type=float,
        default=0.0,
        metavar="P",
        help="probability that a training sample loses one modality (replaced by its mean input)",
    )
    p.add_argument(
        "--valid-fraction",
        type=float,
        default=0.1,
        metavar="F",
        help="fraction of each class of the training split held out for validation (model "
        "selection) when the dataset has no validation split of its own; 0: none",
    )
    p.add_argument("--valid-seed", type=int, default=0, help="seed of that hold-out")
    p.add_argument(
        "--select-metric",
        default="fusion_acc",
        metavar="METRIC",
        help="validation metric that selects the checkpoint (fusion_acc, fusion_f1, "
        "fusion_loss, worst_acc, imbalance, acc/<m>, worst_drop, ...)",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=None,
        metavar="N",
        help="early stopping: stop after N epochs without improvement of the selection "
        "metric (default: train every epoch)",
    )
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="start over even if --out holds a checkpoint (default: resume from it)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="torch device, e.g. cuda (under torchrun: cuda without an index, each process "
        "takes cuda:LOCAL_RANK)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "bf16", "fp16"],
        help="forward pass under autocast in bf16 or fp16 (fp16 with loss scaling; meant for "
        "GPUs, also runs on the CPU)",
    )
    p.add_argument(
        "--accumulate",
        type=int,
        default=1,
        metavar="N",
        help="gradient accumulation: one optimizer step per N batches, equal to a batch N "
        "times larger (joint, uniform, unimodal; refused for methods that choose weights)",
    )
    p.add_argument(
        "--no-sync-batch-norm",
        action="store_true",
        help="under torchrun, normalize with each rank's batch statistics instead of the "
        "global batch's (fewer collectives; no longer the one-process result)",
    )
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
        prog=PROG,
        description="Balanced multimodal (sensor-fusion) training with moo's rules.",
        formatter_class=_DefaultsFormatter,
    )
    sub = parser.add_subparsers(dest="name", required=True)

    t = sub.add_parser("train", help="one training run", formatter_class=_DefaultsFormatter)
    t.add_argument("--method", default="mimo", help="training method, see 'moo-mm methods'")
    t.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method hyperparameter, e.g. gamma=1.0 (repeatable)",
    )
    t.add_argument(
        "--seed", type=int, default=0, help="model initialization, batch order, method draws"
    )
    t.add_argument(
        "--tensorboard",
        action="store_true",
        help="also log every epoch's record to TensorBoard under OUT/tb (needs --out and the "
        "tensorboard package)",
    )
    t.add_argument(
        "--out",
        default=None,
        help="output folder (logs, checkpoints, results; rerunning resumes; default: none, "
        "nothing written)",
    )
    _run_options(t)
    t.set_defaults(command=_cmd_train)

    c = sub.add_parser(
        "compare",
        help="methods x seeds -> markdown table and plots",
        formatter_class=_DefaultsFormatter,
    )
    c.add_argument(
        "--methods",
        default=None,
        help="comma-separated method names (default: joint,uniform,mimo,mgda,cagrad,nash-mtl,"
        "ogm-ge,mmpareto)",
    )
    c.add_argument("--seeds", type=int, default=3, help="number of seeds 0..N-1")
    c.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD:KEY=VALUE",
        help="hyperparameter of one method, e.g. mimo:gamma=2 (repeatable)",
    )
    c.add_argument(
        "--warmup-steps",
        type=int,
        default=3,
        metavar="N",
        help="untimed training steps of every method before the first run, so that no "
        "method's step time pays the process's warm-up; 0: none",
    )
    c.add_argument("--out", default="moo-mm-compare", help="output folder")
    c.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    _run_options(c)
    c.set_defaults(command=_cmd_compare)

    d = sub.add_parser(
        "datasets",
        formatter_class=_DefaultsFormatter,
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
    m = sub.add_parser(
        "methods", help="list the training methods", formatter_class=_DefaultsFormatter
    )
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
        valid_fraction=args.valid_fraction,
        valid_seed=args.valid_seed,
        select_metric=args.select_metric,
        patience=args.patience,
        device=args.device,
        precision=args.precision,
        accumulate=args.accumulate,
        sync_batch_norm=not args.no_sync_batch_norm,
        probes=not args.no_probes,
        **extra,
    )


def _progress(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _cmd_train(args: argparse.Namespace) -> int:
    from moo_multimodal import _distributed
    from moo_multimodal.training import train

    config = _config(
        args,
        method=args.method,
        method_options=parse_assignments(args.param, "--param"),
        seed=args.seed,
    )
    started = not _distributed.current().distributed
    ranks = _distributed.init_from_env(config.device)  # torchrun: WORLD_SIZE > 1
    try:
        result = train(
            config,
            output_dir=args.out,
            resume=not args.no_resume,
            progress=_progress(args),
            tensorboard=args.tensorboard,
            log=lambda line: print(line, file=sys.stderr),
        )
    finally:
        if started and ranks.distributed:
            _distributed.shutdown()
    if not ranks.main:
        return 0
    final, selected = result.final, result.selected
    last_epoch, chosen = len(result.history), result.selected_epoch
    modalities = list(result.model.modalities)

    def pct(key: str) -> list[str]:
        return [f"{100 * selected[key]:.2f}%", f"{100 * final[key]:.2f}%"]

    rows = [["fusion accuracy", *pct("fusion_acc")], ["fusion macro-F1", *pct("fusion_f1")]]
    for m in modalities:
        rows.append([f"{m}: head accuracy", *pct(f"acc/{m}")])
        if f"probe/{m}" in final:
            rows.append([f"{m}: linear probe", *pct(f"probe/{m}")])
        rows.append([f"{m} dropped: fusion accuracy", *pct(f"drop/{m}")])
    rows += [
        ["step time", "", f"{final['step_ms']:.2f} ms"],
        ["time in the rule", "", f"{final['rule_us']:.1f} µs"],
    ]
    run = f"{last_epoch} epochs" + (" (stopped early)" if result.stopped_early else "")
    print(f"{config.method} on {config.dataset}, {run}, seed {config.seed}")
    if f"val/{config.select_metric}" in selected:
        value = selected[f"val/{config.select_metric}"]
        print(f"selected: epoch {chosen}, best validation {config.select_metric} {value:.4g}")
    else:
        print("selected: the last epoch (no validation split)")
    header = ["test metrics", f"selected (epoch {chosen})", f"last (epoch {last_epoch})"]
    print(format_table(rows, header, right=(1, 2)))
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
    if int(os.environ.get("WORLD_SIZE", "1") or "1") > 1:
        raise UsageError(
            "compare runs in one process; under torchrun train one run at a time with "
            "'train' (each method and seed its own --out)"
        )
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
        resume=not args.no_resume,
        warmup_steps=args.warmup_steps,
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
    from moo_multimodal.data.npz import NPZ_LAYOUT

    print("PATH.npz\n  your own data in one file (--dataset path/to/data.npz)")
    print(f"  layout: {NPZ_LAYOUT}")
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
    print(f"{report.name}: {report.num_classes} classes, modalities {', '.join(report.modalities)}")
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
