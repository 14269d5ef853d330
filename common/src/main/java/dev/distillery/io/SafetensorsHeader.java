package dev.distillery.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON header of a safetensors file: parsed and validated when reading, built when writing. Layout:
 * 8-byte little-endian header length N, N bytes of JSON, then the data section that each tensor's
 * {@code data_offsets [begin, end)} points into.
 */
final class SafetensorsHeader {
  static final String METADATA_KEY = "__metadata__";
  private static final ObjectMapper JSON = new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private SafetensorsHeader() {}

  /**
   * Parses and validates the header of {@code file}.
   *
   * @param dataStart absolute position of the data section
   * @param dataSize bytes in the data section
   * @return the tensors in header order
   * @throws IllegalArgumentException naming the file and the tensor when the header is malformed
   */
  static Map<String, TensorInfo> parse(String file, byte[] headerBytes, long dataStart, long dataSize) {
    JsonNode root;
    try {
      root = JSON.readTree(new String(headerBytes, StandardCharsets.UTF_8));
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(file + ": safetensors header is not valid JSON: " + e.getOriginalMessage(), e);
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException(file + ": safetensors header must be a JSON object");
    }
    Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      if (entry.getKey().equals(METADATA_KEY)) {
        checkMetadata(file, entry.getValue());
      } else {
        tensors.put(entry.getKey(), tensor(file, entry.getKey(), entry.getValue(), dataStart, dataSize));
      }
    }
    checkNoOverlap(file, tensors, dataStart);
    return tensors;
  }

  private static void checkMetadata(String file, JsonNode metadata) {
    if (!metadata.isObject()) {
      throw new IllegalArgumentException(file + ": " + METADATA_KEY + " must be an object of strings");
    }
    metadata.fields().forEachRemaining(e -> {
      if (!e.getValue().isTextual()) {
        throw new IllegalArgumentException(file + ": " + METADATA_KEY + " value '" + e.getKey()
            + "' must be a string, got " + e.getValue());
      }
    });
  }

  private static TensorInfo tensor(String file, String name, JsonNode node, long dataStart, long dataSize) {
    String where = file + ": tensor '" + name + "'";
    if (!node.isObject()) {
      throw new IllegalArgumentException(where + ": expected an object with dtype, shape and data_offsets");
    }
    String dtypeName = node.path("dtype").asText("");
    DType dtype = DType.fromHeaderName(dtypeName).orElseThrow(() -> new IllegalArgumentException(where
        + ": unknown dtype '" + dtypeName + "', expected one of " + Arrays.toString(DType.values())));
    long[] shape = nonNegativeLongs(where, "shape", node.get("shape"));
    long[] offsets = nonNegativeLongs(where, "data_offsets", node.get("data_offsets"));
    if (offsets.length != 2) {
      throw new IllegalArgumentException(where + ": data_offsets must be [begin, end], got " + node.get("data_offsets"));
    }
    long begin = offsets[0];
    long end = offsets[1];
    if (begin > end) {
      throw new IllegalArgumentException(where + ": data_offsets begin " + begin + " > end " + end);
    }
    if (end > dataSize) {
      throw new IllegalArgumentException(where + ": data_offsets [" + begin + ", " + end
          + "] run past the end of the data section (" + dataSize + " bytes); is the file truncated?");
    }
    long expectedBytes;
    try {
      expectedBytes = Math.multiplyExact(TensorInfo.elementCount(shape), dtype.byteSize());
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException(where + ": shape " + Arrays.toString(shape) + " is too large", e);
    }
    if (end - begin != expectedBytes) {
      throw new IllegalArgumentException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs "
          + expectedBytes + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
    }
    return new TensorInfo(name, dtype, shape, dataStart + begin, end - begin, file);
  }

  private static long[] nonNegativeLongs(String where, String field, JsonNode node) {
    if (node == null || !node.isArray()) {
      throw new IllegalArgumentException(where + ": " + field + " must be an array of integers, got " + node);
    }
    long[] values = new long[node.size()];
    for (int i = 0; i < values.length; i++) {
      JsonNode v = node.get(i);
      if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) {
        throw new IllegalArgumentException(where + ": " + field + " must hold non-negative integers, got " + node);
      }
      values[i] = v.longValue();
    }
    return values;
  }

  private static void checkNoOverlap(String file, Map<String, TensorInfo> tensors, long dataStart) {
    List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
    byOffset.removeIf(t -> t.byteLength() == 0);
    byOffset.sort(Comparator.comparingLong(TensorInfo::offset));
    for (int i = 1; i < byOffset.size(); i++) {
      TensorInfo previous = byOffset.get(i - 1);
      TensorInfo current = byOffset.get(i);
      if (current.offset() < previous.offset() + previous.byteLength()) {
        throw new IllegalArgumentException(file + ": tensor '" + current.name() + "' (data_offsets ["
            + (current.offset() - dataStart) + ", " + (current.offset() - dataStart + current.byteLength())
            + "]) overlaps tensor '" + previous.name() + "' (data_offsets [" + (previous.offset() - dataStart)
            + ", " + (previous.offset() - dataStart + previous.byteLength()) + "])");
      }
    }
  }

  /**
   * The header bytes for tensors laid out contiguously in the given order, padded with spaces so that the
   * data section starts at a multiple of 8.
   */
  static byte[] build(List<TensorInfo> tensors, Map<String, String> metadata) {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode meta = root.putObject(METADATA_KEY);
    metadata.forEach(meta::put);
    long position = 0;
    for (TensorInfo t : tensors) {
      ObjectNode node = root.putObject(t.name());
      node.put("dtype", t.dtype().name());
      long[] shape = t.shape();
      Arrays.stream(shape).forEach(node.putArray("shape")::add);
      node.putArray("data_offsets").add(position).add(position + t.byteLength());
      position += t.byteLength();
    }
    byte[] json;
    try {
      json = JSON.writeValueAsBytes(root);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("Cannot serialize safetensors header", e);
    }
    int padded = (json.length + 7) / 8 * 8;
    byte[] header = Arrays.copyOf(json, padded);
    Arrays.fill(header, json.length, padded, (byte) ' ');
    return header;
  }
}
