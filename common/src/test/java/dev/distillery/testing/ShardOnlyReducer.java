package dev.distillery.testing;

import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.Shard;
import dev.distillery.distill.GradientReducer;

/** Replica {@code replica} of {@code replicas} that sums nothing: lays out and sizes optimizer shards in tests. */
public record ShardOnlyReducer(int replica, int replicas) implements GradientReducer {
  @Override
  public void sumInPlace(DirectFloats values) {}

  @Override
  public void sumInPlace(double[] values) {}

  @Override
  public Shard shard(int length) {
    return Shard.part(length, replica, replicas);
  }
}
