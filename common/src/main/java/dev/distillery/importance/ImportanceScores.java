package dev.distillery.importance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.model.LlamaConfig;
import java.io.IOException;
import java.util.Map;
import java.util.TreeMap;

/**
 * Final importance scores of a teacher, the content of {@code importance/importance.json}: per layer one score per
 * attention (query) head and per MLP neuron, one per hidden channel, and optional layer scores. Higher means more
 * important.
 *
 * @param info provenance
 * @param heads {@code [layers][heads]}
 * @param neurons {@code [layers][intermediate]}
 * @param channels {@code [hidden]}
 * @param blockImportance per layer {@code 1 − mean cos(h_in, h_out)}, or null (weight magnitudes)
 * @param layerLoss LM-loss rise when single layers or contiguous blocks are skipped, or null when not measured
 */
public record ImportanceScores(CalibrationInfo info, double[][] heads, double[][] neurons, double[] channels,
    double[] blockImportance, LayerLoss layerLoss) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /**
   * LM-loss (next-token cross-entropy) rises when layers are skipped.
   *
   * @param baseline the teacher's loss on the same samples
   * @param samples sequences the losses were measured on
   * @param blocks block size → rise per first skipped layer ({@code blocks.get(1)} holds single layers)
   */
  public record LayerLoss(double baseline, long samples, Map<Integer, double[]> blocks) {
    public LayerLoss {
      blocks = Map.copyOf(blocks);
    }
  }

  /** Scores from merged activation statistics. */
  public static ImportanceScores fromStatistics(ImportanceStatistics statistics, Aggregation batch, String teacherPath,
      String teacherSha256, LlamaConfig teacher) {
    CalibrationInfo info = new CalibrationInfo(CalibrationInfo.ACTIVATIONS, teacherPath, teacherSha256, teacher,
        statistics.samples(), statistics.tokens(), statistics.sequenceAggregation(), batch);
    return new ImportanceScores(info, statistics.headScores(batch), statistics.neuronScores(batch),
        statistics.channelScores(batch), statistics.blockImportance(), null);
  }

  /** A copy with layer-loss measurements. */
  public ImportanceScores withLayerLoss(LayerLoss loss) {
    return new ImportanceScores(info, heads, neurons, channels, blockImportance, loss);
  }

  /** {@code importance.json} text. */
  public String toJson() {
    try {
      ObjectNode root = JSON.createObjectNode();
      ObjectNode meta = root.putObject("metadata");
      meta.put("method", info.method());
      meta.put("teacher", info.teacherPath());
      meta.put("teacher_sha256", info.teacherSha256());
      meta.put("samples", info.samples());
      meta.put("tokens", info.tokens());
      ObjectNode aggregation = meta.putObject("aggregation");
      aggregation.put("sequence", info.sequenceAggregation() == null ? null : info.sequenceAggregation().optionName());
      aggregation.put("batch", info.batchAggregation() == null ? null : info.batchAggregation().optionName());
      meta.set("teacher_config", JSON.readTree(info.teacher().toJson()));
      root.set("channels", doubles(channels));
      ArrayNode layers = root.putArray("layers");
      for (int i = 0; i < heads.length; i++) {
        ObjectNode layer = layers.addObject();
        layer.put("layer", i);
        if (blockImportance != null) {
          layer.put("block_importance", blockImportance[i]);
        }
        layer.set("heads", doubles(heads[i]));
        layer.set("neurons", doubles(neurons[i]));
      }
      if (layerLoss != null) {
        ObjectNode loss = root.putObject("layer_loss");
        loss.put("baseline", layerLoss.baseline());
        loss.put("samples", layerLoss.samples());
        ObjectNode blocks = loss.putObject("rise_by_block_size");
        new TreeMap<>(layerLoss.blocks()).forEach((size, rise) -> blocks.set(size.toString(), doubles(rise)));
      }
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Parses {@code importance.json}.
   *
   * @param source the file, named in errors
   */
  public static ImportanceScores fromJson(String json, String source) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (IOException e) {
      throw new IllegalArgumentException(source + ": not valid JSON: " + e.getMessage(), e);
    }
    JsonNode meta = required(root, "metadata", source);
    LlamaConfig teacher = LlamaConfig.fromJson(required(meta, "teacher_config", source).toString(),
        source + " metadata.teacher_config");
    JsonNode aggregation = meta.path("aggregation");
    CalibrationInfo info = new CalibrationInfo(required(meta, "method", source).asText(), meta.path("teacher").asText(),
        meta.path("teacher_sha256").asText(), teacher, meta.path("samples").asLong(), meta.path("tokens").asLong(),
        aggregationOrNull(aggregation.path("sequence")), aggregationOrNull(aggregation.path("batch")));
    JsonNode layers = required(root, "layers", source);
    if (layers.size() != teacher.numHiddenLayers()) {
      throw new IllegalArgumentException(source + ": has " + layers.size() + " layers, teacher_config has "
          + teacher.numHiddenLayers());
    }
    double[][] heads = new double[layers.size()][];
    double[][] neurons = new double[layers.size()][];
    double[] blockImportance = layers.size() > 0 && layers.get(0).has("block_importance")
        ? new double[layers.size()] : null;
    for (int i = 0; i < layers.size(); i++) {
      JsonNode layer = layers.get(i);
      String where = source + " layers[" + i + "]";
      heads[i] = doubles(required(layer, "heads", where), teacher.numAttentionHeads(), where + ".heads");
      neurons[i] = doubles(required(layer, "neurons", where), teacher.intermediateSize(), where + ".neurons");
      if (blockImportance != null) {
        blockImportance[i] = required(layer, "block_importance", where).asDouble();
      }
    }
    double[] channels = doubles(required(root, "channels", source), teacher.hiddenSize(), source + " channels");
    LayerLoss layerLoss = null;
    JsonNode loss = root.get("layer_loss");
    if (loss != null && !loss.isNull()) {
      Map<Integer, double[]> blocks = new TreeMap<>();
      required(loss, "rise_by_block_size", source + " layer_loss").fields().forEachRemaining(e -> {
        int size = Integer.parseInt(e.getKey());
        blocks.put(size, doubles(e.getValue(), teacher.numHiddenLayers() - size + 1,
            source + " layer_loss.rise_by_block_size." + size));
      });
      layerLoss = new LayerLoss(loss.path("baseline").asDouble(), loss.path("samples").asLong(), blocks);
    }
    return new ImportanceScores(info, heads, neurons, channels, blockImportance, layerLoss);
  }

  private static Aggregation aggregationOrNull(JsonNode node) {
    return node.isTextual() ? Aggregation.fromName(node.asText()) : null;
  }

  private static JsonNode required(JsonNode node, String field, String where) {
    JsonNode value = node == null ? null : node.get(field);
    if (value == null || value.isNull()) {
      throw new IllegalArgumentException(where + ": missing field '" + field + "'");
    }
    return value;
  }

  private static ArrayNode doubles(double[] values) {
    ArrayNode array = JSON.createArrayNode();
    for (double v : values) {
      array.add((float) v);
    }
    return array;
  }

  private static double[] doubles(JsonNode node, int expectedLength, String where) {
    if (!node.isArray() || node.size() != expectedLength) {
      throw new IllegalArgumentException(where + ": expected an array of " + expectedLength + " numbers, got "
          + (node.isArray() ? node.size() + " entries" : node.getNodeType().toString()));
    }
    double[] values = new double[expectedLength];
    for (int i = 0; i < expectedLength; i++) {
      values[i] = node.get(i).asDouble();
    }
    return values;
  }
}
