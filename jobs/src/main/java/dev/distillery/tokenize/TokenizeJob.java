package dev.distillery.tokenize;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.instr;
import static org.apache.spark.sql.functions.length;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.pmod;
import static org.apache.spark.sql.functions.trim;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.xxhash64;

import dev.distillery.config.Config;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * Tokenizes a corpus into {@code RUN/tokens}: per split ({@code train}, {@code valid}) Parquet shards of
 * packed rows or whole documents, optionally Megatron {@code .bin/.idx} files, and {@code manifest.json};
 * committed atomically.
 *
 * <p>Order is global and seeded: documents are sorted by a seeded hash of their text (ties by text), so
 * the output depends only on the set of documents, the tokenizer and the config, never on file splits or
 * Spark partitioning. The sorted documents are encoded per partition; per-partition token counts give
 * every document its position in the split's token stream, which fixes the row and shard of each token.
 */
public final class TokenizeJob {
  private static final Logger LOG = LoggerFactory.getLogger(TokenizeJob.class);
  private static final List<String> SPLITS = List.of("train", "valid");
  private static final List<String> SKIP_REASONS = List.of("empty", "invalid-utf8", "missing-text", "too-long");
  private static final long HASH_BUCKETS = 1_000_000L;

  private final SparkSession spark;
  private final Config config;

  public TokenizeJob(SparkSession spark, Config config) {
    this.spark = spark;
    this.config = config;
  }

  /**
   * Runs the job; a no-op when {@code RUN/tokens} is committed and {@code force} is off.
   *
   * @throws IllegalArgumentException for input or options that cannot be used, naming the option and value
   * @throws IllegalStateException when the output path holds something that is not a committed output
   */
  public TokenizeResult run() {
    long start = System.nanoTime();
    String run = config.get(TokenizeOptions.RUN);
    Storage storage = Storage.of(run);
    String output = Storage.resolve(run, "tokens");
    boolean force = config.get(TokenizeOptions.FORCE);
    if (!force && storage.isCommitted(output)) {
      LOG.info("{} is already committed; nothing to do (force=true redoes it)", output);
      return new TokenizeResult(output, null, 0, 0);
    }
    if (!force && storage.exists(output)) {
      throw new IllegalStateException("output path " + output + " exists but is not a committed tokenize output (no "
          + Storage.COMMIT_MARKER + " marker); delete it or set force=true to replace it");
    }
    String tokenizerPath = config.get(TokenizeOptions.TOKENIZER);
    TokenizerFile tokenizer = TokenizerFile.parse(readTokenizer(tokenizerPath), tokenizerPath);
    int bosId = config.get(TokenizeOptions.ADD_BOS)
        ? tokenizer.tokenId(config.get(TokenizeOptions.BOS_TOKEN), TokenizeOptions.BOS_TOKEN.key())
        : DocumentEncoder.NONE;
    int eodId = config.get(TokenizeOptions.APPEND_EOD)
        ? tokenizer.tokenId(config.get(TokenizeOptions.EOD_TOKEN), TokenizeOptions.EOD_TOKEN.key())
        : DocumentEncoder.NONE;
    TokenDType dtype = TokenDType.forVocabulary(config.get(TokenizeOptions.TOKEN_DTYPE), tokenizer.vocabSize());
    TokenizerRef ref = new TokenizerRef(Storage.of(tokenizerPath).qualify(tokenizerPath), tokenizer.sha256(), bosId,
        eodId);
    LOG.info("tokenize: tokenizer {} (vocab {}, sha256 {}), output {}", tokenizerPath, tokenizer.vocabSize(),
        tokenizer.sha256(), output);

    Dataset<Row> documents = annotate(CorpusReader.read(spark, config.get(TokenizeOptions.FORMAT), inputs(),
        DocumentBoundary.fromOptionName(config.get(TokenizeOptions.DOCUMENT_BOUNDARY)),
        config.get(TokenizeOptions.TEXT_FIELD)))
        // Read and split into documents once: the skip count, each split's range sampling and encode reuse it.
        .persist(StorageLevel.MEMORY_AND_DISK_SER());

    Map<String, SplitSummary> splits = new LinkedHashMap<>();
    double tokenizeSeconds = 0;
    try (StagedDirectory staged = storage.stage(output, force)) {
      Map<String, Long> skipped = countAndCheck(documents);
      for (String split : SPLITS) {
        SplitWriter writer = new SplitWriter(split, staged, storage, ref, dtype);
        splits.put(split, writer.write(documents.filter(col("skip").isNull()
            .and(col("valid").equalTo(split.equals("valid"))))));
        tokenizeSeconds += writer.tokenizeSeconds;
      }
      TokenizeManifest manifest = new TokenizeManifest(config.get(TokenizeOptions.PACKING),
          config.get(TokenizeOptions.SEQ_LENGTH), tokenizerPath, tokenizer.sha256(), tokenizer.vocabSize(), bosId,
          eodId, dtype, splits, skipped, config.get(TokenizeOptions.MEGATRON), outputConfig());
      storage.writeText(staged.file("manifest.json"), manifest.toJson());
      staged.commit();
      TokenizeResult result = new TokenizeResult(output, manifest, (System.nanoTime() - start) / 1e9,
          tokenizeSeconds);
      LOG.info("tokenize done: {} documents, {} tokens in {} s ({} tokens/s)", result.documents(), result.tokens(),
          String.format("%.1f", result.seconds()), String.format("%.0f", result.tokens() / result.seconds()));
      return result;
    } finally {
      documents.unpersist(false);
    }
  }

  /** The effective config minus the settings that say how to run, not what the output is. */
  private Map<String, Object> outputConfig() {
    Map<String, Object> effective = new LinkedHashMap<>(config.effective());
    List.of(TokenizeOptions.FORCE, TokenizeOptions.PARTITIONS, TokenizeOptions.BATCH_SIZE)
        .forEach(o -> effective.remove(o.key()));
    return effective;
  }

  private List<String> inputs() {
    return Arrays.stream(config.get(TokenizeOptions.INPUT).split(",")).map(String::trim).filter(s -> !s.isEmpty())
        .toList();
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
    long seed = config.get(TokenizeOptions.SEED);
    Column skip = when(text.isNull(), "missing-text")
        .when(length(text).gt(config.get(TokenizeOptions.MAX_CHARS)), "too-long")
        .when(instr(text, "\uFFFD").gt(0), "invalid-utf8")
        .when(length(trim(text, " \t\r\n")).equalTo(0), "empty");
    long validBuckets = Math.round(config.get(TokenizeOptions.VALID_FRACTION) * HASH_BUCKETS);
    Column valid = pmod(xxhash64(lit(seed), lit("valid"), text), lit(HASH_BUCKETS)).lt(validBuckets);
    return documents.select(text, skip.as("skip"), valid.as("valid"), xxhash64(lit(seed), text).as("key"));
  }

  /** Counts documents by skip reason; fails on an empty corpus, nothing kept, or invalid UTF-8 when strict. */
  private Map<String, Long> countAndCheck(Dataset<Row> documents) {
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
      throw new IllegalArgumentException("option 'input': the corpus is empty: no documents in " + inputs()
          + " (format " + config.get(TokenizeOptions.FORMAT) + ")");
    }
    if (config.get(TokenizeOptions.STRICT_UTF8) && skipped.get("invalid-utf8") > 0) {
      throw new IllegalArgumentException("option 'strict-utf8' is set and " + skipped.get("invalid-utf8")
          + " document(s) in " + inputs() + " hold U+FFFD (invalid UTF-8); fix the input or unset strict-utf8");
    }
    if (skippedTotal == total) {
      throw new IllegalArgumentException("all " + total + " documents in " + inputs() + " were skipped: " + skipped);
    }
    if (skippedTotal > 0) {
      LOG.warn("tokenize: skipping {} of {} documents: {}", skippedTotal, total, skipped);
    }
    LOG.info("tokenize: {} documents read, {} kept", total, total - skippedTotal);
    return skipped;
  }

  /** Tokenizes and writes one split. */
  private final class SplitWriter {
    private final String split;
    private final StagedDirectory staged;
    private final Storage storage;
    private final TokenizerRef tokenizer;
    private final TokenDType dtype;
    private double tokenizeSeconds;

    SplitWriter(String split, StagedDirectory staged, Storage storage, TokenizerRef tokenizer, TokenDType dtype) {
      this.split = split;
      this.staged = staged;
      this.storage = storage;
      this.tokenizer = tokenizer;
      this.dtype = dtype;
    }

    SplitSummary write(Dataset<Row> documents) {
      int partitions = config.isSet(TokenizeOptions.PARTITIONS) ? config.get(TokenizeOptions.PARTITIONS)
          : Integer.parseInt(spark.conf().get("spark.sql.shuffle.partitions"));
      Dataset<Row> ordered = documents.repartitionByRange(partitions, col("key"), col(CorpusReader.TEXT))
          .sortWithinPartitions(col("key"), col(CorpusReader.TEXT)).select(CorpusReader.TEXT);
      JavaRDD<int[]> tokenized = ordered.javaRDD()
          .mapPartitionsWithIndex(new EncodePartition(tokenizer, config.get(TokenizeOptions.BATCH_SIZE), split), true)
          .persist(StorageLevel.MEMORY_AND_DISK_SER());
      try {
        long start = System.nanoTime();
        long[][] counts = partitionCounts(tokenized);
        tokenizeSeconds = (System.nanoTime() - start) / 1e9;
        long documentCount = Arrays.stream(counts).mapToLong(c -> c[0]).sum();
        long tokenCount = Arrays.stream(counts).mapToLong(c -> c[1]).sum();
        LOG.info("tokenize {}: stage 1/3 encode: {} documents, {} tokens in {} s ({} tokens/s)", split, documentCount,
            tokenCount, String.format("%.1f", tokenizeSeconds), String.format("%.0f", tokenCount / tokenizeSeconds));
        SplitSummary summary = config.get(TokenizeOptions.PACKING).equals("packed")
            ? writePacked(tokenized, counts, documentCount, tokenCount)
            : writeDocuments(tokenized, counts, documentCount, tokenCount);
        LOG.info("tokenize {}: stage 2/3 Parquet: {} rows in {} shard(s), {} tokens dropped", split,
            summary.sequences(), summary.shards(), summary.droppedTokens());
        if (config.get(TokenizeOptions.MEGATRON)) {
          writeMegatron(tokenized);
          LOG.info("tokenize {}: stage 3/3 Megatron: {} sequences", split, documentCount);
        }
        return summary;
      } finally {
        tokenized.unpersist(false);
      }
    }

    private SplitSummary writePacked(JavaRDD<int[]> tokenized, long[][] counts, long documents, long tokens) {
      Packing packing = new Packing(config.get(TokenizeOptions.SEQ_LENGTH) + 1, tokens);
      if (split.equals("train") && packing.rows() == 0) {
        throw new IllegalArgumentException("option 'seq-length': the train split has " + tokens
            + " tokens, fewer than one row of seq-length + 1 = " + (config.get(TokenizeOptions.SEQ_LENGTH) + 1)
            + "; lower seq-length or add documents");
      }
      long[] firstToken = startOffsets(counts, 1);
      ShardLayout layout = new ShardLayout(packing.rows(), config.get(TokenizeOptions.ROWS_PER_SHARD));
      JavaRDD<int[]> rows = tokenized.mapPartitionsWithIndex((partition, docs) -> {
        long[] position = {firstToken[partition]};
        return flatten(docs, doc -> {
          List<Packing.Fragment> fragments = packing.fragments(position[0], doc);
          position[0] += doc.length;
          return fragments.stream().map(f -> new Tuple2<>(packing.position(f), f)).iterator();
        });
      }, true).mapToPair(t -> t)
          .repartitionAndSortWithinPartitions(new ShardPartitioner(layout, packing.rowLength()))
          .values().mapPartitions(packing::rows);
      writeParquet(rows, layout);
      return new SplitSummary(documents, tokens, packing.rows(), packing.droppedTokens(), layout.shards());
    }

    private SplitSummary writeDocuments(JavaRDD<int[]> tokenized, long[][] counts, long documents, long tokens) {
      long[] firstDocument = startOffsets(counts, 0);
      ShardLayout layout = new ShardLayout(documents, config.get(TokenizeOptions.ROWS_PER_SHARD));
      JavaRDD<int[]> rows = tokenized.mapPartitionsWithIndex((partition, docs) -> {
        long[] index = {firstDocument[partition]};
        return flatten(docs, doc -> List.of(new Tuple2<>(index[0]++, doc)).iterator());
      }, true).mapToPair(t -> t).repartitionAndSortWithinPartitions(new ShardPartitioner(layout, 1)).values();
      writeParquet(rows, layout);
      return new SplitSummary(documents, tokens, documents, 0, layout.shards());
    }

    private void writeParquet(JavaRDD<int[]> rows, ShardLayout layout) {
      ParquetShards.write(spark, storage, rows, layout.shards(), staged.file(split), staged.file("_spark-" + split));
    }

    private void writeMegatron(JavaRDD<int[]> tokenized) {
      String prefix = staged.file("megatron/" + split + "_text_document");
      try (OutputStream bin = storage.create(prefix + ".bin", false)) {
        MegatronWriter writer = new MegatronWriter(bin, dtype);
        Iterator<int[]> documents = tokenized.toLocalIterator();
        while (documents.hasNext()) {
          writer.add(documents.next());
        }
        writer.writeIndex(storage.create(prefix + ".idx", false));
      } catch (IOException e) {
        throw new UncheckedIOException("cannot write " + prefix + ".bin/.idx: " + e.getMessage(), e);
      }
    }
  }

  /** Documents and tokens of every partition, by partition index. */
  private static long[][] partitionCounts(JavaRDD<int[]> tokenized) {
    List<long[]> perPartition = tokenized.mapPartitionsWithIndex((partition, docs) -> {
      long documents = 0;
      long tokens = 0;
      while (docs.hasNext()) {
        documents++;
        tokens += docs.next().length;
      }
      return List.of(new long[] {partition, documents, tokens}).iterator();
    }, true).collect();
    long[][] counts = new long[perPartition.size()][];
    for (long[] c : perPartition) {
      counts[(int) c[0]] = new long[] {c[1], c[2]};
    }
    return counts;
  }

  /** Where each partition starts in the split's order: prefix sums of column {@code column} of the counts. */
  private static long[] startOffsets(long[][] counts, int column) {
    long[] starts = new long[counts.length];
    for (int p = 1; p < counts.length; p++) {
      starts[p] = starts[p - 1] + counts[p - 1][column];
    }
    return starts;
  }

  /** The items of {@code expand(a)} for every {@code a} of {@code items}, lazily, in order. */
  private static <A, B> Iterator<B> flatten(Iterator<A> items, Function<A, Iterator<B>> expand) {
    return new Iterator<>() {
      private Iterator<B> current = java.util.Collections.emptyIterator();

      @Override
      public boolean hasNext() {
        while (!current.hasNext() && items.hasNext()) {
          current = expand.apply(items.next());
        }
        return current.hasNext();
      }

      @Override
      public B next() {
        if (!hasNext()) {
          throw new java.util.NoSuchElementException();
        }
        return current.next();
      }
    };
  }
}
