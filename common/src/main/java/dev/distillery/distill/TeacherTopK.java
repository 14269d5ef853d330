package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.core.Linear;
import dev.distillery.model.LlamaModel;

/**
 * Runs a teacher over token rows and keeps, per position, its {@code k} most likely next tokens with their
 * log-probabilities at temperature 1 and the log of the remaining mass ({@link TopKLogits}). Logits are projected
 * {@code chunkTokens} positions at a time, so {@code [tokens, vocab]} floats exist for one chunk only. The tail is
 * summed from the probabilities outside the top k (not {@code 1 − Σ top-k}), so it keeps its precision when small.
 * With {@code tailSamples > 0}, each position also stores that many ids drawn from the tail ({@link TailSampler}),
 * after the top k, with weights that share the tail's mass, and the tail bucket is empty: the stored distribution
 * then estimates the whole one without bias, at the bytes of {@code k + tailSamples} entries.
 */
public final class TeacherTopK {
  private final LlamaModel teacher;
  private final int k;
  private final TopKLogits.Values values;
  private final int chunkTokens;
  private final int tailSamples;
  private final long seed;

  /** The top k and a tail bucket, nothing sampled. */
  public TeacherTopK(LlamaModel teacher, int k, TopKLogits.Values values, int chunkTokens) {
    this(teacher, k, 0, 0, values, chunkTokens);
  }

  /**
   * @param tailSamples ids drawn from the tail per position (0: none, a tail bucket instead)
   * @param seed seeds the draws; with the rows of a batch it fixes them, so a rerun stores the same table
   * @throws IllegalArgumentException when {@code k} is not in {@code [1, vocab_size]}, or {@code k + tailSamples}
   *     leaves fewer than {@code tailSamples + 1} tail ids to draw from
   */
  public TeacherTopK(LlamaModel teacher, int k, int tailSamples, long seed, TopKLogits.Values values,
      int chunkTokens) {
    int vocab = teacher.config().vocabSize();
    if (k < 1 || k > vocab) {
      throw new IllegalArgumentException("top-k " + k + " must be in [1, " + vocab + "], the teacher's vocab_size");
    }
    if (tailSamples < 0 || tailSamples > 0 && k + tailSamples + 1 > vocab) {
      throw new IllegalArgumentException("tail-samples " + tailSamples + " with top-k " + k + " needs top-k + "
          + "tail-samples < " + vocab + ", the teacher's vocab_size");
    }
    this.teacher = teacher;
    this.k = k;
    this.values = values;
    this.chunkTokens = chunkTokens;
    this.tailSamples = tailSamples;
    this.seed = seed;
  }

  /** The probability of position {@code t}'s first {@code k} entries of {@code row} (its top k). */
  public static double mass(TopKLogits row, int t, int k) {
    double mass = 0;
    for (int j = 0; j < k; j++) {
      mass += Math.exp(row.logProb(t, j));
    }
    return mass;
  }

  /** Entries stored per position: the top k and the tail samples. */
  public int entries() {
    return k + tailSamples;
  }

  /** The stored distributions of rows of one length, one per row. */
  public TopKLogits[] of(long[][] rows) {
    int batch = rows.length;
    int seq = rows[0].length;
    int tokens = batch * seq;
    int entries = entries();
    int[] ids = new int[tokens * entries];
    float[] logProbs = new float[tokens * entries];
    float[] tail = new float[tokens];
    if (tailSamples > 0) {
      ai.djl.engine.Engine.getInstance().setRandomSeed((int) (seed * 31 + java.util.Arrays.deepHashCode(rows)));
    }
    try (Autograd.Scope off = Autograd.pause(); NDManager scope = NDManager.newBaseManager(teacher.device())) {
      NDArray hidden = teacher.forwardHidden(scope.create(rows)).reshape(tokens, -1);
      NDArray head = teacher.lmHeadWeight(scope);
      for (int start = 0; start < tokens; start += chunkTokens) {
        int end = Math.min(tokens, start + chunkTokens);
        try (NDManager chunk = scope.newSubManager()) {
          NDArray logits = Linear.linear(hidden.get(new NDIndex("{}:{}", start, end)), head).singletonOrThrow();
          logits.attach(chunk);
          NDArray logP = logits.toType(DataType.FLOAT32, false).logSoftmax(1);
          NDList top = logP.topK(k, 1, true, true);
          NDArray indices = top.get(1);
          NDArray tailP = logP.exp().scatter(indices, indices.zerosLike().toType(DataType.FLOAT32, false), 1);
          NDArray rest = tailP.sum(new int[] {1});
          NDArray entryIds = indices;
          NDArray entryLogP = top.get(0);
          NDArray tailLog = rest.log();
          if (tailSamples > 0) {
            NDList drawn = TailSampler.sample(tailP, indices, rest, tailSamples, chunk);
            entryIds = indices.concat(drawn.get(0), 1);
            entryLogP = entryLogP.concat(drawn.get(1), 1);
            tailLog = rest.zerosLike().sub(Float.POSITIVE_INFINITY); // the drawn ids carry the tail's mass
          }
          System.arraycopy(entryLogP.toFloatArray(), 0, logProbs, start * entries, (end - start) * entries);
          System.arraycopy(entryIds.toType(DataType.INT32, false).toIntArray(), 0, ids, start * entries,
              (end - start) * entries);
          System.arraycopy(tailLog.toFloatArray(), 0, tail, start, end - start);
        }
      }
    }
    TopKLogits[] out = new TopKLogits[batch];
    for (int r = 0; r < batch; r++) {
      out[r] = TopKLogits.encode(entries, values,
          java.util.Arrays.copyOfRange(ids, r * seq * entries, (r + 1) * seq * entries),
          java.util.Arrays.copyOfRange(logProbs, r * seq * entries, (r + 1) * seq * entries),
          java.util.Arrays.copyOfRange(tail, r * seq, (r + 1) * seq));
    }
    return out;
  }
}
