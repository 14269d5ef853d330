#!/usr/bin/env bash
# Calibration forward throughput, DJL (with the importance taps and statistics) vs PyTorch eager doing the same on
# the same CPU with the same intra-op thread count, measured one after the other in this run.
# Usage: submit-scripts/bench-calibration.sh [THREADS (default: cores)] [PASSES (default 10)]
# Needs /usr/bin/python3 with torch (and OpenBLAS, see DESIGN notes) for the reference.
set -euo pipefail
threads=${1:-$(nproc)}
passes=${2:-10}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
java_out=$(java -Xmx2g -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  dev.distillery.bench.CalibrationBenchmark "$threads" "$passes" | tee /dev/stderr)
torch_out=$(cd common/src/test/python && ${PYTHON:-/usr/bin/python3} calibration_bench.py "$threads" "$passes" \
  | tee /dev/stderr)
java_rate=$(echo "$java_out" | awk '/^RESULT java/ {print $3}')
torch_rate=$(echo "$torch_out" | awk '/^RESULT torch/ {print $3}')
awk -v j="$java_rate" -v t="$torch_rate" -v n="$threads" 'BEGIN {
  printf "threads %d: DJL %.0f tokens/s (%.0f per thread), PyTorch eager %.0f tokens/s (%.0f per thread), DJL/PyTorch %.2fx\n",
    n, j, j / n, t, t / n, j / t }'
