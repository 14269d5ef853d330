package dev.distillery.distill;

/**
 * Linear warm-up to the peak learning rate, then cosine decay to the minimum at the last step (Minitron:
 * 1e-4 → 1e-5, 40 warm-up steps).
 */
public record LearningRateSchedule(double peak, double minimum, int warmupSteps, int totalSteps) {
  public LearningRateSchedule {
    if (!(peak > 0) || minimum < 0 || minimum > peak || warmupSteps < 0 || totalSteps <= 0) {
      throw new IllegalArgumentException("invalid schedule: peak " + peak + ", minimum " + minimum + ", warmup "
          + warmupSteps + ", total " + totalSteps);
    }
  }

  /** The learning rate of step {@code step} (0-based). */
  public double at(int step) {
    if (step < warmupSteps) {
      return peak * (step + 1) / warmupSteps;
    }
    int decaySteps = Math.max(1, totalSteps - warmupSteps - 1);
    double progress = Math.min(1.0, (double) (step - warmupSteps) / decaySteps);
    return minimum + 0.5 * (peak - minimum) * (1 + Math.cos(Math.PI * progress));
  }
}
