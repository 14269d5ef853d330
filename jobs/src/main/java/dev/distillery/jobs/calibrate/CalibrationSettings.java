package dev.distillery.jobs.calibrate;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.importance.Aggregation;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.ModelOptions;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.preflight.Preflight;
import dev.distillery.jobs.run.RunLayout;
import java.io.Serializable;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The validated configuration of CalibrateJob, resolved to concrete paths; travels with the calibration tasks.
 *
 * @param run the run directory; output goes to {@code run/importance}
 * @param teacher the teacher checkpoint directory
 * @param tokenizer the teacher's tokenizer.json, or null to use {@code teacher/tokenizer.json} when it exists
 * @param tokens directory of token shards (Parquet, column {@code input_ids})
 * @param weightsOnly score weight magnitudes instead of running calibration
 * @param samples calibration sequences
 * @param seqLength tokens per calibration sequence
 * @param batchSize sequences per forward pass
 * @param partitions Spark tasks for the forward passes (0: the default parallelism)
 * @param sequenceAggregation aggregation over each sequence
 * @param batchAggregation aggregation over samples
 * @param float16 run the teacher in float16
 * @param lossSamples sequences each layer-skip candidate is scored on (0: no LM-loss layer scores)
 * @param lossBlockSizes sizes of the contiguous blocks scored besides single layers
 * @param overwrite replace a committed {@code importance} directory
 */
public record CalibrationSettings(String run, String teacher, String tokenizer, String tokens, boolean weightsOnly,
    int samples, int seqLength, int batchSize, int partitions, Aggregation sequenceAggregation,
    Aggregation batchAggregation, boolean float16, int lossSamples, Set<Integer> lossBlockSizes, boolean overwrite)
    implements Serializable {
  /** Paths made absolute on the driver, where the settings are made: the tasks run elsewhere. */
  public CalibrationSettings {
    run = Storage.absolute(run);
    teacher = Storage.absolute(teacher);
    tokenizer = Storage.absolute(tokenizer);
    tokens = Storage.absolute(tokens);
    lossBlockSizes = Set.copyOf(lossBlockSizes);
  }

  static final ConfigOption<String> TOKENIZER = ConfigOption.string("tokenizer")
      .doc("The teacher's tokenizer.json, compared with the token manifest's tokenizer sha256; default "
          + "TEACHER/tokenizer.json when it exists.");
  static final ConfigOption<String> TOKENS = StageOptions.TOKENS
      .doc("Token shards (Parquet, column input_ids); default RUN/tokens/train. Its parent's manifest.json is checked.");
  static final ConfigOption<String> METHOD = ConfigOption.choice("method", "activations", "weights")
      .defaultValue("activations")
      .doc("'activations': forward passes over calibration samples (Minitron); 'weights': L2 norms of each unit's "
          + "weights, no data needed (no layer scores).");
  static final ConfigOption<Integer> SAMPLES = ConfigOption.integer("samples").defaultValue(1024).atLeast(1)
      .doc("Calibration sequences.");
  static final ConfigOption<Integer> SEQ_LEN = ConfigOption.integer("seq-length").deprecatedAlias("seq-len")
      .defaultValue(4096).atLeast(2)
      .doc("Tokens per calibration sequence: the first seq-length ids of each row; shorter rows (document rows) are "
          + "used whole, batched with rows of their own length.");
  static final ConfigOption<Integer> BATCH = ConfigOption.integer("batch-size").defaultValue(1).atLeast(1)
      .doc("Sequences per forward pass.");
  static final ConfigOption<Integer> PARTITIONS = ConfigOption.integer("partitions").defaultValue(0).atLeast(0)
      .doc("Spark tasks for the forward passes; 0 uses the default parallelism (one per executor core or GPU).");
  static final ConfigOption<String> SEQUENCE_AGG = ConfigOption.choice("aggregation.sequence", "mean", "l2", "var")
      .defaultValue("mean").doc("How each unit's per-token magnitudes are reduced over a sequence.");
  static final ConfigOption<String> BATCH_AGG = ConfigOption.choice("aggregation.batch", "mean", "l2", "var")
      .defaultValue("l2").doc("How the per-sequence values are reduced over samples.");
  static final ConfigOption<Integer> LOSS_SAMPLES = ConfigOption.integer("layer-loss.samples").defaultValue(0)
      .atLeast(0).doc("Sequences on which the LM-loss rise of skipping each layer (and block) is measured, each "
          + "candidate a Spark task; 0 skips this (Block Importance only).");
  static final ConfigOption<String> LOSS_BLOCKS = ConfigOption.string("layer-loss.block-sizes").defaultValue("")
      .check(CalibrationSettings::isSizeList, "comma-separated integers >= 2")
      .doc("Sizes of contiguous layer blocks also scored by LM-loss rise, e.g. '16' for dropping 16 layers.");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace a committed RUN/importance/.");

  /** The options of {@code calibrate}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("calibrate",
      "Score heads, neurons, channels and layers of the teacher on calibration data (Spark) into RUN/importance/.",
      StageOptions.RUN, StageOptions.TEACHER, TOKENIZER, TOKENS, METHOD, SAMPLES, SEQ_LEN, BATCH, PARTITIONS,
      SEQUENCE_AGG, BATCH_AGG, ModelOptions.DTYPE, LOSS_SAMPLES, LOSS_BLOCKS, OVERWRITE, Preflight.OPTION);
  /**
   * Resolves defaults against the run directory and checks the options that depend on each other.
   *
   * @throws ConfigException naming the options and what was expected
   */
  public static CalibrationSettings from(Config config) {
    boolean weightsOnly = config.get(METHOD).equals("weights");
    Set<Integer> blockSizes = sizes(config.get(LOSS_BLOCKS));
    if (weightsOnly && config.get(LOSS_SAMPLES) > 0) {
      throw new ConfigException("option 'layer-loss.samples' (" + config.get(LOSS_SAMPLES) + ") needs method "
          + "'activations': method 'weights' runs no forward pass, so no layer is scored by LM-loss rise");
    }
    if (!blockSizes.isEmpty() && config.get(LOSS_SAMPLES) == 0) {
      throw new ConfigException("option 'layer-loss.block-sizes' (" + config.get(LOSS_BLOCKS) + ") needs "
          + "'layer-loss.samples' > 0: blocks are scored by LM-loss rise on those samples");
    }
    String run = config.get(StageOptions.RUN);
    return new CalibrationSettings(run, config.get(StageOptions.TEACHER),
        config.isSet(TOKENIZER) ? config.get(TOKENIZER) : null,
        config.isSet(TOKENS) ? config.get(TOKENS) : new RunLayout(run).tokens("train"), weightsOnly,
        config.get(SAMPLES), config.get(SEQ_LEN), config.get(BATCH), config.get(PARTITIONS),
        Aggregation.fromName(config.get(SEQUENCE_AGG)), Aggregation.fromName(config.get(BATCH_AGG)),
        config.get(ModelOptions.DTYPE).equals("float16"), config.get(LOSS_SAMPLES), blockSizes,
        config.get(OVERWRITE));
  }

  private static Set<Integer> sizes(String list) {
    return Arrays.stream(list.split(",")).map(String::trim).filter(s -> !s.isEmpty()).map(Integer::valueOf)
        .collect(Collectors.toSet());
  }

  private static boolean isSizeList(String list) {
    try {
      return sizes(list).stream().allMatch(s -> s >= 2);
    } catch (NumberFormatException e) {
      return false;
    }
  }
}
