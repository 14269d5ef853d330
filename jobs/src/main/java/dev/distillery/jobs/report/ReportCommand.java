package dev.distillery.jobs.report;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.command.StageOptions;
import java.io.PrintStream;

/**
 * {@code distillery report}: the run's HTML report with PNG charts (viewable offline), committed as RUN/report/;
 * reads RUN/metrics/*.jsonl, RUN/importance/, RUN/prune-plan.md and RUN/eval/*.json.
 */
public final class ReportCommand implements Command {
  private static final ConfigSchema SCHEMA = new ConfigSchema("report",
      "Write RUN/report/index.html: loss curves, layer importance, sizes before/after and the quality table.",
      StageOptions.RUN);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String index = new RunReport(config.get(StageOptions.RUN)).write();
    out.println("report: " + index);
  }
}
