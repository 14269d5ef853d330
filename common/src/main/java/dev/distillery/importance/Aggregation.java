package dev.distillery.importance;

import java.util.Locale;

/**
 * How per-token (or per-sample) magnitudes are reduced to one number, from mergeable sums: Minitron's aggregation
 * choices over the sequence and over the batch.
 */
public enum Aggregation {
  /** The arithmetic mean. */
  MEAN,
  /** The L2 norm, {@code sqrt(Σ v²)}. */
  L2,
  /** The population variance, {@code Σ v² / n − (Σ v / n)²}. */
  VAR;

  /** Reduces {@code count} values from their sum and sum of squares. */
  public double reduce(double sum, double sumOfSquares, long count) {
    if (count == 0) {
      return 0;
    }
    return switch (this) {
      case MEAN -> sum / count;
      case L2 -> Math.sqrt(sumOfSquares);
      case VAR -> Math.max(0, sumOfSquares / count - (sum / count) * (sum / count));
    };
  }

  /** The configuration name: {@code mean}, {@code l2} or {@code var}. */
  public String optionName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses {@link #optionName()}. */
  public static Aggregation fromName(String name) {
    return valueOf(name.toUpperCase(Locale.ROOT));
  }
}
