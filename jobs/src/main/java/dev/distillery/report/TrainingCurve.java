package dev.distillery.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The loss curves of one training run, read from its metrics file (JSON Lines, one object per step with
 * {@code step}, {@code loss} and, on validation steps, {@code val_loss}).
 *
 * @param name the run's name (the metrics file's base name: teacher, distill, scratch)
 * @param steps steps with a training loss
 * @param losses the training loss of each of {@code steps}
 * @param validSteps steps with a validation loss
 * @param validLosses the validation loss of each of {@code validSteps}
 */
record TrainingCurve(String name, double[] steps, double[] losses, double[] validSteps, double[] validLosses) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** Parses a metrics file; {@code source} names it in errors. */
  static TrainingCurve parse(String name, String jsonLines, String source) {
    List<double[]> train = new ArrayList<>();
    List<double[]> valid = new ArrayList<>();
    String[] lines = jsonLines.split("\n");
    for (int i = 0; i < lines.length; i++) {
      if (lines[i].isBlank()) {
        continue;
      }
      JsonNode step;
      try {
        step = JSON.readTree(lines[i]);
      } catch (IOException e) {
        throw new IllegalArgumentException(source + ": line " + (i + 1) + " is not valid JSON");
      }
      double x = step.path("step").asDouble(i + 1);
      if (step.hasNonNull("loss")) {
        train.add(new double[] {x, step.get("loss").asDouble()});
      }
      if (step.hasNonNull("val_loss") && Double.isFinite(step.get("val_loss").asDouble())) {
        valid.add(new double[] {x, step.get("val_loss").asDouble()});
      }
    }
    return new TrainingCurve(name, column(train, 0), column(train, 1), column(valid, 0), column(valid, 1));
  }

  private static double[] column(List<double[]> points, int index) {
    return points.stream().mapToDouble(p -> p[index]).toArray();
  }

  /** The last validation loss, or NaN when none was measured. */
  double finalValidLoss() {
    return validLosses.length == 0 ? Double.NaN : validLosses[validLosses.length - 1];
  }
}
