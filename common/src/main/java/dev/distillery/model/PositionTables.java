package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * Per-sequence-length constants of a forward pass: RoPE {@code cos}/{@code sin} ({@code [seq, head_dim]}, model
 * dtype) and the additive causal mask ({@code [seq, seq]}, float32, {@code -inf} above the diagonal and, with a
 * sliding window {@code w}, wherever {@code col <= row - w}).
 */
record PositionTables(NDArray cos, NDArray sin, NDArray causalMask) {

  /**
   * Builds the tables for positions {@code 0..seqLen-1} in {@code manager}.
   *
   * @param slidingWindow keys each query sees, itself included, or 0 for every earlier key
   */
  static PositionTables create(NDManager manager, float[] inverseFrequencies, int seqLen, DataType dtype,
      int slidingWindow) {
    int half = inverseFrequencies.length;
    int headDim = 2 * half;
    float[] cos = new float[seqLen * headDim];
    float[] sin = new float[seqLen * headDim];
    for (int p = 0; p < seqLen; p++) {
      for (int i = 0; i < half; i++) {
        float angle = (float) p * inverseFrequencies[i];
        float c = (float) Math.cos(angle);
        float s = (float) Math.sin(angle);
        cos[p * headDim + i] = c;
        cos[p * headDim + half + i] = c;
        sin[p * headDim + i] = s;
        sin[p * headDim + half + i] = s;
      }
    }
    float[] mask = new float[seqLen * seqLen];
    for (int row = 0; row < seqLen; row++) {
      for (int col = 0; col < seqLen; col++) {
        boolean outsideWindow = slidingWindow > 0 && col <= row - slidingWindow;
        if (col > row || outsideWindow) {
          mask[row * seqLen + col] = Float.NEGATIVE_INFINITY;
        }
      }
    }
    Shape table = new Shape(seqLen, headDim);
    return new PositionTables(inModelType(manager.create(cos, table), dtype),
        inModelType(manager.create(sin, table), dtype), manager.create(mask, new Shape(seqLen, seqLen)));
  }

  /**
   * The mask rows of query positions {@code start:end} over the keys {@code :end} (all those queries may see), as
   * an array of {@code manager}.
   */
  NDArray causalMask(long start, long end, NDManager manager) {
    NDArray rows = causalMask.get("{}:{}, :{}", start, end, end);
    rows.attach(manager);
    return rows;
  }

  private static NDArray inModelType(NDArray float32, DataType dtype) {
    if (dtype == DataType.FLOAT32) {
      return float32;
    }
    NDArray converted = float32.toType(dtype, false);
    float32.close();
    return converted;
  }
}
