package dev.distillery.jobs.tools;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.cli.Distillery;
import dev.distillery.io.DType;
import dev.distillery.io.SafetensorsReader;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.PythonReference;
import dev.distillery.testing.TestModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Acceptance: {@code distillery logits} on a checkpoint with GQA, llama3 RoPE scaling, an untied lm_head and
 * head_dim ≠ hidden/heads matches the independent PyTorch reference to 1e-4 in float32.
 */
class LogitsCommandTest {
  @Test
  void logitsMatchTheIndependentReferenceForBf16AndF32Checkpoints(@TempDir Path dir) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    long[][] tokens = TestModels.randomTokens(3, 24, config.vocabSize(), 5);
    Path tokensFile = dir.resolve("tokens.json");
    Files.writeString(tokensFile, new ObjectMapper().writeValueAsString(tokens));

    for (DType dtype : new DType[] {DType.F32, DType.BF16}) {
      Path model = dir.resolve("model-" + dtype);
      TestModels.writeCheckpoint(model, config, TestModels.randomWeights(config, 3), dtype);
      Path out = dir.resolve("logits-" + dtype + ".safetensors");

      int status = runCli("logits", "--model", model.toString(), "--tokens", tokensFile.toString(), "--out",
          out.toString());

      assertThat(status).isZero();
      float[] actual;
      try (SafetensorsReader reader = SafetensorsReader.open(Storage.of(out.toString()), out.toString())) {
        assertThat(reader.tensors()).containsOnlyKeys("logits");
        assertThat(reader.info("logits").dtype()).isEqualTo(DType.F32);
        assertThat(reader.info("logits").shape()).containsExactly(3, 24, config.vocabSize());
        actual = reader.readFloats("logits");
      }
      float[] expected = PythonReference.logits(Path.of("../common"), model, tokensFile, dir);
      double error = PythonReference.maxAbsError(actual, expected);
      System.out.printf("%s checkpoint: max |logit| %.3f, max abs error %.3g%n", dtype,
          PythonReference.maxMagnitude(expected), error);
      assertThat(PythonReference.maxMagnitude(expected)).isGreaterThan(1.0);
      assertThat(error).as("max abs error vs PyTorch, " + dtype).isLessThanOrEqualTo(1e-4);
    }
  }

  @Test
  void badTokenFilesAreRejectedWithFileEntryAndPosition() {
    assertThatThrownBy(() -> LogitsCommand.readTokens("[]", "t.json", 10))
        .hasMessage("t.json: expected a non-empty JSON array of token-id arrays");
    assertThatThrownBy(() -> LogitsCommand.readTokens("[[1,2],[3]]", "t.json", 10))
        .hasMessageContaining("t.json: entry 1 has 1 tokens but entry 0 has 2");
    assertThatThrownBy(() -> LogitsCommand.readTokens("[[1,12]]", "t.json", 10))
        .hasMessage("t.json: entry 0, position 1: token id 12 is not an integer in [0, 10)");
    assertThatThrownBy(() -> LogitsCommand.readTokens("[[1,2.5]]", "t.json", 10))
        .hasMessageContaining("position 1: token id 2.5 is not an integer");
  }

  @Test
  void aFailedRunLeavesNoOutputFile(@TempDir Path dir) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    Path model = dir.resolve("model");
    TestModels.writeCheckpoint(model, config, TestModels.randomWeights(config, 3), DType.F32);
    Files.writeString(dir.resolve("bad.json"), "[[1, 100000]]");
    Path out = dir.resolve("out.safetensors");

    assertThat(runCli("logits", "--model", model.toString(), "--tokens", dir.resolve("bad.json").toString(),
        "--out", out.toString())).isEqualTo(Distillery.FAILED);
    try (var files = Files.list(dir)) {
      assertThat(files.map(p -> p.getFileName().toString())).noneMatch(name -> name.startsWith("out"));
    }
  }

  private static int runCli(String... args) {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int status = Distillery.standard().run(args, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
    System.err.print(err.toString(StandardCharsets.UTF_8));
    return status;
  }
}
