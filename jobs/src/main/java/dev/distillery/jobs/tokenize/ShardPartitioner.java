package dev.distillery.jobs.tokenize;

import org.apache.spark.Partitioner;

/** Sends a keyed item (a global stream position or row number) to the Parquet shard of its row. */
final class ShardPartitioner extends Partitioner {
  private final TokenizeShardPlan plan;
  private final long positionsPerRow;

  /** @param positionsPerRow how many key values one row spans (the row length for packed fragments, else 1) */
  ShardPartitioner(TokenizeShardPlan plan, long positionsPerRow) {
    this.plan = plan;
    this.positionsPerRow = positionsPerRow;
  }

  @Override
  public int numPartitions() {
    return plan.shards();
  }

  @Override
  public int getPartition(Object key) {
    return plan.shardOf((Long) key / positionsPerRow);
  }

  @Override
  public boolean equals(Object other) {
    return other instanceof ShardPartitioner p && p.plan == plan && p.positionsPerRow == positionsPerRow;
  }

  @Override
  public int hashCode() {
    return Long.hashCode(positionsPerRow) * 31 + plan.shards();
  }
}
