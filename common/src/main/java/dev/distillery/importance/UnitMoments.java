package dev.distillery.importance;

import java.io.Serializable;
import java.util.Arrays;

/**
 * Per-unit sums over samples — {@code Σ v}, {@code Σ v²} and the sample count — for a group of units (the heads of
 * one layer, its neurons, the hidden channels). Partial moments from different samples merge exactly by addition.
 */
public final class UnitMoments implements Serializable {
  private static final long serialVersionUID = 1L;

  private final double[] sum;
  private final double[] sumOfSquares;
  private long count;

  public UnitMoments(int units) {
    this.sum = new double[units];
    this.sumOfSquares = new double[units];
  }

  /** Adds {@code samples} rows of per-unit values, row-major {@code [samples, units]}. */
  public void add(float[] values, int samples) {
    int units = sum.length;
    if (values.length != samples * units) {
      throw new IllegalArgumentException("expected " + samples + " x " + units + " values, got " + values.length);
    }
    for (int s = 0; s < samples; s++) {
      for (int u = 0; u < units; u++) {
        double v = values[s * units + u];
        sum[u] += v;
        sumOfSquares[u] += v * v;
      }
    }
    count += samples;
  }

  /** Adds {@code other}'s sums into this one and returns this. */
  public UnitMoments merge(UnitMoments other) {
    if (other.sum.length != sum.length) {
      throw new IllegalArgumentException("cannot merge moments of " + other.sum.length + " units into " + sum.length);
    }
    for (int u = 0; u < sum.length; u++) {
      sum[u] += other.sum[u];
      sumOfSquares[u] += other.sumOfSquares[u];
    }
    count += other.count;
    return this;
  }

  /** One score per unit, reducing over the samples with {@code aggregation}. */
  public double[] aggregate(Aggregation aggregation) {
    double[] scores = new double[sum.length];
    Arrays.setAll(scores, u -> aggregation.reduce(sum[u], sumOfSquares[u], count));
    return scores;
  }

  public int units() {
    return sum.length;
  }

  /** Samples added. */
  public long count() {
    return count;
  }
}
