package dev.distillery.jobs.report;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.Command;
import java.io.PrintStream;

/** {@code distillery report}: the run's HTML report with PNG charts, committed as RUN/report/. */
public final class ReportCommand implements Command {
  static final ConfigOption<String> RUN = ConfigOption.string("run").required()
      .doc("Run directory; reads RUN/metrics/*.jsonl, RUN/importance/, RUN/prune-plan.md and RUN/eval/*.json, and "
          + "replaces RUN/report/ (index.html and PNG charts, viewable offline).");

  private static final ConfigSchema SCHEMA = new ConfigSchema("report",
      "Write RUN/report/index.html: loss curves, layer importance, sizes before/after and the quality table.", RUN);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String index = new RunReport(config.get(RUN)).write();
    out.println("report: " + index);
  }
}
