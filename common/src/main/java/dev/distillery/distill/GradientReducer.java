package dev.distillery.distill;

/**
 * Sums values across the data-parallel ranks, so that every rank ends a step with the same gradients. A single
 * process uses {@link #single()}; distributed training plugs in a ring all-reduce.
 */
public interface GradientReducer {
  /** This rank, in {@code [0, worldSize)}. */
  int rank();

  /** Number of ranks. */
  int worldSize();

  /** Replaces {@code values} on every rank by their element-wise sum over all ranks. */
  void sumInPlace(float[] values);

  /** Replaces {@code values} by their element-wise sum over all ranks, in double precision (loss sums). */
  void sumInPlace(double[] values);

  /** The reducer of a run with one rank. */
  static GradientReducer single() {
    return new GradientReducer() {
      @Override
      public int rank() {
        return 0;
      }

      @Override
      public int worldSize() {
        return 1;
      }

      @Override
      public void sumInPlace(float[] values) {}

      @Override
      public void sumInPlace(double[] values) {}
    };
  }
}
