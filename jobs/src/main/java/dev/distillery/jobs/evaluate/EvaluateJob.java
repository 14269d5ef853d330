package dev.distillery.jobs.evaluate;

import static org.apache.spark.sql.functions.col;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.tokenize.RowWindows;
import dev.distillery.tokenize.LocalTokenizerCopy;
import dev.distillery.tokenize.TextTokenizer;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loss and perplexity of one checkpoint on a token split: the sequences are spread over Spark tasks, each executor
 * loads the model once, and the per-task loss sums add up exactly in the driver. The driver then decodes the
 * prompts greedily. The result is written atomically (temporary file, then rename) to {@code RUN/eval/NAME.json}.
 */
public final class EvaluateJob {
  private static final Logger LOG = LoggerFactory.getLogger(EvaluateJob.class);

  private EvaluateJob() {}

  /** Runs the evaluation, or reads the existing result when the output exists and overwrite is off. */
  public static Evaluation run(SparkSession spark, EvaluateSettings settings) {
    HadoopConf hadoop = HadoopConf.install(spark);
    Storage storage = Storage.of(settings.output());
    if (!settings.overwrite() && storage.exists(settings.output())) {
      LOG.info("evaluate: {} exists; nothing to do (set overwrite=true to evaluate again)", settings.output());
      return Evaluation.fromJson(storage.readText(settings.output()), settings.output());
    }
    LlamaConfig config;
    String fingerprint;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.model()), settings.model())) {
      config = reader.config();
      fingerprint = Fingerprints.checkpoint(Storage.of(settings.model()), reader);
    }
    if (!Storage.of(settings.tokens()).exists(settings.tokens())) {
      throw new IllegalArgumentException("token shards not found: " + settings.tokens()
          + " (run the tokenize job first, or set 'tokens')");
    }
    long start = System.nanoTime();
    LongAccumulator cutRows = spark.sparkContext().longAccumulator("evaluate: rows cut into windows");
    LossSum sum = sequences(spark, settings, config.maxPositionEmbeddings(), cutRows)
        .mapPartitions(new LossTask(hadoop, settings.model(), fingerprint, settings.batchSize(),
            settings.chunkTokens()))
        .fold(LossSum.ZERO, LossSum::plus);
    double seconds = (System.nanoTime() - start) / 1e9;
    if (sum.tokens() == 0) {
      throw new IllegalArgumentException(settings.tokens() + ": no sequences to evaluate");
    }
    LOG.info("evaluate {}: loss {} over {} tokens ({} sequences; {} rows longer than max_position_embeddings {} cut "
        + "into windows) in {} s", settings.name(), String.format("%.4f", sum.meanLoss()), sum.tokens(),
        sum.sequences(), cutRows.value(), config.maxPositionEmbeddings(), String.format("%.1f", seconds));
    Evaluation result = new Evaluation(settings.name(), settings.model(), config.parameterCount(), settings.tokens(),
        sum.meanLoss(), Math.exp(sum.meanLoss()), sum.tokens(), sum.sequences(), seconds, generations(settings));
    storage.replaceText(settings.output(), result.toJson());
    return result;
  }

  /**
   * The split's sequences, the first max-sequences in file order, spread over the configured partitions; a row
   * longer than the model's context ({@code window}, max_position_embeddings) is cut into windows of it
   * ({@link RowWindows}), each scored on its own; sequences of one token (nothing to predict) are left out.
   *
   * @param cutRows counts the rows cut, once the sequences are computed
   */
  static JavaRDD<long[]> sequences(SparkSession spark, EvaluateSettings settings, int window,
      LongAccumulator cutRows) {
    ParquetShards.requireCommitted(settings.tokens());
    JavaRDD<long[]> rows = spark.read().parquet(settings.tokens()).select(col(ParquetShards.COLUMN)).javaRDD()
        .map(ParquetShards::ids);
    if (settings.maxSequences() > 0) {
      long max = settings.maxSequences();
      rows = rows.zipWithIndex().filter(pair -> pair._2() < max).map(pair -> pair._1());
    }
    int partitions = settings.partitions() > 0 ? settings.partitions() : spark.sparkContext().defaultParallelism();
    return rows.flatMap(row -> {
      if (RowWindows.cuts(row.length, window)) {
        cutRows.add(1);
      }
      return RowWindows.of(row, window).iterator();
    }).filter(w -> w.length >= 2).repartition(partitions);
  }

  private static List<Evaluation.Generation> generations(EvaluateSettings settings) {
    List<Evaluation.Generation> result = new ArrayList<>();
    if (settings.tokenizer() == null || settings.prompts().isEmpty()) {
      return result;
    }
    try (TextTokenizer tokenizer = TextTokenizer.load(LocalTokenizerCopy.of(settings.tokenizer()), false);
        CheckpointReader reader = CheckpointReader.open(Storage.of(settings.model()), settings.model());
        LlamaModel model = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name), Device.cpu(),
            DataType.FLOAT32)) {
      GreedyGenerator generator = new GreedyGenerator(model, tokenizer);
      for (String prompt : settings.prompts()) {
        String text = generator.continuation(prompt, settings.maxNew());
        LOG.info("evaluate {}: '{}' -> '{}'", settings.name(), prompt, text);
        result.add(new Evaluation.Generation(prompt, text));
      }
    }
    return result;
  }
}
