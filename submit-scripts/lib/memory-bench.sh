# Sourced by the memory benchmarks (bench-memory-plan.sh, bench-largest-student.sh), from the checkout's root:
# builds common's test classes, copies them so that builds while a benchmark runs do not change its classes, and
# defines memory_java HEAP_GIB CLASS ARGS..., a JVM of dev.distillery.bench.CLASS whose resident set follows
# libtorch's live allocations: glibc's mmap threshold is fixed, so freed tensors leave it; the heap is pre-touched,
# so it is part of the baseline; direct buffers (CPU gradients, ring buckets) are not capped at the small heap.
mvn -q -B -o -pl common test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
bench_classes=$(mktemp -d)
cp -r common/target/test-classes common/target/classes "$bench_classes"
bench_cp="$bench_classes/test-classes:$bench_classes/classes:$(cat common/target/bench.classpath)"

memory_java() {
  local heap_gib=$1 main=$2
  shift 2
  MALLOC_MMAP_THRESHOLD_=131072 java -Xms"${heap_gib}"g -Xmx"${heap_gib}"g -XX:MaxDirectMemorySize=64g \
    -XX:+AlwaysPreTouch -cp "$bench_cp" "dev.distillery.bench.$main" "$@"
}
