#!/usr/bin/env bash
# The memory planner's peak against a measured distill step (CPU, float32 student and teacher), for generated model
# sizes with layer recomputation off and on, and the optimizer whole (one replica) or sharded over two ranks of one
# process (two replicas, one shared teacher: the prediction is the process total), with recomputation also the
# gradients sharded (ZeRO stage 2). One JVM per measurement (the heap
# pre-touched, so it is part of the baseline; glibc's mmap threshold fixed, so freed tensors leave the resident
# set). Each line ends PASS or FAIL: the prediction within 15% of the measurement.
# Usage: submit-scripts/bench-memory-plan.sh [DIR] [THREADS]; SIZES="small medium large" (default; also tiny, a
# smoke run of seconds) picks the sizes.
set -euo pipefail
dir=${1:-/tmp/distillery-memory-plan}
threads=${2:-$(nproc)}
sizes=${SIZES:-small medium large}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
classes=$(mktemp -d) # a copy, so that builds while the benchmark runs do not change its classes
cp -r common/target/test-classes common/target/classes "$classes"
cp="$classes/test-classes:$classes/classes:$(cat common/target/bench.classpath)"
# Direct buffers (CPU gradients, ring buckets) are native memory the plan counts: not capped at the small heap.
run() {
  MALLOC_MMAP_THRESHOLD_=131072 java -Xms1g -Xmx1g -XX:MaxDirectMemorySize=64g -XX:+AlwaysPreTouch -cp "$cp" \
    dev.distillery.bench.MemoryPlanBenchmark "$@"
}
seq_of() { case $1 in tiny) echo 64 ;; small) echo 1024 ;; medium) echo 256 ;; large) echo 128 ;; esac; }
for size in $sizes; do
  run generate "$dir" "$size"
done
for size in $sizes; do
  for mode in off on; do
    for replicas in 1 2; do
      run measure "$dir" "$size" "$mode" "$(seq_of "$size")" "$threads" "$replicas" | grep '^RESULT'
    done
    if [ "$mode" = on ]; then # the gradients sharded too (ZeRO stage 2), which needs recomputation
      run measure "$dir" "$size" on "$(seq_of "$size")" "$threads" 2 gradients | grep '^RESULT'
    fi
  done
done
