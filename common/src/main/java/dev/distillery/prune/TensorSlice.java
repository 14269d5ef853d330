package dev.distillery.prune;

import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one student tensor takes from one teacher tensor: the kept rows (first dimension) and the kept
 * columns (second dimension; for a rank-1 tensor, its elements), each as ascending teacher indices, or null
 * for all of them. Rows are gathered first, then columns within each kept row.
 *
 * @param target the student tensor's name
 * @param source the teacher tensor's name
 * @param rows kept teacher rows, or null for every row
 * @param columns kept teacher columns, or null for every column
 */
record TensorSlice(String target, String source, int[] rows, int[] columns) {

  /**
   * Every student tensor of {@code plan}, keyed and ordered by its name as the student checkpoint stores it,
   * with kept layers renumbered from 0.
   */
  static Map<String, TensorSlice> of(PrunePlan plan) {
    int[] hidden = plan.hiddenChannels();
    int headDim = plan.source().headDim();
    LlamaConfig target = plan.target();
    Map<String, TensorSlice> slices = new LinkedHashMap<>();
    for (String name : LlamaTensors.expectedShapes(target).keySet()) {
      slices.put(name, null);
    }
    put(slices, LlamaTensors.EMBED, LlamaTensors.EMBED, null, hidden);
    put(slices, LlamaTensors.FINAL_NORM, LlamaTensors.FINAL_NORM, null, hidden);
    if (!target.tieWordEmbeddings()) {
      put(slices, LlamaTensors.LM_HEAD, LlamaTensors.LM_HEAD, null, hidden);
    }
    for (int i = 0; i < plan.layers().size(); i++) {
      LayerPlan layer = plan.layers().get(i);
      int s = layer.sourceLayer();
      int[] queryRows = expandHeads(layer.queryHeads(), headDim);
      int[] kvRows = expandHeads(layer.kvHeads(), headDim);
      put(slices, LlamaTensors.inputNorm(i), LlamaTensors.inputNorm(s), null, hidden);
      put(slices, LlamaTensors.q(i), LlamaTensors.q(s), queryRows, hidden);
      put(slices, LlamaTensors.k(i), LlamaTensors.k(s), kvRows, hidden);
      put(slices, LlamaTensors.v(i), LlamaTensors.v(s), kvRows, hidden);
      if (target.architecture().attentionBias()) {
        put(slices, LlamaTensors.qBias(i), LlamaTensors.qBias(s), null, queryRows);
        put(slices, LlamaTensors.kBias(i), LlamaTensors.kBias(s), null, kvRows);
        put(slices, LlamaTensors.vBias(i), LlamaTensors.vBias(s), null, kvRows);
      }
      put(slices, LlamaTensors.o(i), LlamaTensors.o(s), hidden, queryRows);
      put(slices, LlamaTensors.postAttentionNorm(i), LlamaTensors.postAttentionNorm(s), null, hidden);
      put(slices, LlamaTensors.gate(i), LlamaTensors.gate(s), layer.neurons(), hidden);
      put(slices, LlamaTensors.up(i), LlamaTensors.up(s), layer.neurons(), hidden);
      put(slices, LlamaTensors.down(i), LlamaTensors.down(s), hidden, layer.neurons());
    }
    return slices;
  }

  /** The rows {@code head * headDim + d} of every kept head, in order. */
  static int[] expandHeads(int[] heads, int headDim) {
    int[] rows = new int[heads.length * headDim];
    for (int h = 0; h < heads.length; h++) {
      for (int d = 0; d < headDim; d++) {
        rows[h * headDim + d] = heads[h] * headDim + d;
      }
    }
    return rows;
  }

  private static void put(Map<String, TensorSlice> slices, String target, String source, int[] rows, int[] columns) {
    if (!slices.containsKey(target)) {
      throw new IllegalStateException("tensor '" + target + "' is not part of the student config");
    }
    slices.put(target, new TensorSlice(target, source, rows, columns));
  }
}
