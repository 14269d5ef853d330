package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * A micro-batch of token rows of any length (document rows), right-padded to its longest row. Attention is causal,
 * so a real token never attends to the padding after it: the padded positions change no real token's output, and
 * only the losses must leave them out (see {@link #mask}).
 */
public final class PaddedBatch {
  /** The id written into padded positions (any valid id: no real token sees it). */
  static final long PAD_ID = 0;

  private final long[][] ids;
  private final int[] lengths;
  private final int longest;

  private PaddedBatch(long[][] ids, int[] lengths, int longest) {
    this.ids = ids;
    this.lengths = lengths;
    this.longest = longest;
  }

  /**
   * @param rows at least one row, each of at least one token
   * @throws IllegalArgumentException on an empty batch or row
   */
  public static PaddedBatch of(long[][] rows) {
    if (rows.length == 0) {
      throw new IllegalArgumentException("a micro-batch needs at least one row");
    }
    int longest = 0;
    int[] lengths = new int[rows.length];
    for (int i = 0; i < rows.length; i++) {
      if (rows[i].length == 0) {
        throw new IllegalArgumentException("row " + i + " of a micro-batch is empty");
      }
      lengths[i] = rows[i].length;
      longest = Math.max(longest, lengths[i]);
    }
    long[][] ids = new long[rows.length][];
    for (int i = 0; i < rows.length; i++) {
      ids[i] = rows[i].length == longest ? rows[i] : java.util.Arrays.copyOf(rows[i], longest);
      if (rows[i].length < longest) {
        java.util.Arrays.fill(ids[i], rows[i].length, longest, PAD_ID);
      }
    }
    return new PaddedBatch(ids, lengths, longest);
  }

  /** Whether any row is shorter than the longest. */
  public boolean padded() {
    for (int length : lengths) {
      if (length != longest) {
        return true;
      }
    }
    return false;
  }

  /** Real tokens: what the distillation term scores. */
  public long tokens() {
    long sum = 0;
    for (int length : lengths) {
      sum += length;
    }
    return sum;
  }

  /** Tokens with a real next token: what cross-entropy scores. */
  public long scoredTokens() {
    return tokens() - lengths.length;
  }

  /** The padded ids, {@code [batch, longest]} int64. */
  public NDArray ids(NDManager manager) {
    return manager.create(ids);
  }

  /** 1 for real tokens and 0 for padding, {@code [batch, longest]} float32; null when nothing is padded. */
  public NDArray mask(NDManager manager) {
    if (!padded()) {
      return null;
    }
    float[] mask = new float[ids.length * longest];
    for (int i = 0; i < ids.length; i++) {
      java.util.Arrays.fill(mask, i * longest, i * longest + lengths[i], 1f);
    }
    return manager.create(mask, new Shape(ids.length, longest)).toType(DataType.FLOAT32, false);
  }
}
