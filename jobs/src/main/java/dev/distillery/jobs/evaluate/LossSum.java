package dev.distillery.jobs.evaluate;

import java.io.Serializable;

/**
 * Summed next-token cross-entropy over some sequences: partial sums from Spark tasks add up exactly.
 *
 * @param nats total negative log-likelihood of the counted tokens
 * @param tokens target tokens counted
 * @param sequences sequences seen
 */
public record LossSum(double nats, long tokens, long sequences) implements Serializable {
  /** Nothing counted yet. */
  public static final LossSum ZERO = new LossSum(0, 0, 0);

  /** Both sums together. */
  public LossSum plus(LossSum other) {
    return new LossSum(nats + other.nats, tokens + other.tokens, sequences + other.sequences);
  }

  /** Mean loss per token (NaN when nothing was counted). */
  public double meanLoss() {
    return tokens == 0 ? Double.NaN : nats / tokens;
  }
}
