package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.core.Linear;

/**
 * Causal grouped-query self-attention of one Llama layer (with Qwen2's q/k/v biases when present; Mistral's sliding
 * window is in the mask, see {@link PositionTables}). Query head {@code h} reads key/value head
 * {@code h / (heads / kvHeads)}; the grouping is done by reshaping queries to {@code [batch, kvHeads, group·seq, d]},
 * so keys and values are never copied per query head. Queries are processed in blocks (see
 * {@link LlamaModel#setQueryBlock}), each in its own manager, so one block's scores are alive at a time (when
 * recording, the graph keeps each block's softmax output for backward); {@link #attend} is the one place scores,
 * mask and softmax meet.
 */
final class Attention {
  /** Index of query positions {@code start:end}, and of key positions {@code :end}, in {@code [b, h, seq, d]}. */
  private static final String QUERY_ROWS = ":, :, {}:{}, :";
  private static final String KEY_ROWS = ":, :, :{}, :";

  private final NDArray queryWeight;
  private final NDArray keyWeight;
  private final NDArray valueWeight;
  private final NDArray outputWeight;
  private final AttentionBiases biases;
  private final int heads;
  private final int kvHeads;
  private final int headDim;
  private final float scale;

  /** Query, key and value biases (Qwen2), each null when the architecture has none. */
  record AttentionBiases(NDArray query, NDArray key, NDArray value) {
    static final AttentionBiases NONE = new AttentionBiases(null, null, null);
  }

  Attention(LlamaConfig config, NDArray queryWeight, NDArray keyWeight, NDArray valueWeight, NDArray outputWeight,
      AttentionBiases biases) {
    this.biases = biases;
    this.queryWeight = queryWeight;
    this.keyWeight = keyWeight;
    this.valueWeight = valueWeight;
    this.outputWeight = outputWeight;
    this.heads = config.numAttentionHeads();
    this.kvHeads = config.numKeyValueHeads();
    this.headDim = config.headDim();
    this.scale = (float) (1.0 / Math.sqrt(headDim));
  }

  /**
   * {@code x}: {@code [batch, seq, hidden]} → attention output projected back to {@code [batch, seq, hidden]}.
   * Queries are taken {@code queryBlock} positions at a time, each block against the keys up to its last position.
   */
  NDArray forward(NDArray x, PositionTables positions, Taps taps, int layer, int queryBlock) {
    long batch = x.getShape().get(0);
    long seq = x.getShape().get(1);
    NDArray q = RotaryEmbedding.apply(splitHeads(x, queryWeight, biases.query(), heads), positions.cos(), positions.sin());
    NDArray k = RotaryEmbedding.apply(splitHeads(x, keyWeight, biases.key(), kvHeads), positions.cos(), positions.sin());
    NDArray v = splitHeads(x, valueWeight, biases.value(), kvHeads);

    NDManager layerScope = x.getManager();
    NDList blocks = new NDList();
    for (long start = 0; start < seq; start += queryBlock) {
      long end = Math.min(seq, start + queryBlock);
      try (NDManager block = layerScope.newSubManager()) { // one block's scores at a time (a graph keeps its own)
        NDArray[] operands = {q.get(QUERY_ROWS, start, end), k.get(KEY_ROWS, end), v.get(KEY_ROWS, end)};
        for (NDArray operand : operands) {
          operand.attach(block);
        }
        NDArray context = attend(operands[0], operands[1], operands[2], positions.causalMask(start, end, block));
        context.attach(layerScope);
        blocks.add(context);
      }
    }
    NDArray context = (blocks.size() == 1 ? blocks.head() : NDArrays.concat(blocks, 2)).transpose(0, 2, 1, 3);
    taps.emit(TapPoint.ATTENTION_HEADS, layer, context);
    return Linear.linear(context.reshape(batch, seq, (long) heads * headDim), outputWeight).singletonOrThrow();
  }

  /**
   * Softmax attention of query rows {@code q} ({@code [batch, heads, n, d]}) over keys and values
   * ({@code [batch, kvHeads, m, d]}) with the additive {@code mask} ({@code [n, m]}, float32); the
   * scores are softmaxed in float32. Returns {@code [batch, heads, n, d]}.
   */
  private NDArray attend(NDArray q, NDArray k, NDArray v, NDArray mask) {
    long batch = q.getShape().get(0);
    long n = q.getShape().get(2);
    long m = k.getShape().get(2);
    long group = heads / kvHeads;
    NDArray groupedQueries = q.reshape(batch, kvHeads, group * n, headDim);
    NDArray scores = Scalars.times(groupedQueries.matMul(k.transpose(0, 1, 3, 2)), scale)
        .reshape(batch, heads, n, m);
    NDArray probabilities = scores.toType(DataType.FLOAT32, false).add(mask).softmax(3)
        .toType(q.getDataType(), false);
    return probabilities.reshape(batch, kvHeads, group * n, m).matMul(v).reshape(batch, heads, n, headDim);
  }

  /** Projects and splits into heads: {@code [batch, seq, hidden]} → {@code [batch, n, seq, head_dim]}. */
  private NDArray splitHeads(NDArray x, NDArray weight, NDArray bias, int n) {
    NDArray projected = Linear.linear(x, weight, bias).singletonOrThrow();
    return projected.reshape(x.getShape().get(0), x.getShape().get(1), n, headDim).transpose(0, 2, 1, 3);
  }
}
