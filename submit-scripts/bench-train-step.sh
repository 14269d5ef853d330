#!/usr/bin/env bash
# Distillation train-step throughput: Distillery's TrainingStep on DJL vs the same step in PyTorch eager
# (common/src/test/python/train_step_bench.py) on the same CPU and intra-op thread count, one after the other.
# Usage: submit-scripts/bench-train-step.sh [THREADS (default: cores)] [STEPS (default 5)]
set -euo pipefail
threads=${1:-$(nproc)}
steps=${2:-5}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
java_out=$(java -Xmx2g -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  dev.distillery.bench.TrainStepBenchmark "$threads" "$steps" | tee /dev/stderr)
torch_out=$(cd common/src/test/python && ${PYTHON:-/usr/bin/python3} train_step_bench.py "$threads" "$steps" \
  | tee /dev/stderr)
java_rate=$(echo "$java_out" | awk '/^RESULT java/ {print $3}')
torch_rate=$(echo "$torch_out" | awk '/^RESULT torch/ {print $3}')
awk -v j="$java_rate" -v t="$torch_rate" -v n="$threads" 'BEGIN {
  printf "threads %d: DJL train step %.0f tokens/s, PyTorch eager %.0f tokens/s, DJL/PyTorch %.2fx\n", n, j, t, j / t }'
