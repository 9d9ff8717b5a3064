#!/usr/bin/env bash
# What the lent GPU machine runs (benches/README.md, "Similarity (GPU)"): unpack the staged package
# and its missing dependencies (benches/gpu_stage.sh made them), show the machine, run the GPU
# parity tests, the benchmark, then the rest of the test suite; logs go to $OUT.
#
#   bash .gpu/tree/benches/gpu_run.sh      # from the repository root, on the GPU machine
#
# env: BENCH_SECTIONS (gpu_bench.py --sections), BENCH_PREVIOUS / BENCH_PREVIOUS_LABEL (an earlier
# run's gpu_bench.json, relative to the staged tree, for the sections skipped), SKIP_REST=1 (only
# tests/test_similarity.py), BENCH_TIMEOUT / BENCH_BUDGET / SIM_TIMEOUT / REST_TIMEOUT (seconds).
# The second run of issue 17 (coherence and the agreement default changed; kNN as in run 1):
#   SKIP_REST=1 BENCH_SECTIONS=parity,agreement,coherence \
#   BENCH_PREVIOUS=benches/gpu_bench_h200_run1.json BENCH_PREVIOUS_LABEL="run 1, 2026-11-30" \
#   bash .gpu/tree/benches/gpu_run.sh
#
# The machine has CuPy, NumPy, pyarrow, pytest, tqdm but no polars, ijson or Rust toolchain:
# .gpu/deps.tar.xz holds polars + polars-runtime-32 + ijson installed for CPython 3.12, and
# .gpu/poisonscreen.tar.xz the package with its cp312 extension (xz: the wheels and the extension
# as they come would pass the 64 MiB the working tree may take). Tests that need ../shared/data
# skip there (it does not travel).
set -uo pipefail
TREE=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$TREE/../deps.tar.xz" ]; then STAGE=$(cd "$TREE/.." && pwd); else STAGE=$TREE/.gpu; fi
OUT=${OUT:-/tmp/gpu-out}
SITE=${SITE:-/tmp/site}
mkdir -p "$OUT"
T0=$(date +%s)
stamp() { echo "=== [$(($(date +%s) - T0)) s] $*"; }

stamp "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.draw,temperature.gpu --format=csv 2>&1
python3 -c 'import sys, numpy, cupy; print(sys.version.split()[0], "numpy", numpy.__version__, "cupy", cupy.__version__)' 2>&1

stamp "unpack $STAGE -> $SITE"
rm -rf "$SITE" && mkdir -p "$SITE"
python3 -c 'import sys, tarfile
for f in sys.argv[2:]:
    with tarfile.open(f) as t:
        t.extractall(sys.argv[1], filter="tar")' "$SITE" "$STAGE/deps.tar.xz" "$STAGE/poisonscreen.tar.xz" ||
    { echo "cannot unpack the staged archives in $STAGE"; exit 2; }
export PYTHONPATH=$SITE PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
python3 -W always - <<'EOF' 2>&1 | tee "$OUT/preflight.log"
import os, sys
import ijson, polars, pyarrow
import poisonscreen
from poisonscreen import similarity as sim
print("poisonscreen from", poisonscreen.__file__, "| polars", polars.__version__, "| ijson", ijson.__version__, "| pyarrow", pyarrow.__version__)
assert poisonscreen.__file__.startswith(os.environ["PYTHONPATH"]), "not the staged package"
cupy, why = sim._probe_gpu()
print("GPU:", "usable" if cupy is not None else f"NOT usable: {why}")
sys.exit(0 if cupy is not None else 3)
EOF
[ "${PIPESTATUS[0]}" -eq 0 ] || { stamp "preflight failed: see above"; exit 3; }

cd "$TREE" || exit 2
stamp "pytest tests/test_similarity.py (the gpu tests)"
timeout "${SIM_TIMEOUT:-180}" python3 -m pytest -q -p no:cacheprovider -o "filterwarnings=default" -rs \
    tests/test_similarity.py 2>&1 | tee "$OUT/pytest_similarity.log"
SIM_RC=${PIPESTATUS[0]}

stamp "benchmark"
bench_args=(--budget "${BENCH_BUDGET:-150}" --out "$OUT")
[ -n "${BENCH_SECTIONS:-}" ] && bench_args+=(--sections "$BENCH_SECTIONS")
[ -n "${BENCH_PREVIOUS:-}" ] &&
    bench_args+=(--previous "$BENCH_PREVIOUS" --previous-label "${BENCH_PREVIOUS_LABEL:-earlier run}")
timeout "${BENCH_TIMEOUT:-220}" python3 benches/gpu_bench.py "${bench_args[@]}" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
BENCH_RC=${PIPESTATUS[0]}

if [ "${SKIP_REST:-0}" = 1 ]; then
    stamp "the rest of the suite skipped (SKIP_REST=1)"
    echo "skipped (SKIP_REST=1)" >"$OUT/pytest.log"
    REST_RC=0
else
    stamp "pytest: the rest of the suite"
    timeout "${REST_TIMEOUT:-120}" python3 -m pytest -q -p no:cacheprovider -o "filterwarnings=default" \
        -m "not slow and not ray" tests --ignore=tests/test_similarity.py \
        --maxfail=20 2>&1 | tee "$OUT/pytest.log" | tail -n 25
    REST_RC=${PIPESTATUS[0]}
fi

stamp "summary"
grep -E "passed|failed|error" "$OUT/pytest_similarity.log" | tail -n 3
grep -E "^FAILED|^ERROR" "$OUT/pytest_similarity.log" | head -n 20
grep -E "passed|failed|error" "$OUT/pytest.log" | tail -n 2
nvidia-smi --query-gpu=clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv,noheader 2>&1
sed -n '/^## /,$p' "$OUT/bench.log"
echo "rc: similarity tests $SIM_RC, bench $BENCH_RC, rest of the suite $REST_RC"
[ "$SIM_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ] && [ "$REST_RC" -eq 0 ]
