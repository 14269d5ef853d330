package dev.distillery.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensors a Hugging Face Llama-layout checkpoint (Llama, Mistral, Qwen2) holds, by name, with their shapes ({@code [out, in]} for
 * linear weights, as PyTorch stores them).
 */
public final class LlamaTensors {
  public static final String EMBED = "model.embed_tokens.weight";
  public static final String FINAL_NORM = "model.norm.weight";
  public static final String LM_HEAD = "lm_head.weight";

  private LlamaTensors() {}

  /** Name of a tensor in layer {@code layer}, e.g. {@code layer(3, "self_attn.q_proj.weight")}. */
  public static String layer(int layer, String suffix) {
    return "model.layers." + layer + "." + suffix;
  }

  /**
   * The part of the model a tensor belongs to, as backward passes through it: {@code model.layers.N.} for a decoder
   * layer's tensors, else the tensor's own name (embeddings, final norm, lm head).
   */
  public static String stageOf(String name) {
    String layers = "model.layers.";
    return name.startsWith(layers) ? name.substring(0, name.indexOf('.', layers.length()) + 1) : name;
  }

  public static String q(int layer) {
    return layer(layer, "self_attn.q_proj.weight");
  }

  public static String k(int layer) {
    return layer(layer, "self_attn.k_proj.weight");
  }

  public static String v(int layer) {
    return layer(layer, "self_attn.v_proj.weight");
  }

  /** Bias of {@code q_proj} (Qwen2 only; see {@link ModelArchitecture#attentionBias()}). */
  public static String qBias(int layer) {
    return layer(layer, "self_attn.q_proj.bias");
  }

  public static String kBias(int layer) {
    return layer(layer, "self_attn.k_proj.bias");
  }

  public static String vBias(int layer) {
    return layer(layer, "self_attn.v_proj.bias");
  }

  public static String o(int layer) {
    return layer(layer, "self_attn.o_proj.weight");
  }

  public static String gate(int layer) {
    return layer(layer, "mlp.gate_proj.weight");
  }

  public static String up(int layer) {
    return layer(layer, "mlp.up_proj.weight");
  }

  public static String down(int layer) {
    return layer(layer, "mlp.down_proj.weight");
  }

  public static String inputNorm(int layer) {
    return layer(layer, "input_layernorm.weight");
  }

  public static String postAttentionNorm(int layer) {
    return layer(layer, "post_attention_layernorm.weight");
  }

  /** Every tensor the config requires, in checkpoint order, with its shape. */
  public static Map<String, long[]> expectedShapes(LlamaConfig c) {
    long h = c.hiddenSize();
    Map<String, long[]> shapes = new LinkedHashMap<>();
    shapes.put(EMBED, new long[] {c.vocabSize(), h});
    for (int i = 0; i < c.numHiddenLayers(); i++) {
      shapes.put(inputNorm(i), new long[] {h});
      shapes.put(q(i), new long[] {c.qDim(), h});
      shapes.put(k(i), new long[] {c.kvDim(), h});
      shapes.put(v(i), new long[] {c.kvDim(), h});
      if (c.architecture().attentionBias()) {
        shapes.put(qBias(i), new long[] {c.qDim()});
        shapes.put(kBias(i), new long[] {c.kvDim()});
        shapes.put(vBias(i), new long[] {c.kvDim()});
      }
      shapes.put(o(i), new long[] {h, c.qDim()});
      shapes.put(postAttentionNorm(i), new long[] {h});
      shapes.put(gate(i), new long[] {c.intermediateSize(), h});
      shapes.put(up(i), new long[] {c.intermediateSize(), h});
      shapes.put(down(i), new long[] {h, c.intermediateSize()});
    }
    shapes.put(FINAL_NORM, new long[] {h});
    if (!c.tieWordEmbeddings()) {
      shapes.put(LM_HEAD, new long[] {c.vocabSize(), h});
    }
    return shapes;
  }
}
