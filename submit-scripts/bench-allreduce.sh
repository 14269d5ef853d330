#!/usr/bin/env bash
# Ring all-reduce throughput, all ranks in one JVM over loopback, against raw loopback TCP (one pair, and a
# ring of N pairs without reduction) measured in the same run. Prints algorithm and bus bandwidth.
# Usage: submit-scripts/bench-allreduce.sh [ranks=2,4] [megabytes=64,256] [bucketMegabytes=16] [rounds=5]
#   [socketBufferKilobytes=0, OS auto-tuning]
# JVM options via JAVA_OPTS (default -Xmx6g, which also caps direct memory: the ranks' data plus the raw
# ring's two buffers of that size per rank, 3 GiB for 4 ranks of 256 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java ${JAVA_OPTS:--Xmx6g} -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  dev.distillery.bench.AllReduceBenchmark "$@"
