package dev.distillery.jobs.distill;

import ai.djl.ndarray.types.DataType;
import dev.distillery.config.Config;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.preflight.Preflight;
import dev.distillery.jobs.spark.SparkSessions;
import java.io.PrintStream;
import java.util.List;
import org.apache.spark.sql.SparkSession;

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
    SparkSession spark = SparkSessions.forJob("distill");
    boolean done = !settings.restart() && Storage.of(settings.output()).isCommitted(settings.output());
    if (config.get(Preflight.OPTION) && !done && settings.teacher() != null && settings.lossSpec().needsTeacher()
        && settings.teacherLogits() == null) { // stored logits: the teacher is not loaded here at all
      Preflight.check(spark, "distill", config.get(StageOptions.RUN), settings.teacher(),
          settings.teacherDtype().equals("float16") ? DataType.FLOAT16 : DataType.FLOAT32, settings.validTokens());
    }
    List<String> summaries = DistillJob.run(spark, settings);
    summaries.forEach(out::println);
    out.println("student: " + settings.output());
  }
}
