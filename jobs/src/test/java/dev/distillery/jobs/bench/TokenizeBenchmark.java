package dev.distillery.jobs.bench;

import dev.distillery.config.Config;
import dev.distillery.jobs.spark.SparkSessions;
import dev.distillery.jobs.tokenize.TokenizeJob;
import dev.distillery.jobs.tokenize.TokenizeResult;
import dev.distillery.jobs.tokenize.TokenizeSettings;
import dev.distillery.tokenize.DocumentBoundary;
import dev.distillery.tokenize.TextTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

/**
 * Throughput of {@link TokenizeJob} against the tokenizer's own ceiling, measured in one run:
 * (1) single-thread {@code batchEncode} of every document in one JVM, (2) the whole job in Spark local
 * mode on {@code cores} cores, reported per core. Run through {@code submit-scripts/bench-tokenize.sh}.
 *
 * <p>Arguments: {@code TOKENIZER CORES REPEAT FILE...}: the WikiText-style files are copied REPEAT times
 * (so the job has enough work to amortise Spark's fixed costs).
 */
public final class TokenizeBenchmark {
  private TokenizeBenchmark() {}

  public static void main(String[] args) throws IOException {
    if (args.length < 4) {
      System.err.println("usage: TokenizeBenchmark TOKENIZER CORES REPEAT FILE...");
      System.exit(2);
    }
    Path tokenizerPath = Path.of(args[0]);
    int cores = Integer.parseInt(args[1]);
    int repeat = Integer.parseInt(args[2]);
    Path work = Files.createTempDirectory("tokenize-benchmark");
    List<String> documents = new ArrayList<>();
    for (int r = 0; r < repeat; r++) {
      for (int f = 3; f < args.length; f++) {
        String text = Files.readString(Path.of(args[f]));
        Files.writeString(work.resolve("corpus-" + r + "-" + (f - 3) + ".txt"), text);
        documents.addAll(DocumentBoundary.WIKITEXT.split(text));
      }
    }
    double ceiling = singleThreadCeiling(tokenizerPath, documents);

    SparkConf conf = new SparkConf(true);
    SparkSessions.applyLocalDefaults(conf, "local[" + cores + "]");
    SparkSession spark = SparkSession.builder().appName("tokenize-benchmark").config(conf).getOrCreate();
    runJob(spark, tokenizerPath, args[3], work.resolve("warm-up"), cores);
    TokenizeResult result = runJob(spark, tokenizerPath, work + "/corpus-*.txt", work.resolve("run"), cores);
    spark.stop();

    double jobPerCore = result.tokens() / result.seconds() / cores;
    double encodePerCore = result.tokens() / result.tokenizeSeconds() / cores;
    System.out.printf("documents %,d, tokens %,d (corpus copied %d times)%n", result.documents(), result.tokens(),
        repeat);
    System.out.printf("ceiling: batchEncode, 1 thread            %,12.0f tokens/s%n", ceiling);
    System.out.printf("job: end to end, local[%d]                 %,12.0f tokens/s = %,.0f per core = %.2f of ceiling%n",
        cores, result.tokens() / result.seconds(), jobPerCore, jobPerCore / ceiling);
    System.out.printf("job: encode stages (read, sort, encode)   %,12.0f tokens/s = %,.0f per core = %.2f of ceiling%n",
        result.tokens() / result.tokenizeSeconds(), encodePerCore, encodePerCore / ceiling);
    System.exit(0);
  }

  /** Tokens per second of batch-encoding every document on this thread (after one warm-up pass). */
  private static double singleThreadCeiling(Path tokenizerPath, List<String> documents) {
    try (TextTokenizer tokenizer = TextTokenizer.load(tokenizerPath, false)) {
      encodeAll(tokenizer, documents.subList(0, Math.min(documents.size(), 200)));
      long start = System.nanoTime();
      long tokens = encodeAll(tokenizer, documents);
      return tokens / ((System.nanoTime() - start) / 1e9);
    }
  }

  private static long encodeAll(TextTokenizer tokenizer, List<String> documents) {
    long tokens = 0;
    for (int from = 0; from < documents.size(); from += 128) {
      for (long[] ids : tokenizer.batchEncode(documents.subList(from, Math.min(documents.size(), from + 128)))) {
        tokens += ids.length + 1; // + EOD, as the job counts it
      }
    }
    return tokens;
  }

  private static TokenizeResult runJob(SparkSession spark, Path tokenizer, String input, Path run, int cores) {
    Config config = Config.resolve(TokenizeSettings.SCHEMA, null, null, List.of("input=" + input,
        "document-boundary=wikitext", "tokenizer=" + tokenizer, "run=" + run, "partitions=" + 2 * cores));
    return new TokenizeJob(spark, TokenizeSettings.from(config)).run();
  }
}
