package dev.distillery.tokenize;

/**
 * Spreads {@code rows} rows in order over the fewest shards of at most {@code maxRowsPerShard} rows, as
 * evenly as possible (shard sizes differ by at most one): row {@code i} goes to shard
 * {@code i * shards / rows}.
 */
public final class ShardLayout implements java.io.Serializable {
  private final long rows;
  private final int shards;

  public ShardLayout(long rows, int maxRowsPerShard) {
    if (maxRowsPerShard < 1) {
      throw new IllegalArgumentException("rows per shard must be at least 1, got " + maxRowsPerShard);
    }
    this.rows = rows;
    this.shards = Math.toIntExact((rows + maxRowsPerShard - 1) / maxRowsPerShard);
  }

  /** Number of shards; zero when there are no rows. */
  public int shards() {
    return shards;
  }

  /** The shard holding row {@code row}. */
  public int shardOf(long row) {
    return (int) (Math.multiplyExact(row, shards) / rows);
  }

  /** File name of shard {@code shard}: {@code part-NNNNN.parquet}. */
  public static String fileName(int shard) {
    return String.format("part-%05d.parquet", shard);
  }
}
