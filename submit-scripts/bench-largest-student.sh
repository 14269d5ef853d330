#!/usr/bin/env bash
# The largest student (teacher: twice its layers) whose distill step fits this machine, before (optimizer whole,
# no recomputation, attention one block) and after (recomputation, optimizer sharded over REPLICAS replicas, this
# process being one of them), chosen by the memory planner against 80% of the machine's memory less the JVM heap,
# then run for STEPS steps at that size to confirm it runs; and tokens/s before vs after at the "before" size.
# One JVM per run. Usage: submit-scripts/bench-largest-student.sh [MEMORY_GIB] [THREADS]; env SEQ (256), REPLICAS
# (8, one node of GPUs), STEPS (2). The defaults are sized (about 20 TFLOP in all, by estimate; not yet timed) to
# finish within 15 minutes on 2 cores; at 24 GiB the planner picks hidden 2048 (492M) before and 2816 (862M) after.
set -euo pipefail
memory_gib=${1:-$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)}
threads=${2:-$(nproc)}
seq=${SEQ:-256}
replicas=${REPLICAS:-8}
steps=${STEPS:-2}
heap_gib=2
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
classes=$(mktemp -d) # a copy, so that builds while the benchmark runs do not change its classes
cp -r common/target/test-classes common/target/classes "$classes"
cp="$classes/test-classes:$classes/classes:$(cat common/target/bench.classpath)"
run() {
  MALLOC_MMAP_THRESHOLD_=131072 java -Xms${heap_gib}g -Xmx${heap_gib}g -XX:MaxDirectMemorySize=64g -XX:+AlwaysPreTouch -cp "$cp" \
    dev.distillery.bench.LargestStudentBenchmark "$@"
}
plan=$(run plan "$memory_gib" "$heap_gib" "$seq" "$replicas")
echo "machine memory ${memory_gib} GiB, ${threads} threads, rows of $((seq + 1)) tokens"
echo "$plan" | grep '^#'
eval "$(echo "$plan" | grep '^before=')"
run run before "$before" "$seq" "$threads" "$replicas" "$steps" | grep -E '^(RESULT|#)'
run run after "$after" "$seq" "$threads" "$replicas" "$steps" | grep -E '^(RESULT|#)'
echo "tokens/s at the 'before' size with the 'after' settings (recomputation's extra forward):"
run run after "$before" "$seq" "$threads" "$replicas" "$steps" | grep -E '^(RESULT|#)'
