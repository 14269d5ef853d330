#!/usr/bin/env bash
# Tokenize throughput: TokenizeJob in Spark local mode against the tokenizer's single-thread batchEncode ceiling.
# Usage: submit-scripts/bench-tokenize.sh [CORES (default all)] [REPEAT (default 4)]
# Defaults: the WikiText-2 fixture (valid + test) copied REPEAT times, the Llama 3.1 tokenizer.
# Override the data with TOKENIZER=... CORPUS="file1 file2" (WikiText-style text files).
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures="../shared/fixtures"
tokenizer="${TOKENIZER:-$fixtures/tokenizers/llama-3.1/tokenizer.json}"
corpus="${CORPUS:-$fixtures/corpus/wikitext-2/valid.txt $fixtures/corpus/wikitext-2/test.txt}"
mvn -q -B -o -pl jobs -am test-compile dependency:build-classpath -Dmdep.outputFile=target/bench.classpath \
  -Dmdep.includeScope=test
# One native thread per encode call, so the ceiling is a single-thread figure and Spark tasks do not
# oversubscribe the cores.
# shellcheck disable=SC2086
TOKENIZERS_PARALLELISM=false DJL_OFFLINE=true RUST_FLAVOR=cpu java -Xmx4g @conf/java17.args \
  -Dlog4j2.configurationFile=conf/log4j2.properties \
  -cp "jobs/target/test-classes:jobs/target/classes:$(cat jobs/target/bench.classpath)" \
  dev.distillery.jobs.bench.TokenizeBenchmark "$tokenizer" "${1:-$(nproc)}" "${2:-4}" $corpus
