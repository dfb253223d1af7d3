#!/usr/bin/env bash
# One call on a lent, registry-less GPU machine: install, run gpu_all.sh under a deadline, and
# leave at most 8 files in $OUT (the limit on what comes back from such a machine).
#
#   bash benchmarks/gpu_device.sh            # on the device, from the repository root
#
# Expects: python3 with CUDA torch (the machine's own), and optionally the wheels of packages it
# lacks in .whl/ (torchjd for the side-by-side columns; see benchmarks/README.md, "On a lent
# GPU machine"). Environment: DEADLINE_S (default 420: the benchmarks still unstarted then are
# skipped), OUT (default ./gpu-out).
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
python3 -m pip install -q --no-deps --no-build-isolation -e . >"$WORK/install.log" 2>&1 || {
    cat "$WORK/install.log"
    exit 2
}

rc=0
PYTHON=python3 DEADLINE_S="${DEADLINE_S:-420}" bash benchmarks/gpu_all.sh "$WORK/results" \
    2>&1 | tee "$WORK/gpu_all.log" || rc=$?
cp "$WORK/results/summary.md" "$DEST/summary.md" 2>/dev/null || true
tar czf "$DEST/gpu-results.tar.gz" -C "$WORK" results gpu_all.log install.log
echo "-> $DEST/summary.md, $DEST/gpu-results.tar.gz (exit $rc)"
exit $rc
