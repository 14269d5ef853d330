package dev.distillery.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** Writes F32 tensors as one {@code .safetensors} file; test-only, everything in memory. */
final class SafetensorsTestWriter {
  private SafetensorsTestWriter() {}

  static void write(Path file, Map<String, long[]> shapes, Map<String, float[]> values) throws IOException {
    ObjectNode header = new ObjectMapper().createObjectNode();
    long offset = 0;
    for (Map.Entry<String, long[]> tensor : shapes.entrySet()) {
      ObjectNode entry = header.putObject(tensor.getKey());
      entry.put("dtype", "F32");
      var shape = entry.putArray("shape");
      for (long d : tensor.getValue()) {
        shape.add(d);
      }
      long end = offset + 4L * values.get(tensor.getKey()).length;
      entry.putArray("data_offsets").add(offset).add(end);
      offset = end;
    }
    byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
    out.putLong(padded).put(json);
    for (int i = json.length; i < padded; i++) {
      out.put((byte) ' ');
    }
    for (String name : shapes.keySet()) {
      for (float v : values.get(name)) {
        out.putFloat(v);
      }
    }
    Files.write(file, out.array());
  }
}
