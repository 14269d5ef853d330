package dev.distillery.distill;

/**
 * What the student is trained to minimise per token, as a weighted sum of terms on the logits.
 *
 * @param kind the distillation term: forward KL(teacher ‖ student) as in Minitron, reverse KL(student ‖ teacher),
 *     or none (pure cross-entropy training, e.g. teacher correction)
 * @param kdWeight weight of the distillation term
 * @param ceWeight weight of next-token cross-entropy on the labels
 * @param temperature softmax temperature of the distillation term; its loss is scaled by T² so gradients keep
 *     their magnitude
 */
public record LossSpec(Divergence kind, double kdWeight, double ceWeight, double temperature) {
  /** The distillation divergences. */
  public enum Divergence { FORWARD_KL, REVERSE_KL, NONE }

  public LossSpec {
    if (kdWeight < 0 || ceWeight < 0 || kdWeight + ceWeight == 0) {
      throw new IllegalArgumentException("loss weights must be >= 0 and not both 0, got kd " + kdWeight + ", ce "
          + ceWeight);
    }
    if (!(temperature > 0)) {
      throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
    }
    if (kind == Divergence.NONE && kdWeight != 0) {
      throw new IllegalArgumentException("kd weight must be 0 without a divergence");
    }
  }

  /** Minitron's recipe: logit-only forward KL at temperature 1, no cross-entropy. */
  public static LossSpec minitron() {
    return new LossSpec(Divergence.FORWARD_KL, 1, 0, 1);
  }

  /** Plain next-token cross-entropy (teacher correction, training from scratch). */
  public static LossSpec crossEntropy() {
    return new LossSpec(Divergence.NONE, 0, 1, 1);
  }

  /** Whether a teacher's logits are needed. */
  public boolean needsTeacher() {
    return kind != Divergence.NONE && kdWeight > 0;
  }
}
