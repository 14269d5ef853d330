package dev.distillery.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
  @TempDir Path tmp;

  private final Storage storage = Storage.of("file:///");

  private static float[] ramp(int n) {
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (i - n / 2) * 0.37f;
    }
    return v;
  }

  private String writeSample(String name) {
    String file = tmp.resolve(name).toString();
    try (SafetensorsWriter w = new SafetensorsWriter(storage, file)) {
      w.declare("a", DType.F32, new long[] {3, 4});
      w.declare("b", DType.BF16, new long[] {5});
      w.declare("c", DType.F16, new long[] {2, 3, 2});
      w.writeRows("a", java.util.Arrays.copyOfRange(ramp(12), 0, 4));
      w.writeRows("a", java.util.Arrays.copyOfRange(ramp(12), 4, 12));
      w.write("b", new float[] {1f, -2f, 0.5f, 3.140625f, 0f});
      w.write("c", ramp(12));
    }
    return file;
  }

  @Test
  void roundTripsTensorsRowsAndRawBytes() {
    String file = writeSample("x.safetensors");
    try (SafetensorsReader r = SafetensorsReader.open(storage, file)) {
      assertThat(r.tensors().keySet()).containsExactly("a", "b", "c");
      assertThat(r.info("c").shape()).containsExactly(2, 3, 2);
      assertThat(r.readFloats("a")).containsExactly(ramp(12));
      assertThat(r.readFloats("b")).containsExactly(1f, -2f, 0.5f, 3.140625f, 0f);
      float[] c = ramp(12);
      for (int i = 0; i < c.length; i++) {
        c[i] = HalfFloats.f16ToFloat(HalfFloats.floatToF16(c[i]));
      }
      assertThat(r.readFloats("c")).containsExactly(c);
      assertThat(r.readRows("a", 1, 2)).containsExactly(java.util.Arrays.copyOfRange(ramp(12), 4, 12));
      assertThat(r.readRows("c", 1, 1)).containsExactly(java.util.Arrays.copyOfRange(c, 6, 12));
      ByteBuffer raw = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
      r.readRaw("b", 2, raw);
      raw.flip();
      assertThat(raw.getShort()).isEqualTo((short) 0xc000);
      assertThat(raw.getShort()).isEqualTo((short) 0x3f00);
      ByteBuffer direct = ByteBuffer.allocateDirect(10);
      r.readRaw("b", 0, direct);
      assertThat(direct.position()).isEqualTo(10);
      assertThatThrownBy(() -> r.readRows("b", 0, 1)).hasMessageContaining("'b'").hasMessageContaining("rank 2");
      assertThatThrownBy(() -> r.readRows("a", 2, 2)).hasMessageContaining("'a'").hasMessageContaining("outside");
      assertThatThrownBy(() -> r.readFloats("nope")).hasMessageContaining(file).hasMessageContaining("'nope'");
    }
  }

  @Test
  void layoutIsStandard() throws IOException {
    byte[] bytes = Files.readAllBytes(Path.of(writeSample("x.safetensors")));
    long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
    assertThat((8 + headerLength) % 8).isZero();
    String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
    assertThat(header).startsWith("{").endsWith(" ".repeat(header.length() - header.stripTrailing().length()));
    JsonNode root = new ObjectMapper().readTree(header);
    assertThat(root.path("__metadata__").path("format").asText()).isEqualTo("pt");
    List<String> names = new ArrayList<>();
    long expectedBegin = 0;
    for (var it = root.fields(); it.hasNext(); ) {
      var e = it.next();
      if (e.getKey().equals("__metadata__")) {
        continue;
      }
      names.add(e.getKey());
      assertThat(e.getValue().path("data_offsets").get(0).asLong()).as("contiguous").isEqualTo(expectedBegin);
      expectedBegin = e.getValue().path("data_offsets").get(1).asLong();
    }
    assertThat(names).containsExactly("a", "b", "c");
    assertThat(8 + headerLength + expectedBegin).as("no trailing bytes").isEqualTo(bytes.length);
  }

  @Test
  void writerEnforcesDeclaredOrder() {
    String file = tmp.resolve("o.safetensors").toString();
    SafetensorsWriter w = new SafetensorsWriter(storage, file);
    w.declare("a", DType.F32, new long[] {2});
    w.declare("b", DType.F32, new long[] {2});
    assertThatThrownBy(() -> w.write("b", new float[2])).hasMessageContaining(file)
        .hasMessageContaining("'b'").hasMessageContaining("expected 'a'");
    assertThatThrownBy(() -> w.write("a", new float[3])).hasMessageContaining("'a'").hasMessageContaining("2 elements");
    w.abort();
  }

  @Test
  void incompleteFileIsDeletedOnClose() {
    String file = tmp.resolve("partial.safetensors").toString();
    SafetensorsWriter w = new SafetensorsWriter(storage, file);
    w.declare("a", DType.BF16, new long[] {4, 2});
    w.declare("b", DType.BF16, new long[] {2});
    w.writeRows("a", new float[2]);
    assertThatThrownBy(w::close).hasMessageContaining(file).hasMessageContaining("a, b");
    assertThat(Path.of(file)).doesNotExist();
  }

  // ---- malformed files ----

  private String craft(String name, String headerJson, int dataBytes) throws IOException {
    byte[] header = headerJson.getBytes(StandardCharsets.UTF_8);
    ByteBuffer buf = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
    buf.putLong(header.length).put(header);
    Path path = tmp.resolve(name);
    Files.write(path, buf.array());
    return path.toString();
  }

  private void assertRejected(String file, String... fragments) {
    var thrown = assertThatThrownBy(() -> SafetensorsReader.open(storage, file).close())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(file);
    for (String f : fragments) {
      thrown.hasMessageContaining(f);
    }
  }

  @Test
  void rejectsTruncatedFile() throws IOException {
    String file = writeSample("t.safetensors");
    try (RandomAccessFile f = new RandomAccessFile(file, "rw")) {
      f.setLength(f.length() - 3);
    }
    assertRejected(file, "'c'", "truncated");
  }

  @Test
  void rejectsFileShorterThanLengthPrefix() throws IOException {
    Path path = tmp.resolve("tiny.safetensors");
    Files.write(path, new byte[5]);
    assertRejected(path.toString(), "too short");
  }

  @Test
  void rejectsHeaderLengthPastEndOfFile() throws IOException {
    Path path = tmp.resolve("h.safetensors");
    Files.write(path, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
    assertRejected(path.toString(), "header length 1000", "past the end of the file");
  }

  @Test
  void rejectsOverlappingTensors() throws IOException {
    String file = craft("ov.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        + "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    assertRejected(file, "'y'", "overlaps tensor 'x'");
  }

  @Test
  void rejectsOffsetsOutOfRange() throws IOException {
    String file = craft("oor.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
    assertRejected(file, "'x'", "[0, 16]", "8 bytes");
  }

  @Test
  void rejectsBeginAfterEnd() throws IOException {
    String file = craft("be.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8);
    assertRejected(file, "'x'", "begin 8 > end 4");
  }

  @Test
  void rejectsUnknownDtype() throws IOException {
    String file = craft("dt.safetensors", "{\"x\":{\"dtype\":\"F8_E9\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    assertRejected(file, "'x'", "unknown dtype 'F8_E9'");
  }

  @Test
  void rejectsShapeSizeMismatch() throws IOException {
    String file = craft("sz.safetensors", "{\"x\":{\"dtype\":\"BF16\",\"shape\":[3,2],\"data_offsets\":[0,8]}}", 8);
    assertRejected(file, "'x'", "[3, 2]", "needs 12 bytes", "hold 8");
  }

  @Test
  void rejectsNegativeShape() throws IOException {
    String file = craft("neg.safetensors", "{\"x\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0);
    assertRejected(file, "'x'", "non-negative");
  }

  @Test
  void rejectsInvalidJsonAndNonStringMetadata() throws IOException {
    assertRejected(craft("j.safetensors", "{\"x\": [", 0), "not valid JSON");
    assertRejected(craft("m.safetensors", "{\"__metadata__\":{\"format\":1}}", 0), "__metadata__", "'format'");
    assertRejected(craft("d.safetensors", "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        + "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2), "Duplicate field 'x'");
  }

  @Test
  void readsFilesWithMetadataAndNonFloatTensors() throws IOException {
    String file = craft("ok.safetensors", "{\"__metadata__\":{\"format\":\"pt\"},"
        + "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    try (SafetensorsReader r = SafetensorsReader.open(storage, file)) {
      assertThat(r.info("ids").dtype()).isEqualTo(DType.I64);
      assertThatThrownBy(() -> r.readFloats("ids")).hasMessageContaining("'ids'").hasMessageContaining("I64");
    }
  }
}
