#!/usr/bin/env bash
# The memory planner's peak against a measured distill step (CPU, float32 student and teacher), for three generated
# model sizes with layer recomputation on and off, one JVM per measurement (the heap pre-touched, so it is part of
# the baseline; glibc's mmap threshold fixed, so freed tensors leave the resident set). Usage: submit-scripts/bench-memory-plan.sh [DIR] [THREADS]
set -euo pipefail
dir=${1:-/tmp/distillery-memory-plan}
threads=${2:-$(nproc)}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
classes=$(mktemp -d) # a copy, so that builds while the benchmark runs do not change its classes
cp -r common/target/test-classes common/target/classes "$classes"
cp="$classes/test-classes:$classes/classes:$(cat common/target/bench.classpath)"
run() { MALLOC_MMAP_THRESHOLD_=131072 java -Xms1g -Xmx1g -XX:+AlwaysPreTouch -cp "$cp" dev.distillery.bench.MemoryPlanBenchmark "$@"; }
for size in small medium large; do
  run generate "$dir" "$size"
done
for spec in "small 1024" "medium 256" "large 128"; do
  set -- $spec
  for mode in off on; do
    run measure "$dir" "$1" "$mode" "$2" "$threads" | grep '^RESULT'
  done
done
