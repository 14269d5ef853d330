package dev.distillery.tokenize;

import org.apache.spark.Partitioner;

/** Sends a keyed item (a stream position or row index) to the Parquet shard of its row. */
final class ShardPartitioner extends Partitioner {
  private final ShardLayout layout;
  private final long positionsPerRow;

  /** @param positionsPerRow how many key values one row spans (the row length for packed fragments, else 1) */
  ShardPartitioner(ShardLayout layout, long positionsPerRow) {
    this.layout = layout;
    this.positionsPerRow = positionsPerRow;
  }

  @Override
  public int numPartitions() {
    return layout.shards();
  }

  @Override
  public int getPartition(Object key) {
    return layout.shardOf((Long) key / positionsPerRow);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof ShardPartitioner p && p.layout == layout && p.positionsPerRow == positionsPerRow;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(positionsPerRow) * 31 + layout.shards();
  }
}
