package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;

/**
 * Draws, per position, {@code m} distinct ids from a teacher's tail (its distribution outside the top k) by priority
 * sampling, with weights that estimate each drawn id's probability: priority {@code p_i / u_i} with {@code u_i}
 * uniform in (0, 1], the {@code m} highest priorities are kept, and with {@code τ} the {@code (m+1)}-th highest, id
 * {@code i} gets weight {@code max(p_i, τ)} — an unbiased estimate of {@code p_i} (Duffield, Lund and Thorup, 2007),
 * zero for ids not drawn. The weights are then scaled to sum to the exact tail mass, which trades a small bias (a
 * ratio estimate: a few percent per id at m = 6 over 36 ids, shrinking as m grows) for a proper distribution. Stored
 * beside the top k, they give the student an estimate of the tail's shape, which a single tail bucket leaves to the
 * student's own.
 */
final class TailSampler {
  private TailSampler() {}

  /**
   * @param tail {@code [n, vocab]} probabilities, zero at the top-k ids
   * @param topIds {@code [n, k]} the top-k ids (never drawn)
   * @param tailMass {@code [n]} each position's exact tail mass
   * @param m ids drawn per position; needs {@code vocab − k ≥ m + 1}
   * @return {@code [n, m]} int64 ids and {@code [n, m]} float32 log-weights ({@code -inf} for a weight of zero)
   */
  static NDList sample(NDArray tail, NDArray topIds, NDArray tailMass, int m, NDManager manager) {
    NDArray u = manager.randomUniform(0f, 1f, tail.getShape(), DataType.FLOAT32, tail.getDevice());
    NDArray priority = tail.div(u.neg().add(1f)) // 1 - u lies in (0, 1]
        .scatter(topIds, manager.full(topIds.getShape(), -1f, DataType.FLOAT32, tail.getDevice()), 1);
    NDList drawn = priority.topK(m + 1, 1, true, true);
    NDArray threshold = drawn.get(0).get(new NDIndex(":, {}:{}", m, m + 1));
    NDArray ids = drawn.get(1).get(new NDIndex(":, 0:{}", m));
    NDArray weights = tail.gather(ids, 1).maximum(threshold);
    NDArray scale = tailMass.expandDims(1).div(weights.sum(new int[] {1}, true).maximum(1e-37f));
    return new NDList(ids, weights.mul(scale).log());
  }
}
