package dev.distillery.jobs.report;

import dev.distillery.distill.StepMetrics;
import java.util.ArrayList;
import java.util.List;

/**
 * The loss curves of one training run, read from its metrics file ({@link StepMetrics}).
 *
 * @param name the run's name (the metrics file's base name: teacher, distill, scratch)
 * @param steps steps with a training loss
 * @param losses the training loss of each of {@code steps}
 * @param validSteps steps with a validation loss
 * @param validLosses the validation loss of each of {@code validSteps}
 */
record TrainingCurve(String name, double[] steps, double[] losses, double[] validSteps, double[] validLosses) {
  /** Parses a metrics file; {@code source} names it in errors. */
  static TrainingCurve parse(String name, String jsonLines, String source) {
    List<double[]> train = new ArrayList<>();
    List<double[]> valid = new ArrayList<>();
    for (StepMetrics step : StepMetrics.parseLines(jsonLines, source)) {
      if (!Double.isNaN(step.loss())) {
        train.add(new double[] {step.step(), step.loss()});
      }
      if (step.validationLoss() != null && Double.isFinite(step.validationLoss())) {
        valid.add(new double[] {step.step(), step.validationLoss()});
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
