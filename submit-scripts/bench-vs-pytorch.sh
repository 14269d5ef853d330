#!/usr/bin/env bash
# A Distillery hot path on DJL against the same work in PyTorch eager (Debian's python3-torch, with OpenBLAS: see
# the DESIGN notes), on the same CPU and intra-op thread count, measured one after the other in this run.
# Usage: submit-scripts/bench-vs-pytorch.sh WHAT [THREADS (default: cores)] [REPEATS]
#   calibration  forward passes with the importance taps and statistics (REPEATS: passes, default 10)
#   train-step   distillation train steps: KL, backward, clipping, AdamW (REPEATS: steps, default 5)
set -euo pipefail
case "${1:-}" in
  calibration) java_main=dev.distillery.bench.CalibrationBenchmark python_script=calibration_bench.py repeats=10 ;;
  train-step) java_main=dev.distillery.bench.TrainStepBenchmark python_script=train_step_bench.py repeats=5 ;;
  *) echo "usage: $0 calibration|train-step [THREADS] [REPEATS]" >&2; exit 2 ;;
esac
threads=${2:-$(nproc)}
repeats=${3:-$repeats}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
java_out=$(java -Xmx2g -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  "$java_main" "$threads" "$repeats" | tee /dev/stderr)
torch_out=$(cd common/src/test/python && ${PYTHON:-/usr/bin/python3} "$python_script" "$threads" "$repeats" \
  | tee /dev/stderr)
java_rate=$(echo "$java_out" | awk '/^RESULT java/ {print $3}')
torch_rate=$(echo "$torch_out" | awk '/^RESULT torch/ {print $3}')
awk -v what="$1" -v j="$java_rate" -v t="$torch_rate" -v n="$threads" 'BEGIN {
  printf "%s, threads %d: DJL %.0f tokens/s (%.0f per thread), PyTorch eager %.0f tokens/s (%.0f per thread), DJL/PyTorch %.2fx\n",
    what, n, j, j / n, t, t / n, j / t }'
