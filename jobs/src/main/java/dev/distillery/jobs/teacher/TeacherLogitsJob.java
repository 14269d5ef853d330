package dev.distillery.jobs.teacher;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.input_file_name;
import static org.apache.spark.sql.functions.size;
import static org.apache.spark.sql.functions.sum;

import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.calibrate.TokenShards;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.DoubleAccumulator;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The teacher-logits job: runs the teacher once over the training token shards and commits its top-k next-token
 * distributions as a table ({@link TeacherLogitsTable}) with a {@link TeacherLogitsManifest}. One Spark task per token
 * shard (the shard is read in file order, so the output shard lines up with it row for row); the teacher is loaded
 * once per executor JVM and device. A row longer than the teacher's max_position_embeddings is run as consecutive
 * windows of that many tokens, each on its own, and stored as one row ({@link dev.distillery.distill.WindowedTopK}).
 */
public final class TeacherLogitsJob {
  private static final Logger LOG = LoggerFactory.getLogger(TeacherLogitsJob.class);

  private TeacherLogitsJob() {}

  /** Runs the job and returns the committed manifest. */
  public static TeacherLogitsManifest run(SparkSession spark, TeacherLogitsSettings settings) {
    HadoopConf hadoop = HadoopConf.install(spark);
    Storage storage = Storage.of(settings.output());
    if (storage.isCommitted(settings.output()) && !settings.overwrite()) {
      throw new IllegalStateException(settings.output() + " is already committed; set overwrite=true to replace it");
    }
    LlamaConfig teacher;
    String fingerprint;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.teacher()), settings.teacher())) {
      teacher = reader.config();
      fingerprint = Fingerprints.checkpointWithSamples(Storage.of(settings.teacher()), reader);
    }
    if (settings.topK() > teacher.vocabSize()) {
      throw new IllegalArgumentException("option 'top-k' is " + settings.topK() + ", more than the teacher's "
          + "vocab_size " + teacher.vocabSize() + " (" + settings.teacher() + "/config.json)");
    }
    if (settings.tailSamples() > 0 && settings.topK() + settings.tailSamples() >= teacher.vocabSize()) {
      throw new IllegalArgumentException("options 'top-k' " + settings.topK() + " and 'tail-samples' "
          + settings.tailSamples() + " leave too few ids to draw from: their sum must be below the teacher's "
          + "vocab_size " + teacher.vocabSize() + " (" + settings.teacher() + "/config.json)");
    }
    String train = Storage.resolve(settings.tokens(), TeacherLogitsTable.SPLIT);
    String tokensManifest = Storage.resolve(settings.tokens(), TokenShards.MANIFEST);
    Storage tokenStorage = Storage.of(train);
    if (!tokenStorage.exists(tokensManifest)) {
      throw new IllegalArgumentException("no " + tokensManifest + ": the teacher-logits table records which token "
          + "shards it belongs to by that manifest; run the tokenize job first");
    }
    tokenStorage.requireCommitted(settings.tokens(), "tokenize output");
    TokenShards.checkManifest(tokenStorage, train, teacher, Storage.resolve(settings.teacher(), "tokenizer.json"), 0);
    List<String> shards = tokenStorage.list(train).stream().filter(f -> f.endsWith(".parquet")).sorted().toList();
    if (shards.isEmpty()) {
      throw new IllegalArgumentException(train + " holds no Parquet shards; run the tokenize job first");
    }
    LOG.info("teacher-logits: top-{} ({}) of {} over {} shard(s) of {}", settings.topK(), settings.values().label(),
        settings.teacher(), shards.size(), train);
    long start = System.nanoTime();
    try (StagedDirectory staged = storage.stage(settings.output(), settings.overwrite())) {
      String out = staged.file(TeacherLogitsTable.SPLIT);
      storage.mkdirs(out);
      DoubleAccumulator topKMass = spark.sparkContext().doubleAccumulator("teacher-logits top-k mass");
      LongAccumulator cutRows = spark.sparkContext().longAccumulator("teacher-logits: rows cut into windows");
      JavaRDD<Row> rows = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(shards, shards.size())
          .mapPartitions(new TeacherLogitsTask(hadoop, settings, fingerprint, topKMass, cutRows));
      ParquetShards.write(spark, storage, rows, TeacherLogitsTable.SCHEMA, shards.size(),
          i -> Storage.resolve(out, name(shards.get(i))), staged.file("_spark-parquet"));
      List<TeacherLogitsManifest.Shard> written = check(spark, shards, out);
      TeacherLogitsManifest manifest = new TeacherLogitsManifest(settings.teacher(), fingerprint,
          teacher.vocabSize(), teacher.maxPositionEmbeddings(), settings.topK(), settings.tailSamples(),
          settings.values(), settings.tokens(),
          Fingerprints.sha256(tokenStorage, tokensManifest), topKMass.avg(), written); // avg: a retried task's
      // positions are counted again, but in the numerator and denominator alike
      storage.writeText(staged.file(TeacherLogitsManifest.FILE), manifest.toJson());
      staged.commit();
      double seconds = (System.nanoTime() - start) / 1e9;
      LOG.info("teacher-logits: {} tokens in {} s ({} tokens/s), {} bytes per token, the top-{} holding {}% of the "
          + "teacher's probability on average; {} rows longer than max_position_embeddings {} cut into windows; "
          + "committed {}", manifest.tokenCount(), String.format("%.1f", seconds),
          String.format("%.0f", manifest.tokenCount() / seconds), String.format("%.1f", manifest.bytesPerToken()),
          settings.topK(), String.format("%.1f", 100 * manifest.topKMass()), cutRows.value(),
          teacher.maxPositionEmbeddings(), settings.output());
      return manifest;
    }
  }

  /** Each written shard, checked to hold as many rows as its token shard. */
  private static List<TeacherLogitsManifest.Shard> check(SparkSession spark, List<String> shards, String out) {
    Map<String, Long> tokens = new HashMap<>();
    for (Row r : spark.read().parquet(out).groupBy(input_file_name().as("file"))
        .agg(sum(size(col(TeacherLogitsTable.IDS)))).collectAsList()) {
      tokens.put(name(r.getString(0)), r.getLong(1));
    }
    Storage storage = Storage.of(out);
    List<TeacherLogitsManifest.Shard> written = new ArrayList<>();
    for (String shard : shards) {
      String file = Storage.resolve(out, name(shard));
      long rows = TeacherLogitsTable.rowCount(file);
      long expected = TeacherLogitsTable.rowCount(shard);
      if (rows != expected) {
        throw new IllegalStateException(file + " holds " + rows + " rows, but its token shard " + shard + " holds "
            + expected);
      }
      written.add(new TeacherLogitsManifest.Shard(name(shard), rows, tokens.getOrDefault(name(shard), 0L),
          storage.size(file)));
    }
    return written;
  }

  private static String name(String path) {
    return new Path(path).getName();
  }
}
