package dev.distillery.jobs.evaluate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.model.LanguageModelLoss;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TokenLoss;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** EvaluateJob's loss, spread over Spark tasks, equals one direct computation on the same sequences. */
class EvaluateJobTest {
  private static final LlamaConfig CONFIG = TestModels.gqaConfig();

  @Test
  void lossOverSparkTasksEqualsASingleProcessComputation(@TempDir Path run) {
    Path model = run.resolve("model");
    TestModels.writeCheckpoint(model, CONFIG, TestModels.randomWeights(CONFIG, 5), DType.F32);
    long[][] sequences = TestModels.randomTokens(7, 13, CONFIG.vocabSize(), 6);
    TokenShardFiles.write(run.resolve("tokens/valid"), sequences);

    EvaluateSettings settings = new EvaluateSettings(model.toString(), "teacher",
        run.resolve("tokens/valid").toString(),
        new RunLayout(run.toString()).evaluation("teacher"), 0, 3, 3, 5, null, List.of(), 4, false);
    Evaluation result = EvaluateJob.run(SharedSpark.session(), settings);

    double expected = directLoss(model, sequences);
    assertThat(result.sequences()).isEqualTo(7);
    assertThat(result.targetTokens()).isEqualTo(7 * 12);
    assertThat(result.loss()).isCloseTo(expected, within(1e-5));
    assertThat(result.perplexity()).isCloseTo(Math.exp(expected), within(1e-3));
    assertThat(result.parameters()).isEqualTo(CONFIG.parameterCount());
    String file = settings.output();
    Evaluation written = Evaluation.fromJson(Storage.of(file).readText(file), file);
    assertThat(written.loss()).isEqualTo(result.loss());
    assertThat(written.checkpoint()).isEqualTo(model.toString());
  }

  /**
   * Token shards of a tokenize output with its manifest but no marker, and a checkpoint without a marker beside which
   * a staging directory lies, are what a killed writer leaves: refused, naming the directory; committed, they are
   * read.
   */
  @Test
  void outputsAKilledWriterLeftUncommittedAreRefused(@TempDir Path run) throws IOException {
    Path model = run.resolve("model");
    TestModels.writeCheckpoint(model, CONFIG, TestModels.randomWeights(CONFIG, 5), DType.F32);
    TokenShardFiles.write(run.resolve("tokens/valid"), TestModels.randomTokens(3, 9, CONFIG.vocabSize(), 6));
    Files.writeString(run.resolve("tokens/manifest.json"), "{\"format\": \"distillery-tokens/1\"}");
    EvaluateSettings settings = new EvaluateSettings(model.toString(), "student",
        run.resolve("tokens/valid").toString(),
        new RunLayout(run.toString()).evaluation("student"), 0, 3, 3, 5, null, List.of(), 4, false);

    assertThatThrownBy(() -> EvaluateJob.run(SharedSpark.session(), settings))
        .hasMessage(run.resolve("tokens") + " (the output holding the shards " + run.resolve("tokens/valid")
            + ") is not committed (no _COMMITTED): the stage writing it was interrupted and it may be partial; "
            + "rerun the stage that writes it");
    Files.writeString(run.resolve("tokens").resolve(Storage.COMMIT_MARKER), "");
    Files.createDirectories(run.resolve(".model.tmp-5f0c"));
    Files.delete(model.resolve(Storage.COMMIT_MARKER));
    assertThatThrownBy(() -> EvaluateJob.run(SharedSpark.session(), settings))
        .hasMessageStartingWith(model + " (checkpoint) is not committed");
    Files.writeString(model.resolve(Storage.COMMIT_MARKER), "");
    assertThat(EvaluateJob.run(SharedSpark.session(), settings).sequences()).isEqualTo(3);
  }

  /**
   * Document rows of 1 to 40 tokens, batched with padding, and a row longer than max_position_embeddings (256), cut
   * into windows of 256, 256 and 88 tokens: the same loss and token count as each row or window alone.
   */
  @Test
  void documentRowsArePaddedAndLongRowsCutIntoWindows(@TempDir Path run) {
    Path model = run.resolve("model");
    TestModels.writeCheckpoint(model, CONFIG, TestModels.randomWeights(CONFIG, 7), DType.F32);
    java.util.Random random = new java.util.Random(8);
    long[][] rows = new long[9][];
    for (int i = 0; i < 8; i++) {
      rows[i] = TestModels.randomTokens(1, 1 + random.nextInt(40), CONFIG.vocabSize(), 20 + i)[0];
    }
    rows[0] = new long[] {5};
    rows[8] = TestModels.randomTokens(1, 600, CONFIG.vocabSize(), 30)[0];
    TokenShardFiles.write(run.resolve("tokens/valid"), rows);
    EvaluateSettings settings = new EvaluateSettings(model.toString(), "teacher",
        run.resolve("tokens/valid").toString(),
        new dev.distillery.jobs.run.RunLayout(run.toString()).evaluation("teacher"), 0, 4, 2, 7,
        null, List.of(), 4, false);
    Evaluation result = EvaluateJob.run(SharedSpark.session(), settings);

    double nats = 0;
    long tokens = 0;
    List<long[]> alone = new java.util.ArrayList<>(Arrays.asList(rows).subList(1, 8));
    alone.add(Arrays.copyOfRange(rows[8], 0, 256));
    alone.add(Arrays.copyOfRange(rows[8], 256, 512));
    alone.add(Arrays.copyOfRange(rows[8], 512, 600));
    for (long[] row : alone) {
      double loss = directLoss(model, new long[][] {row});
      nats += loss * (row.length - 1);
      tokens += row.length - 1;
    }
    assertThat(result.targetTokens()).isEqualTo(tokens);
    assertThat(result.sequences()).as("7 rows of 2 tokens or more, 3 windows").isEqualTo(10);
    assertThat(result.loss()).isCloseTo(nats / tokens, within(1e-5));
  }

  private static double directLoss(Path dir, long[][] sequences) {
    try (CheckpointReader reader = CheckpointReader.open(dir.toString());
        LlamaModel model = LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      long[] flat = Arrays.stream(sequences).flatMapToLong(Arrays::stream).toArray();
      NDArray ids = manager.create(flat).reshape(sequences.length, sequences[0].length);
      TokenLoss loss = LanguageModelLoss.crossEntropy(model.forward(ids), ids, LanguageModelLoss.IGNORE_INDEX);
      return loss.mean().getFloat();
    }
  }
}
