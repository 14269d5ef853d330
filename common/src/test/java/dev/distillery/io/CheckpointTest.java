package dev.distillery.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CheckpointTest {
  private static final long SEED = 42;
  private static final LlamaConfig TINY = new LlamaConfig(64, 96, 2, 4, 2, 16, 128, 1e-5, 10000.0, null, 256,
      false, 1, 2, "float32");

  @TempDir Path tmp;
  private final Storage storage = Storage.of("file:///");

  private String generate(String name, DType dtype, long maxShardBytes) {
    String dir = tmp.resolve(name).toString();
    RandomCheckpoint.generate(storage, dir, TINY, dtype, SEED, maxShardBytes, false);
    return dir;
  }

  private static float[] source(String name, long[] shape) {
    return RandomTensor.forWeight(SEED, name, shape).next(Math.toIntExact(TensorInfo.elementCount(shape)));
  }

  private static float[] rounded(float[] values, DType dtype) {
    float[] out = values.clone();
    for (int i = 0; i < out.length; i++) {
      out[i] = switch (dtype) {
        case F32 -> out[i];
        case F16 -> HalfFloats.f16ToFloat(HalfFloats.floatToF16(out[i]));
        case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(out[i]));
        default -> throw new IllegalArgumentException();
      };
    }
    return out;
  }

  @ParameterizedTest
  @EnumSource(value = DType.class, names = {"F32", "F16", "BF16"})
  void generatedCheckpointReadsBackExactly(DType dtype) {
    String dir = generate("ckpt", dtype, CheckpointWriter.DEFAULT_MAX_SHARD_BYTES);
    assertThat(storage.isCommitted(dir)).isTrue();
    try (CheckpointReader r = CheckpointReader.open(storage, dir)) {
      assertThat(r.config()).isEqualTo(TINY.withTorchDtype(dtype.torchDtype()));
      assertThat(r.shardFiles()).singleElement().asString().endsWith("/model.safetensors");
      Map<String, long[]> expected = LlamaTensors.expectedShapes(TINY);
      assertThat(r.tensorNames()).containsExactlyElementsOf(expected.keySet());
      expected.forEach((name, shape) -> {
        assertThat(r.info(name).dtype()).isEqualTo(dtype);
        float[] values = r.readFloats(name);
        float[] want = rounded(source(name, shape), dtype);
        for (int i = 0; i < want.length; i++) {
          if (Float.floatToRawIntBits(values[i]) != Float.floatToRawIntBits(want[i])) {
            throw new AssertionError(name + "[" + i + "]: " + values[i] + " != " + want[i]);
          }
        }
      });
      String q = LlamaTensors.q(1);
      float[] all = r.readFloats(q);
      assertThat(r.readRows(q, 3, 2)).containsExactly(Arrays.copyOfRange(all, 3 * 64, 5 * 64));
    }
  }

  @Test
  void generatedWeightsLookLikeAnInitializedModel() {
    float[] linear = source(LlamaTensors.gate(0), new long[] {96, 64});
    float[] norm = source(LlamaTensors.inputNorm(0), new long[] {64});
    assertThat(std(linear)).isBetween(0.018, 0.022);
    assertThat(mean(norm)).isBetween(0.98, 1.02);
    assertThat(std(norm)).isBetween(0.03, 0.07);
    assertThat(source("a", new long[] {8})).isEqualTo(source("a", new long[] {8}))
        .isNotEqualTo(source("b", new long[] {8}));
  }

  private static double mean(float[] v) {
    double s = 0;
    for (float x : v) {
      s += x;
    }
    return s / v.length;
  }

  private static double std(float[] v) {
    double m = mean(v);
    double s = 0;
    for (float x : v) {
      s += (x - m) * (x - m);
    }
    return Math.sqrt(s / v.length);
  }

  @Test
  void sameSeedGivesIdenticalFiles() throws IOException {
    String a = generate("a", DType.BF16, 100_000);
    String b = generate("b", DType.BF16, 100_000);
    for (String name : new java.io.File(a).list()) {
      if (!name.equals(Storage.COMMIT_MARKER)) {
        assertThat(Files.readAllBytes(Path.of(b, name))).as(name).isEqualTo(Files.readAllBytes(Path.of(a, name)));
      }
    }
  }

  @Test
  void shardedCheckpointHasIndexAndReadsBack() throws IOException {
    String dir = generate("sharded", DType.BF16, 40_000);
    JsonNode index = new ObjectMapper().readTree(Path.of(dir, CheckpointReader.INDEX_FILE).toFile());
    Map<String, long[]> expected = LlamaTensors.expectedShapes(TINY);
    long totalBytes = expected.values().stream().mapToLong(s -> TensorInfo.elementCount(s) * 2).sum();
    assertThat(index.path("metadata").path("total_size").asLong()).isEqualTo(totalBytes);
    assertThat(index.path("weight_map").size()).isEqualTo(expected.size());
    try (CheckpointReader r = CheckpointReader.open(storage, dir)) {
      int shards = r.shardFiles().size();
      assertThat(shards).isGreaterThan(2);
      assertThat(r.shardFiles().get(0)).endsWith(String.format("model-00001-of-%05d.safetensors", shards));
      for (String file : r.shardFiles()) {
        assertThat(Files.size(Path.of(file.replaceFirst("^file:", "")))).isLessThan(40_000 + 4096);
      }
      assertThat(Path.of(dir, "model.safetensors")).doesNotExist();
      String down = LlamaTensors.down(1);
      assertThat(r.readFloats(down)).containsExactly(rounded(source(down, expected.get(down)), DType.BF16));
      assertThat(r.info(LlamaTensors.LM_HEAD).file()).isEqualTo(r.shardFiles().get(shards - 1));
    }
  }

  @Test
  void writerCopiesExtraFilesAndRefusesIncompleteCheckpoints() throws IOException {
    Path tokenizer = Files.writeString(tmp.resolve("tokenizer.json"), "{}");
    String dir = tmp.resolve("partial").toString();
    try (CheckpointWriter w = CheckpointWriter.create(storage, dir, TINY, DType.F16)) {
      w.copyFile(storage, tokenizer.toString());
      w.write(LlamaTensors.EMBED, new float[128 * 64]);
      assertThatThrownBy(w::commit).hasMessageContaining("not fully written")
          .hasMessageContaining(LlamaTensors.inputNorm(0));
    }
    assertThat(storage.exists(dir)).isFalse();
    assertThat(tmp.toFile().list()).containsExactly("tokenizer.json");

    try (CheckpointWriter w = CheckpointWriter.create(storage, dir, TINY, DType.F16)) {
      w.copyFile(storage, tokenizer.toString());
      for (String name : w.tensorNames()) {
        w.write(name, new float[Math.toIntExact(TensorInfo.elementCount(LlamaTensors.expectedShapes(TINY).get(name)))]);
      }
      w.commit();
    }
    assertThat(Path.of(dir, "tokenizer.json")).hasContent("{}");
    assertThatThrownBy(() -> CheckpointWriter.create(storage, dir, TINY, DType.F16))
        .hasMessageContaining("already exists and is committed");
  }

  // ---- invalid checkpoints ----

  private String rewriteConfig(String dir, UnaryOperator<String> edit) throws IOException {
    Path config = Path.of(dir, CheckpointReader.CONFIG_FILE);
    Files.writeString(config, edit.apply(Files.readString(config)));
    return dir;
  }

  @Test
  void rejectsUnsupportedArchitecture() throws IOException {
    String dir = rewriteConfig(generate("mixtral", DType.F32, Long.MAX_VALUE),
        c -> c.replace("\"model_type\" : \"llama\"", "\"model_type\" : \"mixtral\""));
    assertThatThrownBy(() -> CheckpointReader.open(storage, dir)).hasMessageContaining("config.json")
        .hasMessageContaining("model_type 'mixtral' is not supported");
  }

  @Test
  void rejectsMissingTensorsForTheConfig() throws IOException {
    String dir = rewriteConfig(generate("layers", DType.F32, Long.MAX_VALUE),
        c -> c.replace("\"num_hidden_layers\" : 2", "\"num_hidden_layers\" : 3"));
    assertThatThrownBy(() -> CheckpointReader.open(storage, dir)).hasMessageContaining("model.safetensors")
        .hasMessageContaining(LlamaTensors.q(2)).hasMessageContaining("requires");
  }

  @Test
  void rejectsWrongShapeForTheConfig() throws IOException {
    String dir = rewriteConfig(generate("shape", DType.F32, Long.MAX_VALUE),
        c -> c.replace("\"intermediate_size\" : 96", "\"intermediate_size\" : 80"));
    assertThatThrownBy(() -> CheckpointReader.open(storage, dir)).hasMessageContaining("model.safetensors")
        .hasMessageContaining("'" + LlamaTensors.gate(0) + "'").hasMessageContaining("[96, 64]")
        .hasMessageContaining("[80, 64]");
  }

  @Test
  void rejectsIndexPointingAtMissingShard() throws IOException {
    String dir = generate("noshard", DType.BF16, 40_000);
    Path index = Path.of(dir, CheckpointReader.INDEX_FILE);
    String shard = new ObjectMapper().readTree(index.toFile()).path("weight_map").path(LlamaTensors.LM_HEAD).asText();
    Files.delete(Path.of(dir, shard));
    assertThatThrownBy(() -> CheckpointReader.open(storage, dir)).hasMessageContaining(CheckpointReader.INDEX_FILE)
        .hasMessageContaining(shard).hasMessageContaining("does not exist");
  }

  @Test
  void rejectsIndexClaimingATensorTheShardLacks() throws IOException {
    String dir = generate("lie", DType.BF16, 40_000);
    Path index = Path.of(dir, CheckpointReader.INDEX_FILE);
    JsonNode root = new ObjectMapper().readTree(index.toFile());
    String firstShard = root.path("weight_map").path(LlamaTensors.EMBED).asText();
    ((com.fasterxml.jackson.databind.node.ObjectNode) root.path("weight_map")).put(LlamaTensors.LM_HEAD, firstShard);
    Files.writeString(index, root.toString());
    assertThatThrownBy(() -> CheckpointReader.open(storage, dir)).hasMessageContaining(firstShard)
        .hasMessageContaining("'" + LlamaTensors.LM_HEAD + "'").hasMessageContaining("does not contain it");
  }

  @Test
  void rejectsDirectoryWithoutWeights() throws IOException {
    String dir = generate("empty", DType.F32, Long.MAX_VALUE);
    Files.delete(Path.of(dir, "model.safetensors"));
    assertThatThrownBy(() -> CheckpointReader.open(storage, dir)).hasMessageContaining(dir)
        .hasMessageContaining("neither model.safetensors nor model.safetensors.index.json");
  }
}
