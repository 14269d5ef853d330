package dev.distillery.distill;

import dev.distillery.collective.DirectFloats;

/**
 * Sums values across the data-parallel ranks, so that every rank ends a step with the same gradients. A single
 * process uses {@link #single()}; distributed training plugs in a ring all-reduce.
 */
public interface GradientReducer {
  /** Replaces {@code values} on every rank by their element-wise sum over all ranks. */
  void sumInPlace(DirectFloats values);

  /** Replaces {@code values} by their element-wise sum over all ranks, in double precision (loss sums). */
  void sumInPlace(double[] values);

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
