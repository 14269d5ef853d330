package dev.distillery.jobs.tokenize;

import static org.apache.spark.sql.functions.col;

import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.tokenize.DocumentEncoder;
import dev.distillery.tokenize.MegatronWriter;
import dev.distillery.tokenize.Packing;
import dev.distillery.tokenize.SplitSummary;
import dev.distillery.tokenize.TokenDType;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
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
 * Encodes the kept documents of both splits and writes their Parquet shards (and Megatron files) in one
 * pass: one range sort of all documents by (split, key, text), one encode, one shuffle into the shards
 * of both splits and one Parquet write. Per-partition counts of each split give every document its
 * position in its split's stream, which fixes the row and shard of each token.
 */
final class SplitsWriter {
  private static final Logger LOG = LoggerFactory.getLogger(SplitsWriter.class);
  private static final List<String> SPLITS = TokenizeJob.SPLITS;

  private final SparkSession spark;
  private final TokenizeSettings settings;
  private final Storage storage;
  private final StagedDirectory staged;
  private final TokenizerRef tokenizer;
  private final TokenDType dtype;
  private final int rowStartId;
  private double encodeSeconds;

  /** @param rowStartId the id every packed row starts with ('packed-bos'), or {@link DocumentEncoder#NONE} */
  SplitsWriter(SparkSession spark, TokenizeSettings settings, Storage storage, StagedDirectory staged, TokenizerRef tokenizer,
      TokenDType dtype, int rowStartId) {
    this.spark = spark;
    this.settings = settings;
    this.storage = storage;
    this.staged = staged;
    this.tokenizer = tokenizer;
    this.dtype = dtype;
    this.rowStartId = rowStartId;
  }

  /** Seconds the encode stage took (reading the sorted documents and encoding them). */
  double encodeSeconds() {
    return encodeSeconds;
  }

  /**
   * Writes both splits.
   *
   * @param documents the kept documents: columns {@code text}, {@code valid} and the sort {@code key}
   * @return the summary of each split, by name
   */
  Map<String, SplitSummary> write(Dataset<Row> documents) {
    int partitions = settings.partitions() != null ? settings.partitions()
        : Integer.parseInt(spark.conf().get("spark.sql.shuffle.partitions"));
    Column[] order = {col("valid"), col("key"), col(CorpusReader.TEXT)};
    JavaRDD<TokenizedDocument> encoded = documents.repartitionByRange(partitions, order).sortWithinPartitions(order)
        .select(col(CorpusReader.TEXT), col("valid")).javaRDD()
        .mapPartitionsWithIndex(new EncodePartition(tokenizer, settings.batchSize()), true)
        .persist(StorageLevel.MEMORY_AND_DISK());
    try {
      long start = System.nanoTime();
      PartitionCounts counts = PartitionCounts.of(encoded, SPLITS.size());
      encodeSeconds = (System.nanoTime() - start) / 1e9;
      long tokens = counts.tokens(0) + counts.tokens(1);
      LOG.info("tokenize: stage 1/3 encode: train {} documents, {} tokens; valid {} documents, {} tokens; in {} s "
          + "({} tokens/s)", counts.documents(0), counts.tokens(0), counts.documents(1), counts.tokens(1),
          String.format("%.1f", encodeSeconds), String.format("%.0f", tokens / encodeSeconds));
      start = System.nanoTime();
      Map<String, SplitSummary> summaries = settings.packing().equals("documents")
          ? writeDocuments(encoded, counts) : writePacked(encoded, counts);
      LOG.info("tokenize: stage 2/3 Parquet: both splits written in {} s",
          String.format("%.1f", (System.nanoTime() - start) / 1e9));
      summaries.forEach((split, s) -> LOG.info("tokenize {}: {} rows in {} shard(s), {} tokens dropped", split,
          s.sequences(), s.shards(), s.droppedTokens()));
      if (settings.megatron()) {
        start = System.nanoTime();
        writeMegatron(encoded);
        LOG.info("tokenize: stage 3/3 Megatron: train {} sequences, valid {} sequences in {} s", counts.documents(0),
            counts.documents(1), String.format("%.1f", (System.nanoTime() - start) / 1e9));
      }
      return summaries;
    } finally {
      encoded.unpersist(false);
    }
  }

  private Map<String, SplitSummary> writePacked(JavaRDD<TokenizedDocument> encoded, PartitionCounts counts) {
    int rowLength = settings.seqLength() + 1;
    Packing[] packings = new Packing[SPLITS.size()];
    long[] rows = new long[SPLITS.size()];
    for (int s = 0; s < packings.length; s++) {
      packings[s] = new Packing(rowLength, counts.tokens(s), rowStartId);
      rows[s] = packings[s].rows();
    }
    if (rows[0] == 0) {
      throw new IllegalArgumentException("option 'seq-length': the train split has " + counts.tokens(0)
          + " tokens, fewer than one row of seq-length + 1 = " + rowLength + "; lower seq-length or add documents");
    }
    TokenizeShardPlan plan = new TokenizeShardPlan(rows, settings.rowsPerShard());
    JavaRDD<int[]> packed = encoded.mapPartitionsWithIndex((partition, docs) -> {
      long[] position = counts.firstTokens(partition);
      return flatten(docs, doc -> {
        Packing packing = packings[doc.split()];
        long offset = plan.firstRow(doc.split()) * rowLength;
        List<Packing.Fragment> fragments = packing.fragments(position[doc.split()], doc.ids());
        position[doc.split()] += doc.ids().length;
        return fragments.stream().map(f -> new Tuple2<>(offset + packing.position(f), f)).iterator();
      });
    }, true).mapToPair(t -> t)
        .repartitionAndSortWithinPartitions(new ShardPartitioner(plan, rowLength))
        .values().mapPartitions(packings[0]::rows); // a shard holds one split's rows; all rows have one length
    writeParquet(packed, plan);
    Map<String, SplitSummary> summaries = new LinkedHashMap<>();
    for (int s = 0; s < SPLITS.size(); s++) {
      summaries.put(SPLITS.get(s), new SplitSummary(counts.documents(s), counts.tokens(s), rows[s],
          packings[s].droppedTokens(), plan.shards(s)));
    }
    return summaries;
  }

  private Map<String, SplitSummary> writeDocuments(JavaRDD<TokenizedDocument> encoded, PartitionCounts counts) {
    long[] rows = new long[SPLITS.size()];
    for (int s = 0; s < rows.length; s++) {
      rows[s] = counts.documents(s);
    }
    TokenizeShardPlan plan = new TokenizeShardPlan(rows, settings.rowsPerShard());
    JavaRDD<int[]> ordered = encoded.mapPartitionsWithIndex((partition, docs) -> {
      long[] index = counts.firstDocuments(partition);
      return flatten(docs, doc -> List.of(new Tuple2<>(plan.firstRow(doc.split()) + index[doc.split()]++, doc.ids()))
          .iterator());
    }, true).mapToPair(t -> t).repartitionAndSortWithinPartitions(new ShardPartitioner(plan, 1)).values();
    writeParquet(ordered, plan);
    Map<String, SplitSummary> summaries = new LinkedHashMap<>();
    for (int s = 0; s < SPLITS.size(); s++) {
      summaries.put(SPLITS.get(s), new SplitSummary(rows[s], counts.tokens(s), rows[s], 0, plan.shards(s)));
    }
    return summaries;
  }

  /** Writes global shard {@code i} as its split's {@code part-NNNNN.parquet}. */
  private void writeParquet(JavaRDD<int[]> rows, TokenizeShardPlan plan) {
    SPLITS.forEach(split -> storage.mkdirs(staged.file(split)));
    ParquetShards.write(spark, storage, rows, plan.shards(),
        shard -> Storage.resolve(staged.file(SPLITS.get(plan.split(shard))), plan.fileName(shard)),
        staged.file("_spark-parquet"));
  }

  /** Streams every document through the driver into {@code megatron/{train,valid}_text_document.{bin,idx}}. */
  private void writeMegatron(JavaRDD<TokenizedDocument> encoded) {
    String[] prefixes = SPLITS.stream().map(split -> staged.file("megatron/" + split + "_text_document"))
        .toArray(String[]::new);
    try (OutputStream trainBin = storage.create(prefixes[0] + ".bin", false);
        OutputStream validBin = storage.create(prefixes[1] + ".bin", false)) {
      MegatronWriter[] writers = {new MegatronWriter(trainBin, dtype), new MegatronWriter(validBin, dtype)};
      Iterator<TokenizedDocument> documents = encoded.toLocalIterator();
      while (documents.hasNext()) {
        TokenizedDocument document = documents.next();
        writers[document.split()].add(document.ids());
      }
      for (int s = 0; s < writers.length; s++) {
        writers[s].writeIndex(storage.create(prefixes[s] + ".idx", false));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write the Megatron files " + String.join(", ", prefixes) + ": "
          + e.getMessage(), e);
    }
  }

  /** The items of {@code expand(a)} for every {@code a} of {@code items}, lazily, in order. */
  private static <A, B> Iterator<B> flatten(Iterator<A> items, Function<A, Iterator<B>> expand) {
    return new Iterator<>() {
      private Iterator<B> current = Collections.emptyIterator();

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
          throw new NoSuchElementException();
        }
        return current.next();
      }
    };
  }
}
