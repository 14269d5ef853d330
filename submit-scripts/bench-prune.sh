#!/usr/bin/env bash
# Scale check of pruning: prunes a ~16 GB BF16 checkpoint with Llama-3.1-8B shapes (generated into TEACHER_DIR
# first if it is not there; ~70 s) to the Minitron-4B-Width shapes in WORK_DIR and compares the wall time with a
# plain copy of the same files, in ABBA order, and prints peak RSS. Needs ~33 GB free for the teacher plus
# one copy at a time; WORK_DIR's outputs are deleted as it goes (delete TEACHER_DIR yourself afterwards).
# Usage: submit-scripts/bench-prune.sh TEACHER_DIR WORK_DIR [ROUNDS (default 2)] [extra JVM options]
set -euo pipefail
teacher=${1:?usage: $0 TEACHER_DIR WORK_DIR [ROUNDS] [JVM options]}
work=${2:?usage: $0 TEACHER_DIR WORK_DIR [ROUNDS] [JVM options]}
rounds=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
cd "$(dirname "$0")/.."
if [ ! -f "$teacher/_COMMITTED" ]; then
  DISTILLERY_HEAP=2g submit-scripts/distillery random-checkpoint --output "$teacher" --preset llama-3.1-8b --dtype bfloat16
fi
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
exec java -Xmx1g "$@" -cp "common/target/test-classes:common/target/classes:$(cat common/target/bench.classpath)" \
  dev.distillery.bench.PruneBenchmark "$teacher" "$work" "$rounds"
