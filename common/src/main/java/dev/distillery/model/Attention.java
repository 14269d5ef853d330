package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.core.Linear;

/**
 * Causal grouped-query self-attention of one Llama layer (with Qwen2's q/k/v biases when present; Mistral's sliding
 * window is in the mask, see {@link PositionTables}). Query head {@code h} reads key/value head
 * {@code h / (heads / kvHeads)}; the grouping is done by reshaping queries to {@code [batch, kvHeads, group·seq, d]},
 * so keys and values are never copied per query head.
 */
final class Attention {
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

  /** {@code x}: {@code [batch, seq, hidden]} → attention output projected back to {@code [batch, seq, hidden]}. */
  NDArray forward(NDArray x, PositionTables positions, Taps taps, int layer) {
    long batch = x.getShape().get(0);
    long seq = x.getShape().get(1);
    long group = heads / kvHeads;
    NDArray q = RotaryEmbedding.apply(splitHeads(x, queryWeight, biases.query(), heads), positions.cos(), positions.sin());
    NDArray k = RotaryEmbedding.apply(splitHeads(x, keyWeight, biases.key(), kvHeads), positions.cos(), positions.sin());
    NDArray v = splitHeads(x, valueWeight, biases.value(), kvHeads);

    NDArray groupedQueries = q.reshape(batch, kvHeads, group * seq, headDim);
    NDArray scores = Scalars.times(groupedQueries.matMul(k.transpose(0, 1, 3, 2)), scale)
        .reshape(batch, heads, seq, seq);
    NDArray probabilities = scores.toType(DataType.FLOAT32, false).add(positions.causalMask()).softmax(3)
        .toType(x.getDataType(), false);
    NDArray context = probabilities.reshape(batch, kvHeads, group * seq, seq).matMul(v)
        .reshape(batch, heads, seq, headDim).transpose(0, 2, 1, 3);
    taps.emit(TapPoint.ATTENTION_HEADS, layer, context);
    return Linear.linear(context.reshape(batch, seq, (long) heads * headDim), outputWeight).singletonOrThrow();
  }

  /** Projects and splits into heads: {@code [batch, seq, hidden]} → {@code [batch, n, seq, head_dim]}. */
  private NDArray splitHeads(NDArray x, NDArray weight, NDArray bias, int n) {
    NDArray projected = Linear.linear(x, weight, bias).singletonOrThrow();
    return projected.reshape(x.getShape().get(0), x.getShape().get(1), n, headDim).transpose(0, 2, 1, 3);
  }
}
