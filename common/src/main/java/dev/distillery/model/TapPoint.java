package dev.distillery.model;

/** The places in a {@link LlamaModel} forward pass where {@link Taps} can observe activations. */
public enum TapPoint {
  /** Hidden states entering a decoder layer, {@code [batch, seq, hidden]}. */
  LAYER_INPUT,
  /** Output of the layer's {@code input_layernorm}, {@code [batch, seq, hidden]}. */
  INPUT_NORM,
  /** Per-head attention output, the input of {@code o_proj}, {@code [batch, seq, heads, head_dim]}. */
  ATTENTION_HEADS,
  /** Output of the layer's {@code post_attention_layernorm}, {@code [batch, seq, hidden]}. */
  POST_ATTENTION_NORM,
  /** {@code silu(gate(x)) * up(x)}, the input of {@code down_proj}, {@code [batch, seq, intermediate]}. */
  MLP_ACTIVATION,
  /** Hidden states leaving a decoder layer, {@code [batch, seq, hidden]}. */
  LAYER_OUTPUT,
  /**
   * Output of the final {@code model.norm}, {@code [batch, seq, hidden]}; reported with layer index
   * {@code numHiddenLayers}.
   */
  FINAL_NORM
}
