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
source submit-scripts/lib/memory-bench.sh
run() { memory_java 1 MemoryPlanBenchmark "$@"; }
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
