package dev.distillery.jobs.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.distillery.cli.Distillery;
import dev.distillery.distill.TrainingCheckpoint;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Storage;
import dev.distillery.jobs.s3.S3Proxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sample pipeline, shrunk, on a Spark standalone cluster of separate JVMs ({@code submit-scripts/local-cluster}:
 * a Master, two Workers, one executor JVM each, the driver under SparkSubmit with the cluster jar), with every
 * barrier stage at world-size 2, so the ring runs between two executor processes. The run directory, corpus and
 * tokenizer are on {@code s3a://} (s3proxy on loopback), its endpoint and keys given the Spark way
 * ({@code --conf spark.hadoop.fs.s3a.*} after {@code --}). Needs the cluster jar ({@code mvn -B -DskipTests package}
 * first; {@code .ci/run} runs this after its build).
 */
@Tag("cluster")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterRunTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  /** The killed run's checkpoints: often, so rank 1 dies mid-run. */
  private static final int CHECKPOINT_EVERY = 5;
  /** The unbroken run's: one checkpoint (each costs seconds on S3); the cadence does not change the numbers. */
  private static final int UNBROKEN_CHECKPOINT_EVERY = 40;
  private static final String BUCKET = "distillery";
  private static final String RUN = "s3a://" + BUCKET + "/run";
  private static final Path CORPUS = LocalCluster.ROOT.resolve("data-samples/wikitext-2-valid-sample.txt");
  private static final Path TOKENIZER = LocalCluster.ROOT.resolve("data-samples/tokenizer.json");

  private Path dir;
  private Path cluster;
  /** Every object s3proxy holds, as its filesystem backend keeps them. */
  private Path objects;
  /** The objects of the cluster run's directory, {@link #RUN}. */
  private Path run;
  private S3Proxy s3;
  private String accessKey;
  private String secretKey;
  private LocalCluster.Result unbroken;

  @BeforeAll
  void runThePipelineOnTheCluster(@TempDir Path dir) throws Exception {
    LocalCluster.requireFreshJar();
    this.dir = dir;
    accessKey = "AKIA" + UUID.randomUUID().toString().replace("-", "").substring(0, 16).toUpperCase();
    secretKey = UUID.randomUUID() + "/" + UUID.randomUUID();
    objects = Files.createDirectories(dir.resolve("objects"));
    s3 = S3Proxy.start(objects, dir, accessKey, secretKey);
    run = s3.bucketDir(BUCKET).resolve("run");
    String corpus = "s3a://" + BUCKET + "/inputs/corpus.txt";
    String tokenizer = "s3a://" + BUCKET + "/inputs/tokenizer.json";
    Storage upload = s3.storage("s3a://" + BUCKET);
    upload.writeText(corpus, Files.readString(CORPUS));
    upload.writeText(tokenizer, Files.readString(TOKENIZER));
    Path pipeline = pipeline(dir.resolve("cluster-run.yaml"), RUN, corpus, tokenizer, UNBROKEN_CHECKPOINT_EVERY);
    List<String> s3Options = new ArrayList<>(List.of("--")); // to spark-submit-distillery: the Spark way, not --s3
    s3.sparkSettings().forEach((key, value) -> s3Options.addAll(List.of("--conf", key + "=" + value)));
    cluster = dir.resolve("cluster");
    unbroken = LocalCluster.run(pipeline, cluster, Duration.ofMinutes(7), LocalCluster.Watch.NONE,
        s3Options.toArray(String[]::new));
    assertThat(unbroken.exit()).as(unbroken.output()).isZero();
  }

  @AfterAll
  void stopS3() throws InterruptedException {
    if (s3 != null) {
      s3.close();
    }
  }

  /** A local run's pipeline: its directory, the sample corpus and tokenizer all on local disk. */
  private static Path localPipeline(Path run, int checkpointEvery) throws IOException {
    return pipeline(run.resolveSibling(run.getFileName() + ".yaml"), run.toString(), CORPUS.toString(),
        TOKENIZER.toString(), checkpointEvery);
  }

  /** conf/sample.yaml with every size and step count shrunk to seconds, and two ranks in every training stage. */
  private static Path pipeline(Path file, String run, String corpus, String tokenizer, int checkpointEvery)
      throws IOException {
    ObjectNode sample = (ObjectNode) YAML.readTree(LocalCluster.ROOT.resolve("conf/sample.yaml").toFile());
    merge(sample, YAML.readTree("""
        run: %s
        corpus: %s
        tokenizer: %s
        tokenize: {seq-length: 16, valid-fraction: 0.3}
        teacher-init: {hidden-size: 32, intermediate-size: 64, layers: 2, heads: 2, kv-heads: 1, head-dim: 16}
        teacher-training: {steps: 6, global-batch: 4, micro-batch: 2, world-size: 2, warmup-steps: 1, validate-every: 2}
        calibrate: {samples: 8, seq-length: 16, batch-size: 4, partitions: 2}
        plan: {target: {hidden-size: 16, ffn-size: 32}, hidden-multiple: 8, ffn-multiple: 16}
        distill: {steps: 80, global-batch: 4, micro-batch: 2, world-size: 2, validate-every: 10, checkpoint-every: %d}
        scratch: {micro-batch: 2, world-size: 2}
        evaluate: {max-sequences: 8, max-new: 3}
        """.formatted(run, corpus, tokenizer, checkpointEvery)));
    YAML.writeValue(file.toFile(), sample);
    return file;
  }

  private static void merge(ObjectNode into, JsonNode changes) {
    changes.fields().forEachRemaining(change -> {
      if (into.get(change.getKey()) instanceof ObjectNode section && change.getValue().isObject()) {
        merge(section, change.getValue());
      } else {
        into.set(change.getKey(), change.getValue());
      }
    });
  }

  @Test
  void everyBarrierStageRunsOneRankPerExecutorJvmAndTheLossesEqualLocalMode() throws Exception {
    List<LocalCluster.Executor> executors = LocalCluster.executors(cluster);
    assertThat(executors).as("executor JVMs").hasSize(2);
    for (LocalCluster.Executor executor : executors) {
      // teacher-training, distill, scratch: one rank of each in each executor JVM
      assertThat(executor.ranks()).as(executor.dir() + " ranks").hasSize(3);
    }
    assertThat(unbroken.output()).doesNotContain("skipped: committed");

    Path local = dir.resolve("local-run");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    String config = localPipeline(local, UNBROKEN_CHECKPOINT_EVERY).toString();
    int status = Distillery.standard().run(new String[] {"pipeline", "--config", config},
        new PrintStream(out, true, StandardCharsets.UTF_8), System.err);
    assertThat(status).as(out.toString(StandardCharsets.UTF_8)).isZero();

    for (String metrics : List.of("teacher.jsonl", "distill.jsonl", "scratch.jsonl")) {
      List<JsonNode> onCluster = lines(run.resolve("metrics/" + metrics));
      List<JsonNode> inLocalMode = lines(local.resolve("metrics/" + metrics));
      assertThat(onCluster).as(metrics).hasSameSizeAs(inLocalMode).isNotEmpty();
      for (int i = 0; i < onCluster.size(); i++) {
        for (String field : List.of("loss", "val_loss")) {
          if (inLocalMode.get(i).has(field)) {
            assertThat(onCluster.get(i).path(field).asDouble()).as(metrics + " step " + (i + 1) + " " + field)
                .isCloseTo(inLocalMode.get(i).get(field).asDouble(), within(1e-5));
          }
        }
      }
    }
  }

  @Test
  void calibrateRanOnBothExecutorsAndEvaluationsAndReportAreCommittedOnS3() throws Exception {
    List<LocalCluster.Executor> executors = LocalCluster.executors(cluster);
    assertThat(executors).as("executor JVMs").hasSize(2);
    for (LocalCluster.Executor executor : executors) {
      assertThat(executor.log()).as(executor.dir() + " ran a calibrate task").containsPattern(
          "Calibration task: \\d+ samples");
    }

    Storage storage = s3.storage(RUN); // read back through the S3 API, as the next user of the run would
    for (String name : List.of("teacher", "pruned", "distilled", "scratch")) {
      String file = RUN + "/eval/" + name + ".json";
      assertThat(storage.exists(file)).as(file).isTrue();
      JsonNode evaluation = JSON.readTree(storage.readText(file));
      assertThat(evaluation.get("name").asText()).as(file).isEqualTo(name);
      assertThat(evaluation.get("checkpoint").asText()).as(file).startsWith(RUN + "/");
      assertThat(evaluation.get("perplexity").asDouble()).as(file).isPositive().isFinite();
    }
    String checkpoint = TrainingCheckpoint.pathFor(RUN + "/checkpoints", UNBROKEN_CHECKPOINT_EVERY);
    assertThat(storage.isCommitted(checkpoint)).as(checkpoint + " committed").isTrue();
    assertThat(storage.isCommitted(RUN + "/report")).as(RUN + "/report committed").isTrue();
    assertThat(storage.readText(RUN + "/report/index.html")).contains("distilled");
  }

  @Test
  void neitherS3KeyAppearsInTheDriverOutputTheClusterLogsOrAnyObject() throws IOException {
    assertThat(unbroken.output()).doesNotContain(accessKey).doesNotContain(secretKey);
    List<Path> logs;
    try (Stream<Path> all = Files.walk(cluster)) {
      logs = all.filter(Files::isRegularFile).filter(p -> p.getFileName().toString().matches("stderr|stdout|.*\\.log"))
          .toList();
    }
    assertThat(logs).as("the Master's, Workers' and executors' logs").contains(cluster.resolve("master.log"))
        .containsAll(LocalCluster.executors(cluster).stream().map(e -> e.dir().resolve("stderr")).toList());
    List<Path> written;
    try (Stream<Path> all = Files.walk(objects)) {
      written = all.filter(Files::isRegularFile).toList();
    }
    assertThat(written).as("objects").contains(run.resolve("metrics/distill.jsonl"), run.resolve("report/index.html"));
    for (Path file : Stream.concat(logs.stream(), written.stream()).toList()) {
      String text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
      assertThat(text).as(file.toString()).doesNotContain(accessKey).doesNotContain(secretKey);
    }
  }

  @Test
  void aKilledExecutorOfRankOneResumesBothRanksFromTheCommittedCheckpoint() throws Exception {
    // The unbroken run's outputs but distill's (and what is made from them): the pipeline skips the rest as committed.
    // It runs on local disk (a copy of the S3 run's objects), where the test can see checkpoint N's commit marker.
    Path broken = dir.resolve("killed-run");
    copy(run, broken);
    for (String output : List.of("student", "checkpoints", "metrics/distill.jsonl", "eval/distilled.json", "report")) {
      delete(broken.resolve(output));
    }
    Path config = localPipeline(broken, CHECKPOINT_EVERY);
    String firstCheckpoint = TrainingCheckpoint.pathFor(broken.resolve("checkpoints").toString(), CHECKPOINT_EVERY);
    AtomicInteger killedAfter = new AtomicInteger(-1);
    Path work = dir.resolve("cluster-killed");
    LocalCluster.Result result = LocalCluster.run(config, work, Duration.ofMinutes(5), executors -> {
      if (killedAfter.get() < 0 && Files.exists(Path.of(firstCheckpoint, Storage.COMMIT_MARKER))) {
        LocalCluster.Executor rankOne = executors.stream().filter(e -> e.ranRank(1, 0)).findFirst().orElseThrow();
        rankOne.process().orElseThrow(() -> new AssertionError("no live JVM for " + rankOne)).destroyForcibly();
        killedAfter.set(CHECKPOINT_EVERY);
      }
    });
    assertThat(result.exit()).as(result.output()).isZero();
    assertThat(killedAfter.get()).as("rank 1's executor was killed").isEqualTo(CHECKPOINT_EVERY);
    assertThat(LocalCluster.executors(work)).as("a fresh executor replaced the killed one").hasSizeGreaterThan(2);

    List<JsonNode> summaries = distillSummaries(result.output());
    assertThat(summaries).hasSize(2);
    int resumedAt = summaries.get(0).get("start_step").asInt();
    for (JsonNode rank : summaries) {
      assertThat(rank.get("stage_attempt").asInt()).as("the retried stage attempt").isPositive();
      assertThat(rank.get("start_step").asInt()).as("both ranks resume from one checkpoint").isEqualTo(resumedAt);
    }
    assertThat(resumedAt).isGreaterThanOrEqualTo(CHECKPOINT_EVERY).isLessThan(80).isEqualTo(
        resumedAt / CHECKPOINT_EVERY * CHECKPOINT_EVERY);

    assertThat(Files.readAllBytes(broken.resolve("student/model.safetensors"))).as("final weights, bit for bit")
        .isEqualTo(Files.readAllBytes(run.resolve("student/model.safetensors")));
    assertThat(lines(broken.resolve("metrics/distill.jsonl"))).as("per-step metrics")
        .extracting(line -> line.get("loss").asDouble())
        .containsExactlyElementsOf(lines(run.resolve("metrics/distill.jsonl")).stream()
            .map(line -> line.get("loss").asDouble()).toList());

    // Whatever says committed is whole: every committed checkpoint reads back completely.
    Storage storage = Storage.of(broken.toString());
    for (Path committed : committedDirectories(broken.resolve("checkpoints"))) {
      String checkpoint = committed.toString();
      assertThat(TrainingCheckpoint.readState(storage, checkpoint).step()).isPositive();
      try (CheckpointReader model = TrainingCheckpoint.model(storage, checkpoint)) {
        for (String tensor : model.tensorNames()) {
          assertThat(model.readFloats(tensor)).as(checkpoint + " " + tensor).isNotEmpty();
        }
      }
    }
  }

  /** The rank summaries the driver logged for the distill stage (the first barrier stage of the killed run). */
  private static List<JsonNode> distillSummaries(String output) throws IOException {
    String line = output.lines().filter(l -> l.contains("distill finished: [")).findFirst().orElseThrow();
    String list = line.substring(line.indexOf('[') + 1, line.lastIndexOf(']'));
    List<JsonNode> nodes = new ArrayList<>();
    for (String summary : list.split("(?<=\\}), ")) {
      nodes.add(JSON.readTree(summary));
    }
    return nodes;
  }

  private static List<JsonNode> lines(Path jsonl) throws IOException {
    List<JsonNode> nodes = new ArrayList<>();
    for (String line : Files.readAllLines(jsonl)) {
      if (!line.isBlank()) {
        nodes.add(JSON.readTree(line));
      }
    }
    return nodes;
  }

  private static List<Path> committedDirectories(Path root) throws IOException {
    try (Stream<Path> all = Files.walk(root)) {
      return all.filter(p -> p.getFileName().toString().equals(Storage.COMMIT_MARKER)).map(Path::getParent)
          .filter(p -> p.getFileName().toString().matches("step-\\d+"))
          .sorted(Comparator.naturalOrder()).toList();
    }
  }

  private static void delete(Path path) throws IOException {
    try (Stream<Path> all = Files.walk(path)) {
      for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : all.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.createDirectories(target.getParent());
          Files.copy(p, target);
        }
      }
    }
  }
}
