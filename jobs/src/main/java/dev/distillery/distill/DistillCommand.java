package dev.distillery.distill;

import dev.distillery.cli.Command;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.spark.SparkSessions;
import java.io.PrintStream;
import java.util.List;

/** {@code distillery distill}: knowledge distillation (or teacher correction with loss 'ce'). */
public final class DistillCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return DistillSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    DistillSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    DistillSettings settings = DistillSettings.from(config);
    List<String> summaries = DistillJob.run(SparkSessions.forJob("distill"), settings);
    summaries.forEach(out::println);
    out.println("student: " + settings.output());
  }
}
