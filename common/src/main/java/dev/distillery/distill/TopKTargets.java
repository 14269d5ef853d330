package dev.distillery.distill;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * A micro-batch's stored teacher distributions ({@link TopKLogits}, one per row), laid out like the right-padded
 * batch ({@link PaddedBatch}): position {@code t} of row {@code r} is entry {@code r × longest + t}. Each position's
 * k probabilities and tail are renormalised to sum to 1 (float16 rounding leaves them a few 1e-4 off). Padded
 * positions get a harmless placeholder (k distinct ids of equal probability, no tail) that the loss masks out.
 */
public final class TopKTargets {
  private final int k;
  private final long[] ids;
  private final float[] logProbs;
  private final float[] tailLogMass;

  private TopKTargets(int k, long[] ids, float[] logProbs, float[] tailLogMass) {
    this.k = k;
    this.ids = ids;
    this.logProbs = logProbs;
    this.tailLogMass = tailLogMass;
  }

  /**
   * @param rows one per row of the micro-batch, each covering that row's tokens, all with one k
   * @param tokenRows the micro-batch's token rows, to check that each distribution covers its row
   * @throws IllegalArgumentException when a distribution's length or k does not fit its row
   */
  public static TopKTargets of(TopKLogits[] rows, long[][] tokenRows) {
    if (rows.length != tokenRows.length || rows.length == 0) {
      throw new IllegalArgumentException(rows.length + " stored distributions for a micro-batch of "
          + tokenRows.length + " rows");
    }
    int k = rows[0].k();
    int longest = 0;
    for (long[] row : tokenRows) {
      longest = Math.max(longest, row.length);
    }
    int positions = tokenRows.length * longest;
    long[] ids = new long[positions * k];
    float[] logProbs = new float[positions * k];
    float[] tail = new float[positions];
    for (int r = 0; r < rows.length; r++) {
      TopKLogits row = rows[r];
      if (row.positions() != tokenRows[r].length || row.k() != k) {
        throw new IllegalArgumentException("row " + r + " of a micro-batch has " + tokenRows[r].length
            + " tokens but its stored distribution covers " + row.positions() + " positions with k " + row.k()
            + " (expected k " + k + ")");
      }
      for (int t = 0; t < longest; t++) {
        int at = r * longest + t;
        if (t < row.positions()) {
          fill(row, t, at, k, ids, logProbs, tail);
        } else {
          for (int j = 0; j < k; j++) {
            ids[at * k + j] = j;
            logProbs[at * k + j] = (float) -Math.log(k);
          }
          tail[at] = Float.NEGATIVE_INFINITY;
        }
      }
    }
    return new TopKTargets(k, ids, logProbs, tail);
  }

  private static void fill(TopKLogits row, int t, int at, int k, long[] ids, float[] logProbs, float[] tail) {
    double total = Math.exp(row.tailLogMass(t));
    for (int j = 0; j < k; j++) {
      total += Math.exp(row.logProb(t, j));
    }
    double logTotal = Math.log(total);
    for (int j = 0; j < k; j++) {
      ids[at * k + j] = row.id(t, j);
      logProbs[at * k + j] = (float) (row.logProb(t, j) - logTotal);
    }
    tail[at] = (float) (row.tailLogMass(t) - logTotal);
  }

  /** Entries per position. */
  public int k() {
    return k;
  }

  /** Positions {@code [start, end)}: ids {@code [n, k]} int64, log-probabilities {@code [n, k]}, tail {@code [n, 1]}. */
  Chunk chunk(NDManager manager, long start, long end, Device device) {
    int from = Math.toIntExact(start);
    int n = Math.toIntExact(end - start);
    long[] chunkIds = java.util.Arrays.copyOfRange(ids, from * k, (from + n) * k);
    float[] chunkLogProbs = java.util.Arrays.copyOfRange(logProbs, from * k, (from + n) * k);
    float[] chunkTail = java.util.Arrays.copyOfRange(tailLogMass, from, from + n);
    return new Chunk(manager.create(chunkIds, new Shape(n, k)).toDevice(device, false),
        manager.create(chunkLogProbs, new Shape(n, k)).toDevice(device, false),
        manager.create(chunkTail, new Shape(n, 1)).toDevice(device, false));
  }

  /** One loss chunk's stored targets. */
  record Chunk(NDArray ids, NDArray logProbs, NDArray tailLogMass) {}
}
