#!/usr/bin/env bash
# Run every GPU benchmark of moo on one CUDA machine and collect the reports in one folder.
#
#   bash benchmarks/gpu_all.sh [OUT_DIR]        # default OUT_DIR: benchmarks/results-gpu
#
# Installs nothing: run it from an environment where `pip install -e '.[bench]'` is done
# (moo, torch with CUDA, torchjd). It writes into OUT_DIR:
#   machine.txt              nvidia-smi, torch/CUDA versions, CPU, git commit
#   step-mlp-1024x4.md       bench_torch_step.py, MLP trunk 512→1024×4 (~3.7M shared), batch 256
#   step-mlp-4096x4.md       bench_torch_step.py, MLP trunk 1024→4096×4 (~54M shared), batch 512
#   step-resnet18.md         bench_torch_step.py, ResNet-18 trunk (11.2M), 3×32×32, batch 64
#   gramian-k3.md            Gramian micro-benchmark, K = 3, d = 1M, 11.2M, 50M
#   gramian-k10.md           Gramian micro-benchmark, K = 10, d = 1M, 11.2M
#   gramian-rules-cpu.md     bench_gramian_rules.py (host-side rule solvers, CPU)
#   mm-step-resnet18.md      bench_multimodal_step.py, two ResNet-18 encoders (audio 1×257×188,
#                            visual 3×1×224×224), batch 64: the DESIGN anchor's setting
#   mm-step-mlp-4096x3.md    bench_multimodal_step.py, two MLP encoders 1024→4096×3, batch 512
#   *.log                    each command's full output
#   summary.md               all reports, one after the other, and the list of failures
#
# Environment: PYTHON (default: python), TIMEOUT_S (per benchmark, default 1800),
# DEADLINE_S (default 0 = none: once this many seconds have passed since the start, the
# benchmarks not yet started are skipped and listed as such, so that a time-limited machine
# still returns a summary; each running benchmark's timeout is also cut to the time left),
# DEVICE (default cuda; DEVICE=cpu QUICK=1 is a dry run of this script on a CPU machine),
# QUICK=1 (tiny sizes and few repeats: checks the script, measures nothing worth keeping).
# A failing or timed-out benchmark is recorded and the others still run; the exit status is 1
# when any failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/benchmarks/results-gpu}"
PY="${PYTHON:-python}"
TIMEOUT_S="${TIMEOUT_S:-1800}"
DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:-0}"

mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
cd "$ROOT"

if ! "$PY" -c "import moo.torch, torch" >/dev/null 2>&1; then
    echo "error: '$PY' cannot import moo.torch and torch; run pip install -e '.[bench]' first" >&2
    exit 2
fi
if [[ "$DEVICE" == cuda* ]] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "error: torch.cuda.is_available() is False for '$PY' (DEVICE=cpu QUICK=1 for a dry run)" >&2
    exit 2
fi

# ------------------------------------------------------------------------------ machine
{
    echo "# Machine ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo '```'
    if command -v nvidia-smi >/dev/null 2>&1; then
        timeout 60 nvidia-smi || echo "nvidia-smi failed"
        echo
        timeout 60 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem,power.limit --format=csv || true
    else
        echo "nvidia-smi: not found"
    fi
    echo
    timeout 120 "$PY" - <<'EOF' || echo "torch query failed"
import importlib.metadata as md
import platform

import torch

print("python", platform.python_version(), platform.platform())
print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version())
for name in ("torchjd", "numpy", "scipy", "moo-toolkit"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "not installed")
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        p = torch.cuda.get_device_properties(i)
        print(f"cuda:{i}", p.name, f"{p.total_memory / 2**30:.1f} GiB", f"sm_{p.major}{p.minor}")
print("TF32 matmul:", torch.backends.cuda.matmul.allow_tf32)
EOF
    echo
    echo "CPU: $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- || echo unknown)"
    echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')$(git status --porcelain -- moo 2>/dev/null | grep -q . && echo ' (uncommitted changes under moo/)' || true)"
    echo '```'
} >"$OUT/machine.txt" 2>&1
echo "machine info -> $OUT/machine.txt"

# --------------------------------------------------------------------------- benchmarks
failures=()
reports=()

DEADLINE_S="${DEADLINE_S:-0}"
skipped=()

run() {  # run NAME CMD...: NAME.log gets the output, NAME.md the report (--out)
    local name="$1"
    shift
    local limit="$TIMEOUT_S"
    if [[ "$DEADLINE_S" -gt 0 ]]; then
        local left=$((DEADLINE_S - SECONDS))
        if [[ $left -lt 30 ]]; then
            echo "== $name: skipped (DEADLINE_S=$DEADLINE_S reached)"
            skipped+=("$name")
            return 0
        fi
        [[ $left -lt $limit ]] && limit=$left
    fi
    echo "== $name: $*"
    local start=$SECONDS rc=0
    timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
    if [[ $rc -eq 0 ]]; then
        echo "   ok ($((SECONDS - start)) s) -> $OUT/$name.md"
        reports+=("$name")
    else
        [[ $rc -eq 124 || $rc -eq 137 ]] && why="timed out after ${limit} s" || why="exit $rc"
        echo "   FAILED ($why); last lines of $OUT/$name.log:"
        tail -n 5 "$OUT/$name.log" | sed 's/^/   | /'
        failures+=("$name: $why")
    fi
}

STEP="benchmarks/bench_torch_step.py"
if [[ "$QUICK" == 1 ]]; then
    REP=(--repeats 3 --warmup 1)
    MLP_S=(--in-dim 64 --width 64 --depth 2 --batch 16)
    MLP_L=(--in-dim 128 --width 128 --depth 2 --batch 32)
    RESNET=(--model resnet18 --batch 2 --rules mgda,mimo --extractions batched)
    GRAM_D3="1e4,1e5"
    GRAM_D10="1e4"
    RULES=(--ks 2,3 --repeats 3 --gramians 4)
    # one CPU thread: a 2-thread dry run on a busy shared CPU is ~30x slower on these tiny steps
    MM_RESNET=(--model resnet18 --image-size 32 --audio-size 32 --batch 2 --threads 1)
    MM_MLP=(--in-dim 64 --width 128 --depth 2 --batch 16 --threads 1)
else
    REP=(--repeats 50 --warmup 10)
    MLP_S=(--in-dim 512 --width 1024 --depth 4 --batch 256)
    MLP_L=(--in-dim 1024 --width 4096 --depth 4 --batch 512)
    RESNET=(--model resnet18 --batch 64)
    GRAM_D3="1e6,11.2e6,50e6"
    GRAM_D10="1e6,11.2e6"
    RULES=()
    MM_RESNET=(--model resnet18 --image-size 224 --audio-size 257x188 --frames 1 --batch 64)
    MM_MLP=(--in-dim 1024 --width 4096 --depth 3 --batch 512)
fi
ALL_EXT=(--extractions autograd,batched,representation)

MM="benchmarks/bench_multimodal_step.py"
# In order of priority (DEADLINE_S skips from the end): the design targets' settings first.
# RESNET's own --extractions (QUICK) comes last and wins
run step-resnet18 "$PY" "$STEP" --device "$DEVICE" "${ALL_EXT[@]}" "${RESNET[@]}" \
    "${REP[@]}" --no-gramian --out "$OUT/step-resnet18.md"
run gramian-k3 "$PY" "$STEP" --device "$DEVICE" --no-step --gramian-k 3 \
    --gramian-d "$GRAM_D3" "${REP[@]}" --out "$OUT/gramian-k3.md"
run mm-step-resnet18 "$PY" "$MM" --device "$DEVICE" "${MM_RESNET[@]}" "${REP[@]}" \
    --profile joint,mgda --out "$OUT/mm-step-resnet18.md"
run step-mlp-1024x4 "$PY" "$STEP" --device "$DEVICE" "${MLP_S[@]}" "${ALL_EXT[@]}" \
    "${REP[@]}" --no-gramian --out "$OUT/step-mlp-1024x4.md"
run step-mlp-4096x4 "$PY" "$STEP" --device "$DEVICE" "${MLP_L[@]}" "${ALL_EXT[@]}" \
    "${REP[@]}" --no-gramian --out "$OUT/step-mlp-4096x4.md"
run gramian-k10 "$PY" "$STEP" --device "$DEVICE" --no-step --gramian-k 10 \
    --gramian-d "$GRAM_D10" "${REP[@]}" --out "$OUT/gramian-k10.md"
run mm-step-mlp-4096x3 "$PY" "$MM" --device "$DEVICE" "${MM_MLP[@]}" "${REP[@]}" \
    --out "$OUT/mm-step-mlp-4096x3.md"
run gramian-rules-cpu "$PY" benchmarks/bench_gramian_rules.py "${RULES[@]}" \
    --out "$OUT/gramian-rules-cpu.md"

# ------------------------------------------------------------------------------ summary
{
    echo "# moo GPU benchmarks ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    if [[ ${#failures[@]} -gt 0 ]]; then
        echo "**Failed:**"
        for f in "${failures[@]}"; do echo "- $f"; done
    fi
    if [[ ${#skipped[@]} -gt 0 ]]; then
        echo "**Skipped (DEADLINE_S=$DEADLINE_S reached):** ${skipped[*]}"
    fi
    if [[ ${#failures[@]} -eq 0 && ${#skipped[@]} -eq 0 ]]; then
        echo "All benchmarks ran."
    fi
    echo
    cat "$OUT/machine.txt"
    for name in "${reports[@]}"; do
        echo
        echo "---"
        echo
        echo "<!-- $name -->"
        if [[ -f "$OUT/$name.md" ]]; then cat "$OUT/$name.md"; else cat "$OUT/$name.log"; fi
    done
} >"$OUT/summary.md"
echo "summary -> $OUT/summary.md"

if [[ ${#failures[@]} -gt 0 ]]; then
    printf 'failed: %s\n' "${failures[@]}" >&2
    exit 1
fi
