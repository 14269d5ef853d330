package dev.distillery.jobs.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.CommandLine;
import dev.distillery.distill.OrderedSequences;
import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.distill.TopKLogits;
import dev.distillery.distill.TrainingCheckpoint;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.model.LlamaConfig;
import dev.distillery.prune.CheckpointPruner;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** DistillJob end to end in local mode: the barrier stage, 1 vs 2 ranks, resume, bad input. */
class DistillJobTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final LlamaConfig CONFIG = TestModels.gqaConfig();

  @TempDir
  static Path shared;
  static Path teacher;
  static Path student;
  static Path tokens;

  @BeforeAll
  static void writeInputs() {
    teacher = shared.resolve("teacher");
    student = shared.resolve("student-init");
    tokens = shared.resolve("tokens");
    TestModels.writeCheckpoint(teacher, CONFIG, TestModels.randomWeights(CONFIG, 41), DType.F32);
    TestModels.writeCheckpoint(student, CONFIG, TestModels.randomWeights(CONFIG, 42), DType.BF16);
    for (String file : CheckpointPruner.TOKENIZER_FILES) {
      writeText(student.resolve(file), "{\"file\": \"" + file + "\"}");
    }
    TokenShardFiles.write(tokens.resolve("train"), TestModels.randomTokens(24, 17, CONFIG.vocabSize(), 43));
    TokenShardFiles.write(tokens.resolve("valid"), TestModels.randomTokens(6, 17, CONFIG.vocabSize(), 44));
  }

  /**
   * Same global batch and seed on 1 rank, 2 ranks, and 1 rank with two device replicas (CPU here), over 20 steps
   * (a little more than three passes over the training sequences); and with the optimizer sharded (and layers
   * recomputed) on 1 rank, 2 ranks and 2 ranks x 2 devices, and the gradients sharded too on 2 ranks x 2 devices,
   * against the unsharded single rank.
   */
  @Test
  void oneAndTwoRanksAndTwoDevicesAgreeStepByStep(@TempDir Path run) throws IOException {
    distill(run.resolve("one"), "world-size=1", "steps=20");
    distill(run.resolve("two"), "world-size=2", "steps=20");
    distill(run.resolve("devices"), "world-size=1", "devices=cpu,cpu", "steps=20");
    String[] sharded = {"shard-optimizer=true", "recompute-layers=true", "steps=20"};
    distill(run.resolve("one-sharded"), with(sharded, "world-size=1"));
    distill(run.resolve("two-sharded"), with(sharded, "world-size=2"));
    distill(run.resolve("two-by-two-sharded"), with(sharded, "world-size=2", "devices=cpu,cpu", "micro-batch=1"));
    distill(run.resolve("two-by-two-zero2"), with(sharded, "shard-gradients=true", "world-size=2", "devices=cpu,cpu",
        "micro-batch=1"));
    List<JsonNode> one = metrics(run.resolve("one"));
    assertThat(one).hasSize(20);
    for (String other : List.of("two", "devices", "one-sharded", "two-sharded", "two-by-two-sharded",
        "two-by-two-zero2")) {
      List<JsonNode> lines = metrics(run.resolve(other));
      assertThat(lines).hasSize(20);
      for (int s = 0; s < 20; s++) {
        assertThat(lines.get(s).get("loss").asDouble()).as("%s, step %d", other, s + 1)
            .isCloseTo(one.get(s).get("loss").asDouble(), within(1e-5));
        assertThat(lines.get(s).get("grad_norm").asDouble()).as("%s, step %d", other, s + 1)
            .isCloseTo(one.get(s).get("grad_norm").asDouble(), within(1e-4));
      }
    }
    assertThat(one.get(19).get("loss").asDouble()).isLessThan(one.get(0).get("loss").asDouble());
    assertThat(one.get(19).has("val_loss")).isTrue();
    try (CheckpointReader reader = CheckpointReader.open(run.resolve("one/student").toString())) {
      assertThat(reader.info("lm_head.weight").dtype()).as("dtype of the student-init").isEqualTo(DType.BF16);
    }
    for (String file : CheckpointPruner.TOKENIZER_FILES) {
      assertThat(run.resolve("one/student").resolve(file)).as("the distilled student keeps " + file)
          .hasContent("{\"file\": \"" + file + "\"}");
    }
  }

  /** Document rows of 2 to 30 tokens: no row is dropped or rejected, and 1 and 2 ranks agree step by step. */
  @Test
  void documentRowsOfAnyLengthTrainAndOneAndTwoRanksAgree(@TempDir Path run) throws IOException {
    Path documents = run.resolve("document-tokens");
    java.util.Random random = new java.util.Random(45);
    for (String split : List.of("train", "valid")) {
      long[][] rows = new long[split.equals("train") ? 16 : 5][];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = TestModels.randomTokens(1, 2 + random.nextInt(29), CONFIG.vocabSize(), 100 + i)[0];
      }
      TokenShardFiles.write(documents.resolve(split), rows);
    }
    distill(run.resolve("one"), "world-size=1", "tokens=" + documents);
    distill(run.resolve("two"), "world-size=2", "tokens=" + documents);
    List<JsonNode> one = metrics(run.resolve("one"));
    List<JsonNode> two = metrics(run.resolve("two"));
    assertThat(one).hasSize(6);
    for (int s = 0; s < 6; s++) {
      assertThat(two.get(s).get("loss").asDouble()).as("step %d", s + 1)
          .isCloseTo(one.get(s).get("loss").asDouble(), within(1e-5));
      assertThat(two.get(s).get("tokens").asLong()).isEqualTo(one.get(s).get("tokens").asLong());
    }
    assertThat(one.stream().map(m -> m.get("tokens").asLong()).distinct().count())
        .as("steps of document rows hold different token counts").isGreaterThan(1);
    assertThat(one.get(5).get("val_loss").asDouble()).isFinite();
  }

  /**
   * Models of 16 positions, document rows of 2 to 40 tokens: a longer row trains (and validates) as its windows of
   * at most 16 tokens, written in its place in the data order, and 1 and 2 ranks agree step by step.
   */
  @Test
  void rowsLongerThanTheModelsContextTrainAsTheirWindows(@TempDir Path run) throws IOException {
    LlamaConfig shortContext = new LlamaConfig(48, 80, 2, 4, 2, 16, 96, 1e-5, 10000.0, null, 16, false, 1, 2,
        "float32");
    Path shortTeacher = run.resolve("teacher");
    Path shortStudent = run.resolve("student-init");
    TestModels.writeCheckpoint(shortTeacher, shortContext, TestModels.randomWeights(shortContext, 61), DType.F32);
    TestModels.writeCheckpoint(shortStudent, shortContext, TestModels.randomWeights(shortContext, 62), DType.F32);
    Path documents = run.resolve("document-tokens");
    java.util.Random random = new java.util.Random(63);
    long[][] train = new long[10][];
    for (int i = 0; i < train.length; i++) {
      train[i] = TestModels.randomTokens(1, 2 + random.nextInt(39), CONFIG.vocabSize(), 300 + i)[0];
    }
    train[0] = TestModels.randomTokens(1, 33, CONFIG.vocabSize(), 299)[0]; // windows of 16, 16 and none of 1
    TokenShardFiles.write(documents.resolve("train"), train);
    TokenShardFiles.write(documents.resolve("valid"), new long[][] {
        TestModels.randomTokens(1, 40, CONFIG.vocabSize(), 320)[0], TestModels.randomTokens(1, 5, CONFIG.vocabSize(),
        321)[0]});
    String[] settings = {"tokens=" + documents, "steps=5", "valid-sequences=4", "validate-every=5"};
    distill(run.resolve("one"), shortTeacher, shortStudent, with(settings, "world-size=1"));
    distill(run.resolve("two"), shortTeacher, shortStudent, with(settings, "world-size=2"));

    List<long[]> expected = new ArrayList<>();
    long cut = 0;
    for (long[] row : DistillJob.ordered(SharedSpark.session(), documents.resolve("train").toString(), 1234)
        .collect()) {
      cut += row.length > 16 ? 1 : 0;
      expected.addAll(dev.distillery.tokenize.RowWindows.of(row, 16));
    }
    assertThat(cut).as("rows longer than 16 tokens").isGreaterThan(2);
    String order = run.resolve("one/checkpoints/data-order").toString();
    try (OrderedSequences read = OrderedSequences.open(Storage.of(order), order)) {
      assertThat(read.manifest().cutRows()).isEqualTo(cut);
      assertThat(read.manifest().sequences()).isEqualTo(expected.size());
      for (int p = 0; p < expected.size(); p++) {
        assertThat(java.util.Arrays.stream(read.get(p)).asLongStream().toArray()).as("sequence %d", p)
            .containsExactly(expected.get(p));
      }
    }
    assertThat(expected).allMatch(w -> w.length <= 16).anyMatch(w -> w.length == 16);
    assertThat(expected.stream().filter(w -> w.length == 1)).as("no one-token tail of a cut row").isEmpty();
    List<JsonNode> one = metrics(run.resolve("one"));
    List<JsonNode> two = metrics(run.resolve("two"));
    assertThat(one).hasSize(5);
    for (int s = 0; s < 5; s++) {
      assertThat(two.get(s).get("loss").asDouble()).as("step %d", s + 1)
          .isCloseTo(one.get(s).get("loss").asDouble(), within(1e-5));
      assertThat(one.get(s).get("tokens").asLong()).isEqualTo(two.get(s).get("tokens").asLong())
          .isLessThanOrEqualTo(4 * 16);
    }
    assertThat(one.get(4).get("val_loss").asDouble()).isFinite()
        .isCloseTo(two.get(4).get("val_loss").asDouble(), within(1e-5));
    long[][] validation = DistillJob.validation(SharedSpark.session(),
        settings(run.resolve("one"), shortTeacher, shortStudent, settings), 16);
    assertThat(java.util.Arrays.stream(validation).map(v -> v.length).toList())
        .as("the 40-token row as 16 + 16 + 8, the 5-token row whole")
        .containsExactlyInAnyOrder(16, 16, 8, 5);
  }

  /**
   * Rows are cut at the shorter of the student's and the teacher's contexts whichever way the teacher comes: the
   * online teacher's config, or the context a teacher-logits table records (a table that records none: the
   * student's).
   */
  @Test
  void theRowWindowIsTheShorterOfTheStudentsAndTheTeachersContext(@TempDir Path run) {
    assertThat(CONFIG.maxPositionEmbeddings()).isEqualTo(256);
    LlamaConfig shortContext = new LlamaConfig(48, 80, 2, 4, 2, 16, 96, 1e-5, 10000.0, null, 8, false, 1, 2,
        "float32");
    Path shortTeacher = run.resolve("teacher");
    TestModels.writeCheckpoint(shortTeacher, shortContext, TestModels.randomWeights(shortContext, 71), DType.F32);
    assertThat(DistillJob.rowWindow(settings(run, shortTeacher, student), CONFIG, null)).isEqualTo(8);

    DistillSettings fromTable = DistillSettings.from(CommandLine.parse(DistillSettings.SCHEMA, new String[] {"--run",
        run.toString(), "--student", student.toString(), "--tokens", tokens.toString(), "--set",
        "teacher-logits=" + run.resolve("teacher-logits")}));
    assertThat(DistillJob.rowWindow(fromTable, CONFIG, table(8))).as("the table's teacher ran on 8").isEqualTo(8);
    assertThat(DistillJob.rowWindow(fromTable, CONFIG, table(1024))).isEqualTo(256);
    assertThat(DistillJob.rowWindow(fromTable, CONFIG, table(0))).as("a table from before the field").isEqualTo(256);
  }

  private static TeacherLogitsManifest table(int teacherContext) {
    return new TeacherLogitsManifest("teacher", "fingerprint", CONFIG.vocabSize(), teacherContext, 8, 0,
        TopKLogits.Values.FLOAT16, tokens.toString(), "sha", 0.5, List.of());
  }

  @Test
  void aRerunResumesFromTheLastCheckpointAndEndsWithTheSameWeights(@TempDir Path run) throws IOException {
    distill(run.resolve("straight"), "world-size=1", "checkpoint-every=4");
    Path resumed = run.resolve("resumed");
    distill(resumed, "world-size=1", "checkpoint-every=4");
    // A second run on the same directory (as after a crash) resumes at step 4 and redoes steps 5-6.
    Files.delete(resumed.resolve("student/_COMMITTED"));
    assertThatThrownBy(() -> distill(resumed, "world-size=1", "checkpoint-every=4", "lr=1e-3"))
        .as("a checkpoint of other settings is not resumed")
        .hasMessageContaining("belongs to a run with other settings");
    List<String> summary = distill(resumed, "world-size=1", "checkpoint-every=4");
    assertThat(JSON.readTree(summary.get(0)).get("start_step").asInt()).isEqualTo(4);
    assertThat(metrics(resumed)).extracting(m -> m.get("step").asInt()).containsExactly(1, 2, 3, 4, 5, 6);
    try (CheckpointReader a = CheckpointReader.open(run.resolve("straight/student").toString());
        CheckpointReader b = CheckpointReader.open(resumed.resolve("student").toString())) {
      for (String name : a.tensorNames()) {
        assertThat(b.readFloats(name)).as(name).containsExactly(a.readFloats(name));
      }
    }
  }

  /**
   * The latest checkpoint is committed but corrupted (its weights file truncated): the driver and both ranks skip
   * it, both resume from the one before, and the run ends with the weights of a run that never stopped.
   */
  @Test
  void aCorruptedLatestCheckpointIsSkippedAndBothRanksResumeFromTheOneBefore(@TempDir Path run) throws IOException {
    String[] settings = {"world-size=2", "checkpoint-every=2"};
    distill(run.resolve("straight"), settings);
    Path resumed = run.resolve("resumed");
    distill(resumed, settings);
    Files.delete(resumed.resolve("student/_COMMITTED"));
    Path weights; // one of the weight files, which the two ranks wrote one each
    try (var files = Files.list(resumed.resolve("checkpoints/step-4/model"))) {
      weights = files.filter(f -> f.toString().endsWith(".safetensors")).sorted().findFirst().orElseThrow();
    }
    try (var file = java.nio.channels.FileChannel.open(weights, java.nio.file.StandardOpenOption.WRITE)) {
      file.truncate(file.size() / 2);
    }
    assertThatThrownBy(() -> TrainingCheckpoint.validate(Storage.of(resumed.toString()),
        resumed.resolve("checkpoints/step-4").toString())).hasMessageContaining(weights.getFileName().toString());

    List<String> summaries = distill(resumed, settings);
    assertThat(summaries).hasSize(2);
    for (String summary : summaries) {
      assertThat(JSON.readTree(summary).get("start_step").asInt()).as(summary).isEqualTo(2);
    }
    try (CheckpointReader a = CheckpointReader.open(run.resolve("straight/student").toString());
        CheckpointReader b = CheckpointReader.open(resumed.resolve("student").toString())) {
      for (String name : a.tensorNames()) {
        assertThat(b.readFloats(name)).as(name).containsExactly(a.readFloats(name));
      }
    }
  }

  /**
   * Spark kills rank 1 (as when an executor is preempted) once checkpoint 2 is committed: the ring fails rank 0
   * at once, Spark retries the barrier stage whole, and the retry resumes from the last checkpoint and ends with
   * the same losses and weights, bit for bit, as a run that never failed.
   */
  @ParameterizedTest(name = "shard-optimizer={0}")
  @ValueSource(booleans = {false, true})
  void aKilledRankFailsTheStageAndTheRetryResumesFromTheLastCheckpoint(boolean shardOptimizer, @TempDir Path run)
      throws Exception {
    String[] settings = {"world-size=2", "checkpoint-every=2", "steps=12", "shard-optimizer=" + shardOptimizer};
    distill(run.resolve("straight"), settings);
    Path retried = run.resolve("retried");
    SparkContext spark = SharedSpark.session().sparkContext();
    Map<Integer, Long> latestTaskOfPartition = new ConcurrentHashMap<>();
    SparkListener tasks = new SparkListener() {
      @Override
      public void onTaskStart(SparkListenerTaskStart start) {
        latestTaskOfPartition.put(start.taskInfo().index(), start.taskInfo().taskId());
      }
    };
    spark.addSparkListener(tasks);
    CompletableFuture<Void> killer = CompletableFuture.runAsync(() -> {
      Path committed = retried.resolve("checkpoints/step-2/_COMMITTED");
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (!Files.exists(committed) && System.nanoTime() < deadline) {
        Thread.onSpinWait();
      }
      // Only the barrier stage runs now, so partition 1's latest task is rank 1.
      spark.killTaskAttempt(latestTaskOfPartition.get(1), false, "test: rank 1 preempted");
    });
    List<String> summaries;
    try {
      summaries = distill(retried, settings);
      killer.join();
    } finally {
      spark.removeSparkListener(tasks);
    }
    for (String summary : summaries) {
      JsonNode rank = JSON.readTree(summary);
      assertThat(rank.get("stage_attempt").asInt()).as("retried once").isEqualTo(1);
      assertThat(rank.get("start_step").asInt()).as("resumed from a checkpoint").isGreaterThanOrEqualTo(2);
    }
    List<JsonNode> straightMetrics = metrics(run.resolve("straight"));
    List<JsonNode> retriedMetrics = metrics(retried);
    assertThat(retriedMetrics).extracting(m -> m.get("step").asInt())
        .containsExactly(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12);
    for (int s = 0; s < 12; s++) {
      assertThat(retriedMetrics.get(s).get("loss").asDouble()).as("loss of step %d", s + 1)
          .isEqualTo(straightMetrics.get(s).get("loss").asDouble());
    }
    try (CheckpointReader a = CheckpointReader.open(run.resolve("straight/student").toString());
        CheckpointReader b = CheckpointReader.open(retried.resolve("student").toString())) {
      for (String name : a.tensorNames()) {
        assertThat(b.readFloats(name)).as(name).containsExactly(a.readFloats(name));
      }
    }
  }

  /**
   * Checkpoints go to a storage that takes 6 s to create each weights file, on a ring whose ranks give up on a peer
   * after 4 s without progress: the ranks wait for the save in barriers of their own timeout
   * (checkpoint-timeout-seconds), so the run completes in its first attempt with the losses and weights of a run
   * on fast storage.
   */
  @ParameterizedTest(name = "shard-optimizer={0}")
  @ValueSource(booleans = {false, true})
  void aSaveSlowerThanTheCollectiveTimeoutDoesNotFailTheRun(boolean shardOptimizer, @TempDir Path run)
      throws IOException {
    org.apache.hadoop.conf.Configuration hadoop = SharedSpark.session().sparkContext().hadoopConfiguration();
    hadoop.set("fs.slow.impl", SlowFileSystem.class.getName());
    hadoop.setBoolean("fs.slow.impl.disable.cache", true);
    String[] settings = {"world-size=2", "checkpoint-every=3", "shard-optimizer=" + shardOptimizer};
    hadoop.setLong(SlowFileSystem.DELAY, 6000);
    distill(run.resolve("fast"), settings);
    Path slowCheckpoints = run.resolve("slow/checkpoints");
    long start = System.nanoTime();
    List<String> summaries = distill(run.resolve("slow"), with(settings, "collective-timeout-seconds=4",
        "checkpoints=slow://" + slowCheckpoints));
    assertThat((System.nanoTime() - start) / 1e9).as("seconds, the save was slow").isGreaterThan(6);
    for (String summary : summaries) { // a failed attempt would be retried, resuming from the slow checkpoint
      assertThat(JSON.readTree(summary).get("stage_attempt").asInt()).as("not retried: " + summary).isZero();
      assertThat(JSON.readTree(summary).get("start_step").asInt()).as(summary).isZero();
    }
    assertThat(slowCheckpoints.resolve("step-3/_COMMITTED")).exists();
    List<JsonNode> fast = metrics(run.resolve("fast"));
    List<JsonNode> slow = metrics(run.resolve("slow"));
    assertThat(slow).hasSameSizeAs(fast).hasSize(6);
    for (int s = 0; s < 6; s++) {
      assertThat(slow.get(s).get("loss").asDouble()).as("loss of step %d", s + 1)
          .isEqualTo(fast.get(s).get("loss").asDouble());
    }
    try (CheckpointReader a = CheckpointReader.open(run.resolve("fast/student").toString());
        CheckpointReader b = CheckpointReader.open(run.resolve("slow/student").toString())) {
      for (String name : a.tensorNames()) {
        assertThat(b.readFloats(name)).as(name).containsExactly(a.readFloats(name));
      }
    }
  }

  /**
   * A sharded run of 2 ranks resumed by 1 rank with 2 devices (another layout of the shards) and the gradients
   * sharded too: the optimizer state is re-sharded exactly, so the resumed steps match the uninterrupted 2-rank run
   * within float rounding.
   */
  @Test
  void aShardedCheckpointResumesOnAnotherWorldSize(@TempDir Path run) throws IOException {
    String[] settings = {"shard-optimizer=true", "checkpoint-every=4"};
    distill(run.resolve("straight"), with(settings, "world-size=2"));
    Path resumed = run.resolve("resumed");
    distill(resumed, with(settings, "world-size=2"));
    assertThat(resumed.resolve("checkpoints/step-4/optimizer/shard-1-of-2.safetensors")).exists();
    Files.delete(resumed.resolve("student/_COMMITTED"));
    List<String> summary = distill(resumed, with(settings, "world-size=1", "devices=cpu,cpu", "shard-gradients=true"));
    assertThat(JSON.readTree(summary.get(0)).get("start_step").asInt()).isEqualTo(4);
    List<JsonNode> straight = metrics(run.resolve("straight"));
    List<JsonNode> again = metrics(resumed);
    assertThat(again).extracting(m -> m.get("step").asInt()).containsExactly(1, 2, 3, 4, 5, 6);
    for (int s = 4; s < 6; s++) {
      assertThat(again.get(s).get("loss").asDouble()).as("loss of step %d", s + 1)
          .isCloseTo(straight.get(s).get("loss").asDouble(), within(1e-5));
    }
  }

  private static String[] with(String[] settings, String... more) {
    List<String> all = new ArrayList<>(List.of(settings));
    all.addAll(List.of(more));
    return all.toArray(String[]::new);
  }

  /**
   * The data order written once for the ranks to stream is the global sort by seeded hash (the order the job always
   * had), the same whatever the file layout, reused by a rerun and rebuilt for another seed.
   */
  @Test
  void theDataOrderIsTheSeededSortWrittenOnceAndIndependentOfTheFileLayout(@TempDir Path run) throws IOException {
    long[][] rows = new long[40][];
    java.util.Random random = new java.util.Random(47);
    for (int i = 0; i < rows.length; i++) {
      rows[i] = TestModels.randomTokens(1, 1 + random.nextInt(12), CONFIG.vocabSize(), 200 + i)[0];
    }
    rows[7] = rows[3].clone(); // a duplicate row
    Path twoFiles = run.resolve("two/train");
    TokenShardFiles.write(twoFiles, rows);
    Path fiveFiles = run.resolve("five/train");
    List<org.apache.spark.sql.Row> reversed = new ArrayList<>();
    for (int i = rows.length - 1; i >= 0; i--) {
      reversed.add(org.apache.spark.sql.RowFactory.create(
          java.util.Arrays.stream(rows[i]).mapToInt(v -> (int) v).boxed().toList()));
    }
    SharedSpark.session().createDataFrame(reversed, dev.distillery.jobs.tokenize.ParquetShards.SCHEMA).repartition(5)
        .write().parquet(fiveFiles.toString());
    var hadoop = dev.distillery.jobs.spark.HadoopConf.install(SharedSpark.session());

    String orderA = run.resolve("a").toString();
    String orderB = run.resolve("b").toString();
    OrderedSequences.Manifest a =
        DataOrderJob.prepare(SharedSpark.session(), hadoop, twoFiles.toString(), 9, orderA, 64);
    DataOrderJob.prepare(SharedSpark.session(), hadoop, fiveFiles.toString(), 9, orderB, 64);
    assertThat(a.sequences()).isEqualTo(40);
    List<long[]> sorted = DistillJob.ordered(SharedSpark.session(), twoFiles.toString(), 9).collect();
    List<long[]> streamedA = new ArrayList<>();
    List<long[]> streamedB = new ArrayList<>();
    try (OrderedSequences readA = OrderedSequences.open(dev.distillery.io.Storage.of(orderA), orderA);
        OrderedSequences readB = OrderedSequences.open(dev.distillery.io.Storage.of(orderB), orderB)) {
      for (long p = 0; p < 40; p++) {
        streamedA.add(java.util.Arrays.stream(readA.get(p)).asLongStream().toArray());
        streamedB.add(java.util.Arrays.stream(readB.get(p)).asLongStream().toArray());
      }
    }
    assertThat(streamedA).containsExactlyElementsOf(sorted);
    assertThat(streamedB).as("five files, rows reversed").containsExactlyElementsOf(sorted);

    Path manifest = run.resolve("a").resolve(OrderedSequences.MANIFEST);
    long written = Files.getLastModifiedTime(manifest).toMillis();
    Files.setLastModifiedTime(manifest, java.nio.file.attribute.FileTime.fromMillis(written - 60_000));
    DataOrderJob.prepare(SharedSpark.session(), hadoop, twoFiles.toString(), 9, orderA, 64);
    assertThat(Files.getLastModifiedTime(manifest).toMillis()).as("reused, not rewritten").isEqualTo(written - 60_000);
    OrderedSequences.Manifest reseeded =
        DataOrderJob.prepare(SharedSpark.session(), hadoop, twoFiles.toString(), 10, orderA, 64);
    assertThat(reseeded.source()).isNotEqualTo(a.source());
    try (OrderedSequences read = OrderedSequences.open(dev.distillery.io.Storage.of(orderA), orderA)) {
      assertThat(java.util.Arrays.stream(read.get(0)).asLongStream().toArray())
          .containsExactly(DistillJob.ordered(SharedSpark.session(), twoFiles.toString(), 10).first());
    }
  }

  /**
   * A token id outside the vocabulary fails the barrier stage at once with that one line: no stage attempt after
   * the first (Spark would otherwise retry the barrier stage up to spark.stage.maxConsecutiveAttempts times).
   */
  @Test
  void aCorruptRowFailsAtOnceWithoutBarrierStageRetries(@TempDir Path run) throws Exception {
    long[][] rows = TestModels.randomTokens(8, 17, CONFIG.vocabSize(), 48);
    rows[5][9] = CONFIG.vocabSize() + 5;
    Path corrupt = run.resolve("corrupt-tokens");
    TokenShardFiles.write(corrupt.resolve("train"), rows);
    TokenShardFiles.write(corrupt.resolve("valid"), TestModels.randomTokens(2, 17, CONFIG.vocabSize(), 49));
    SparkContext spark = SharedSpark.session().sparkContext();
    List<Integer> laterAttempts = new java.util.concurrent.CopyOnWriteArrayList<>();
    SparkListener stages = new SparkListener() {
      @Override
      public void onStageSubmitted(org.apache.spark.scheduler.SparkListenerStageSubmitted submitted) {
        if (submitted.stageInfo().attemptNumber() > 0) {
          laterAttempts.add(submitted.stageInfo().stageId());
        }
      }
    };
    spark.addSparkListener(stages);
    Throwable failure;
    try {
      failure = org.assertj.core.api.Assertions.catchThrowable(() -> distill(run.resolve("run"), "world-size=2",
          "tokens=" + corrupt, "steps=2", "checkpoint-every=1"));
      Thread.sleep(1000); // longer than Spark's 200 ms delay before it resubmits a failed stage
    } finally {
      spark.removeSparkListener(stages);
    }
    assertThat(failure).isNotNull();
    assertThat(dev.distillery.jobs.spark.TaskFailures.oneLine(failure)).isEqualTo(corrupt.resolve("train")
        + ": input_ids holds token id " + (CONFIG.vocabSize() + 5) + " at position 9 (a row of step "
        + oneBasedStepOf(rows[5], corrupt) + "), outside the student's vocab_size " + CONFIG.vocabSize()
        + " (config.json); were the shards tokenized with another tokenizer?");
    assertThat(laterAttempts).as("stages submitted again").isEmpty();
  }

  /** The step (global batch 4) in which the data order puts {@code row}. */
  private static int oneBasedStepOf(long[] row, Path tokens) {
    List<long[]> order = DistillJob.ordered(SharedSpark.session(), tokens.resolve("train").toString(), 1234).collect();
    for (int p = 0; p < order.size(); p++) {
      if (java.util.Arrays.equals(order.get(p), row)) {
        return p / 4 + 1;
      }
    }
    throw new AssertionError("row not found");
  }

  @Test
  void badSettingsAndInputsAreNamed(@TempDir Path run) throws IOException {
    assertThatThrownBy(() -> distill(run, "global-batch=5"))
        .hasMessageContaining("global-batch 5 must be a multiple of world-size × micro-batch (1 × 2)");
    assertThatThrownBy(() -> distill(run, "tokens=" + run.resolve("none")))
        .hasMessageContaining("training shards not found: " + run.resolve("none/train"));
    Path uncommitted = Files.createDirectories(run.resolve("uncommitted-tokens"));
    TokenShardFiles.write(uncommitted.resolve("train"), TestModels.randomTokens(4, 17, CONFIG.vocabSize(), 45));
    writeText(uncommitted.resolve(Storage.MANIFEST), "{\"format\": \"distillery-tokens/1\"}");
    assertThatThrownBy(() -> distill(run, "tokens=" + uncommitted))
        .hasMessageStartingWith(uncommitted + " (the output holding the shards " + uncommitted.resolve("train")
            + ") is not committed (no _COMMITTED)");
    assertThatThrownBy(() -> distill(run, "global-batch=32", "micro-batch=1"))
        .hasMessageContaining("24 training sequences, fewer than one global batch (32)");
    long start = System.nanoTime();
    assertThatThrownBy(() -> distill(run, "world-size=3", "global-batch=6"))
        .hasMessageContaining("world-size 3 needs 3 barrier tasks running at once, but the cluster (local[2], "
            + "spark.task.cpus=1) offers 2 task slots");
    assertThat((System.nanoTime() - start) / 1_000_000).as("fails at once, no barrier slot retries").isLessThan(10_000);
    assertThatThrownBy(() -> distill(run, "world-size=2", "devices=cpu,cpu"))
        .hasMessageContaining("option 'devices' (cpu,cpu): 2 devices per rank, but global-batch / (world-size × "
            + "micro-batch) gives each rank only 1 micro-batch(es) per step");
    assertThatThrownBy(() -> distill(run, "shard-optimizer=true", "world-size=8", "devices=cpu,cpu",
        "global-batch=16", "micro-batch=1"))
        .as("16 replicas of a %d-parameter student", CONFIG.parameterCount())
        .hasMessageContaining("option 'shard-optimizer': world-size 8 x 2 devices per rank = 16 replicas would "
            + "each own the optimizer state of " + CONFIG.parameterCount() / 16 + " of the model's")
        .hasMessageContaining("use fewer replicas or shard-optimizer=false");
    assertThatThrownBy(() -> distill(run, "shard-gradients=true"))
        .hasMessageContaining("option 'shard-gradients' needs 'shard-optimizer' true");
    assertThatThrownBy(() -> distill(run, "shard-gradients=true", "shard-optimizer=true", "recompute-layers=false"))
        .hasMessageContaining("option 'shard-gradients' needs 'recompute-layers' true");
    assertThatThrownBy(() -> distill(run, "devices=gpu0,tpu1"))
        .hasMessageContaining("option 'devices': value 'gpu0,tpu1' is not allowed, expected auto or a comma list of "
            + "cpu, gpu, gpuN or gpu:N");
    assertThatThrownBy(() -> distill(run, "hidden-weight=1"))
        .hasMessageContaining("hidden-weight > 0 needs 'hidden-layer-map' and a 'teacher'");
    assertThatThrownBy(() -> distill(run, "hidden-weight=1", "hidden-layer-map=0:0,1"))
        .hasMessageContaining("layer map entry '1' is not student:teacher");
  }

  @Test
  void aTeacherWithPaddedVocabDistilsOnlyWithTheStudentsTokenizer(@TempDir Path dir) throws IOException {
    LlamaConfig studentConfig = TestModels.qwen2Config(false);
    LlamaConfig teacherConfig = new LlamaConfig(48, 80, 2, 6, 2, 8, studentConfig.vocabSize() + 32, 1e-6, 1e6, null,
        256, false, 1, 2, "float32", studentConfig.architecture());
    Path paddedTeacher = dir.resolve("qwen-teacher");
    Path qwenStudent = dir.resolve("qwen-student");
    TestModels.writeCheckpoint(paddedTeacher, teacherConfig, TestModels.randomWeights(teacherConfig, 45), DType.F32);
    TestModels.writeCheckpoint(qwenStudent, studentConfig, TestModels.randomWeights(studentConfig, 46), DType.BF16);
    String tokenizer = "{\"model\": {\"vocab\": {\"a\": 0}}}";
    Files.writeString(paddedTeacher.resolve("tokenizer.json"), tokenizer);
    Files.writeString(qwenStudent.resolve("tokenizer.json"), tokenizer);

    List<String> summaries = distill(dir.resolve("run"), paddedTeacher, qwenStudent);
    assertThat(summaries).hasSize(1);
    List<JsonNode> steps = metrics(dir.resolve("run")).stream().filter(m -> m.has("loss")).toList();
    assertThat(steps).isNotEmpty();
    assertThat(steps.get(steps.size() - 1).get("loss").asDouble()).as("KD over the common ids trains")
        .isLessThan(steps.get(0).get("loss").asDouble());
    try (CheckpointReader trained = CheckpointReader.open(dir.resolve("run/student").toString())) {
      assertThat(trained.config().vocabSize()).isEqualTo(studentConfig.vocabSize());
      assertThat(trained.tensorNames()).contains("model.layers.0.self_attn.q_proj.bias");
    }

    Files.writeString(qwenStudent.resolve("tokenizer.json"), "{\"model\": {\"vocab\": {\"b\": 0}}}");
    assertThatThrownBy(() -> distill(dir.resolve("run2"), paddedTeacher, qwenStudent))
        .hasMessageContaining("has vocab_size 128 but student " + qwenStudent + " has 96")
        .hasMessageContaining("their tokenizer.json differ");
    Files.delete(qwenStudent.resolve("tokenizer.json"));
    assertThatThrownBy(() -> distill(dir.resolve("run3"), paddedTeacher, qwenStudent))
        .hasMessageContaining("cannot be shown to share a tokenizer");
  }

  private static List<String> distill(Path run, String... overrides) {
    return distill(run, teacher, student, overrides);
  }

  private static List<String> distill(Path run, Path teacher, Path student, String... overrides) {
    return DistillJob.run(SharedSpark.session(), settings(run, teacher, student, overrides));
  }

  private static DistillSettings settings(Path run, Path teacher, Path student, String... overrides) {
    List<String> args = new ArrayList<>(List.of("--run", run.toString(), "--teacher", teacher.toString(),
        "--student", student.toString(), "--tokens", tokens.toString(), "--steps", "6", "--global-batch", "4",
        "--micro-batch", "2", "--lr", "3e-3", "--warmup-steps", "1", "--validate-every", "3",
        "--chunk-tokens", "20"));
    for (String o : overrides) {
      args.add("--set");
      args.add(o);
    }
    return DistillSettings.from(CommandLine.parse(DistillSettings.SCHEMA, args.toArray(String[]::new)));
  }

  private static void writeText(Path path, String text) {
    try {
      Files.writeString(path, text);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static List<JsonNode> metrics(Path run) throws IOException {
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("metrics/distill.jsonl"))) {
      lines.add(JSON.readTree(line));
    }
    return lines;
  }
}
