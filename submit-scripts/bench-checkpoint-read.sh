#!/usr/bin/env bash
# Scale check of checkpoint I/O: generates (or reuses) a ~16 GB BF16 checkpoint with Llama-3.1-8B shapes in
# DIR, reads it back tensor by tensor, and prints GB/s and peak RSS. Needs ~17 GB free in DIR's file system.
# Usage: submit-scripts/bench-checkpoint-read.sh DIR [extra JVM options]
set -euo pipefail
dir=${1:?usage: $0 CHECKPOINT_DIR [JVM options]}
shift
cd "$(dirname "$0")/.."
mvn -q -B -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java -Xmx1g "$@" -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  dev.distillery.bench.CheckpointReadBenchmark "$dir"
