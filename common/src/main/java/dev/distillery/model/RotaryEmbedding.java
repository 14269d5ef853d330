package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * Rotary position embedding as Hugging Face Llama applies it: {@code x·cos + rotate_half(x)·sin}, with
 * {@code cos/sin = cat(freqs, freqs)} over the head dimension and optional llama3 frequency scaling.
 */
public final class RotaryEmbedding {
  private RotaryEmbedding() {}

  /**
   * The {@code head_dim / 2} inverse frequencies {@code 1 / theta^(2i / head_dim)}, rounded to float32 like the
   * PyTorch buffer, then rescaled by llama3 {@code scaling} when it is not null.
   */
  public static float[] inverseFrequencies(int headDim, double theta, RopeScaling scaling) {
    float[] inv = new float[headDim / 2];
    for (int i = 0; i < inv.length; i++) {
      float exponent = (float) (2 * i) / headDim;
      inv[i] = (float) (1.0 / Math.pow(theta, exponent));
    }
    if (scaling != null) {
      for (int i = 0; i < inv.length; i++) {
        inv[i] = (float) scaleLlama3(inv[i], scaling);
      }
    }
    return inv;
  }

  /** The inverse frequencies of a model's config. */
  public static float[] inverseFrequencies(LlamaConfig config) {
    return inverseFrequencies(config.headDim(), config.ropeTheta(), config.ropeScaling());
  }

  /**
   * Llama 3.1 scaling: long wavelengths are slowed by {@code factor}, short ones kept, the band between blended
   * linearly in {@code original_max_position_embeddings / wavelength}.
   */
  private static double scaleLlama3(double invFreq, RopeScaling s) {
    double originalContext = s.originalMaxPositionEmbeddings();
    double wavelength = 2 * Math.PI / invFreq;
    if (wavelength > originalContext / s.lowFreqFactor()) {
      return invFreq / s.factor();
    }
    if (wavelength < originalContext / s.highFreqFactor()) {
      return invFreq;
    }
    double smooth = (originalContext / wavelength - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
    return (1 - smooth) * invFreq / s.factor() + smooth * invFreq;
  }

  /**
   * Rotates {@code x} of shape {@code [..., seq, head_dim]} by position; {@code cos} and {@code sin} are
   * {@code [seq, head_dim]}.
   */
  static NDArray apply(NDArray x, NDArray cos, NDArray sin) {
    return x.mul(cos).add(rotateHalf(x).mul(sin));
  }

  /** {@code cat(-x2, x1)} where {@code x1, x2} are the halves of the last axis. */
  private static NDArray rotateHalf(NDArray x) {
    int lastAxis = x.getShape().dimension() - 1;
    NDList halves = x.split(2, lastAxis);
    return halves.get(1).neg().concat(halves.get(0), lastAxis);
  }
}
