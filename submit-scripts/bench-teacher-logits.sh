#!/usr/bin/env bash
# Distillation from stored top-k teacher logits against the online teacher (train steps/s), and the teacher's top-k
# pass against its bare forward (tokens/s), measured in one JVM, alternating rounds.
# Usage: submit-scripts/bench-teacher-logits.sh [THREADS (default: cores)] [ROUNDS (3)] [STEPS per round (2)] [K (64)]
set -euo pipefail
threads=${1:-$(nproc)}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
java -Xmx4g -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  dev.distillery.bench.StoredTeacherBenchmark "$threads" "${2:-3}" "${3:-2}" "${4:-64}"
