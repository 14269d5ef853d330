package dev.distillery.jobs.distill;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.xxhash64;

import dev.distillery.distill.OrderedSequences;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.tokenize.RowWindows;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes the training split once in the run's data order ({@link OrderedSequences}): sorted by a seeded hash of
 * each row, ties by content, so the order depends on neither the file layout nor the world size; a row longer than
 * the window (the models' max_position_embeddings) is written as its consecutive windows ({@link RowWindows}) in its
 * place. Later runs and resumed runs of the same split, seed and window reuse it; the ranks stream from it.
 */
final class DataOrderJob {
  private static final Logger LOG = LoggerFactory.getLogger(DataOrderJob.class);
  /** Split rows per part at most: a reader holds one part's offsets (8 bytes a sequence, a window of a cut row). */
  static final long SEQUENCES_PER_PART = 16_384;

  private DataOrderJob() {}

  /**
   * The records of the data order from one row of the split (selected as the columns given to {@code prepare},
   * token ids first): one per window of at most {@code window} tokens.
   */
  interface Records extends java.io.Serializable {
    List<int[]> of(Row row, int window);
  }

  /**
   * The ordered copy of {@code split} in {@code dir}, rows cut into windows of at most {@code window} tokens, written
   * unless a committed one of the same source is there.
   */
  static OrderedSequences.Manifest prepare(SparkSession spark, HadoopConf hadoop, String split, long seed, String dir,
      int window) {
    return prepare(spark, hadoop, split, List.of(ParquetShards.COLUMN),
        (row, w) -> RowWindows.of(ParquetShards.intIds(row), w), seed, dir, window);
  }

  /**
   * The ordered copy of a table whose rows carry their token ids in {@link ParquetShards#COLUMN} (a token split, or
   * the teacher-logits table, which repeats the token rows): sorted by those ids, each row written as the records
   * {@code records} makes of it from {@code columns}.
   */
  static OrderedSequences.Manifest prepare(SparkSession spark, HadoopConf hadoop, String split, List<String> columns,
      Records records, long seed, String dir, int window) {
    ParquetShards.requireCommitted(split);
    Storage storage = Storage.of(dir);
    String source = source(split, seed, window);
    Optional<OrderedSequences.Manifest> existing = OrderedSequences.readManifest(storage, dir);
    if (existing.isPresent() && existing.get().source().equals(source)) {
      LOG.info("distill: reusing the data order in {} ({} sequences; {} rows longer than {} tokens cut into windows)",
          dir, existing.get().sequences(), existing.get().cutRows(), window);
      return existing.get();
    }
    long started = System.nanoTime();
    Column[] order = order(seed);
    long rows = spark.read().parquet(split).count();
    int parts = (int) Math.max(1, (rows + SEQUENCES_PER_PART - 1) / SEQUENCES_PER_PART);
    try (StagedDirectory staged = storage.stage(dir, true)) {
      String target = staged.path();
      Function2<Integer, Iterator<Row>, Iterator<long[]>> write = (index, sorted) -> {
        hadoop.install();
        long[] cut = {0};
        Iterator<int[]> sequences = new Iterator<>() {
          private Iterator<int[]> windows = Collections.emptyIterator();

          @Override
          public boolean hasNext() {
            while (!windows.hasNext() && sorted.hasNext()) {
              Row row = sorted.next();
              windows = records.of(row, window).iterator();
              if (RowWindows.cuts(row.getList(0).size(), window)) {
                cut[0]++;
              }
            }
            return windows.hasNext();
          }

          @Override
          public int[] next() {
            if (!hasNext()) {
              throw new java.util.NoSuchElementException();
            }
            return windows.next();
          }
        };
        long[] counts = OrderedSequences.writePart(Storage.of(target), target, partName(index), sequences);
        return List.of(new long[] {index, counts[0], counts[1], cut[0]}).iterator();
      };
      Column[] selected = columns.stream().map(c -> col(c)).toArray(Column[]::new);
      List<long[]> written = new ArrayList<>(spark.read().parquet(split).select(selected)
          .repartitionByRange(parts, order).sortWithinPartitions(order)
          .javaRDD().mapPartitionsWithIndex(write, true).collect());
      Collections.sort(written, (a, b) -> Long.compare(a[0], b[0]));
      List<OrderedSequences.Part> kept = new ArrayList<>();
      long sequences = 0;
      long tokens = 0;
      long cutRows = 0;
      for (long[] part : written) {
        if (part[1] > 0) {
          kept.add(new OrderedSequences.Part(partName((int) part[0]), part[1]));
        }
        sequences += part[1];
        tokens += part[2];
        cutRows += part[3];
      }
      OrderedSequences.Manifest manifest = new OrderedSequences.Manifest(source, sequences, tokens, cutRows, kept);
      OrderedSequences.writeManifest(storage, target, manifest);
      staged.commit();
      LOG.info("distill: wrote the data order of {} ({} sequences, {} tokens, {} parts; {} rows longer than {} tokens "
          + "cut into windows) to {} in {} s", split, sequences, tokens, kept.size(), cutRows, window, dir,
          String.format("%.1f", (System.nanoTime() - started) / 1e9));
      return manifest;
    }
  }

  /** The sort key of the data order: a seeded hash of each sequence, ties by content. */
  static Column[] order(long seed) {
    return new Column[] {xxhash64(lit(seed), col(ParquetShards.COLUMN)), col(ParquetShards.COLUMN)};
  }

  private static String partName(int index) {
    return String.format("part-%05d", index);
  }

  /** The split, the seed, the window and the split's files with their sizes: what the order was made from. */
  static String source(String split, long seed, int window) {
    Storage storage = Storage.of(split);
    StringBuilder source = new StringBuilder(storage.qualify(split)).append(";seed=").append(seed)
        .append(";window=").append(window);
    for (String file : storage.list(split)) {
      String name = new Path(file).getName();
      if (!name.startsWith("_") && !name.startsWith(".")) {
        source.append(';').append(name).append(':').append(storage.size(file));
      }
    }
    return source.toString();
  }
}
