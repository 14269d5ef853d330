package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;

/**
 * Next-token cross-entropy as {@code LlamaForCausalLM} computes it: position {@code t} is scored against
 * {@code labels[t + 1]} (labels are aligned with the input ids, the shift happens here), targets equal to the
 * ignore index are skipped, and log-softmax runs in float32.
 *
 * <p>Results are attached to the manager of the logits (or hidden states); temporaries are freed before returning.
 */
public final class LanguageModelLoss {
  /** The ignore index of PyTorch and Hugging Face. */
  public static final int IGNORE_INDEX = -100;

  private LanguageModelLoss() {}

  /**
   * Mean next-token cross-entropy of {@code logits} against {@code labels}.
   *
   * @param logits {@code [batch, seq, vocab]}
   * @param labels int32 or int64 {@code [batch, seq]}, aligned with the input ids
   */
  public static TokenLoss crossEntropy(NDArray logits, NDArray labels, int ignoreIndex) {
    requireAligned(logits, labels);
    long vocab = logits.getShape().get(2);
    NDManager caller = logits.getManager();
    try (NDManager scope = caller.newSubManager()) {
      NDArray predictions = logits.get(scope, new NDIndex(":, :-1")).reshape(-1, vocab);
      NDArray targets = nextTokens(labels, logits, scope);
      Accumulated total = new Accumulated();
      total.add(predictions, targets, ignoreIndex);
      return total.finish(scope, caller);
    }
  }

  /**
   * The same loss from final hidden states, projecting {@code chunkTokens} positions at a time through
   * {@code lmHeadWeight} so full {@code [batch, seq, vocab]} logits never exist at once. (Under a gradient
   * collector each chunk's log-probabilities are still kept for backward.)
   *
   * @param hidden {@code [batch, seq, hidden]}, e.g. from {@link LlamaModel#forwardHidden}
   * @param lmHeadWeight {@code [vocab, hidden]}, e.g. {@link LlamaModel#lmHeadWeight()}
   */
  public static TokenLoss crossEntropyChunked(NDArray hidden, NDArray lmHeadWeight, NDArray labels, int ignoreIndex,
      int chunkTokens) {
    if (chunkTokens <= 0) {
      throw new IllegalArgumentException("chunkTokens must be > 0, got " + chunkTokens);
    }
    requireAligned(hidden, labels);
    long width = hidden.getShape().get(2);
    NDManager caller = hidden.getManager();
    try (NDManager scope = caller.newSubManager()) {
      NDArray rows = hidden.get(scope, new NDIndex(":, :-1")).reshape(-1, width);
      NDArray targets = nextTokens(labels, hidden, scope);
      long count = rows.getShape().get(0);
      Accumulated total = new Accumulated();
      for (long start = 0; start < count; start += chunkTokens) {
        NDIndex chunk = new NDIndex("{}:{}", start, Math.min(count, start + chunkTokens));
        NDArray logits = Linear.linear(rows.get(chunk), lmHeadWeight).singletonOrThrow();
        total.add(logits, targets.get(chunk), ignoreIndex);
      }
      return total.finish(scope, caller);
    }
  }

  private static void requireAligned(NDArray scores, NDArray labels) {
    Shape shape = scores.getShape();
    if (shape.dimension() != 3 || !labels.getShape().equals(new Shape(shape.get(0), shape.get(1)))) {
      throw new IllegalArgumentException("expected [batch, seq, n] scores and [batch, seq] labels, got " + shape
          + " and " + labels.getShape());
    }
  }

  /** {@code labels[:, 1:]} flattened to int64 {@code [batch·(seq−1)]}, in {@code scope}, on {@code like}'s device. */
  private static NDArray nextTokens(NDArray labels, NDArray like, NDManager scope) {
    return labels.get(scope, new NDIndex(":, 1:")).toDevice(like.getDevice(), false).toType(DataType.INT64, false)
        .reshape(-1);
  }

  /** Running sum of negative log-likelihoods and count of scored tokens. */
  private static final class Accumulated {
    private NDArray sum;
    private long tokens;

    /** Adds {@code logits [n, vocab]} scored against {@code targets [n]}. */
    void add(NDArray logits, NDArray targets, int ignoreIndex) {
      NDArray counted = targets.neq(ignoreIndex);
      NDArray safeTargets = targets.mul(counted.toType(DataType.INT64, false));
      NDArray logProbabilities = logits.toType(DataType.FLOAT32, false).logSoftmax(1);
      NDArray picked = logProbabilities.gather(safeTargets.expandDims(1), 1).reshape(-1);
      NDArray nll = picked.neg().mul(counted.toType(DataType.FLOAT32, false)).sum();
      sum = sum == null ? nll : sum.add(nll);
      tokens += counted.sum().toType(DataType.INT64, false).getLong();
    }

    TokenLoss finish(NDManager scope, NDManager caller) {
      NDArray mean = sum == null ? scope.zeros(new Shape()) : sum.div(Math.max(tokens, 1));
      mean.attach(caller);
      return new TokenLoss(mean, tokens);
    }
  }
}
