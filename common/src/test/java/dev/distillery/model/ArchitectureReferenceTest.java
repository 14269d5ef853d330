package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.testing.PythonReference;
import dev.distillery.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Mistral (sliding window of 8 keys over 40-token sequences) and Qwen2 (q/k/v biases, tied and untied) logits match
 * {@code src/test/python/llama_reference.py}, an independent PyTorch implementation of the Hugging Face classes, on
 * checkpoints stored as F32 and as BF16 and read back through {@link CheckpointReader}.
 */
class ArchitectureReferenceTest {
  private static final double TOLERANCE = 1e-4;

  static Stream<Arguments> checkpoints() {
    return Stream.of(Arguments.of("mistral", TestModels.mistralConfig(), DType.F32),
        Arguments.of("mistral", TestModels.mistralConfig(), DType.BF16),
        Arguments.of("qwen2-untied", TestModels.qwen2Config(false), DType.F32),
        Arguments.of("qwen2-tied", TestModels.qwen2Config(true), DType.BF16));
  }

  @ParameterizedTest(name = "{0} {2}")
  @MethodSource("checkpoints")
  void logitsMatchIndependentPyTorchReference(String name, LlamaConfig config, DType dtype, @TempDir Path dir)
      throws Exception {
    long[][] tokens = TestModels.randomTokens(2, 40, config.vocabSize(), 11);
    Path model = dir.resolve("model");
    TestModels.writeCheckpoint(model, config, TestModels.randomWeights(config, 5), dtype);
    Files.writeString(dir.resolve("tokens.json"), new ObjectMapper().writeValueAsString(tokens));

    float[] expected = PythonReference.logits(Path.of("."), model, dir.resolve("tokens.json"), dir);

    float[] actual;
    float[] withoutArchitecture;
    try (CheckpointReader reader = CheckpointReader.open(Storage.of(model.toString()), model.toString());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      assertThat(reader.config().architecture()).isEqualTo(config.architecture());
      WeightSource weights = (tensor, shape) -> reader.readFloats(tensor);
      try (LlamaModel loaded = LlamaModel.load(reader.config(), weights, Device.cpu())) {
        actual = loaded.forward(manager.create(tokens)).toFloatArray();
      }
      try (LlamaModel plain = LlamaModel.load(reader.config().withArchitecture(ModelArchitecture.LLAMA), weights,
          Device.cpu())) {
        withoutArchitecture = plain.forward(manager.create(tokens)).toFloatArray();
      }
    }

    double maxError = PythonReference.maxAbsError(actual, expected);
    double plainError = PythonReference.maxAbsError(withoutArchitecture, expected);
    System.out.printf("%s %s: max |logit| %.3f, max abs error %.3g (%.3g as plain Llama)%n", name, dtype,
        PythonReference.maxMagnitude(expected), maxError, plainError);
    assertThat(PythonReference.maxMagnitude(expected)).as("logits should be non-trivial").isGreaterThan(1.0);
    assertThat(plainError).as("the window or biases must change the logits").isGreaterThan(1e-2);
    assertThat(maxError).as("max abs error against the PyTorch reference").isLessThanOrEqualTo(TOLERANCE);
  }
}
