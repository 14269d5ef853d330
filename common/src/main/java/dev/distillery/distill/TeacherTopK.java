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
 */
public final class TeacherTopK {
  private final LlamaModel teacher;
  private final int k;
  private final TopKLogits.Values values;
  private final int chunkTokens;

  /**
   * @throws IllegalArgumentException when {@code k} is not in {@code [1, vocab_size]}
   */
  public TeacherTopK(LlamaModel teacher, int k, TopKLogits.Values values, int chunkTokens) {
    int vocab = teacher.config().vocabSize();
    if (k < 1 || k > vocab) {
      throw new IllegalArgumentException("top-k " + k + " must be in [1, " + vocab + "], the teacher's vocab_size");
    }
    this.teacher = teacher;
    this.k = k;
    this.values = values;
    this.chunkTokens = chunkTokens;
  }

  /** The top-k distributions of rows of one length, one per row. */
  public TopKLogits[] of(long[][] rows) {
    int batch = rows.length;
    int seq = rows[0].length;
    int tokens = batch * seq;
    int[] ids = new int[tokens * k];
    float[] logProbs = new float[tokens * k];
    float[] tail = new float[tokens];
    try (Autograd.Scope off = Autograd.pause(); NDManager scope = NDManager.newBaseManager(teacher.device())) {
      NDArray hidden = teacher.forwardHidden(scope.create(rows)).reshape(tokens, -1);
      NDArray head = teacher.lmHeadWeight();
      for (int start = 0; start < tokens; start += chunkTokens) {
        int end = Math.min(tokens, start + chunkTokens);
        try (NDManager chunk = scope.newSubManager()) {
          NDArray logits = Linear.linear(hidden.get(new NDIndex("{}:{}", start, end)), head).singletonOrThrow();
          logits.attach(chunk);
          NDArray logP = logits.toType(DataType.FLOAT32, false).logSoftmax(1);
          NDList top = logP.topK(k, 1, true, true);
          NDArray indices = top.get(1);
          NDArray rest = logP.exp().scatter(indices, indices.zerosLike().toType(DataType.FLOAT32, false), 1)
              .sum(new int[] {1});
          System.arraycopy(top.get(0).toFloatArray(), 0, logProbs, start * k, (end - start) * k);
          System.arraycopy(indices.toType(DataType.INT32, false).toIntArray(), 0, ids, start * k, (end - start) * k);
          System.arraycopy(rest.log().toFloatArray(), 0, tail, start, end - start);
        }
      }
    }
    TopKLogits[] out = new TopKLogits[batch];
    for (int r = 0; r < batch; r++) {
      out[r] = TopKLogits.encode(k, values, java.util.Arrays.copyOfRange(ids, r * seq * k, (r + 1) * seq * k),
          java.util.Arrays.copyOfRange(logProbs, r * seq * k, (r + 1) * seq * k),
          java.util.Arrays.copyOfRange(tail, r * seq, (r + 1) * seq));
    }
    return out;
  }
}
