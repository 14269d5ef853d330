#!/usr/bin/env bash
# The largest student (teacher: twice its layers) whose distill step fits this machine, before (optimizer whole, no
# recomputation, attention one block, float32 teacher) and after (recomputation, optimizer and gradients sharded over
# REPLICAS replicas, this process being one of them, the teacher in AFTER_TEACHER: float16 by default, half the memory,
# computed in float32 on the CPU), chosen by the memory planner against 80% of the machine's memory less the JVM heap,
# then run for STEPS steps at that size to confirm it runs; and tokens/s of both settings at the "before" size (with
# a float32 teacher, so that only recomputation and sharding differ). One JVM per run.
# Usage: submit-scripts/bench-largest-student.sh [MEMORY_GIB] [THREADS]; env SEQ (256), REPLICAS (8, one node of
# GPUs), STEPS (2), AFTER_TEACHER (float16 or float32).
set -euo pipefail
memory_gib=${1:-$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)}
threads=${2:-$(nproc)}
seq=${SEQ:-256}
replicas=${REPLICAS:-8}
steps=${STEPS:-2}
after_teacher=${AFTER_TEACHER:-float16}
heap_gib=2
cd "$(dirname "$0")/.."
source submit-scripts/lib/memory-bench.sh
run() { memory_java "$heap_gib" LargestStudentBenchmark "$@"; }
plan=$(run plan "$memory_gib" "$heap_gib" "$seq" "$replicas" "$after_teacher")
echo "machine memory ${memory_gib} GiB, ${threads} threads, rows of $((seq + 1)) tokens"
echo "$plan" | grep '^#'
eval "$(echo "$plan" | grep '^before=')"
run run before "$before" "$seq" "$threads" "$replicas" "$steps" float32 | grep -E '^(RESULT|#)'
run run after "$after" "$seq" "$threads" "$replicas" "$steps" "$after_teacher" | grep -E '^(RESULT|#)'
echo "tokens/s at the 'before' size with the 'after' settings and a float32 teacher (recomputation's extra forward):"
run run after "$before" "$seq" "$threads" "$replicas" "$steps" float32 | grep -E '^(RESULT|#)'

