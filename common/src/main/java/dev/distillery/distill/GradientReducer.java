package dev.distillery.distill;

import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.Shard;

/**
 * Sums values across the data-parallel ranks, so that every rank ends a step with the same gradients. A single
 * process uses {@link #single()}; distributed training plugs in a ring all-reduce.
 */
public interface GradientReducer {
  /** Replaces {@code values} on every rank by their element-wise sum over all ranks. */
  void sumInPlace(DirectFloats values);

  /** Replaces {@code values} by their element-wise sum over all ranks, in double precision (loss sums). */
  void sumInPlace(double[] values);

  /**
   * The floats of a buffer of {@code length} that this replica owns in {@link #reduceScatterSum} and {@link
   * #allGather}: a different part on each replica, the parts tiling the buffer. All of it by default.
   */
  default Shard shard(int length) {
    return new Shard(0, length);
  }

  /** Afterwards this replica's {@link #shard} of {@code values} holds the sum over all replicas. */
  default void reduceScatterSum(DirectFloats values) {
    sumInPlace(values);
  }

  /** Copies every replica's {@link #shard} of {@code values} into the same floats on every replica. */
  default void allGather(DirectFloats values) {}

  /** This replica's index among {@link #replicas()}, the ordinal of its {@link #shard}. */
  default int replica() {
    return 0;
  }

  /** The replicas (ranks x devices) that share the {@link #shard}s. */
  default int replicas() {
    return 1;
  }

  /** The reducer of a run with one rank. */
  static GradientReducer single() {
    return new GradientReducer() {
      @Override
      public void sumInPlace(DirectFloats values) {}

      @Override
      public void sumInPlace(double[] values) {}
    };
  }
}
