package dev.distillery.jobs.spark;

import dev.distillery.jobs.tokenize.ParquetShards;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/** Token shards written directly (as TokenizeJob would), for tests of the jobs that read them. */
public final class TokenShardFiles {
  private TokenShardFiles() {}

  /** Writes {@code sequences} as Parquet in {@code dir} (column {@code input_ids}), in two files, in order. */
  public static void write(Path dir, long[][] sequences) {
    List<Row> rows = new ArrayList<>();
    for (long[] sequence : sequences) {
      rows.add(RowFactory.create(Arrays.stream(sequence).mapToInt(v -> (int) v).boxed().toList()));
    }
    SharedSpark.session().createDataFrame(rows, ParquetShards.SCHEMA).coalesce(2).write().parquet(dir.toString());
  }
}
