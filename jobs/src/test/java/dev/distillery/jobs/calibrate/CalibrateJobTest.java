package dev.distillery.jobs.calibrate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.distillery.importance.ActivationCollector;
import dev.distillery.importance.Aggregation;
import dev.distillery.importance.ImportanceScores;
import dev.distillery.io.DType;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.prune.PrunePlan;
import dev.distillery.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CalibrateJobTest {
  private static final int SEQ = 16;
  private static final int ROWS = 6;

  private final SparkSession spark = SharedSpark.session();
  private final LlamaConfig config = TestModels.gqaConfig();
  private final Map<String, float[]> weights = TestModels.randomWeights(config, 11);

  @Test
  void sparkStatisticsEqualASingleProcessOverTheSameSamples(@TempDir Path dir) throws Exception {
    Path teacher = teacher(dir);
    Path run = dir.resolve("run");
    long[][] tokens = TestModels.randomTokens(ROWS, SEQ + 1, config.vocabSize(), 3);
    TokenShardFiles.write(run.resolve("tokens/train"), tokens);
    writeManifest(run, Fingerprints.sha256(Storage.of(dir.toString()), teacher.resolve("tokenizer.json").toString()),
        config.vocabSize());

    ImportanceScores scores = new CalibrateJob(spark, settings(run, teacher, ROWS, 2)).run();

    ImportanceScores reference = singleProcess(teacher, tokens);
    assertClose(scores.channels(), reference.channels());
    assertClose(scores.blockImportance(), reference.blockImportance());
    for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
      assertClose(scores.heads()[layer], reference.heads()[layer]);
      assertClose(scores.neurons()[layer], reference.neurons()[layer]);
    }
    assertThat(scores.info().samples()).isEqualTo(ROWS);
    assertThat(scores.info().tokens()).isEqualTo((long) ROWS * SEQ);
    assertThat(scores.layerLoss().baseline()).isGreaterThan(0);
    assertThat(scores.layerLoss().blocks().get(1)).hasSize(2);
    Path out = run.resolve("importance");
    assertThat(out.resolve("_COMMITTED")).exists();
    assertThat(out.resolve("importance.png")).isNotEmptyFile();
    ImportanceScores written = ImportanceScores.fromJson(Files.readString(out.resolve("importance.json")), "json");
    assertThat(written.info().teacherSha256()).hasSize(64);
    assertThat(written.info().batchAggregation()).isEqualTo(Aggregation.L2);

    int status = dev.distillery.cli.CliRunner.run("plan", "--run", run.toString(), "--target.hidden-size", "32",
        "--target.ffn-size", "64", "--target.layers", "1", "--target.kv-heads", "1");
    assertThat(status).isZero();
    PrunePlan plan = PrunePlan.fromJson(Files.readString(run.resolve("prune-plan.json")), "prune-plan.json");
    assertThat(plan.target().hiddenSize()).isEqualTo(32);
    assertThat(plan.layers()).hasSize(1);
    assertThat(plan.target().numKeyValueHeads()).isEqualTo(1);
    assertThat(plan.layers().get(0).queryHeads()).hasSize(2); // the kept group's two query heads
    assertThat(run.resolve("prune-plan.md")).content().contains("| parameters |").contains("| KV heads | 2 | 1 |");
  }

  @Test
  void documentRowsOfAnyLengthAreCalibratedAtTheirOwnLength(@TempDir Path dir) throws Exception {
    Path teacher = teacher(dir);
    Path run = dir.resolve("run");
    int[] lengths = {3, 7, SEQ, SEQ + 9, 5, 7, 2, 30};
    long[][] tokens = new long[lengths.length][];
    for (int i = 0; i < lengths.length; i++) {
      tokens[i] = TestModels.randomTokens(1, lengths[i], config.vocabSize(), 20 + i)[0];
    }
    TokenShardFiles.write(run.resolve("tokens/train"), tokens);
    Files.writeString(run.resolve("tokens/manifest.json"), "{\"format\": \"distillery-tokens/1\", \"packing\": "
        + "\"documents\", \"seq_length\": 4, \"tokenizer\": {\"vocab_size\": " + config.vocabSize() + "}}");
    Files.writeString(run.resolve("tokens/_COMMITTED"), "");

    ImportanceScores scores = new CalibrateJob(spark, settings(run, teacher, lengths.length, 3)).run();

    // Reference: each row alone, cut at seq-len; per-sample statistics do not depend on the batching.
    long[][] samples = Arrays.stream(tokens).map(r -> Arrays.copyOf(r, Math.min(r.length, SEQ)))
        .toArray(long[][]::new);
    ImportanceScores reference;
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        ActivationCollector collector = new ActivationCollector(model, Aggregation.MEAN);
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      for (long[] sample : samples) {
        collector.observe(manager.create(new long[][] {sample}));
      }
      reference = ImportanceScores.fromStatistics(collector.statistics(), Aggregation.L2, teacher.toString(), "",
          config);
    }
    assertClose(scores.channels(), reference.channels());
    assertClose(scores.blockImportance(), reference.blockImportance());
    for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
      assertClose(scores.heads()[layer], reference.heads()[layer]);
      assertClose(scores.neurons()[layer], reference.neurons()[layer]);
    }
    assertThat(scores.info().samples()).isEqualTo(lengths.length);
    assertThat(scores.info().tokens()).isEqualTo(Arrays.stream(samples).mapToLong(r -> r.length).sum());
    assertThat(scores.layerLoss().baseline()).isGreaterThan(0);
  }

  @Test
  void weightMagnitudesNeedNoTokens(@TempDir Path dir) {
    Path teacher = teacher(dir);
    CalibrationSettings s = settings(dir.resolve("run"), teacher, 1, 1);
    CalibrationSettings weightsOnly = new CalibrationSettings(s.run(), s.teacher(), null, s.tokens(), true, 1, SEQ, 1, 0,
        Aggregation.MEAN, Aggregation.L2, false, 0, Set.of(), false);

    ImportanceScores scores = new CalibrateJob(spark, weightsOnly).run();

    assertThat(scores.info().method()).isEqualTo("weights");
    assertThat(dir.resolve("run/importance/importance.json")).exists();
  }

  @Test
  void badInputsAreClearErrors(@TempDir Path dir) throws Exception {
    Path teacher = teacher(dir);
    Path run = dir.resolve("run");
    TokenShardFiles.write(run.resolve("tokens/train"), TestModels.randomTokens(ROWS, SEQ + 1, config.vocabSize(), 3));

    writeManifest(run, "0".repeat(64), config.vocabSize());
    Files.delete(run.resolve("tokens/_COMMITTED"));
    assertThatThrownBy(() -> new CalibrateJob(spark, settings(run, teacher, ROWS, 0)).run())
        .hasMessage(run.resolve("tokens") + " (the output holding the shards " + run.resolve("tokens/train")
            + ") is not committed (no _COMMITTED): the stage writing it was interrupted and it may be partial; "
            + "rerun the stage that writes it");
    Files.writeString(run.resolve("tokens/_COMMITTED"), "");
    assertThatThrownBy(() -> new CalibrateJob(spark, settings(run, teacher, ROWS, 0)).run())
        .hasMessageContaining(run.resolve("tokens/manifest.json") + ": tokenizer.sha256 is 0000")
        .hasMessageContaining("different tokenizer");

    Files.delete(run.resolve("tokens/manifest.json"));
    assertThatThrownBy(() -> new CalibrateJob(spark, settings(run, teacher, 100, 0)).run())
        .hasMessageContaining("holds 6 sequences (rows of input_ids), fewer than samples=100");

    long[][] foreign = TestModels.randomTokens(2, SEQ + 1, config.vocabSize(), 3);
    foreign[1][4] = 500;
    Path other = dir.resolve("other");
    TokenShardFiles.write(other.resolve("tokens/train"), foreign);
    assertThatThrownBy(() -> new CalibrateJob(spark, settings(other, teacher, 2, 0)).run())
        .hasMessageContaining(".parquet: input_ids holds token id 500 at position 4, outside the teacher's "
            + "vocab_size 96");

    Path mismatched = dir.resolve("mismatched");
    TestModels.writeCheckpoint(mismatched, config, weights, DType.F32);
    Files.writeString(mismatched.resolve("config.json"),
        config.withShape(48, 96, 2, 4, 2, 16).toJson());
    assertThatThrownBy(() -> new CalibrateJob(spark, settings(run, mismatched, ROWS, 0)).run())
        .hasMessageContaining("tensor 'model.layers.0.mlp.gate_proj.weight' has shape [80, 48], but config.json "
            + "requires [96, 48]");
  }

  private ImportanceScores singleProcess(Path teacher, long[][] rows) {
    long[][] samples = Arrays.stream(rows).map(r -> Arrays.copyOf(r, SEQ)).toArray(long[][]::new);
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        ActivationCollector collector = new ActivationCollector(model, Aggregation.MEAN);
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      collector.observe(manager.create(samples));
      return ImportanceScores.fromStatistics(collector.statistics(), Aggregation.L2, teacher.toString(), "", config);
    }
  }

  private CalibrationSettings settings(Path run, Path teacher, int samples, int lossSamples) {
    return new CalibrationSettings(run.toString(), teacher.toString(), null, run.resolve("tokens/train").toString(),
        false, samples, SEQ, 2, 3, Aggregation.MEAN, Aggregation.L2, false, lossSamples, Set.of(), false);
  }

  private Path teacher(Path dir) {
    Path teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, config, weights, DType.F32);
    try {
      Files.writeString(teacher.resolve("tokenizer.json"), "{\"model\": \"test tokenizer\"}");
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    return teacher;
  }


  private static void writeManifest(Path run, String sha, int vocab) throws Exception {
    Files.writeString(run.resolve("tokens/manifest.json"), "{\"format\": \"distillery-tokens/1\", \"seq_length\": "
        + SEQ + ", \"tokenizer\": {\"sha256\": \"" + sha + "\", \"vocab_size\": " + vocab + "}}");
    Files.writeString(run.resolve("tokens/_COMMITTED"), "");
  }

  private static void assertClose(double[] actual, double[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat(actual[i]).as("index %d", i).isCloseTo(expected[i], within(1e-5 * Math.max(1, Math.abs(expected[i]))));
    }
  }
}
