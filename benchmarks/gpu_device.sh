#!/usr/bin/env bash
# One call on a lent, registry-less GPU machine: install, run gpu_all.sh under a deadline, and
# leave at most 8 files in $OUT (the limit on what comes back from such a machine).
#
#   bash benchmarks/gpu_device.sh            # on the device, from the repository root
#
# First the device tests (tests/torch/test_devices.py, tests/torch/test_backward.py, the trainer's
# mixed precision in tests/multimodal/test_distributed.py; at most 2.5 min),
# then gpu_all.sh. Expects python3 with CUDA torch (the machine's own) and, optionally, the
# wheels of the packages it lacks in .whl/ (torchjd and its UPGrad solver, for the side-by-side
# columns; see benchmarks/README.md, "On a lent GPU machine"). Environment: DEADLINE_S (default
# 360 s from the benchmarks' start; later benchmarks are skipped), OUT (default ./gpu-out).
# Worst case about 9 min after the install: run it with a 580 s limit.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DEST="${OUT:-$ROOT/gpu-out}"
mkdir -p "$DEST"
WORK="$(mktemp -d /tmp/moo-gpu.XXXXXX)"
export PYTHONUNBUFFERED=1

if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/moo-site .whl/*.whl || exit 2
    export PYTHONPATH="/tmp/moo-site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! python3 -m pip install -q --no-deps --no-build-isolation -e . >"$WORK/install.log" 2>&1; then
    # no build backend usable offline: import the packages from the checkout instead
    tail -n 5 "$WORK/install.log"
    echo "pip install -e . failed; importing moo and moo_multimodal from the checkout"
    mkdir -p "$WORK/src"
    ln -s "$ROOT/moo" "$WORK/src/moo"
    ln -s "$ROOT/adapters/multimodal" "$WORK/src/moo_multimodal"
    export PYTHONPATH="$WORK/src${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -c "import moo.torch, moo_multimodal" || exit 2

# the device tests first (CUDA paths, synchronizations per step, AMP, the trainer on CUDA)
trc=0
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/torch/test_devices.py tests/torch/test_backward.py \
    "tests/multimodal/test_distributed.py::test_mixed_precision_trains_like_fp32" \
    "tests/multimodal/test_distributed.py::test_fp16_refused_for_methods_that_choose_weights" \
    "tests/multimodal/test_distributed.py::test_fp16_resume_restores_the_loss_scaler" \
    >"$WORK/tests.log" 2>&1 || trc=$?
tail -n 30 "$WORK/tests.log"

rc=0
PYTHON=python3 DEADLINE_S="${DEADLINE_S:-360}" bash benchmarks/gpu_all.sh "$WORK/results" \
    2>&1 | tee "$WORK/gpu_all.log" || rc=$?
{
    echo "# Device tests (pytest exit $trc)"
    echo
    echo '```'
    tail -n 60 "$WORK/tests.log"
    echo '```'
    echo
    cat "$WORK/results/summary.md" 2>/dev/null || echo "(gpu_all.sh wrote no summary)"
} >"$DEST/summary.md"
tar czf "$DEST/gpu-results.tar.gz" -C "$WORK" results gpu_all.log install.log tests.log
echo "-> $DEST/summary.md, $DEST/gpu-results.tar.gz (tests exit $trc, benchmarks exit $rc)"
[[ $trc -eq 0 ]] || exit 1
exit $rc
