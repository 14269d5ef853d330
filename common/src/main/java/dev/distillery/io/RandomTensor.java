package dev.distillery.io;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * A deterministic stream of pseudo-random weights for one tensor, seeded from a checkpoint seed and the
 * tensor's name. Values are approximately normal (a sum of four uniforms, bounded at ±3.5 standard
 * deviations) with the given mean and standard deviation, one 64-bit random draw per value. Consecutive
 * {@link #fill} calls continue the stream, so any chunking gives the same tensor.
 */
public final class RandomTensor {
  private static final double SUM_OF_FOUR_MEAN = 2 * 65535.0;
  private static final double SUM_OF_FOUR_STD = Math.sqrt(4 * (65536.0 * 65536.0 - 1) / 12);

  private final SplittableRandom random;
  private final float mean;
  private final double scale;

  /** A stream for tensor {@code name} of the checkpoint with seed {@code seed}. */
  public RandomTensor(long seed, String name, float mean, float std) {
    this.random = new SplittableRandom(mix(seed, name));
    this.mean = mean;
    this.scale = std / SUM_OF_FOUR_STD;
  }

  /** Weights as generated for a Llama checkpoint: 1 ± 0.05 for norm (1-D) tensors, 0 ± 0.02 otherwise. */
  public static RandomTensor forWeight(long seed, String name, long[] shape) {
    if (name.endsWith(".bias")) {
      return new RandomTensor(seed, name, 0f, 0.02f);
    }
    return shape.length == 1 ? new RandomTensor(seed, name, 1.0f, 0.05f) : new RandomTensor(seed, name, 0f, 0.02f);
  }

  /** Fills {@code dst[offset, offset + count)} with the next values of the stream. */
  public void fill(float[] dst, int offset, int count) {
    for (int i = offset; i < offset + count; i++) {
      long bits = random.nextLong();
      long sum = (bits & 0xffff) + ((bits >>> 16) & 0xffff) + ((bits >>> 32) & 0xffff) + (bits >>> 48);
      dst[i] = (float) (mean + (sum - SUM_OF_FOUR_MEAN) * scale);
    }
  }

  /** The next {@code count} values. */
  public float[] next(int count) {
    float[] values = new float[count];
    fill(values, 0, count);
    return values;
  }

  private static long mix(long seed, String name) {
    long hash = 0xcbf29ce484222325L;
    for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
      hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
    }
    long z = seed * 0x9e3779b97f4a7c15L + hash;
    z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
    z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
    return z ^ (z >>> 33);
  }
}
