#!/usr/bin/env bash
# One distillation train step with layer recomputation off and on, alternating, one JVM per measurement:
# tokens/s and peak RSS above the loaded models. Usage: submit-scripts/bench-recompute.sh [THREADS] [STEPS] [SEQ] [LAYERS]
set -euo pipefail
threads=${1:-$(nproc)}
steps=${2:-2}
seq=${3:-1024}
layers=${4:-8}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
for mode in off on off on; do
  java -Xmx2g -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
    dev.distillery.bench.RecomputationBenchmark "$mode" "$threads" "$steps" "$seq" "$layers" | grep '^RESULT'
done
