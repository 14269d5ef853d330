package dev.distillery.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * A Hugging Face {@code config.json} for a Llama-layout decoder ({@code LlamaForCausalLM}, {@code MistralForCausalLM},
 * {@code Qwen2ForCausalLM}; what differs between them is in {@link ModelArchitecture}), validated.
 *
 * <p>{@code headDim} is explicit because pruned models (Minitron-4B-Width: hidden 3072, 32 heads of
 * 128) no longer satisfy {@code hidden_size / num_attention_heads}. {@code ropeScaling} is null when
 * the checkpoint uses plain RoPE.
 */
public record LlamaConfig(
    int hiddenSize,
    int intermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int numKeyValueHeads,
    int headDim,
    int vocabSize,
    double rmsNormEps,
    double ropeTheta,
    RopeScaling ropeScaling,
    int maxPositionEmbeddings,
    boolean tieWordEmbeddings,
    int bosTokenId,
    int eosTokenId,
    String torchDtype,
    ModelArchitecture architecture) {

  private static final ObjectMapper JSON = new ObjectMapper();
  /** The fields this record reads and writes itself; the others travel in {@link ModelArchitecture#sourceFields}. */
  private static final List<String> MODELLED_FIELDS = List.of("architectures", "model_type", "hidden_size",
      "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
      "vocab_size", "rms_norm_eps", "rope_theta", "rope_scaling", "max_position_embeddings", "tie_word_embeddings",
      "bos_token_id", "eos_token_id", "torch_dtype", "hidden_act", "attention_bias", "mlp_bias", "attention_dropout", "initializer_range",
      "pretraining_tp", "use_cache");

  /** A {@code LlamaForCausalLM} config. */
  public LlamaConfig(int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
      int numKeyValueHeads, int headDim, int vocabSize, double rmsNormEps, double ropeTheta, RopeScaling ropeScaling,
      int maxPositionEmbeddings, boolean tieWordEmbeddings, int bosTokenId, int eosTokenId, String torchDtype) {
    this(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads, headDim, vocabSize,
        rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenId,
        torchDtype, ModelArchitecture.LLAMA);
  }

  /** Validates on construction, so every instance describes a model that can exist. */
  public LlamaConfig {
    List<String> problems = new ArrayList<>();
    positive(problems, "hidden_size", hiddenSize);
    positive(problems, "intermediate_size", intermediateSize);
    positive(problems, "num_hidden_layers", numHiddenLayers);
    positive(problems, "num_attention_heads", numAttentionHeads);
    positive(problems, "num_key_value_heads", numKeyValueHeads);
    positive(problems, "head_dim", headDim);
    positive(problems, "vocab_size", vocabSize);
    positive(problems, "max_position_embeddings", maxPositionEmbeddings);
    if (numAttentionHeads > 0 && numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads != 0) {
      problems.add("num_attention_heads (" + numAttentionHeads + ") must be a multiple of num_key_value_heads ("
          + numKeyValueHeads + ")");
    }
    if (headDim > 0 && headDim % 2 != 0) {
      problems.add("head_dim must be even for rotary embeddings, got " + headDim);
    }
    if (!(rmsNormEps > 0)) {
      problems.add("rms_norm_eps must be > 0, got " + rmsNormEps);
    }
    if (!(ropeTheta > 0)) {
      problems.add("rope_theta must be > 0, got " + ropeTheta);
    }
    if (ropeScaling != null) {
      if (!(ropeScaling.factor() > 0)) {
        problems.add("rope_scaling.factor must be > 0, got " + ropeScaling.factor());
      }
      if (!(ropeScaling.highFreqFactor() > ropeScaling.lowFreqFactor())) {
        problems.add("rope_scaling.high_freq_factor (" + ropeScaling.highFreqFactor()
            + ") must be greater than low_freq_factor (" + ropeScaling.lowFreqFactor() + ")");
      }
      if (ropeScaling.originalMaxPositionEmbeddings() <= 0) {
        problems.add("rope_scaling.original_max_position_embeddings must be > 0");
      }
    }
    if (bosTokenId >= vocabSize || eosTokenId >= vocabSize) {
      problems.add("bos_token_id/eos_token_id (" + bosTokenId + "/" + eosTokenId + ") must be < vocab_size ("
          + vocabSize + ")");
    }
    if (torchDtype == null || !(torchDtype.equals("float32") || torchDtype.equals("float16")
        || torchDtype.equals("bfloat16"))) {
      problems.add("torch_dtype must be float32, float16 or bfloat16, got " + torchDtype);
    }
    if (architecture == null) {
      problems.add("architecture must be set");
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("Invalid Llama config: " + String.join("; ", problems));
    }
  }

  private static void positive(List<String> problems, String field, int value) {
    if (value <= 0) {
      problems.add(field + " must be > 0, got " + value);
    }
  }

  /** Query heads that share one key/value head. */
  public int queriesPerKvGroup() {
    return numAttentionHeads / numKeyValueHeads;
  }

  /** Width of the concatenated query projection ({@code heads × head_dim}). */
  public int qDim() {
    return numAttentionHeads * headDim;
  }

  /** Width of the key (and value) projection ({@code kv_heads × head_dim}). */
  public int kvDim() {
    return numKeyValueHeads * headDim;
  }

  /** Total parameters, counting a tied embedding once. */
  public long parameterCount() {
    long h = hiddenSize;
    long biases = architecture.attentionBias() ? qDim() + 2L * kvDim() : 0;
    long perLayer = h * qDim() + 2L * h * kvDim() + (long) qDim() * h + biases // attention
        + 3L * h * intermediateSize // gate, up, down
        + 2L * h; // two norms
    long embedding = (long) vocabSize * h;
    long head = tieWordEmbeddings ? 0 : embedding;
    return embedding + perLayer * numHiddenLayers + h + head;
  }

  /** Returns a copy with different dimensions; used by pruning and tests. */
  public LlamaConfig withShape(int hidden, int intermediate, int layers, int heads, int kvHeads, int newHeadDim) {
    return new LlamaConfig(hidden, intermediate, layers, heads, kvHeads, newHeadDim, vocabSize, rmsNormEps,
        ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings, bosTokenId, eosTokenId, torchDtype,
        architecture);
  }

  /** Returns a copy with another {@code torch_dtype}. */
  public LlamaConfig withTorchDtype(String dtype) {
    return new LlamaConfig(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
        headDim, vocabSize, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings,
        bosTokenId, eosTokenId, dtype, architecture);
  }

  /** Returns a copy of another architecture (family, sliding window, carried fields). */
  public LlamaConfig withArchitecture(ModelArchitecture newArchitecture) {
    return new LlamaConfig(hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
        headDim, vocabSize, rmsNormEps, ropeTheta, ropeScaling, maxPositionEmbeddings, tieWordEmbeddings,
        bosTokenId, eosTokenId, torchDtype, newArchitecture);
  }

  /** The shapes of Meta-Llama-3.1-8B, for scale tests and planning. */
  public static LlamaConfig llama31_8b() {
    return new LlamaConfig(4096, 14336, 32, 32, 8, 128, 128256, 1e-5, 500000.0, RopeScaling.llama31(), 131072,
        false, 128000, 128001, "bfloat16");
  }

  /**
   * Parses {@code config.json} text.
   *
   * @param source where the text came from, named in errors
   * @throws IllegalArgumentException naming the source and field when the config is not a valid Llama config
   */
  public static LlamaConfig fromJson(String json, String source) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(source + ": not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(source + ": expected a JSON object");
    }
    try {
      return parse(root, source);
    } catch (IllegalArgumentException e) {
      throw e.getMessage().startsWith(source) ? e : new IllegalArgumentException(source + ": " + e.getMessage(), e);
    }
  }

  private static LlamaConfig parse(JsonNode root, String source) {
    ModelArchitecture architecture = ModelArchitecture.fromJson(root, source, MODELLED_FIELDS);
    if (root.path("attention_bias").asBoolean(false) != architecture.attentionBias() && root.has("attention_bias")) {
      throw new IllegalArgumentException(source + ": field 'attention_bias' " + root.get("attention_bias")
          + " is not supported for " + architecture.family().className() + ", expected "
          + architecture.attentionBias());
    }
    if (root.path("mlp_bias").asBoolean(false)) {
      throw new IllegalArgumentException(source + ": field 'mlp_bias' true is not supported (expected false)");
    }
    String act = root.path("hidden_act").asText("silu");
    if (!act.equals("silu")) {
      throw new IllegalArgumentException(source + ": hidden_act '" + act + "' is not supported, expected 'silu'");
    }
    int hidden = requiredInt(root, "hidden_size", source);
    int heads = requiredInt(root, "num_attention_heads", source);
    int kvHeads = root.has("num_key_value_heads") && !root.get("num_key_value_heads").isNull()
        ? requiredInt(root, "num_key_value_heads", source) : heads;
    int headDim = root.has("head_dim") && !root.get("head_dim").isNull()
        ? requiredInt(root, "head_dim", source) : (heads > 0 ? hidden / heads : 0);
    RopeScaling scaling = null;
    JsonNode rs = root.path("rope_scaling");
    if (rs.isObject()) {
      String type = rs.has("rope_type") ? rs.get("rope_type").asText() : rs.path("type").asText("");
      if (!type.equals("llama3")) {
        throw new IllegalArgumentException(source + ": rope_scaling.rope_type '" + type
            + "' is not supported, expected 'llama3' or no rope_scaling");
      }
      scaling = new RopeScaling(requiredDouble(rs, "factor", source + " rope_scaling"),
          requiredDouble(rs, "low_freq_factor", source + " rope_scaling"),
          requiredDouble(rs, "high_freq_factor", source + " rope_scaling"),
          requiredInt(rs, "original_max_position_embeddings", source + " rope_scaling"));
    }
    int vocab = requiredInt(root, "vocab_size", source);
    return new LlamaConfig(hidden, requiredInt(root, "intermediate_size", source),
        requiredInt(root, "num_hidden_layers", source), heads, kvHeads, headDim, vocab,
        root.path("rms_norm_eps").asDouble(1e-6), root.path("rope_theta").asDouble(10000.0), scaling,
        root.path("max_position_embeddings").asInt(2048), root.path("tie_word_embeddings").asBoolean(false),
        tokenId(root, "bos_token_id", 1), tokenId(root, "eos_token_id", 2),
        root.path("torch_dtype").asText("float32"), architecture);
  }

  private static int tokenId(JsonNode root, String field, int fallback) {
    JsonNode node = root.path(field);
    if (node.isArray()) {
      return node.size() > 0 ? node.get(0).asInt() : fallback;
    }
    return node.isIntegralNumber() ? node.asInt() : fallback;
  }

  private static int requiredInt(JsonNode node, String field, String source) {
    JsonNode v = node.get(field);
    if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
      throw new IllegalArgumentException(source + ": field '" + field + "' must be an integer, got "
          + (v == null ? "nothing" : v.toString()));
    }
    return v.intValue();
  }

  private static double requiredDouble(JsonNode node, String field, String source) {
    JsonNode v = node.get(field);
    if (v == null || !v.isNumber()) {
      throw new IllegalArgumentException(source + ": field '" + field + "' must be a number, got "
          + (v == null ? "nothing" : v.toString()));
    }
    return v.doubleValue();
  }

  /** Serializes in the form HF transformers writes (and reads back). */
  public String toJson() {
    ObjectNode root = JSON.createObjectNode();
    architecture.writeTo(root);
    root.put("hidden_size", hiddenSize);
    root.put("intermediate_size", intermediateSize);
    root.put("num_hidden_layers", numHiddenLayers);
    root.put("num_attention_heads", numAttentionHeads);
    root.put("num_key_value_heads", numKeyValueHeads);
    root.put("head_dim", headDim);
    root.put("vocab_size", vocabSize);
    root.put("rms_norm_eps", rmsNormEps);
    root.put("rope_theta", ropeTheta);
    if (ropeScaling != null) {
      ObjectNode rs = root.putObject("rope_scaling");
      rs.put("rope_type", "llama3");
      rs.put("factor", ropeScaling.factor());
      rs.put("low_freq_factor", ropeScaling.lowFreqFactor());
      rs.put("high_freq_factor", ropeScaling.highFreqFactor());
      rs.put("original_max_position_embeddings", ropeScaling.originalMaxPositionEmbeddings());
    } else {
      root.putNull("rope_scaling");
    }
    root.put("max_position_embeddings", maxPositionEmbeddings);
    root.put("tie_word_embeddings", tieWordEmbeddings);
    root.put("bos_token_id", bosTokenId);
    root.put("eos_token_id", eosTokenId);
    root.put("hidden_act", "silu");
    if (architecture.family() == ModelArchitecture.Family.LLAMA) {
      root.put("attention_bias", false);
      root.put("mlp_bias", false);
      root.put("pretraining_tp", 1);
    }
    root.put("attention_dropout", 0.0);
    root.put("initializer_range", 0.02);
    root.put("use_cache", true);
    root.put("torch_dtype", torchDtype);
    try {
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
