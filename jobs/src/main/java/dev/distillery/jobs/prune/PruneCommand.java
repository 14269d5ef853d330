package dev.distillery.jobs.prune;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.prune.CheckpointPruner;
import dev.distillery.prune.PrunePlan;
import dev.distillery.prune.StudentCheckpoint;
import java.io.PrintStream;

/**
 * {@code distillery prune}: applies {@code prune-plan.json} to the teacher checkpoint and writes the student's
 * initial checkpoint. One streaming pass in the driver: it is bound by storage throughput, not CPU.
 */
public final class PruneCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return PruneSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    PruneSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    PruneSettings settings = PruneSettings.from(config);
    String planFile = settings.plan();
    String student = settings.output();
    PrunePlan plan = PrunePlan.fromJson(Storage.of(planFile).readText(planFile), planFile);
    String teacher = settings.teacher();
    CheckpointPruner.Summary summary = new CheckpointPruner(plan, settings.chunkBytes()).prune(Storage.of(teacher),
        teacher, new StudentCheckpoint(Storage.of(student), student, settings.dtype(), settings.maxShardBytes(),
            settings.overwrite()));
    out.printf("wrote %s: %,d -> %,d parameters, %d tensors, %.2f GB in %.1f s%n", student,
        plan.source().parameterCount(), plan.target().parameterCount(), summary.tensors(),
        summary.bytesWritten() / 1e9, summary.seconds());
  }
}
