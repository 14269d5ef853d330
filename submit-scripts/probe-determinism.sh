#!/usr/bin/env bash
# Which knobs change Distillery's CPU numerics on this machine: trains a generated model for a few steps under
# each setting (one JVM each) and prints its losses and a hash of the final weights. Equal lines are bit-identical
# runs. Usage: submit-scripts/probe-determinism.sh [STEPS]
set -euo pipefail
steps=${1:-5}
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
cp="common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)"
probe() { # LABEL THREADS [ENV=VALUE ...]
  local label=$1 threads=$2; shift 2
  printf '%-34s ' "$label"
  env "$@" java -Xmx2g -cp "$cp" dev.distillery.bench.DeterminismProbe "$threads" "$steps" 2>/dev/null \
    | grep "^RESULT"
}
probe "default, 2 threads" 2
probe "default, 2 threads (again)" 2
probe "default, 1 thread" 1
probe "ATEN_CPU_CAPABILITY=avx2" 2 ATEN_CPU_CAPABILITY=avx2
probe "ATEN_CPU_CAPABILITY=default" 2 ATEN_CPU_CAPABILITY=default
probe "MKL_CBWR=AVX2" 2 MKL_CBWR=AVX2
probe "avx2 kernels + MKL_CBWR=AVX2" 2 ATEN_CPU_CAPABILITY=avx2 MKL_CBWR=AVX2
