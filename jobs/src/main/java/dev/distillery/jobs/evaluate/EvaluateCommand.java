package dev.distillery.jobs.evaluate;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.spark.SparkSessions;
import java.io.PrintStream;

/** {@code distillery evaluate}: EvaluateJob. */
public final class EvaluateCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return EvaluateSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    EvaluateSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    EvaluateSettings settings = EvaluateSettings.from(config);
    Evaluation result = EvaluateJob.run(SparkSessions.forJob("evaluate"), settings);
    out.printf("%s: loss %.4f, perplexity %.2f over %,d tokens (%s)%n", result.name(), result.loss(),
        result.perplexity(), result.targetTokens(), settings.output());
    result.generations().forEach(g -> out.println("  " + g.prompt() + " | " + g.text()));
  }
}
