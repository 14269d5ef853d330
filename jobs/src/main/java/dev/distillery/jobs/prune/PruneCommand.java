package dev.distillery.jobs.prune;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.prune.CheckpointPruner;
import dev.distillery.prune.PrunePlan;
import dev.distillery.prune.StudentCheckpoint;
import java.io.PrintStream;
import java.util.Locale;

/**
 * {@code distillery prune}: applies {@code prune-plan.json} to the teacher checkpoint and writes the student's
 * initial checkpoint. One streaming pass in the driver: it is bound by storage throughput, not CPU.
 */
public final class PruneCommand implements Command {
  static final ConfigOption<String> RUN = ConfigOption.string("run")
      .doc("Run directory; 'plan' and 'output' default to files in it.");
  static final ConfigOption<String> TEACHER = ConfigOption.string("teacher").required()
      .doc("Teacher Hugging Face checkpoint directory, on any Hadoop file system.");
  static final ConfigOption<String> PLAN = ConfigOption.string("plan")
      .doc("Prune plan JSON (default: RUN/" + RunLayout.PLAN_FILE + ").");
  static final ConfigOption<String> OUT = ConfigOption.string("output").deprecatedAlias("out")
      .doc("Student checkpoint directory to write, committed atomically (default: RUN/" + RunLayout.STUDENT_INIT + ").");
  static final ConfigOption<String> DTYPE = ConfigOption.choice("dtype", "teacher", "f32", "f16", "bf16")
      .defaultValue("teacher")
      .doc("Stored dtype of the student; 'teacher' copies the teacher's raw values without conversion.");
  static final ConfigOption<Long> SHARD_BYTES = ConfigOption.longInteger("max-shard-bytes")
      .defaultValue(CheckpointWriter.DEFAULT_MAX_SHARD_BYTES).atLeast(1).doc("Largest safetensors shard, in bytes.");
  static final ConfigOption<Integer> CHUNK_BYTES = ConfigOption.integer("chunk-bytes")
      .defaultValue(CheckpointPruner.DEFAULT_CHUNK_BYTES).atLeast(1)
      .doc("Teacher rows read at once, in bytes; bounds the memory used (about twice this).");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace an existing committed student checkpoint at 'output'.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("prune",
      "Write the pruned student checkpoint: the teacher sliced by the prune plan, streamed tensor by tensor.", RUN,
      TEACHER, PLAN, OUT, DTYPE, SHARD_BYTES, CHUNK_BYTES, OVERWRITE);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void run(Config config, PrintStream out) {
    String planFile = inRun(config, PLAN, RunLayout.PLAN_FILE);
    String student = inRun(config, OUT, RunLayout.STUDENT_INIT);
    PrunePlan plan = PrunePlan.fromJson(Storage.of(planFile).readText(planFile), planFile);
    String teacher = config.get(TEACHER);
    DType dtype = config.get(DTYPE).equals("teacher") ? null
        : DType.valueOf(config.get(DTYPE).toUpperCase(Locale.ROOT));
    CheckpointPruner.Summary summary = new CheckpointPruner(plan, config.get(CHUNK_BYTES)).prune(Storage.of(teacher),
        teacher, new StudentCheckpoint(Storage.of(student), student, dtype, config.get(SHARD_BYTES), config.get(OVERWRITE)));
    out.printf("wrote %s: %,d -> %,d parameters, %d tensors, %.2f GB in %.1f s%n", student,
        plan.source().parameterCount(), plan.target().parameterCount(), summary.tensors(),
        summary.bytesWritten() / 1e9, summary.seconds());
  }

  /** The option's value, or {@code RUN/name} when unset. */
  private static String inRun(Config config, ConfigOption<String> option, String name) {
    if (config.isSet(option)) {
      return config.get(option);
    }
    if (!config.isSet(RUN)) {
      throw new IllegalArgumentException("set '" + option.key() + "' or 'run' (then '" + option.key() + "' is RUN/"
          + name + ")");
    }
    return new RunLayout(config.get(RUN)).resolve(name);
  }
}
