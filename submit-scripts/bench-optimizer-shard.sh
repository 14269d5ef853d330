#!/usr/bin/env bash
# The AdamW state per replica, replicated (N=1) and sharded over N replicas, for a generated student (libtorch
# bytes and RSS growth, one JVM each). Usage: submit-scripts/bench-optimizer-shard.sh [HIDDEN] [LAYERS] [VOCAB] [N...]
set -euo pipefail
hidden=${1:-1024}
layers=${2:-8}
vocab=${3:-32000}
shift $(( $# < 3 ? $# : 3 ))
replicas=("$@")
[ ${#replicas[@]} -gt 0 ] || replicas=(1 2 4 8 32)
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
for n in "${replicas[@]}"; do
  java -Xms3g -Xmx3g -XX:+AlwaysPreTouch -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
    dev.distillery.bench.OptimizerShardBenchmark "$hidden" "$layers" "$vocab" "$n" | grep '^RESULT'
done
