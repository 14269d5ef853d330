package dev.distillery.prune;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.model.LlamaConfig;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What structured pruning keeps of a teacher: the layers (depth), the hidden channels (embedding width), and per
 * kept layer its attention heads and FFN neurons (width). {@code prune-plan.json} is this record; {@link CheckpointPruner}
 * applies it to the teacher's checkpoint. Construction validates it against both configs, so an invalid plan never
 * reaches the writer.
 *
 * @param source the teacher's config
 * @param target the student's config ({@code head_dim} unchanged, every kept layer the same width)
 * @param hiddenChannels kept hidden channels of the teacher, strictly ascending
 * @param layers one entry per student layer, in order; their source layers strictly ascending
 */
public record PrunePlan(LlamaConfig source, LlamaConfig target, int[] hiddenChannels, List<LayerPlan> layers) {
  private static final ObjectMapper JSON = new ObjectMapper();

  public PrunePlan {
    hiddenChannels = hiddenChannels.clone();
    layers = List.copyOf(layers);
    List<String> problems = new ArrayList<>();
    check(problems, "hidden_channels", hiddenChannels, source.hiddenSize(), target.hiddenSize());
    if (target.headDim() != source.headDim()) {
      problems.add("target head_dim " + target.headDim() + " differs from the source's " + source.headDim()
          + "; pruning keeps whole heads");
    }
    if (target.vocabSize() != source.vocabSize() || target.tieWordEmbeddings() != source.tieWordEmbeddings()) {
      problems.add("target vocab_size/tie_word_embeddings must equal the source's");
    }
    if (layers.size() != target.numHiddenLayers()) {
      problems.add("plan has " + layers.size() + " layers but the target config has num_hidden_layers "
          + target.numHiddenLayers());
    }
    int previous = -1;
    for (int i = 0; i < layers.size(); i++) {
      LayerPlan layer = layers.get(i);
      String where = "layers[" + i + "]";
      if (layer.sourceLayer() <= previous || layer.sourceLayer() >= source.numHiddenLayers()) {
        problems.add(where + ".source_layer " + layer.sourceLayer() + " must be ascending and in [0, "
            + source.numHiddenLayers() + ")");
      }
      previous = layer.sourceLayer();
      check(problems, where + ".kv_heads", layer.kvHeads(), source.numKeyValueHeads(), target.numKeyValueHeads());
      check(problems, where + ".query_heads", layer.queryHeads(), source.numAttentionHeads(),
          target.numAttentionHeads());
      check(problems, where + ".neurons", layer.neurons(), source.intermediateSize(), target.intermediateSize());
      checkGroups(problems, where, layer, source, target);
    }
    if (!problems.isEmpty()) {
      throw new IllegalArgumentException("Invalid prune plan: " + String.join("; ", problems));
    }
  }

  private static void check(List<String> problems, String field, int[] kept, int sourceSize, int targetSize) {
    if (kept.length != targetSize) {
      problems.add(field + " keeps " + kept.length + " but the target config needs " + targetSize);
    }
    for (int i = 0; i < kept.length; i++) {
      if (kept[i] < 0 || kept[i] >= sourceSize) {
        problems.add(field + "[" + i + "] = " + kept[i] + " is out of range [0, " + sourceSize + ")");
        return;
      }
      if (i > 0 && kept[i] <= kept[i - 1]) {
        problems.add(field + " must be strictly ascending (no duplicates); see index " + i + " (" + kept[i] + ")");
        return;
      }
    }
  }

  /** Every kept query head belongs to a kept KV head's group, and every kept group keeps the same count. */
  private static void checkGroups(List<String> problems, String where, LayerPlan layer, LlamaConfig source,
      LlamaConfig target) {
    int groupSize = source.queriesPerKvGroup();
    int perGroup = target.queriesPerKvGroup();
    for (int kv : layer.kvHeads()) {
      long inGroup = Arrays.stream(layer.queryHeads()).filter(q -> q / groupSize == kv).count();
      if (inGroup != perGroup) {
        problems.add(where + ": KV head " + kv + " keeps " + inGroup + " query heads, expected " + perGroup
            + " (equal query heads per KV group)");
        return;
      }
    }
    for (int q : layer.queryHeads()) {
      if (Arrays.binarySearch(layer.kvHeads(), q / groupSize) < 0) {
        problems.add(where + ": query head " + q + " belongs to KV head " + q / groupSize + ", which is not kept");
        return;
      }
    }
  }

  @Override
  public int[] hiddenChannels() {
    return hiddenChannels.clone();
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof PrunePlan p && p.source.equals(source) && p.target.equals(target)
        && Arrays.equals(p.hiddenChannels, hiddenChannels) && p.layers.equals(layers);
  }

  @Override
  public int hashCode() {
    return 31 * (31 * (31 * source.hashCode() + target.hashCode()) + Arrays.hashCode(hiddenChannels))
        + layers.hashCode();
  }

  @Override
  public String toString() {
    return "PrunePlan[" + source.parameterCount() + " -> " + target.parameterCount() + " parameters, "
        + layers.size() + " layers, hidden " + hiddenChannels.length + "]";
  }

  /** A plan that keeps everything: applying it reproduces the teacher. */
  public static PrunePlan identity(LlamaConfig config) {
    List<LayerPlan> layers = new ArrayList<>();
    for (int i = 0; i < config.numHiddenLayers(); i++) {
      layers.add(new LayerPlan(i, range(config.numKeyValueHeads()), range(config.numAttentionHeads()),
          range(config.intermediateSize())));
    }
    return new PrunePlan(config, config, range(config.hiddenSize()), layers);
  }

  /**
   * A plan that keeps the same heads and neurons in every kept layer; the target config follows from the kept
   * counts.
   *
   * @param sourceLayers the teacher layers to keep, ascending
   */
  public static PrunePlan uniform(LlamaConfig source, int[] hiddenChannels, int[] sourceLayers, int[] kvHeads,
      int[] queryHeads, int[] neurons) {
    LlamaConfig target = source.withShape(hiddenChannels.length, neurons.length, sourceLayers.length,
        queryHeads.length, kvHeads.length, source.headDim());
    List<LayerPlan> layers = new ArrayList<>();
    for (int layer : sourceLayers) {
      layers.add(new LayerPlan(layer, kvHeads, queryHeads, neurons));
    }
    return new PrunePlan(source, target, hiddenChannels, layers);
  }

  /** {@code 0, 1, ..., n-1}. */
  public static int[] range(int n) {
    int[] all = new int[n];
    Arrays.setAll(all, i -> i);
    return all;
  }

  /** {@code prune-plan.json} text: configs, kept indices, and parameter counts before and after. */
  public String toJson() {
    try {
      ObjectNode root = JSON.createObjectNode();
      root.set("source_config", JSON.readTree(source.toJson()));
      root.set("target_config", JSON.readTree(target.toJson()));
      root.put("source_parameters", source.parameterCount());
      root.put("target_parameters", target.parameterCount());
      root.set("hidden_channels", ints(hiddenChannels));
      ArrayNode layerNodes = root.putArray("layers");
      for (LayerPlan layer : layers) {
        ObjectNode node = layerNodes.addObject();
        node.put("source_layer", layer.sourceLayer());
        node.set("kv_heads", ints(layer.kvHeads()));
        node.set("query_heads", ints(layer.queryHeads()));
        node.set("neurons", ints(layer.neurons()));
      }
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static ArrayNode ints(int[] values) {
    ArrayNode array = JSON.createArrayNode();
    for (int v : values) {
      array.add(v);
    }
    return array;
  }

  /**
   * Parses and validates {@code prune-plan.json}.
   *
   * @param source the file's name, for errors
   */
  public static PrunePlan fromJson(String json, String source) {
    try {
      JsonNode root = JSON.readTree(json);
      LlamaConfig from = LlamaConfig.fromJson(required(root, "source_config", source).toString(),
          source + " source_config");
      LlamaConfig to = LlamaConfig.fromJson(required(root, "target_config", source).toString(),
          source + " target_config");
      List<LayerPlan> layers = new ArrayList<>();
      JsonNode layerNodes = required(root, "layers", source);
      for (int i = 0; i < layerNodes.size(); i++) {
        JsonNode node = layerNodes.get(i);
        String where = source + " layers[" + i + "]";
        layers.add(new LayerPlan(required(node, "source_layer", where).asInt(),
            intArray(required(node, "kv_heads", where), where + ".kv_heads"),
            intArray(required(node, "query_heads", where), where + ".query_heads"),
            intArray(required(node, "neurons", where), where + ".neurons")));
      }
      return new PrunePlan(from, to, intArray(required(root, "hidden_channels", source), source + " hidden_channels"),
          layers);
    } catch (IOException e) {
      throw new IllegalArgumentException(source + ": not valid JSON: " + e.getMessage(), e);
    } catch (IllegalArgumentException e) {
      throw e.getMessage().startsWith(source) ? e : new IllegalArgumentException(source + ": " + e.getMessage(), e);
    }
  }

  private static JsonNode required(JsonNode node, String field, String where) {
    JsonNode value = node == null ? null : node.get(field);
    if (value == null || value.isNull()) {
      throw new IllegalArgumentException(where + ": missing field '" + field + "'");
    }
    return value;
  }

  private static int[] intArray(JsonNode node, String where) {
    if (!node.isArray()) {
      throw new IllegalArgumentException(where + ": expected an array of integers");
    }
    int[] values = new int[node.size()];
    for (int i = 0; i < values.length; i++) {
      if (!node.get(i).isIntegralNumber()) {
        throw new IllegalArgumentException(where + "[" + i + "]: expected an integer, got " + node.get(i));
      }
      values[i] = node.get(i).intValue();
    }
    return values;
  }
}
