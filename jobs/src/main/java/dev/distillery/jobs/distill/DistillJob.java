package dev.distillery.jobs.distill;

import static org.apache.spark.sql.functions.col;

import dev.distillery.collective.RingSecret;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.distill.OrderedSequences;
import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.distill.TrainingCheckpoint;
import dev.distillery.distill.VocabAlignment;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.Storage;
import dev.distillery.jobs.command.DeviceNames;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.spark.TaskDevices;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import dev.distillery.tokenize.RowWindows;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.reflect.ClassTag$;

/**
 * Synchronous data-parallel distillation in a Spark barrier stage. The data order (a seeded hash of each sequence,
 * so it does not depend on file layout or partitioning) is written once per split and seed by {@link DataOrderJob};
 * the barrier stage runs one {@link DistillTask} per rank, which streams global sequences {@code i ≡ rank (mod
 * world)} from it as it trains. The stage ends in a shuffle, so Spark retries it whole when a task fails, and the
 * retry resumes from the latest committed checkpoint.
 */
public final class DistillJob {
  private static final Logger LOG = LoggerFactory.getLogger(DistillJob.class);

  private DistillJob() {}

  /**
   * Fails at once when the cluster cannot run {@code worldSize} barrier tasks together, instead of Spark's minutes of
   * barrier slot retries. Executors still registering get up to
   * {@code spark.scheduler.maxRegisteredResourcesWaitingTime} (30 s) to appear; with dynamic allocation executors
   * come on demand, so nothing is checked.
   */
  static void checkSlots(SparkContext sc, int worldSize) {
    if (sc.getConf().getBoolean("spark.dynamicAllocation.enabled", false)) {
      return;
    }
    long waitMillis = sc.getConf().getTimeAsMs("spark.scheduler.maxRegisteredResourcesWaitingTime", "30s");
    long until = System.nanoTime() + waitMillis * 1_000_000;
    int slots = slots(sc);
    while (slots < worldSize && !sc.isLocal() && System.nanoTime() < until) {
      try {
        Thread.sleep(500);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      slots = slots(sc);
    }
    if (slots < worldSize) {
      throw new IllegalArgumentException("world-size " + worldSize + " needs " + worldSize + " barrier tasks running "
          + "at once, but the cluster (" + sc.master() + ", spark.task.cpus=" + sc.getConf().get("spark.task.cpus", "1")
          + ") offers " + slots + " task slots; lower world-size or give the job more executors or cores");
    }
  }

  private static int slots(SparkContext sc) {
    return sc.maxNumConcurrentTasks(sc.resourceProfileManager().defaultResourceProfile());
  }

  /**
   * The secret the ranks prove to each other: {@code spark.authenticate.secret} when the job has one, else a fresh
   * one from this driver; it travels to the barrier tasks inside the task, and is never logged.
   */
  private static String ringSecret(SparkSession spark) {
    return spark.sparkContext().getConf().getOption("spark.authenticate.secret").getOrElse(RingSecret::generate);
  }

  /**
   * Runs the job and returns each rank's summary (JSON), rank order; nothing when the output is already committed
   * (a finished stage is not redone unless {@code restart} is set).
   */
  public static List<String> run(SparkSession spark, DistillSettings settings) {
    HadoopConf hadoop = HadoopConf.install(spark);
    if (!settings.restart() && Storage.of(settings.output()).isCommitted(settings.output())) {
      LOG.info("distill: {} is already committed; nothing to do (set restart=true to train again)",
          settings.output());
      return List.of();
    }
    LlamaConfig student = checkInputs(settings);
    checkSlots(spark.sparkContext(), settings.worldSize());
    String dataOrder = dataOrder(settings);
    TeacherLogitsManifest table = settings.teacherLogits() == null ? null : StoredTeacher.check(settings, student);
    int window = rowWindow(settings, student, table);
    long available = (table == null
        ? DataOrderJob.prepare(spark, hadoop, settings.trainTokens(), settings.seed(), dataOrder, window)
        : StoredTeacher.prepareOrder(spark, hadoop, table, settings.teacherLogits(), settings.seed(), dataOrder,
            window)).sequences();
    long usable = available / settings.globalBatch() * settings.globalBatch();
    if (usable == 0) {
      throw new IllegalArgumentException(settings.trainTokens() + ": " + available
          + " training sequences, fewer than one global batch (" + settings.globalBatch() + ")");
    }
    long[][] validation = validation(spark, settings, window);
    LOG.info("distill: {} training sequences ({} used, a multiple of the global batch {}), {} validation sequences,"
        + " {} ranks, {} steps, student {} ({} parameters)", available, usable, settings.globalBatch(),
        validation.length, settings.worldSize(), settings.steps(), settings.student(), student.parameterCount());

    List<Integer> ranks = java.util.stream.IntStream.range(0, settings.worldSize()).boxed().toList();
    JavaRDD<Integer> oneRowPerRank = JavaSparkContext.fromSparkContext(spark.sparkContext())
        .parallelize(ranks, settings.worldSize());
    JavaRDD<String> summaries = oneRowPerRank.rdd().barrier()
        .mapPartitions(new DistillTask(hadoop, settings, dataOrder, usable, validation, ringSecret(spark)), false,
            ClassTag$.MODULE$.apply(String.class))
        .toJavaRDD();
    List<String> result = summaries.repartition(1).collect();
    LOG.info("distill finished: {}", result);
    return result.stream().sorted().toList();
  }

  /** Checks the student, teacher and token shards before any Spark work; returns the student's config. */
  static LlamaConfig checkInputs(DistillSettings settings) {
    LlamaConfig student;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.student()), settings.student())) {
      student = reader.config();
    }
    if (settings.teacher() != null && settings.lossSpec().needsTeacher() && settings.teacherLogits() == null) {
      try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.teacher()), settings.teacher())) {
        int teacherVocab = reader.config().vocabSize();
        if (teacherVocab != student.vocabSize()) {
          int common = VocabAlignment.commonVocab(settings.teacher(), teacherVocab, tokenizerSha(settings.teacher()),
              settings.student(), student.vocabSize(), tokenizerSha(settings.student()));
          LOG.info("Teacher vocab_size {} and student vocab_size {} share one tokenizer.json: the KD loss compares "
              + "the {} common ids (the rest are padding rows)", teacherVocab, student.vocabSize(), common);
        }
      }
    }
    if (settings.shardOptimizer() && !settings.devices().equals(TaskDevices.AUTO)) { // else each rank checks
      int devices = DeviceNames.parseList(settings.devices()).size();
      OptimizerShard.checkReplicas(student.parameterCount(), settings.worldSize() * devices,
          "world-size " + settings.worldSize() + " x " + devices + " devices per rank");
    }
    Storage checkpoints = Storage.of(settings.checkpoints());
    if (!settings.restart()) {
      TrainingCheckpoint.latest(checkpoints, settings.checkpoints()).ifPresent(latest -> {
        String fingerprint = TrainingCheckpoint.readState(checkpoints, latest).fingerprint();
        if (!fingerprint.equals(settings.fingerprint())) {
          throw new IllegalArgumentException("checkpoint " + latest + " belongs to a run with other settings ("
              + fingerprint + "); set restart=true to start over");
        }
      });
    }
    if (!Storage.of(settings.trainTokens()).exists(settings.trainTokens())) {
      throw new IllegalArgumentException("training shards not found: " + settings.trainTokens()
          + " (run the tokenize job first, or set 'tokens')");
    }
    return student;
  }

  /**
   * The most tokens a training or validation sequence holds: the student's max_position_embeddings, and the
   * teacher's when known: the teacher's config when a teacher runs, the context the table's teacher ran on when
   * distilling from a teacher-logits table; longer rows are cut into windows of it ({@link RowWindows}).
   *
   * @param table the run's teacher-logits manifest, or null without one
   */
  static int rowWindow(DistillSettings settings, LlamaConfig student, TeacherLogitsManifest table) {
    int teacherContext = 0; // unknown, or no teacher
    if (table != null) {
      teacherContext = table.teacherContext();
      if (teacherContext == 0) {
        LOG.warn("distill: {} does not record its teacher's max_position_embeddings (written before it was); rows "
            + "are cut at the student's {} only", settings.teacherLogits(), student.maxPositionEmbeddings());
      }
    } else if (settings.teacher() != null && (settings.lossSpec().needsTeacher() || settings.hiddenWeight() > 0)) {
      try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.teacher()), settings.teacher())) {
        teacherContext = reader.config().maxPositionEmbeddings();
      }
    }
    return teacherContext > 0 ? Math.min(student.maxPositionEmbeddings(), teacherContext)
        : student.maxPositionEmbeddings();
  }

  /** sha256 of the checkpoint's tokenizer.json, or null when it has none. */
  private static String tokenizerSha(String checkpoint) {
    String path = Storage.resolve(checkpoint, "tokenizer.json");
    Storage storage = Storage.of(path);
    return storage.exists(path) ? Fingerprints.sha256(storage, path) : null;
  }

  /** Where the training split is kept in the run's data order ({@link OrderedSequences}). */
  static String dataOrder(DistillSettings settings) {
    return Storage.resolve(settings.checkpoints(), "data-order");
  }

  /** The sequences of a split in the run's data order: a seeded hash of each sequence, ties by content. */
  static JavaRDD<long[]> ordered(SparkSession spark, String path, long seed) {
    ParquetShards.requireCommitted(path);
    return spark.read().parquet(path).select(col(ParquetShards.COLUMN))
        .orderBy(DataOrderJob.order(seed))
        .javaRDD()
        .map(ParquetShards::ids);
  }

  /**
   * The first valid-sequences sequences of the validation split in the data order, rows longer than {@code window}
   * tokens as their windows.
   */
  static long[][] validation(SparkSession spark, DistillSettings settings, int window) {
    if (!Storage.of(settings.validTokens()).exists(settings.validTokens())) {
      LOG.warn("no validation split at {}; validation loss will be NaN", settings.validTokens());
      return new long[0][];
    }
    List<long[]> sequences = new ArrayList<>();
    int cut = 0;
    // Each row gives at least one window, so the first n rows hold the first n sequences.
    for (long[] row : ordered(spark, settings.validTokens(), settings.seed()).take(settings.validSequences())) {
      cut += RowWindows.cuts(row.length, window) ? 1 : 0;
      sequences.addAll(RowWindows.of(row, window));
    }
    if (cut > 0) {
      LOG.info("distill: {} validation rows longer than {} tokens (max_position_embeddings) cut into windows", cut,
          window);
    }
    return sequences.subList(0, Math.min(sequences.size(), settings.validSequences())).toArray(long[][]::new);
  }
}
