package dev.distillery.jobs.pipeline;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.distill.StepMetrics;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.jobs.evaluate.Evaluation;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The key figures of a finished stage, read back from its output, for the pipeline summary. */
final class StageFigures {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Logger LOG = LoggerFactory.getLogger(StageFigures.class);

  private StageFigures() {}

  /** A short description of what {@code stage} produced, or "" when there is nothing to say. */
  static String of(PlannedStage stage) {
    try {
      return switch (stage.command().schema().name()) {
        case "evaluate" -> evaluation(stage.output());
        case "distill" -> String.format("%,d parameters%s", parameters(stage.output()),
            finalValidationLoss(stage.config().effective().get("metrics")));
        case "random-checkpoint", "scratch-init", "prune" ->
            String.format("%,d parameters", parameters(stage.output()));
        case "tokenize" -> tokens(stage.output());
        default -> "";
      };
    } catch (RuntimeException e) {
      LOG.debug("no figures for stage {}", stage.name(), e);
      return "";
    }
  }

  private static String evaluation(String file) {
    Evaluation e = Evaluation.fromJson(Storage.of(file).readText(file), file);
    return String.format("loss %.4f, perplexity %.2f, %,d tokens", e.loss(), e.perplexity(), e.targetTokens());
  }

  private static long parameters(String checkpoint) {
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(checkpoint), checkpoint)) {
      return reader.config().parameterCount();
    }
  }

  private static String finalValidationLoss(Object metricsPath) {
    if (metricsPath == null || !Storage.of(metricsPath.toString()).exists(metricsPath.toString())) {
      return "";
    }
    String path = metricsPath.toString();
    String last = "";
    for (StepMetrics step : StepMetrics.parseLines(Storage.of(path).readText(path), path)) {
      if (step.validationLoss() != null) {
        last = String.format(", step %d val_loss %.4f", step.step(), step.validationLoss());
      }
    }
    return last;
  }

  private static String tokens(String tokensDir) {
    String manifest = Storage.resolve(tokensDir, "manifest.json");
    JsonNode root = json(Storage.of(manifest).readText(manifest), manifest);
    JsonNode splits = root == null ? null : root.get("splits");
    if (splits == null) {
      return "";
    }
    StringBuilder sb = new StringBuilder();
    splits.fields().forEachRemaining(s -> sb.append(sb.isEmpty() ? "" : ", ").append(s.getKey()).append(' ')
        .append(String.format("%,d", s.getValue().path("tokens").asLong())).append(" tokens"));
    return sb.toString();
  }

  private static JsonNode json(String text, String source) {
    if (text.isBlank()) {
      return null;
    }
    try {
      return JSON.readTree(text);
    } catch (IOException e) {
      throw new IllegalArgumentException(source + ": not valid JSON");
    }
  }
}
