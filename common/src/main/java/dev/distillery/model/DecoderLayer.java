package dev.distillery.model;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/** One pre-norm Llama decoder layer: {@code h = x + attn(norm1(x)); out = h + mlp(norm2(h))}. */
final class DecoderLayer {
  private final int index;
  private final float eps;
  private final NDArray inputNormWeight;
  private final NDArray postAttentionNormWeight;
  private final Attention attention;
  private final Mlp mlp;

  DecoderLayer(LlamaConfig config, int index, Map<String, NDArray> parameters) {
    this.index = index;
    this.eps = (float) config.rmsNormEps();
    this.inputNormWeight = parameters.get(LlamaTensors.inputNorm(index));
    this.postAttentionNormWeight = parameters.get(LlamaTensors.postAttentionNorm(index));
    this.attention = new Attention(config, parameters.get(LlamaTensors.q(index)),
        parameters.get(LlamaTensors.k(index)), parameters.get(LlamaTensors.v(index)),
        parameters.get(LlamaTensors.o(index)), new Attention.AttentionBiases(
            parameters.get(LlamaTensors.qBias(index)), parameters.get(LlamaTensors.kBias(index)),
            parameters.get(LlamaTensors.vBias(index))));
    this.mlp = new Mlp(parameters.get(LlamaTensors.gate(index)), parameters.get(LlamaTensors.up(index)),
        parameters.get(LlamaTensors.down(index)));
  }

  NDArray forward(NDArray x, PositionTables positions, Taps taps, int queryBlock) {
    taps.emit(TapPoint.LAYER_INPUT, index, x);
    NDArray attentionInput = RmsNorm.apply(x, inputNormWeight, eps);
    taps.emit(TapPoint.INPUT_NORM, index, attentionInput);
    NDArray afterAttention = x.add(attention.forward(attentionInput, positions, taps, index, queryBlock));
    NDArray mlpInput = RmsNorm.apply(afterAttention, postAttentionNormWeight, eps);
    taps.emit(TapPoint.POST_ATTENTION_NORM, index, mlpInput);
    NDArray output = afterAttention.add(mlp.forward(mlpInput, taps, index));
    taps.emit(TapPoint.LAYER_OUTPUT, index, output);
    return output;
  }
}
