package dev.distillery.jobs.prune;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.jobs.command.OutputPaths;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.prune.CheckpointPruner;
import java.util.Map;

/**
 * The validated configuration of {@code prune}, resolved to concrete paths.
 *
 * @param teacher the teacher checkpoint directory
 * @param plan the prune plan JSON
 * @param output the student checkpoint directory written
 * @param dtype the student's stored dtype, or null to copy the teacher's raw values
 * @param maxShardBytes the largest safetensors shard
 * @param chunkBytes teacher rows read at once, in bytes
 * @param overwrite replace a committed student checkpoint
 */
public record PruneSettings(String teacher, String plan, String output, DType dtype, long maxShardBytes,
    int chunkBytes, boolean overwrite) {
  static final ConfigOption<String> RUN = StageOptions.RUN.optional();
  static final ConfigOption<String> PLAN = ConfigOption.string("plan")
      .doc("Prune plan JSON (default: RUN/" + RunLayout.PLAN_FILE + ").");
  static final ConfigOption<String> OUT = ConfigOption.string("output").deprecatedAlias("out")
      .doc("Student checkpoint directory to write, committed atomically (default: RUN/" + RunLayout.STUDENT_INIT
          + ").");
  static final ConfigOption<String> DTYPE = ConfigOption.dtype("dtype", "teacher", "float32", "float16", "bfloat16")
      .defaultValue("teacher")
      .doc("Stored dtype of the student; 'teacher' copies the teacher's raw values without conversion.");
  static final ConfigOption<Long> SHARD_BYTES = ConfigOption.longInteger("max-shard-bytes")
      .defaultValue(CheckpointWriter.DEFAULT_MAX_SHARD_BYTES).atLeast(1).doc("Largest safetensors shard, in bytes.");
  static final ConfigOption<Integer> CHUNK_BYTES = ConfigOption.integer("chunk-bytes")
      .defaultValue(CheckpointPruner.DEFAULT_CHUNK_BYTES).atLeast(1)
      .doc("Teacher rows read at once, in bytes; bounds the memory used (about twice this).");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace an existing committed student checkpoint at 'output'.");

  /** The options of {@code prune}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("prune",
      "Write the pruned student checkpoint: the teacher sliced by the prune plan, streamed tensor by tensor.", RUN,
      StageOptions.TEACHER, PLAN, OUT, DTYPE, SHARD_BYTES, CHUNK_BYTES, OVERWRITE);

  /**
   * Resolves defaults against the run directory and checks the options that depend on each other.
   *
   * @throws ConfigException naming the options and what was expected
   */
  public static PruneSettings from(Config config) {
    String plan = inRun(config, PLAN, RunLayout.PLAN_FILE);
    String output = inRun(config, OUT, RunLayout.STUDENT_INIT);
    String teacher = config.get(StageOptions.TEACHER);
    OutputPaths.checkApart(OUT.key(), output, Map.of(StageOptions.TEACHER.key(), teacher, PLAN.key(), plan));
    DType dtype = config.get(DTYPE).equals("teacher") ? null
        : DType.fromTorchDtype(config.get(DTYPE));
    return new PruneSettings(teacher, plan, output, dtype, config.get(SHARD_BYTES), config.get(CHUNK_BYTES),
        config.get(OVERWRITE));
  }

  /** The option's value, or {@code RUN/name} when unset. */
  private static String inRun(Config config, ConfigOption<String> option, String name) {
    if (config.isSet(option)) {
      return config.get(option);
    }
    if (!config.isSet(RUN)) {
      throw new ConfigException("set '" + option.key() + "' or 'run' (then '" + option.key() + "' is RUN/" + name
          + ")");
    }
    return new RunLayout(config.get(RUN)).resolve(name);
  }
}
