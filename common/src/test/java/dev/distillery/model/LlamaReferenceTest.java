package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.DType;
import dev.distillery.testing.PythonReference;
import dev.distillery.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The acceptance check: logits match {@code src/test/python/llama_reference.py}, an independent PyTorch
 * implementation of LlamaForCausalLM, run on the same random checkpoint written as safetensors.
 */
class LlamaReferenceTest {
  private static final double TOLERANCE = 1e-4;

  @Test
  void logitsMatchIndependentPyTorchReference(@TempDir Path dir) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = TestModels.randomWeights(config, 7);
    long[][] tokens = TestModels.randomTokens(2, 40, config.vocabSize(), 11);
    Path model = dir.resolve("model");
    TestModels.writeCheckpoint(model, config, weights, DType.F32);
    Files.writeString(dir.resolve("tokens.json"), new ObjectMapper().writeValueAsString(tokens));

    float[] expected = PythonReference.logits(Path.of("."), model, dir.resolve("tokens.json"), dir);

    assertThat(PythonReference.maxMagnitude(expected)).as("logits should be non-trivial").isGreaterThan(1.0);
    for (int queryBlock : new int[] {LlamaModel.DEFAULT_QUERY_BLOCK, 16}) { // one block, and 3 blocks of queries
      float[] actual;
      try (LlamaModel llama = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
          NDManager manager = NDManager.newBaseManager(Device.cpu())) {
        llama.setQueryBlock(queryBlock);
        NDArray logits = llama.forward(manager.create(tokens));
        assertThat(logits.getShape().getShape()).containsExactly(2, 40, config.vocabSize());
        actual = logits.toFloatArray();
      }
      double maxError = PythonReference.maxAbsError(actual, expected);
      System.out.printf("query block %d: max |logit| %.3f, max abs error %.3g%n", queryBlock,
          PythonReference.maxMagnitude(expected), maxError);
      assertThat(maxError).as("max abs error against the PyTorch reference, query block %d", queryBlock)
          .isLessThanOrEqualTo(TOLERANCE);
    }
  }
}
