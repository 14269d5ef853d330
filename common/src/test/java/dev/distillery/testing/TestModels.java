package dev.distillery.testing;

import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import dev.distillery.model.ModelArchitecture;
import dev.distillery.model.RopeScaling;
import dev.distillery.io.CheckpointWriter;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Small random Llama configs and weights for tests. */
public final class TestModels {
  private TestModels() {}

  /**
   * GQA (4 query heads on 2 KV heads), head_dim 16 ≠ hidden/heads, llama3 scaling whose bands all occur at
   * head_dim 16 (wavelengths 6.3 < 8, 20 in between, ≥ 63 > 32), untied lm_head.
   */
  public static LlamaConfig gqaConfig() {
    return new LlamaConfig(48, 80, 2, 4, 2, 16, 96, 1e-5, 10000.0, new RopeScaling(8.0, 1.0, 4.0, 32), 256, false, 1,
        2, "float32");
  }

  /** Tied embeddings, plain RoPE, multi-head attention. */
  public static LlamaConfig tiedConfig() {
    return new LlamaConfig(32, 64, 2, 4, 4, 8, 64, 1e-6, 500000.0, null, 128, true, 1, 2, "float32");
  }

  /** Mistral: GQA, head_dim 16, a sliding window of 8 keys (shorter than the test sequences), untied. */
  public static LlamaConfig mistralConfig() {
    return new LlamaConfig(48, 80, 2, 4, 2, 16, 96, 1e-5, 1000000.0, null, 256, false, 1, 2, "float32",
        new ModelArchitecture(ModelArchitecture.Family.MISTRAL, 8, Map.of()));
  }

  /** Qwen2: q/k/v biases, GQA, rope_theta 1e6, tied or untied embeddings. */
  public static LlamaConfig qwen2Config(boolean tied) {
    return new LlamaConfig(48, 80, 2, 6, 2, 8, 96, 1e-6, 1000000.0, null, 256, tied, 1, 2, "float32",
        new ModelArchitecture(ModelArchitecture.Family.QWEN2, 0, Map.of()));
  }

  /** Random weights scaled so activations stay of order one; norm weights near 1. */
  public static Map<String, float[]> randomWeights(LlamaConfig config, long seed) {
    Random random = new Random(seed);
    Map<String, float[]> weights = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> tensor : LlamaTensors.expectedShapes(config).entrySet()) {
      long[] shape = tensor.getValue();
      float[] values = new float[Math.toIntExact(shape.length == 1 ? shape[0] : shape[0] * shape[1])];
      boolean norm = shape.length == 1 && !tensor.getKey().endsWith(".bias");
      boolean embedding = tensor.getKey().equals(LlamaTensors.EMBED);
      double std = norm ? 0.1 : embedding ? 1.0 : shape.length == 1 ? 0.5 : 1.0 / Math.sqrt(shape[1]);
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) ((norm ? 1.0 : 0.0) + std * random.nextGaussian());
      }
      weights.put(tensor.getKey(), values);
    }
    return weights;
  }

  /** Random token ids {@code [batch][seq]} below {@code vocab}. */
  public static long[][] randomTokens(int batch, int seq, int vocab, long seed) {
    Random random = new Random(seed);
    long[][] ids = new long[batch][seq];
    for (long[] row : ids) {
      for (int t = 0; t < seq; t++) {
        row[t] = random.nextInt(vocab);
      }
    }
    return ids;
  }

  /** Writes {@code weights} as a committed Hugging Face checkpoint in {@code dir}, stored as {@code dtype}. */
  public static void writeCheckpoint(Path dir, LlamaConfig config, Map<String, float[]> weights, DType dtype) {
    writeCheckpoint(dir, config, weights, dtype, CheckpointWriter.DEFAULT_MAX_SHARD_BYTES);
  }

  /** {@link #writeCheckpoint(Path, LlamaConfig, Map, DType)} in shards of at most {@code maxShardBytes}. */
  public static void writeCheckpoint(Path dir, LlamaConfig config, Map<String, float[]> weights, DType dtype,
      long maxShardBytes) {
    String target = dir.toString();
    try (CheckpointWriter writer = CheckpointWriter.create(Storage.of(target), target, config, dtype, maxShardBytes,
        false)) {
      for (String name : writer.tensorNames()) {
        writer.write(name, weights.get(name));
      }
      writer.commit();
    }
  }
}
