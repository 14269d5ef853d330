#!/usr/bin/env bash
# DistillJob steady-state tokens/s with 1 and 2 ranks (barrier stage, TCP ring) in Spark local mode, same global
# batch, and the ratio. Usage: submit-scripts/bench-distill-scaling.sh [STEPS (default 8)]
set -euo pipefail
steps=${1:-8}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mvn -q -B -o -DskipTests install
mvn -q -B -o -pl jobs test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
opens=@conf/java17.args
# shellcheck disable=SC2086
DJL_OFFLINE=true java -Xmx4g $opens -Dlog4j2.configurationFile=conf/log4j2.properties \
  -cp "jobs/target/test-classes:jobs/target/classes:$(cat jobs/target/bench.classpath)" \
  dev.distillery.jobs.bench.DistillScalingBenchmark "$work" "$steps" 2>&1 | grep --line-buffered -E "RESULT|distill step|Exception|rror"
