package dev.distillery.jobs.preflight;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.config.ConfigOption;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.ExecutorModels;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TeacherPreflight;
import java.util.List;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs {@link TeacherPreflight} before calibrate and distill: a few validation rows through the teacher, in one
 * Spark task (the teacher stays cached in that executor for the stage's own tasks). Writes the figures to
 * {@code RUN/preflight/STAGE.json}, which the report shows, and fails in one line when a check fails.
 */
public final class Preflight {
  /** The option that turns the preflight off. */
  public static final ConfigOption<Boolean> OPTION = ConfigOption.bool("preflight").defaultValue(true)
      .doc("Before the expensive work, measure the teacher's loss on " + Preflight.ROWS + " validation rows against "
          + "log(vocab_size) and against BOS-started windows of the same rows, and stop when the teacher does worse "
          + "than uniform guessing or " + TeacherPreflight.BOS_RATIO + " times worse without BOS (tokenizer, packing "
          + "or checkpoint mismatch); figures in RUN/preflight/ and the report.");
  /** Where the figures go, under the run directory. */
  public static final String DIR = "preflight";
  static final int ROWS = 4;
  private static final Logger LOG = LoggerFactory.getLogger(Preflight.class);

  private Preflight() {}

  /**
   * Checks {@code teacher} on the first rows of {@code validSplit}; nothing when that split does not exist.
   *
   * @param stage the stage about to run, which names the figures file
   * @throws IllegalArgumentException naming the checks, the figures and what to try, when a check fails
   */
  public static void check(SparkSession spark, String stage, String run, String teacher, DataType dtype,
      String validSplit) {
    if (!Storage.of(validSplit).exists(validSplit)) {
      LOG.warn("preflight: no validation split at {}; the teacher is not checked against the data", validSplit);
      return;
    }
    ParquetShards.requireCommitted(validSplit);
    HadoopConf hadoop = HadoopConf.install(spark);
    List<long[]> rows = spark.read().parquet(validSplit).select(ParquetShards.COLUMN).limit(ROWS).collectAsList()
        .stream().map(ParquetShards::ids).toList();
    LlamaConfig config;
    String fingerprint;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(teacher), teacher)) {
      config = reader.config();
      fingerprint = Fingerprints.checkpoint(Storage.of(teacher), reader);
    }
    int bos = config.bosTokenId();
    TeacherPreflight result = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(List.of(0), 1)
        .map(unused -> {
          hadoop.install();
          LlamaModel model = ExecutorModels.get(teacher, fingerprint, TaskDevices.current(), dtype);
          synchronized (model) {
            return TeacherPreflight.measure(model, rows, bos);
          }
        }).collect().get(0);
    write(Storage.resolve(Storage.resolve(run, DIR), stage + ".json"), stage, teacher, validSplit, result);
    List<String> problems = result.problems();
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("preflight of " + stage + ": teacher " + teacher + " on " + validSplit
          + ": " + String.join("; ", problems) + " [checked: " + result.describe() + "]; the tokenizer, the packing "
          + "(when the teacher needs BOS, tokenize with packing=packed-bos, or packing=documents and add-bos=true: "
          + "document rows start with BOS only when add-bos is set) or the checkpoint does not match the "
          + "data; --set preflight=false skips this check");
    }
    LOG.info("preflight of {}: passed: {}", stage, result.describe());
  }

  private static void write(String path, String stage, String teacher, String split, TeacherPreflight r) {
    ObjectNode json = new ObjectMapper().createObjectNode();
    json.put("stage", stage);
    json.put("teacher", teacher);
    json.put("split", split);
    json.put("rows", r.rows());
    json.put("tokens", r.tokens());
    json.put("loss", r.loss());
    if (Double.isNaN(r.bosLoss())) {
      json.putNull("bos_loss");
    } else {
      json.put("bos_loss", r.bosLoss());
    }
    json.put("log_vocab", r.logVocab());
    if (r.bosSkipped() != null) {
      json.put("bos_check_skipped", r.bosSkipped());
    }
    json.put("passed", r.problems().isEmpty());
    json.put("checks", r.describe());
    Storage.of(path).replaceText(path, json.toPrettyString() + "\n");
  }
}
