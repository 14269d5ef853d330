package dev.distillery.distill;

import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.RingAllReduce;
import dev.distillery.collective.Shard;

/** The training step's gradient reducer on top of the TCP ring: one replica per rank. */
public final class RingReducer implements GradientReducer {
  private final RingAllReduce ring;

  public RingReducer(RingAllReduce ring) {
    this.ring = ring;
  }

  @Override
  public void sumInPlace(DirectFloats values) {
    ring.allReduceSum(values);
  }

  @Override
  public Shard shard(int length) {
    return ring.shard(length);
  }

  @Override
  public void reduceScatterSum(DirectFloats values) {
    ring.reduceScatterSum(values);
  }

  @Override
  public void allGather(DirectFloats values) {
    ring.allGather(values);
  }

  @Override
  public int replica() {
    return ring.rank();
  }

  @Override
  public int replicas() {
    return ring.worldSize();
  }

  @Override
  public void sumInPlace(double[] values) {
    for (int i = 0; i < values.length; i++) {
      values[i] = ring.allReduceSum(values[i]);
    }
  }
}
