package dev.distillery.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What distinguishes the supported Llama-layout families ({@code LlamaForCausalLM}, {@code MistralForCausalLM},
 * {@code Qwen2ForCausalLM}) from one another, so the model, pruner and writer stay one code path: whether q/k/v
 * carry biases, the sliding attention window, and the source {@code config.json} fields Distillery does not model,
 * written back unchanged.
 *
 * @param family which Hugging Face class the checkpoint is
 * @param slidingWindow keys a query may attend to, itself included ({@code j > i - window}); 0 for plain causal
 * @param sourceFields top-level {@code config.json} fields that are not modelled, in source order
 */
public record ModelArchitecture(Family family, int slidingWindow, Map<String, JsonNode> sourceFields) {

  /** A supported Hugging Face architecture. */
  public enum Family {
    LLAMA("llama", "LlamaForCausalLM", false),
    MISTRAL("mistral", "MistralForCausalLM", false),
    QWEN2("qwen2", "Qwen2ForCausalLM", true);

    private final String modelType;
    private final String className;
    private final boolean attentionBias;

    Family(String modelType, String className, boolean attentionBias) {
      this.modelType = modelType;
      this.className = className;
      this.attentionBias = attentionBias;
    }

    public String modelType() {
      return modelType;
    }

    public String className() {
      return className;
    }
  }

  /** Plain Llama, no fields carried over. */
  public static final ModelArchitecture LLAMA = new ModelArchitecture(Family.LLAMA, 0, Map.of());

  public ModelArchitecture {
    if (family == null) {
      throw new IllegalArgumentException("architecture family must be set");
    }
    if (slidingWindow < 0) {
      throw new IllegalArgumentException("sliding_window must be > 0 or absent, got " + slidingWindow);
    }
    if (slidingWindow > 0 && family == Family.LLAMA) {
      throw new IllegalArgumentException("sliding_window is not part of LlamaForCausalLM");
    }
    sourceFields = Collections.unmodifiableMap(new LinkedHashMap<>(sourceFields));
  }

  /** Whether {@code q_proj}, {@code k_proj} and {@code v_proj} have a bias (Qwen2); {@code o_proj} never does. */
  public boolean attentionBias() {
    return family.attentionBias;
  }

  /** Whether attention is limited to a window of {@link #slidingWindow()} keys. */
  public boolean hasSlidingWindow() {
    return slidingWindow > 0;
  }

  private static final List<String> MIXTURE_OF_EXPERTS_FIELDS = List.of("num_local_experts", "num_experts",
      "num_experts_per_tok", "moe_intermediate_size");

  /**
   * Reads the family and its fields from a parsed {@code config.json}.
   *
   * @param modelledFields the fields {@link LlamaConfig} reads itself, not carried in {@link #sourceFields}
   * @throws IllegalArgumentException naming the field when the checkpoint is not a supported dense decoder
   */
  static ModelArchitecture fromJson(JsonNode root, String source, List<String> modelledFields) {
    String modelType = root.path("model_type").asText("");
    JsonNode archs = root.path("architectures");
    Family family = null;
    for (Family f : Family.values()) {
      if (f.modelType.equals(modelType)) {
        family = f;
      }
    }
    if (family == null) {
      throw new IllegalArgumentException(source + ": model_type '" + modelType + "' is not supported; expected "
          + "'llama', 'mistral' or 'qwen2' (dense Llama-layout decoders; no MoE or multimodal models)");
    }
    if (archs.isArray() && archs.size() > 0 && !archs.get(0).asText().equals(family.className)) {
      throw new IllegalArgumentException(source + ": architectures " + archs + " is not supported for model_type '"
          + modelType + "', expected " + family.className);
    }
    for (String field : MIXTURE_OF_EXPERTS_FIELDS) {
      if (root.hasNonNull(field)) {
        throw new IllegalArgumentException(source + ": field '" + field + "' marks a mixture-of-experts model, "
            + "which is not supported");
      }
    }
    if (root.hasNonNull("vision_config") || root.hasNonNull("text_config")) {
      throw new IllegalArgumentException(source + ": field '" + (root.hasNonNull("vision_config") ? "vision_config"
          : "text_config") + "' marks a multimodal model, which is not supported");
    }
    int window = switch (family) {
      case LLAMA -> 0;
      case MISTRAL -> positiveOrAbsent(root, "sliding_window", source);
      case QWEN2 -> {
        if (root.path("use_sliding_window").asBoolean(false)) {
          throw new IllegalArgumentException(source + ": field 'use_sliding_window' true is not supported for "
              + "Qwen2 (its per-layer windows from max_window_layers); expected false");
        }
        yield 0;
      }
    };
    Map<String, JsonNode> carried = new LinkedHashMap<>();
    root.fields().forEachRemaining(e -> {
      if (!modelledFields.contains(e.getKey()) && !e.getKey().equals("sliding_window")) {
        carried.put(e.getKey(), e.getValue().deepCopy());
      }
    });
    if (family == Family.QWEN2 && root.has("sliding_window")) {
      carried.put("sliding_window", root.get("sliding_window").deepCopy());
    }
    return new ModelArchitecture(family, window, carried);
  }

  private static int positiveOrAbsent(JsonNode root, String field, String source) {
    JsonNode v = root.get(field);
    if (v == null || v.isNull()) {
      return 0;
    }
    if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() <= 0) {
      throw new IllegalArgumentException(source + ": field '" + field + "' must be a positive integer or null, got "
          + v);
    }
    return v.intValue();
  }

  /** Writes the carried fields, then the family's own, into {@code root} (modelled fields are written after). */
  void writeTo(ObjectNode root) {
    root.putArray("architectures").add(family.className);
    root.put("model_type", family.modelType);
    sourceFields.forEach(root::set);
    if (family == Family.MISTRAL) {
      if (slidingWindow > 0) {
        root.put("sliding_window", slidingWindow);
      } else {
        root.putNull("sliding_window");
      }
    }
  }
}
