"""Benchmark: one multimodal training step of each method of the adapter against `joint`.

What is measured: the wall time (and, on CUDA, the peak memory) of one training step of a
`moo_multimodal` model — per-modality encoders, a fusion module (``--fusion``, default
``concat``), a fusion head and one uni-modal head per modality — for each method of
``--methods``, on the same model and the same fixed random batch. One *step* is what
``moo_multimodal.training.fit`` runs per batch::

    output = model(inputs, detach_unimodal=method.detach_unimodal,
                   detach_fusion=method.detach_fusion)
    method.backward(model, output, labels, epoch=0)
    optimizer.step()

``optimizer.zero_grad(set_to_none=True)`` runs before each step, outside the timing. The
optimizer is SGD with learning rate 0, so every method sees the same weights at every call (the
model is in training mode: BatchNorm statistics move, the weights do not). ``joint`` (the
fusion loss only, one backward pass) is the reference of every ratio.

Models (``--model``):

* ``mlp``: ``--modalities`` M inputs of ``--in-dim`` features, MLP encoders of ``--depth``
  hidden layers of ``--width``;
* ``cnn``: M inputs of 1×32×32, the adapter's small CNN encoders (channels 16, 32);
* ``resnet18``: two modalities, ``audio`` 1×H×W (``--audio-size``, default the image size) and
  ``visual`` 3×T×H×W (``--frames`` T, ``--image-size`` H = W), one of the adapter's ResNet-18
  encoders each (11.2M parameters; frames are encoded one by one and averaged).

Time: each round runs every method once, in an order that rotates from round to round; after
``--warmup`` rounds, ``--repeats`` rounds are timed (``time.perf_counter`` around the step, with
``torch.cuda.synchronize`` on both sides on CUDA). The table gives the median and the
interquartile range, the median's ratio to ``joint``'s, the median time the method spent in its
subroutine (``StepReport.rule_time``: the QP, closed form or score ratio, without the backward
passes) and the backward passes per step. Memory (CUDA only): one extra step per method between
``torch.cuda.reset_peak_memory_stats`` and ``torch.cuda.max_memory_allocated``: the peak and
its ratio to ``joint``'s. On CPU (Linux) the same extra step is measured by the resident-set
high-water mark (``benchmarks/_cpu_memory.py``; the script restarts itself once with glibc set
to unmap freed blocks), plus the parameters, buffers and batch.

``--profile NAME[,NAME]`` adds, for those methods, torch.profiler's top operators over a few
extra steps (where the time goes).

Benchmarks report ratios measured in one run on one machine; they are never assertions.

Run: ``python benchmarks/bench_multimodal_step.py [--device cpu|cuda] [--model mlp|cnn|resnet18]
[--in-dim 512] [--width 1024] [--depth 3] [--modalities 2] [--batch 128] [--classes 10]
[--image-size 224] [--audio-size 257x188] [--frames 1] [--methods joint,mimo,...]
(``RULE@EXTRACTION`` sets `RuleMethod`'s extraction: ``mgda@batched`` takes the two backward
passes as one batched backward, ``mgda@representation`` the Gramian at the encoder outputs)
[--repeats 20] [--warmup 3] [--threads 0] [--profile mgda] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from moo.solvers import Weighting
from moo_multimodal.methods import Method, RuleMethod, StepReport, make_method
from moo_multimodal.models import MultimodalModel, build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared _cpu_memory, _report
import _cpu_memory
import _report

DEFAULT_METHODS = (
    "joint,uniform,mimo,mgda,mgda@batched,mgda@representation,cagrad,nash-mtl,upgrad,ogm-ge,"
    "mmpareto"
)
REFERENCE = "joint"
MIB = _report.MIB
# Backward passes of the methods whose StepReport does not report them (their documentation):
# the plain baselines and OGM-GE run one backward of one scalar, MMPareto two autograd.grad calls.
KNOWN_PASSES = {
    "joint": "1",
    "uniform": "1",
    "unimodal": "1",
    "ogm-ge": "1",
    "mmpareto": "2",
    "headroom": "1",
}

# --------------------------------------------------------------------------------- setup


@dataclass
class Setup:
    model: MultimodalModel
    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    optimizer: torch.optim.Optimizer
    description: str

    def state_mib(self) -> float:
        """Parameters, buffers and the batch (SGD keeps no state): the CPU stand-in for
        ``torch.cuda.memory_allocated`` before a step."""
        tensors = [*self.model.parameters(), *self.model.buffers(), *self.inputs.values()]
        return sum(t.numel() * t.element_size() for t in [*tensors, self.labels]) / MIB


def _hw(text: str) -> tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise ValueError(f"expected H or HxW, got {text!r}")
    h, w = (int(p) for p in parts)
    return h, w


def build_setup(args: argparse.Namespace, device: torch.device) -> Setup:
    torch.manual_seed(args.seed)
    shapes: dict[str, tuple[int, ...]]
    if args.model == "mlp":
        shapes = {f"m{i}": (args.in_dim,) for i in range(args.modalities)}
        hidden = (args.width,) * args.depth
        model = build_model(
            shapes,
            args.classes,
            encoder="mlp",
            encoder_options={m: {"hidden": hidden} for m in shapes},
            fusion=args.fusion,
        )
        what = f"MLP encoders {args.in_dim}→{args.width}×{args.depth}"
    elif args.model == "cnn":
        shapes = {f"m{i}": (1, 32, 32) for i in range(args.modalities)}
        model = build_model(shapes, args.classes, encoder="cnn", fusion=args.fusion)
        what = "CNN encoders (channels 16, 32) on 1×32×32"
    else:
        h, w = _hw(args.audio_size) if args.audio_size else (args.image_size, args.image_size)
        s = args.image_size
        shapes = {"audio": (1, h, w), "visual": (3, args.frames, s, s)}
        model = build_model(shapes, args.classes, encoder="resnet18", fusion=args.fusion)
        what = (
            f"two ResNet-18 encoders (the adapter's), audio 1×{h}×{w} and visual "
            f"3×{args.frames}×{s}×{s} (C×T×H×W)"
        )
    model.to(device).train()
    inputs = {m: torch.randn(args.batch, *shape).to(device) for m, shape in shapes.items()}
    labels = torch.randint(0, args.classes, (args.batch,)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)

    def count(params: Sequence[torch.Tensor]) -> int:
        return sum(p.numel() for p in params)

    groups = [f"encoder {m} {count(model.encoder_parameters(m)):,}" for m in model.modalities]
    groups.append(f"fusion + fusion head {count(model.fusion_parameters()):,}")
    n_heads = sum(count(model.head_parameters(m)) for m in model.modalities)
    groups.append(f"{len(model.modalities)} uni-modal heads {n_heads:,}")
    total = count(list(model.parameters()))
    description = (
        f"{what}; {args.fusion} fusion; M = {len(model.modalities)} modalities, "
        f"{args.classes} classes, batch {args.batch}, float32. Parameters: {total:,} "
        f"({'; '.join(groups)})"
    )
    return Setup(model, inputs, labels, optimizer, description)


# ------------------------------------------------------------------------------ contenders


@dataclass
class Contender:
    name: str
    method: Method
    times: list[float] = field(default_factory=list)
    rule_times: list[float] = field(default_factory=list)
    passes: str = ""
    peak: float | None = None
    error: str | None = None

    @property
    def kind(self) -> str:
        """``plain``, ``loss-only``, ``gradient`` (needs per-objective gradients) or ``other``."""
        if isinstance(self.method, RuleMethod):
            rule = self.method.rule
            losses_only = isinstance(rule, Weighting) and not rule.uses_gramian
            return "loss-only" if losses_only else "gradient"
        if self.name == "mmpareto":
            return "gradient"
        if self.name == "headroom":
            return "loss-only"
        if self.name in ("joint", "uniform", "unimodal"):
            return "plain"
        return "other"


def step(setup: Setup, method: Method) -> StepReport:
    """One training step of ``method`` (the caller zeroes the gradients)."""
    output = setup.model(
        setup.inputs,
        detach_unimodal=method.detach_unimodal,
        detach_fusion=method.detach_fusion,
    )
    rep = method.backward(setup.model, output, setup.labels, epoch=0)
    setup.optimizer.step()
    return rep


def run_bench(
    setup: Setup, contenders: list[Contender], args: argparse.Namespace, device: torch.device
) -> None:
    def once(c: Contender, record: bool) -> None:
        if c.error is not None:
            return
        setup.optimizer.zero_grad(set_to_none=True)
        _report.sync(device)
        t0 = time.perf_counter()
        try:
            rep = step(setup, c.method)
        except Exception as exc:  # a method the model does not support: report, go on
            c.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            return
        _report.sync(device)
        t = time.perf_counter() - t0
        if record:
            c.times.append(t)
            c.rule_times.append(rep.rule_time)
        if not c.passes:
            reported = rep.info.get("backward_passes")
            c.passes = f"{reported:g}" if reported is not None else KNOWN_PASSES.get(c.name, "?")

    n = len(contenders)
    for r in range(args.warmup + args.repeats):
        shift = r % n
        for c in contenders[shift:] + contenders[:shift]:
            once(c, record=r >= args.warmup)
    state = setup.state_mib()
    for c in contenders:
        if c.error is None:
            setup.optimizer.zero_grad(set_to_none=True)
            mem = _report.step_memory(lambda m=c.method: step(setup, m), device, state)
            c.peak = None if mem is None else mem[0]
    setup.optimizer.zero_grad(set_to_none=True)


def table(contenders: list[Contender], device: torch.device) -> str:
    ref = contenders[0]
    ref_med = statistics.median(ref.times)
    cuda = ref.peak is not None  # memory measured (CUDA, or the CPU's resident set)
    head = "| method | kind | backward passes | step ms (median) | IQR ms | × joint | rule µs |"
    rule = "|---|---|--:|--:|--:|--:|--:|"
    if cuda:
        head += f" {'CUDA' if device.type == 'cuda' else 'CPU'} peak MiB | × joint peak |"
        rule += "--:|--:|"
    lines = [head, rule]
    for c in contenders:
        if c.error is not None or not c.times:
            lines.append(f"| {c.name} | {c.kind} | | failed: {c.error} | | | |" + " | |" * cuda)
            continue
        med = statistics.median(c.times)
        iqr = _report.iqr_ms(c.times)
        rt = f"{1e6 * statistics.median(c.rule_times):.0f}" if max(c.rule_times) > 0 else "—"
        row = (
            f"| {c.name} | {c.kind} | {c.passes} | {1e3 * med:.2f} | {iqr} | "
            f"{med / ref_med:.2f}× | {rt} |"
        )
        if cuda:
            if c.peak is not None and ref.peak:
                row += f" {c.peak:,.1f} | {c.peak / ref.peak:.2f}× |"
            else:
                row += " — | |"
        lines.append(row)
    return "\n".join(lines)


def verdicts(contenders: list[Contender], device: torch.device) -> str:
    """The design targets, read off this run (no assertion)."""
    ref = contenders[0]
    ref_med = statistics.median(ref.times)
    ok = [c for c in contenders[1:] if c.error is None and c.times]

    def ratio(c: Contender) -> float:
        return statistics.median(c.times) / ref_med

    grad = [c for c in ok if c.kind == "gradient"]
    loss = [c for c in ok if c.kind == "loss-only"]
    where = "" if device.type == "cuda" else " (the target is stated for GPU; this run is CPU)"
    lines = [f"Design targets, in this run (ratios of medians to `{REFERENCE}`){where}:", ""]
    if grad:
        worst = max(grad, key=ratio)
        met = [c.name for c in grad if ratio(c) <= 1.8]
        missed = [f"{c.name} {ratio(c):.2f}×" for c in grad if ratio(c) > 1.8]
        lines.append(
            f"- gradient methods' step ≤ 1.8× joint: worst {ratio(worst):.2f}× ({worst.name}); "
            + ("met by every one" if not missed else f"not met by {', '.join(missed)}")
            + (f" (met by {', '.join(met)})" if missed and met else "")
        )
    for c in loss:
        r = ratio(c)
        lines.append(
            f"- {c.name} step ≤ 1.05× joint: {r:.2f}×, " + ("met" if r <= 1.05 else "not met")
        )
    peaks = [(c.peak / ref.peak, c) for c in grad if c.peak is not None] if ref.peak else []
    if peaks:
        worst_r, worst_c = max(peaks, key=lambda t: t[0])
        how = "" if device.type == "cuda" else " (CPU: resident-set high-water mark)"
        lines.append(
            f"- memory of gradient methods ≤ 1.5× joint's peak{how}: worst {worst_r:.2f}× "
            f"({worst_c.name}); " + ("met" if worst_r <= 1.5 else "not met")
        )
    else:
        lines.append("- memory ≤ 1.5× joint's peak: not measured (see the note below)")
    return "\n".join(lines)


def profile(
    setup: Setup,
    contenders: list[Contender],
    names: list[str],
    device: torch.device,
    steps: int = 5,
    top: int = 15,
) -> str:
    """torch.profiler's top operators (by self time) over ``steps`` steps of each named method."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU]
    sort = "self_cpu_time_total"
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
        sort = "self_cuda_time_total"
    parts: list[str] = []
    by_name = {c.name: c for c in contenders}
    for name in names:
        c = by_name.get(name)
        if c is None or c.error is not None:
            parts.append(f"### {name}\n\nnot profiled (not among the methods, or it failed)\n")
            continue
        try:
            with torch_profile(activities=activities) as prof:
                for _ in range(steps):
                    setup.optimizer.zero_grad(set_to_none=True)
                    step(setup, c.method)
                _report.sync(device)
            tab = prof.key_averages().table(sort_by=sort, row_limit=top, max_name_column_width=48)
        except Exception as exc:  # a profiler that cannot start must not lose the table
            parts.append(f"### {name}\n\nprofiling failed: {type(exc).__name__}: {exc}\n")
            continue
        parts.append(f"### {name} ({steps} steps, sorted by {sort})\n\n```\n{tab}\n```\n")
    setup.optimizer.zero_grad(set_to_none=True)
    return "\n".join(parts)


# ------------------------------------------------------------------------------ machine


# --------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", choices=("mlp", "cnn", "resnet18"), default="mlp")
    parser.add_argument("--in-dim", type=int, default=512, help="mlp: input size per modality")
    parser.add_argument("--width", type=int, default=1024, help="mlp: encoder width")
    parser.add_argument("--depth", type=int, default=3, help="mlp: encoder hidden layers")
    parser.add_argument("--modalities", type=int, default=2, help="M (resnet18: exactly 2)")
    parser.add_argument("--image-size", type=int, default=224, help="resnet18: visual H = W")
    parser.add_argument(
        "--audio-size", default=None, help="resnet18: audio H or HxW (default: the image size)"
    )
    parser.add_argument("--frames", type=int, default=1, help="resnet18: visual frames T")
    parser.add_argument("--fusion", default="concat", help="fusion kind (concat, sum, ...)")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument(
        "--methods", default=DEFAULT_METHODS, help=f"comma-separated; '{REFERENCE}' is added first"
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: keep)")
    parser.add_argument(
        "--profile", default="", help="comma-separated methods to profile with torch.profiler"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="also write the Markdown report here")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available to this torch build")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.model == "resnet18" and args.modalities != 2:
        parser.error("--model resnet18 has exactly 2 modalities (audio, visual)")
    if min(args.repeats, args.batch, args.width, args.depth, args.in_dim, args.frames) < 1:
        parser.error("--repeats, --batch, --width, --depth, --in-dim, --frames must be >= 1")
    if args.modalities < 2 or args.classes < 2:
        parser.error("--modalities and --classes must be >= 2")
    names = [REFERENCE] + [m for m in dict.fromkeys(_report.csv(args.methods)) if m != REFERENCE]
    methods: list[Contender] = []
    for name in names:
        try:
            method = make_method(name)  # "mgda@batched": a rule with its extraction
        except ValueError as exc:
            parser.error(f"--methods: {exc}")
        methods.append(Contender(name, method))

    setup = build_setup(args, device)
    t0 = time.perf_counter()
    run_bench(setup, methods, args, device)
    elapsed = time.perf_counter() - t0
    if methods[0].error is not None or not methods[0].times:
        raise SystemExit(f"the reference '{REFERENCE}' failed: {methods[0].error}")
    parts = [
        f"# Multimodal step benchmark ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"torch {torch.__version__}, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
        + f", {torch.get_num_threads()} CPU threads.",
        "",
        setup.description + ".",
        "",
        f"One step = forward + `method.backward` + `optimizer.step()` (SGD, lr 0). Median of "
        f"{args.repeats} interleaved rounds after {args.warmup} warm-up rounds ({elapsed:.0f} s "
        "of measuring). Kind: `plain` one backward of a fixed sum, `loss-only` weights from the "
        "loss values then one backward, `gradient` per-objective gradients on the encoders, "
        "`other` one backward plus gradient modulation (OGM-GE). Backward passes: as reported "
        "in `StepReport.info`, else the method's documented count.",
        "",
        table(methods, device),
        "",
        verdicts(methods, device),
        "",
    ]
    if device.type != "cuda":
        parts += [
            (
                "CPU memory: the resident-set high-water mark during one extra step per method "
                "(`benchmarks/_cpu_memory.py`), plus the parameters, buffers and batch."
                if methods[0].peak is not None
                else "CPU memory not measured: it needs Linux's /proc/self/clear_refs and the "
                "script run as a program (it restarts itself with glibc set to unmap freed "
                "blocks)."
            ),
            "",
        ]
    if args.profile:
        parts += ["## Profiles", "", profile(setup, methods, _report.csv(args.profile), device), ""]
    parts += ["## Machine", "", _report.machine(device), ""]
    report = "\n".join(parts)
    print(report)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(report, encoding="utf-8")
    return report


if __name__ == "__main__":
    _cpu_memory.reexec_with_malloc_env()  # CPU memory figures need glibc to unmap freed blocks
    main()
