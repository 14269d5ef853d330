package dev.distillery.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Small random Llama configs and weights for tests. */
final class TestModels {
  private TestModels() {}

  /**
   * GQA (4 query heads on 2 KV heads), head_dim 16 ≠ hidden/heads, llama3 scaling whose bands all occur at
   * head_dim 16 (wavelengths 6.3 < 8, 20 in between, ≥ 63 > 32), untied lm_head.
   */
  static LlamaConfig gqaConfig() {
    return new LlamaConfig(48, 80, 2, 4, 2, 16, 96, 1e-5, 10000.0, new RopeScaling(8.0, 1.0, 4.0, 32), 256, false, 1,
        2, "float32");
  }

  /** Tied embeddings, plain RoPE, multi-head attention. */
  static LlamaConfig tiedConfig() {
    return new LlamaConfig(32, 64, 2, 4, 4, 8, 64, 1e-6, 500000.0, null, 128, true, 1, 2, "float32");
  }

  /** Random weights scaled so activations stay of order one; norm weights near 1. */
  static Map<String, float[]> randomWeights(LlamaConfig config, long seed) {
    Random random = new Random(seed);
    Map<String, float[]> weights = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> tensor : LlamaTensors.expectedShapes(config).entrySet()) {
      long[] shape = tensor.getValue();
      float[] values = new float[Math.toIntExact(shape.length == 1 ? shape[0] : shape[0] * shape[1])];
      boolean norm = shape.length == 1;
      boolean embedding = tensor.getKey().equals(LlamaTensors.EMBED);
      double std = norm ? 0.1 : embedding ? 1.0 : 1.0 / Math.sqrt(shape[1]);
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) ((norm ? 1.0 : 0.0) + std * random.nextGaussian());
      }
      weights.put(tensor.getKey(), values);
    }
    return weights;
  }

  /** Random token ids {@code [batch][seq]} below {@code vocab}. */
  static long[][] randomTokens(int batch, int seq, int vocab, long seed) {
    Random random = new Random(seed);
    long[][] ids = new long[batch][seq];
    for (long[] row : ids) {
      for (int t = 0; t < seq; t++) {
        row[t] = random.nextInt(vocab);
      }
    }
    return ids;
  }
}
