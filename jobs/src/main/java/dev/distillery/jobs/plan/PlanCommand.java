package dev.distillery.jobs.plan;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.importance.ImportanceScores;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.prune.ModelCost;
import dev.distillery.prune.PlanFile;
import dev.distillery.prune.PrunePlan;
import dev.distillery.prune.PrunePlanner;
import java.io.PrintStream;
import org.apache.hadoop.fs.Path;

/** {@code distillery plan}: the pruning plan from importance scores and a target (driver only). */
public final class PlanCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return PlanSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    PlanSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    PlanSettings settings = PlanSettings.from(config);
    String importance = settings.importance();
    Storage storage = Storage.of(settings.run());
    if (!storage.exists(importance)) {
      throw new IllegalArgumentException("no importance scores at " + importance + "; run 'distillery calibrate' first");
    }
    Path scoresDir = new Path(importance).getParent();
    if (scoresDir != null) {
      Storage.of(importance).requireCommitted(scoresDir.toString(), "importance scores");
    }
    ImportanceScores scores = ImportanceScores.fromJson(Storage.of(importance).readText(importance), importance);
    PrunePlan plan = PrunePlanner.plan(scores.info().teacher(), scores, settings.target());
    int context = settings.flopsContext();
    RunLayout layout = new RunLayout(settings.run());
    storage.replaceText(layout.planFile(), PlanFile.json(plan, scores.info(), context));
    String table = ModelCost.sizeTable(plan.source(), plan.target(), context);
    storage.replaceText(layout.sizeTable(), table);
    out.print(table);
  }
}
