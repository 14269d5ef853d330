package dev.distillery.jobs.tokenize;

import dev.distillery.tokenize.ShardLayout;
import java.io.Serializable;

/**
 * The Parquet shards of all splits as one numbering, so that one shuffle and one write produce them all:
 * split 0's shards come first, then split 1's, and so on. Rows are numbered the same way: row {@code r}
 * of split {@code s} is global row {@code firstRow(s) + r}. Within a split, rows are spread over its
 * shards by {@link ShardLayout}.
 */
final class TokenizeShardPlan implements Serializable {
  private final ShardLayout[] layouts;
  private final long[] firstRow;
  private final int[] firstShard;

  /** @param rows rows of each split */
  TokenizeShardPlan(long[] rows, int maxRowsPerShard) {
    layouts = new ShardLayout[rows.length];
    firstRow = new long[rows.length + 1];
    firstShard = new int[rows.length + 1];
    for (int s = 0; s < rows.length; s++) {
      layouts[s] = new ShardLayout(rows[s], maxRowsPerShard);
      firstRow[s + 1] = firstRow[s] + rows[s];
      firstShard[s + 1] = firstShard[s] + layouts[s].shards();
    }
  }

  /** Shards of all splits. */
  int shards() {
    return firstShard[layouts.length];
  }

  /** Shards of split {@code split}. */
  int shards(int split) {
    return layouts[split].shards();
  }

  /** The global number of split {@code split}'s first row. */
  long firstRow(int split) {
    return firstRow[split];
  }

  /** The global shard holding global row {@code row}. */
  int shardOf(long row) {
    int split = 0;
    while (row >= firstRow[split + 1]) {
      split++;
    }
    return firstShard[split] + layouts[split].shardOf(row - firstRow[split]);
  }

  /** The split of global shard {@code shard}. */
  int split(int shard) {
    int split = 0;
    while (shard >= firstShard[split + 1]) {
      split++;
    }
    return split;
  }

  /** The file name of global shard {@code shard} in its split's directory. */
  String fileName(int shard) {
    return ShardLayout.fileName(shard - firstShard[split(shard)]);
  }
}
