package dev.distillery.jobs.tokenize;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.ltrim;
import static org.apache.spark.sql.functions.octet_length;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.xxhash64;

import dev.distillery.config.ConfigOption;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.tokenize.DocumentBoundary;
import dev.distillery.tokenize.DocumentEncoder;
import dev.distillery.tokenize.SplitSummary;
import dev.distillery.tokenize.TokenDType;
import dev.distillery.tokenize.TokenizeManifest;
import dev.distillery.tokenize.TokenizerFile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tokenizes a corpus into {@code RUN/tokens}: per split ({@code train}, {@code valid}) Parquet shards of
 * packed rows or whole documents, optionally Megatron {@code .bin/.idx} files, and {@code manifest.json};
 * committed atomically.
 *
 * <p>Order is global and seeded: within a split, documents are sorted by a seeded hash of their text (ties
 * by text), so the output depends only on the set of documents, the tokenizer and the config, never on file
 * splits or Spark partitioning. {@link SplitsWriter} encodes and writes both splits in one pass.
 */
public final class TokenizeJob {
  private static final Logger LOG = LoggerFactory.getLogger(TokenizeJob.class);
  /** The splits, in output order; a document's split index ({@link TokenizedDocument#split()}) points here. */
  static final List<String> SPLITS = List.of("train", "valid");
  private static final List<String> SKIP_REASONS = List.of("empty", "invalid-utf8", "missing-text", "too-long");
  private static final long HASH_BUCKETS = 1_000_000L;

  private final SparkSession spark;
  private final TokenizeSettings settings;

  public TokenizeJob(SparkSession spark, TokenizeSettings settings) {
    this.spark = spark;
    this.settings = settings;
  }

  /**
   * Runs the job; a no-op when {@code RUN/tokens} is committed and {@code overwrite} is off. An uncommitted
   * {@code RUN/tokens} (what a killed run leaves) is replaced.
   *
   * @throws IllegalArgumentException for input or options that cannot be used, naming the option and value
   */
  public TokenizeResult run() {
    HadoopConf hadoop = HadoopConf.install(spark);
    long start = System.nanoTime();
    String run = settings.run();
    Storage storage = Storage.of(run);
    String output = new RunLayout(run).tokens();
    boolean force = settings.overwrite();
    if (!force && storage.isCommitted(output)) {
      LOG.info("{} is already committed; nothing to do (overwrite=true redoes it)", output);
      return new TokenizeResult(output, null, 0, 0);
    }
    if (storage.exists(output) && !storage.isCommitted(output)) {
      LOG.warn("{} holds no {} marker: a tokenize run that did not finish left it; it is replaced", output,
          Storage.COMMIT_MARKER);
    }
    String tokenizerPath = settings.tokenizer();
    TokenizerFile tokenizer = TokenizerFile.parse(readTokenizer(tokenizerPath), tokenizerPath);
    int bosId = settings.addBos() ? tokenId(tokenizer, settings.bosToken(), TokenizeSettings.BOS_TOKEN)
        : DocumentEncoder.NONE;
    int eodId = settings.appendEod() ? tokenId(tokenizer, settings.eodToken(), TokenizeSettings.EOD_TOKEN)
        : DocumentEncoder.NONE;
    int rowStartId = settings.packing().equals("packed-bos")
        ? tokenId(tokenizer, settings.bosToken(), TokenizeSettings.BOS_TOKEN) : DocumentEncoder.NONE;
    TokenDType dtype = TokenDType.forVocabulary(settings.tokenDtype(), tokenizer.vocabSize());
    TokenizerRef ref = new TokenizerRef(Storage.of(tokenizerPath).qualify(tokenizerPath), tokenizer.sha256(), bosId,
        eodId, hadoop);
    LOG.info("tokenize: tokenizer {} (vocab {}, sha256 {}), output {}", tokenizerPath, tokenizer.vocabSize(),
        tokenizer.sha256(), output);

    Dataset<Row> documents = annotate(CorpusReader.read(spark, settings.format(), settings.inputs(),
        settings.documentBoundary(), settings.textField()))
        // Read and split into documents once: the skip count, the range sampling and the encode reuse it.
        .persist(StorageLevel.MEMORY_AND_DISK_SER());

    try (StagedDirectory staged = storage.stage(output, force)) {
      Map<String, Long> skipped = countAndCheck(documents);
      SplitsWriter writer = new SplitsWriter(spark, settings, storage, staged, ref, dtype, rowStartId);
      Map<String, SplitSummary> splits = writer.write(documents.filter(col("skip").isNull()));
      TokenizeManifest manifest = new TokenizeManifest(settings.packing(), settings.seqLength(),
          tokenizerPath, tokenizer.sha256(), tokenizer.vocabSize(), bosId,
          eodId, rowStartId, dtype, splits, skipped, settings.megatron(), settings.outputConfig());
      storage.writeText(staged.file(Storage.MANIFEST), manifest.toJson());
      staged.commit();
      TokenizeResult result = new TokenizeResult(output, manifest, (System.nanoTime() - start) / 1e9,
          writer.encodeSeconds());
      LOG.info("tokenize done: {} documents, {} tokens in {} s ({} tokens/s)", result.documents(), result.tokens(),
          String.format("%.1f", result.seconds()), String.format("%.0f", result.tokens() / result.seconds()));
      return result;
    } finally {
      documents.unpersist(false);
    }
  }

  /** The id of the token an option names, or an error naming the option. */
  private static int tokenId(TokenizerFile tokenizer, String token, ConfigOption<String> option) {
    return tokenizer.tokenId(token, option.key());
  }

  private static byte[] readTokenizer(String path) {
    Storage storage = Storage.of(path);
    if (!storage.exists(path)) {
      throw new IllegalArgumentException("option 'tokenizer': file not found: " + path);
    }
    try (InputStream in = storage.open(path)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read tokenizer " + path + ": " + e.getMessage(), e);
    }
  }

  /** Adds the skip reason (null to keep), the split and the seeded sort key of every document. */
  private Dataset<Row> annotate(Dataset<Row> documents) {
    Column text = col(CorpusReader.TEXT);
    long seed = settings.seed();
    int maxChars = settings.maxChars();
    // Cheap tests: characters are counted only when the UTF-8 bytes exceed the limit, U+FFFD is searched
    // bytewise, and ltrim stops at the first character it keeps.
    Column skip = when(text.isNull(), "missing-text")
        .when(octet_length(text).gt(maxChars).and(length(text).gt(maxChars)), "too-long")
        .when(text.contains("\uFFFD"), "invalid-utf8")
        .when(octet_length(ltrim(text, " \t\r\n")).equalTo(0), "empty");
    long validBuckets = Math.round(settings.validFraction() * HASH_BUCKETS);
    Column valid = pmod(xxhash64(lit(seed), lit("valid"), text), lit(HASH_BUCKETS)).lt(validBuckets);
    return documents.select(text, skip.as("skip"), valid.as("valid"), xxhash64(lit(seed), text).as("key"));
  }

  /** Counts documents by skip reason; fails on an empty corpus, nothing kept, or invalid UTF-8 when strict. */
  private Map<String, Long> countAndCheck(Dataset<Row> documents) {
    long start = System.nanoTime();
    Map<String, Long> skipped = new TreeMap<>();
    SKIP_REASONS.forEach(r -> skipped.put(r, 0L));
    long total = 0;
    for (Row row : documents.groupBy("skip").count().collectAsList()) {
      total += row.getLong(1);
      if (!row.isNullAt(0)) {
        skipped.put(row.getString(0), row.getLong(1));
      }
    }
    long skippedTotal = skipped.values().stream().mapToLong(Long::longValue).sum();
    if (total == 0) {
      throw new IllegalArgumentException("option 'input': the corpus is empty: no documents in " + settings.inputs()
          + " (format " + settings.format() + ")");
    }
    if (settings.strictUtf8() && skipped.get("invalid-utf8") > 0) {
      throw new IllegalArgumentException("option 'strict-utf8' is set and " + skipped.get("invalid-utf8")
          + " document(s) in " + settings.inputs() + " hold U+FFFD (invalid UTF-8); fix the input or unset strict-utf8");
    }
    if (skippedTotal == total) {
      throw new IllegalArgumentException("all " + total + " documents in " + settings.inputs() + " were skipped: " + skipped);
    }
    double maxSkipped = settings.maxSkippedFraction();
    if (skippedTotal > maxSkipped * total) {
      Map<String, Long> reasons = new TreeMap<>(skipped);
      reasons.values().removeIf(n -> n == 0);
      throw new IllegalArgumentException(String.format("option '%s': %d of %d documents in %s (%.1f%%) were skipped, "
          + "more than the allowed %.1f%%: %s; is this the corpus and format you meant? Raise %s to accept it",
          TokenizeSettings.MAX_SKIPPED_FRACTION.key(), skippedTotal, total, settings.inputs(), 100.0 * skippedTotal / total,
          100 * maxSkipped, reasons, TokenizeSettings.MAX_SKIPPED_FRACTION.key()));
    }
    if (skippedTotal > 0) {
      LOG.warn("tokenize: skipping {} of {} documents: {}", skippedTotal, total, skipped);
    }
    LOG.info("tokenize: {} documents read, {} kept in {} s", total, total - skippedTotal,
        String.format("%.1f", (System.nanoTime() - start) / 1e9));
    return skipped;
  }
}
