package dev.distillery.jobs.calibrate;

import dev.distillery.importance.ImportancePlot;
import dev.distillery.importance.ImportanceScores;
import dev.distillery.importance.ImportanceStatistics;
import dev.distillery.importance.LayerSkipLoss;
import dev.distillery.importance.WeightImportance;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.model.LlamaConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * CalibrateJob: scores the teacher's heads, neurons, hidden channels and layers and commits {@code run/importance/}
 * ({@code importance.json}, {@code importance.png}). Forward passes run as Spark tasks whose partial statistics the
 * driver merges with a tree reduction; layer-skip candidates are scored as independent tasks.
 */
public final class CalibrateJob {
  private static final Logger LOG = LoggerFactory.getLogger(CalibrateJob.class);
  private static final int TREE_DEPTH = 2;

  private final SparkSession spark;
  private final CalibrationSettings settings;
  private final HadoopConf hadoop;

  public CalibrateJob(SparkSession spark, CalibrationSettings settings) {
    this.spark = spark;
    this.settings = settings;
    this.hadoop = HadoopConf.install(spark);
  }

  /** Runs the job, commits the output and returns the scores it wrote. */
  public ImportanceScores run() {
    Storage storage = Storage.of(settings.run());
    String output = new RunLayout(settings.run()).importance();
    if (storage.isCommitted(output) && !settings.overwrite()) {
      throw new IllegalStateException(output + " is already committed; set overwrite=true to replace it");
    }
    LlamaConfig teacher;
    String fingerprint;
    ImportanceScores scores;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.teacher()), settings.teacher())) {
      teacher = reader.config();
      fingerprint = Fingerprints.checkpoint(Storage.of(settings.teacher()), reader);
      if (settings.weightsOnly()) {
        LOG.info("Scoring weight magnitudes of {}", settings.teacher());
        scores = WeightImportance.compute(teacher, (name, shape) -> reader.readFloats(name), settings.teacher(),
            fingerprint);
      } else {
        scores = null;
      }
    }
    if (scores == null) {
      scores = calibrate(teacher, fingerprint);
    }
    write(storage, output, scores);
    return scores;
  }

  private ImportanceScores calibrate(LlamaConfig teacher, String fingerprint) {
    String tokenizer = settings.tokenizer() != null ? settings.tokenizer()
        : Storage.resolve(settings.teacher(), "tokenizer.json");
    ParquetShards.requireCommitted(settings.tokens());
    TokenShards.checkManifest(Storage.of(settings.tokens()), settings.tokens(), teacher, tokenizer,
        settings.seqLength());
    Dataset<Row> rows = spark.read().parquet(settings.tokens())
        .select(functions.col("input_ids"), functions.input_file_name().as("file"));
    long available = rows.count();
    if (available < settings.samples()) {
      throw new IllegalArgumentException(settings.tokens() + " holds " + available + " sequences (rows of input_ids), "
          + "fewer than samples=" + settings.samples() + "; lower samples or tokenize more text");
    }
    int partitions = settings.partitions() > 0 ? settings.partitions()
        : Math.max(1, Math.min(settings.samples(), spark.sparkContext().defaultParallelism()));
    LOG.info("Calibrating {} on {} samples x {} tokens from {} in {} tasks", settings.teacher(), settings.samples(),
        settings.seqLength(), settings.tokens(), partitions);
    Dataset<Row> chosen = rows.limit(settings.samples());
    // A packed row holds seq-length + 1 tokens (its last one a label only): longer ones lose real text.
    long longer = chosen.filter(functions.size(functions.col("input_ids")).gt(settings.seqLength() + 1)).count();
    if (longer > 0) {
      LOG.info("Calibrate: {} of the {} samples hold more than seq-length + 1 = {} tokens; only their first {} are "
          + "scored (raise seq-length to score more of each row)", longer, settings.samples(),
          settings.seqLength() + 1, settings.seqLength());
    }
    JavaRDD<ImportanceStatistics> partials = chosen.repartition(partitions).javaRDD()
        .mapPartitions(new CalibrationTask(hadoop, settings, fingerprint, teacher.vocabSize()));
    ImportanceStatistics statistics = partials.treeReduce(ImportanceStatistics::merge, TREE_DEPTH);
    ImportanceScores scores = ImportanceScores.fromStatistics(statistics, settings.batchAggregation(),
        settings.teacher(), fingerprint, teacher);
    if (settings.lossSamples() > 0) {
      scores = scores.withLayerLoss(layerLoss(chosen, teacher, fingerprint));
    }
    return scores;
  }

  private ImportanceScores.LayerLoss layerLoss(Dataset<Row> chosen, LlamaConfig teacher, String fingerprint) {
    List<Row> rows = chosen.limit(settings.lossSamples()).collectAsList();
    long[][] sequences = rows.stream().map(row -> TokenShards.sample(row.getList(0), row.getString(1),
        settings.seqLength(), teacher.vocabSize())).toArray(long[][]::new);
    java.util.Set<Integer> sizes = new java.util.TreeSet<>(settings.lossBlockSizes());
    sizes.add(1);
    List<LayerSkipLoss.Candidate> candidates = LayerSkipLoss.candidates(teacher.numHiddenLayers(), sizes);
    LOG.info("Scoring {} layer-skip candidates on {} sequences", candidates.size(), sequences.length);
    List<double[]> losses = JavaSparkContext.fromSparkContext(spark.sparkContext())
        .parallelize(candidates, candidates.size())
        .map(new LayerLossTask(hadoop, settings, fingerprint, sequences)).collect();
    double baseline = losses.get(0)[0] / losses.get(0)[1];
    Map<Integer, double[]> rises = new TreeMap<>();
    for (int i = 1; i < candidates.size(); i++) {
      LayerSkipLoss.Candidate c = candidates.get(i);
      rises.computeIfAbsent(c.size(), s -> new double[teacher.numHiddenLayers() - s + 1])[c.first()] =
          losses.get(i)[0] / losses.get(i)[1] - baseline;
    }
    return new ImportanceScores.LayerLoss(baseline, sequences.length, new HashMap<>(rises));
  }

  private void write(Storage storage, String output, ImportanceScores scores) {
    try (StagedDirectory staged = storage.stage(output, settings.overwrite())) {
      storage.writeText(staged.file(RunLayout.IMPORTANCE_SCORES), scores.toJson());
      try (OutputStream out = storage.create(staged.file(RunLayout.IMPORTANCE_PLOT), true)) {
        out.write(ImportancePlot.png(scores));
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot write " + staged.file(RunLayout.IMPORTANCE_PLOT), e);
      }
      staged.commit();
    }
    LOG.info("Wrote {} ({} samples, {} tokens, method {})", output, scores.info().samples(), scores.info().tokens(),
        scores.info().method());
  }
}
