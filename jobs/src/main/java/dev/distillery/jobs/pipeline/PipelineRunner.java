package dev.distillery.jobs.pipeline;

import dev.distillery.jobs.spark.TaskFailures;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs planned stages in order, skipping those whose committed output exists, and prints a summary. The report is
 * redone whenever an earlier stage ran, since it shows every stage's output.
 */
final class PipelineRunner {
  private static final Logger LOG = LoggerFactory.getLogger(PipelineRunner.class);

  /** One line of the summary. */
  record Outcome(String stage, String status, double seconds, String figures) {}

  private PipelineRunner() {}

  /** Runs {@code stages}; a failing stage stops the run (its exception names the stage). */
  static List<Outcome> run(List<PlannedStage> stages, PrintStream out) {
    List<Outcome> outcomes = new ArrayList<>();
    boolean anyRan = false;
    for (int i = 0; i < stages.size(); i++) {
      PlannedStage stage = stages.get(i);
      String position = "[" + (i + 1) + "/" + stages.size() + "] " + stage.name();
      boolean isReport = stage.command().schema().name().equals("report");
      if (stage.isDone() && !(isReport && anyRan)) {
        LOG.info("pipeline {}: skipped: committed ({})", position, stage.output());
        outcomes.add(new Outcome(stage.name(), "skipped: committed", 0, StageFigures.of(stage)));
        continue;
      }
      LOG.info("pipeline {}: running {} -> {}", position, stage.command().schema().name(), stage.output());
      long start = System.nanoTime();
      try {
        stage.command().run(stage.config(), out);
      } catch (Exception e) {
        throw new IllegalStateException("stage '" + stage.name() + "' failed: " + TaskFailures.oneLine(e), e);
      }
      anyRan = true;
      double seconds = (System.nanoTime() - start) / 1e9;
      LOG.info("pipeline {}: done in {} s", position, String.format("%.1f", seconds));
      outcomes.add(new Outcome(stage.name(), "ran", seconds, StageFigures.of(stage)));
    }
    return outcomes;
  }

  /** The summary table, one row per stage. */
  static String summary(List<Outcome> outcomes) {
    StringBuilder sb = new StringBuilder(String.format("%-20s %-20s %8s  %s%n", "stage", "status", "seconds",
        "figures"));
    double total = 0;
    for (Outcome o : outcomes) {
      sb.append(String.format("%-20s %-20s %8.1f  %s%n", o.stage(), o.status(), o.seconds(), o.figures()));
      total += o.seconds();
    }
    sb.append(String.format("%-20s %-20s %8.1f%n", "total", "", total));
    return sb.toString();
  }
}
