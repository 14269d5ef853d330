package dev.distillery.jobs.calibrate;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.importance.Aggregation;
import dev.distillery.io.Storage;
import dev.distillery.jobs.calibrate.CalibrateJob;
import dev.distillery.jobs.calibrate.CalibrationSettings;
import dev.distillery.jobs.command.Command;
import dev.distillery.jobs.command.ModelOptions;
import dev.distillery.jobs.preflight.Preflight;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.jobs.spark.SparkSessions;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/** {@code distillery calibrate}: CalibrateJob. */
public final class CalibrateCommand implements Command {
  static final ConfigOption<String> RUN = ConfigOption.string("run").required()
      .doc("Run directory (any Hadoop file system); the scores are committed to RUN/importance/.");
  static final ConfigOption<String> TEACHER = ConfigOption.string("teacher").required()
      .doc("Teacher checkpoint directory (config.json + *.safetensors).");
  static final ConfigOption<String> TOKENIZER = ConfigOption.string("tokenizer")
      .doc("The teacher's tokenizer.json, compared with the token manifest's tokenizer sha256; default "
          + "TEACHER/tokenizer.json when it exists.");
  static final ConfigOption<String> TOKENS = ConfigOption.string("tokens")
      .doc("Token shards (Parquet, column input_ids); default RUN/tokens/train. Its parent's manifest.json is checked.");
  static final ConfigOption<String> METHOD = ConfigOption.choice("method", "activations", "weights")
      .defaultValue("activations")
      .doc("'activations': forward passes over calibration samples (Minitron); 'weights': L2 norms of each unit's "
          + "weights, no data needed (no layer scores).");
  static final ConfigOption<Integer> SAMPLES = ConfigOption.integer("samples").defaultValue(1024).atLeast(1)
      .doc("Calibration sequences.");
  static final ConfigOption<Integer> SEQ_LEN = ConfigOption.integer("seq-length").deprecatedAlias("seq-len").defaultValue(4096).atLeast(2)
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
      .check(CalibrateCommand::isSizeList, "comma-separated integers >= 2")
      .doc("Sizes of contiguous layer blocks also scored by LM-loss rise, e.g. '16' for dropping 16 layers.");
  static final ConfigOption<Boolean> OVERWRITE = ConfigOption.bool("overwrite").defaultValue(false)
      .doc("Replace a committed RUN/importance/.");

  private static final ConfigSchema SCHEMA = new ConfigSchema("calibrate",
      "Score heads, neurons, channels and layers of the teacher on calibration data (Spark) into RUN/importance/.",
      RUN, TEACHER, TOKENIZER, TOKENS, METHOD, SAMPLES, SEQ_LEN, BATCH, PARTITIONS, SEQUENCE_AGG, BATCH_AGG,
      ModelOptions.DTYPE, LOSS_SAMPLES, LOSS_BLOCKS, OVERWRITE, Preflight.OPTION);

  @Override
  public ConfigSchema schema() {
    return SCHEMA;
  }

  @Override
  public void validate(Config config) {
    settings(config);
  }

  @Override
  public void run(Config config, PrintStream out) {
    SparkSession spark = SparkSessions.forJob("calibrate");
    CalibrationSettings settings = settings(config);
    if (config.get(Preflight.OPTION) && !settings.weightsOnly()) {
      String valid = Storage.resolve(new Path(settings.tokens()).getParent().toString(), "valid");
      Preflight.check(spark, "calibrate", settings.run(), settings.teacher(),
          ModelOptions.dataType(config.get(ModelOptions.DTYPE)), valid);
    }
    new CalibrateJob(spark, settings).run();
  }

  static CalibrationSettings settings(Config config) {
    String run = config.get(RUN);
    return new CalibrationSettings(run, config.get(TEACHER), config.isSet(TOKENIZER) ? config.get(TOKENIZER) : null,
        config.isSet(TOKENS) ? config.get(TOKENS) : new RunLayout(run).tokens("train"),
        config.get(METHOD).equals("weights"), config.get(SAMPLES), config.get(SEQ_LEN), config.get(BATCH),
        config.get(PARTITIONS), Aggregation.fromName(config.get(SEQUENCE_AGG)),
        Aggregation.fromName(config.get(BATCH_AGG)), config.get(ModelOptions.DTYPE).equals("float16"),
        config.get(LOSS_SAMPLES), sizes(config.get(LOSS_BLOCKS)), config.get(OVERWRITE));
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
