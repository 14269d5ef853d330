package dev.distillery.jobs.teacher;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.distill.TopKLogits;
import dev.distillery.jobs.command.OutputPaths;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.run.RunLayout;
import java.io.Serializable;
import java.util.Map;

/**
 * The validated configuration of the teacher-logits job, resolved to concrete paths.
 *
 * @param tokens the tokenize output read ({@code train/} shards and {@code manifest.json})
 * @param output the table's directory
 * @param tailSamples ids drawn from each position's tail beside the top k (0: a tail bucket instead)
 * @param seed seeds those draws
 * @param teacherFloat16 run the teacher in float16 (GPUs) instead of float32
 * @param batchSize rows of one length per teacher forward pass
 */
public record TeacherLogitsSettings(String teacher, String tokens, String output, int topK, TopKLogits.Values values,
    int tailSamples, long seed, boolean teacherFloat16, int batchSize, int chunkTokens, boolean overwrite)
    implements Serializable {
  static final ConfigOption<String> TOKENS = StageOptions.TOKENS
      .doc("TokenizeJob output whose train/ shards are scored (default RUN/tokens); its manifest.json is recorded.");
  static final ConfigOption<String> OUTPUT = ConfigOption.string("output")
      .doc("Where the table is committed (default RUN/" + RunLayout.TEACHER_LOGITS + ").");
  static final ConfigOption<Integer> TOP_K = ConfigOption.integer("top-k").defaultValue(64).atLeast(1)
      .doc("Most likely next tokens kept per position, with the log of the remaining mass; at most the teacher's "
          + "vocab_size (= vocab_size stores the whole distribution).");
  static final ConfigOption<Integer> TAIL_SAMPLES = ConfigOption.integer("tail-samples").defaultValue(0).atLeast(0)
      .doc("Ids drawn per position from the teacher's distribution outside the top-k (priority sampling, weights "
          + "sharing the tail's mass), stored after the top-k in place of the single tail bucket: the student then "
          + "learns an estimate of the tail's shape (nearly unbiased: a ratio estimate), not only its mass. Costs what "
          + "top-k that much larger costs; pays when the top-k holds little of the mass (a flat teacher, a small k).");
  static final ConfigOption<Integer> SEED = ConfigOption.integer("seed").defaultValue(0)
      .doc("Seed of the tail samples (with a batch's rows it fixes them, so a rerun stores the same table).");
  static final ConfigOption<String> DTYPE = ConfigOption.dtype("dtype", "float16", "float32")
      .defaultValue("float16")
      .doc("How log-probabilities are stored: float16 (" + TopKLogits.bytesPerPosition(64, TopKLogits.Values.FLOAT16)
          + " bytes per token at k 64 before compression) or float32 ("
          + TopKLogits.bytesPerPosition(64, TopKLogits.Values.FLOAT32) + ").");
  static final ConfigOption<String> TEACHER_DTYPE = ConfigOption.dtype("teacher-dtype", "float32", "float16")
      .defaultValue("float32").doc("Teacher precision (float16 is meant for GPUs).");
  static final ConfigOption<Integer> BATCH = ConfigOption.integer("batch-size").defaultValue(4).atLeast(1)
      .doc("Consecutive rows of one length per teacher forward pass.");
  static final ConfigOption<Integer> CHUNK = ConfigOption.integer("chunk-tokens").defaultValue(512).atLeast(1)
      .doc("Positions whose vocab-size logits exist at once.");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace a committed table.");

  /** The options of {@code teacher-logits}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("teacher-logits",
      "Run the teacher once over the training shards (Spark) and store its top-k next-token distributions in "
          + "RUN/" + RunLayout.TEACHER_LOGITS + "/ for distill's 'teacher-logits'.",
      StageOptions.RUN, StageOptions.TEACHER, TOKENS, OUTPUT, TOP_K, TAIL_SAMPLES, SEED, DTYPE, TEACHER_DTYPE, BATCH,
      CHUNK, OVERWRITE);

  /**
   * Resolves defaults against the run directory and checks the options that depend on each other.
   *
   * @throws ConfigException naming the options and what was expected
   */
  public static TeacherLogitsSettings from(Config config) {
    RunLayout layout = new RunLayout(config.get(StageOptions.RUN));
    String tokens = config.isSet(TOKENS) ? config.get(TOKENS) : layout.tokens();
    String output = config.isSet(OUTPUT) ? config.get(OUTPUT) : layout.teacherLogits();
    OutputPaths.checkApart(OUTPUT.key(), output, Map.of(TOKENS.key(), tokens, StageOptions.TEACHER.key(),
        config.get(StageOptions.TEACHER)));
    return new TeacherLogitsSettings(config.get(StageOptions.TEACHER), tokens, output, config.get(TOP_K),
        TopKLogits.Values.of(config.get(DTYPE)), config.get(TAIL_SAMPLES), config.get(SEED),
        config.get(TEACHER_DTYPE).equals("float16"), config.get(BATCH), config.get(CHUNK), config.get(OVERWRITE));
  }
}
