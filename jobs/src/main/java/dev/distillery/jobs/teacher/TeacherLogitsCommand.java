package dev.distillery.jobs.teacher;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.spark.SparkSessions;
import java.io.PrintStream;

/** {@code distillery teacher-logits}: TeacherLogitsJob. */
public final class TeacherLogitsCommand implements Command {
  @Override
  public ConfigSchema schema() {
    return TeacherLogitsSettings.SCHEMA;
  }

  @Override
  public void validate(Config config) {
    TeacherLogitsSettings.from(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    TeacherLogitsSettings settings = TeacherLogitsSettings.from(config);
    TeacherLogitsManifest manifest = TeacherLogitsJob.run(SparkSessions.forJob("teacher-logits"), settings);
    out.printf("wrote %s: top-%d (%s) of %,d tokens, %.1f bytes per token, %.1f%% of the teacher's probability in "
        + "the top-%d on average%n", settings.output(), manifest.topK(), manifest.values().label(),
        manifest.tokenCount(), manifest.bytesPerToken(), 100 * manifest.topKMass(), manifest.topK());
  }
}
