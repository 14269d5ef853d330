package dev.distillery.distill;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * One training step's line of a metrics file (JSON Lines, one object per step, written by distill and read by the
 * report, the pipeline summary and a resumed run). A field missing from a line reads as NaN (0 for the counts).
 *
 * @param step the step number, from 1
 * @param learningRate the step's learning rate ({@code lr})
 * @param loss the step's loss
 * @param kdLoss its distillation part ({@code kd_loss})
 * @param ceLoss its cross-entropy part ({@code ce_loss})
 * @param hiddenLoss its hidden-state part ({@code hidden_loss})
 * @param gradientNorm the gradient norm before clipping ({@code grad_norm})
 * @param tokens the step's real tokens
 * @param tokensPerSecond the training throughput ({@code tokens_per_s})
 * @param validationLoss the validation loss ({@code val_loss}), or null on a step without validation
 */
public record StepMetrics(int step, double learningRate, double loss, double kdLoss, double ceLoss,
    double hiddenLoss, double gradientNorm, long tokens, double tokensPerSecond, Double validationLoss) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** This step with its validation loss. */
  public StepMetrics withValidationLoss(double value) {
    return new StepMetrics(step, learningRate, loss, kdLoss, ceLoss, hiddenLoss, gradientNorm, tokens,
        tokensPerSecond, value);
  }

  /** One line of JSON, no line break. */
  public String toJson() {
    ObjectNode line = JSON.createObjectNode();
    line.put("step", step);
    line.put("lr", learningRate);
    line.put("loss", loss);
    line.put("kd_loss", kdLoss);
    line.put("ce_loss", ceLoss);
    line.put("hidden_loss", hiddenLoss);
    line.put("grad_norm", gradientNorm);
    line.put("tokens", tokens);
    line.put("tokens_per_s", tokensPerSecond);
    if (validationLoss != null) {
      line.put("val_loss", validationLoss);
    }
    return line.toString();
  }

  /** A metrics file's text: one line per step. */
  public static String toJsonLines(List<StepMetrics> steps) {
    StringBuilder sb = new StringBuilder();
    for (StepMetrics s : steps) {
      sb.append(s.toJson()).append('\n');
    }
    return sb.toString();
  }

  /**
   * The steps of a metrics file's text; blank lines are skipped, a line without {@code step} counts as its line
   * number.
   *
   * @param source names the file in errors
   */
  public static List<StepMetrics> parseLines(String jsonLines, String source) {
    List<StepMetrics> steps = new ArrayList<>();
    String[] lines = jsonLines.split("\n");
    for (int i = 0; i < lines.length; i++) {
      if (lines[i].isBlank()) {
        continue;
      }
      JsonNode n;
      try {
        n = JSON.readTree(lines[i]);
      } catch (IOException e) {
        throw new IllegalArgumentException(source + ": line " + (i + 1) + " is not valid JSON");
      }
      if (!n.isObject()) {
        throw new IllegalArgumentException(source + ": line " + (i + 1) + " is not a JSON object");
      }
      steps.add(new StepMetrics(n.path("step").asInt(i + 1), number(n, "lr"), number(n, "loss"),
          number(n, "kd_loss"), number(n, "ce_loss"), number(n, "hidden_loss"), number(n, "grad_norm"),
          n.path("tokens").asLong(), number(n, "tokens_per_s"),
          n.hasNonNull("val_loss") ? number(n, "val_loss") : null));
    }
    return steps;
  }

  private static double number(JsonNode line, String field) {
    return line.hasNonNull(field) ? line.get(field).asDouble(Double.NaN) : Double.NaN;
  }
}
