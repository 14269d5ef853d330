package dev.distillery.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.SafetensorsReader;
import dev.distillery.io.Storage;
import dev.distillery.io.TensorInfo;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.LlamaTensors;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.PythonReference;
import dev.distillery.testing.TestModels;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CheckpointPrunerTest {
  private static final long SMALL_SHARDS = 20_000;
  private static final Pattern LAYER_NAME = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");

  @TempDir
  Path dir;

  @Test
  void identityPlanReproducesTheTeacherBitForBit() throws Exception {
    LlamaConfig config = TestModels.gqaConfig().withTorchDtype("bfloat16");
    Path teacher = teacher(config, DType.BF16, 1);
    Files.writeString(teacher.resolve("tokenizer.json"), "{\"model\": {}}");
    Files.writeString(teacher.resolve("generation_config.json"), "{\"do_sample\": false}");

    // 100-byte windows: every row is read on its own, exercising the window logic.
    new CheckpointPruner(PrunePlan.identity(config), 100).prune(Storage.of(teacher.toString()), teacher.toString(),
        output("student", null));

    Path student = dir.resolve("student");
    assertThat(student.resolve(CheckpointReader.INDEX_FILE)).exists();
    assertThat(student.resolve("tokenizer.json")).hasSameTextualContentAs(teacher.resolve("tokenizer.json"));
    assertThat(student.resolve("generation_config.json")).exists();
    assertThat(student.resolve("special_tokens_map.json")).doesNotExist();
    try (CheckpointReader in = CheckpointReader.open(teacher.toString());
        CheckpointReader out = CheckpointReader.open(student.toString())) {
      assertThat(out.config()).isEqualTo(in.config());
      assertThat(out.tensorNames()).containsExactlyElementsOf(in.tensorNames());
      for (String name : in.tensorNames()) {
        assertThat(out.info(name).dtype()).isEqualTo(DType.BF16);
        assertThat(raw(out, name)).as(name).isEqualTo(raw(in, name));
      }
    }
  }

  @Test
  void convertsTheDtypeOnlyWhenAsked() {
    LlamaConfig config = TestModels.gqaConfig().withTorchDtype("bfloat16");
    Path teacher = teacher(config, DType.BF16, 2);
    new CheckpointPruner(PrunePlan.identity(config)).prune(Storage.of(teacher.toString()), teacher.toString(),
        output("f32", DType.F32));
    try (CheckpointReader in = CheckpointReader.open(teacher.toString());
        CheckpointReader out = CheckpointReader.open(dir.resolve("f32").toString())) {
      assertThat(out.config().torchDtype()).isEqualTo("float32");
      for (String name : in.tensorNames()) {
        assertThat(out.info(name).dtype()).isEqualTo(DType.F32);
        assertThat(out.readFloats(name)).as(name).isEqualTo(in.readFloats(name));
      }
    }
  }

  @Test
  void pruningNeuronsWhoseDownColumnsAreZeroLeavesLogitsUnchanged() {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = TestModels.randomWeights(config, 3);
    int ffn = config.intermediateSize();
    List<LayerPlan> layers = new ArrayList<>();
    for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
      int offset = layer;
      int[] dropped = IntStream.range(0, ffn).filter(n -> (n + offset) % 4 == 0).toArray();
      float[] down = weights.get(LlamaTensors.down(layer));
      for (int row = 0; row < config.hiddenSize(); row++) {
        for (int n : dropped) {
          down[row * ffn + n] = 0;
        }
      }
      layers.add(new LayerPlan(layer, PrunePlan.range(config.numKeyValueHeads()),
          PrunePlan.range(config.numAttentionHeads()), IntStream.range(0, ffn).filter(n -> (n + offset) % 4 != 0)
          .toArray()));
    }
    Path teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, config, weights, DType.F32, SMALL_SHARDS);
    PrunePlan plan = new PrunePlan(config, config.withShape(config.hiddenSize(), ffn * 3 / 4,
        config.numHiddenLayers(), config.numAttentionHeads(), config.numKeyValueHeads(), config.headDim()),
        PrunePlan.range(config.hiddenSize()), layers);

    new CheckpointPruner(plan).prune(Storage.of(teacher.toString()), teacher.toString(), output("student", null));

    long[][] tokens = TestModels.randomTokens(2, 12, config.vocabSize(), 5);
    float[] expected = logits(teacher, tokens);
    float[] actual = logits(dir.resolve("student"), tokens);
    assertThat(PythonReference.maxMagnitude(expected)).isGreaterThan(1.0);
    assertThat(PythonReference.maxAbsError(actual, expected)).isLessThanOrEqualTo(1e-5);
  }

  @Test
  void depthPrunedStudentEqualsTheTeacherWithThoseLayersSkipped() {
    LlamaConfig config = TestModels.gqaConfig().withShape(48, 80, 4, 4, 2, 16);
    Map<String, float[]> weights = TestModels.randomWeights(config, 4);
    Path teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, config, weights, DType.F32, SMALL_SHARDS);
    int[] kept = {0, 3};
    PrunePlan plan = PrunePlan.uniform(config, PrunePlan.range(48), kept, PrunePlan.range(2), PrunePlan.range(4),
        PrunePlan.range(80));

    new CheckpointPruner(plan).prune(Storage.of(teacher.toString()), teacher.toString(), output("student", null));

    Map<String, float[]> skipped = new LinkedHashMap<>();
    weights.forEach((name, values) -> {
      Matcher m = LAYER_NAME.matcher(name);
      if (!m.matches()) {
        skipped.put(name, values);
      } else if (Integer.parseInt(m.group(1)) == 0) {
        skipped.put(name, values);
      } else if (Integer.parseInt(m.group(1)) == 3) {
        skipped.put("model.layers.1." + m.group(2), values);
      }
    });
    long[][] tokens = TestModels.randomTokens(2, 12, config.vocabSize(), 6);
    float[] expected = logits(config.withShape(48, 80, 2, 4, 2, 16), (name, shape) -> skipped.get(name), tokens);
    float[] actual = logits(dir.resolve("student"), tokens);
    assertThat(PythonReference.maxMagnitude(expected)).isGreaterThan(1.0);
    assertThat(PythonReference.maxAbsError(actual, expected)).isLessThanOrEqualTo(1e-6);
  }

  @ParameterizedTest
  @ValueSource(strings = {"gqa", "tied", "qwen2"})
  void widthAndDepthPruningMatchesTheIndependentReference(String model) throws Exception {
    boolean tied = model.equals("tied");
    LlamaConfig config = tied ? TestModels.tiedConfig().withShape(32, 64, 3, 4, 4, 8).withTorchDtype("float16")
        : (model.equals("qwen2") ? TestModels.qwen2Config(false) : TestModels.gqaConfig())
            .withShape(48, 80, 3, 4, 2, 16).withTorchDtype("bfloat16");
    Path teacher = teacher(config, tied ? DType.F16 : DType.BF16, 7);
    PrunePlan plan = tied ? tiedPlan(config) : gqaPlan(config);
    Path planFile = dir.resolve("prune-plan.json");
    Files.writeString(planFile, plan.toJson());

    new CheckpointPruner(plan, 300).prune(Storage.of(teacher.toString()), teacher.toString(),
        output("student", null));

    Path reference = dir.resolve("reference.safetensors");
    PythonReference.runScript(Path.of("."), "prune_reference.py", "--teacher", teacher.toString(), "--plan",
        planFile.toString(), "--out", reference.toString());
    try (CheckpointReader student = CheckpointReader.open(dir.resolve("student").toString());
        SafetensorsReader expected = SafetensorsReader.open(Storage.of(reference.toString()), reference.toString())) {
      assertThat(student.tensorNames()).containsExactlyInAnyOrderElementsOf(expected.tensors().keySet());
      assertThat(student.config().architecture()).isEqualTo(config.architecture());
      if (model.equals("qwen2")) {
        assertThat(student.tensorNames()).contains(LlamaTensors.kBias(1));
        assertThat(student.info(LlamaTensors.qBias(0)).shape()).containsExactly(32);
      }
      for (String name : student.tensorNames()) {
        TensorInfo want = expected.info(name);
        assertThat(student.info(name).shape()).as(name).isEqualTo(want.shape());
        assertThat(student.info(name).dtype()).as(name).isEqualTo(want.dtype());
        ByteBuffer bytes = ByteBuffer.allocate((int) want.byteLength());
        expected.readRaw(name, 0, bytes);
        assertThat(raw(student, name)).as(name).isEqualTo(bytes.array());
      }
    }
  }

  /**
   * A student planned with target.kv-heads (and fewer query heads per group, fewer channels) gives the logits that
   * the independent numpy slicer's checkpoint gives under the independent PyTorch forward.
   */
  @ParameterizedTest
  @ValueSource(strings = {"qwen2", "mistral"})
  void kvPrunedStudentMatchesTheIndependentSlicerAndForward(String family) throws Exception {
    LlamaConfig config = (family.equals("qwen2") ? TestModels.qwen2Config(false) : TestModels.mistralConfig())
        .withShape(48, 80, 2, 8, 4, 8);
    Path teacher = teacher(config, DType.F32, 12);
    PrunePlan plan = PrunePlanner.plan(config, PrunePlannerTest.randomScores(config, 13),
        PruneTarget.of(32, 64, 1, null).withKvHeads(2));
    assertThat(plan.target().numKeyValueHeads()).isEqualTo(2);
    assertThat(plan.layers().get(0).kvHeads()).as("the random scores pick different groups per layer")
        .isNotEqualTo(plan.layers().get(1).kvHeads());
    Path planFile = dir.resolve("prune-plan.json");
    Files.writeString(planFile, plan.toJson());
    new CheckpointPruner(plan, 300).prune(Storage.of(teacher.toString()), teacher.toString(),
        output("student", null));

    Path reference = Files.createDirectories(dir.resolve("reference"));
    PythonReference.runScript(Path.of("."), "prune_reference.py", "--teacher", teacher.toString(), "--plan",
        planFile.toString(), "--out", reference.resolve("model.safetensors").toString());
    Files.writeString(reference.resolve(CheckpointReader.CONFIG_FILE), plan.target().toJson());
    long[][] tokens = TestModels.randomTokens(2, 20, config.vocabSize(), 14);
    Path tokensFile = dir.resolve("tokens.json");
    Files.writeString(tokensFile, new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(tokens));
    float[] expected = PythonReference.logits(Path.of("."), reference, tokensFile, dir);

    float[] actual = logits(dir.resolve("student"), tokens);
    assertThat(PythonReference.maxMagnitude(expected)).isGreaterThan(1.0);
    assertThat(PythonReference.maxAbsError(actual, expected)).isLessThanOrEqualTo(1e-4);
  }

  @Test
  void prunedCheckpointLoadsAndRuns() {
    LlamaConfig config = TestModels.gqaConfig().withShape(48, 80, 3, 4, 2, 16).withTorchDtype("bfloat16");
    Path teacher = teacher(config, DType.BF16, 8);
    PrunePlan plan = gqaPlan(config);
    new CheckpointPruner(plan).prune(Storage.of(teacher.toString()), teacher.toString(), output("student", null));

    float[] logits = logits(dir.resolve("student"), TestModels.randomTokens(1, 9, config.vocabSize(), 1));
    assertThat(logits).hasSize(9 * config.vocabSize());
    for (float v : logits) {
      assertThat(Float.isFinite(v)).isTrue();
    }
    try (CheckpointReader student = CheckpointReader.open(dir.resolve("student").toString())) {
      assertThat(student.config()).isEqualTo(plan.target());
    }
  }

  @Test
  void planForAnotherTeacherIsRejectedBeforeAnythingIsWritten() {
    LlamaConfig config = TestModels.gqaConfig();
    Path teacher = teacher(config, DType.F32, 9);
    LlamaConfig other = config.withShape(64, 80, 3, 4, 2, 16);
    PrunePlan plan = PrunePlan.uniform(other, PrunePlan.range(48), new int[] {0, 1}, PrunePlan.range(2),
        PrunePlan.range(4), PrunePlan.range(80));

    assertThatThrownBy(() -> new CheckpointPruner(plan).prune(Storage.of(teacher.toString()), teacher.toString(),
        output("student", null)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("hidden_size 64 but the teacher's config.json has 48")
        .hasMessageContaining("num_hidden_layers 3 but the teacher's config.json has 2");
    assertThat(dir.resolve("student")).doesNotExist();
    assertThat(dir.toFile().list()).containsExactly("teacher");
  }

  /** Width (hidden channels, KV groups, query heads, neurons per layer) and depth (middle layer dropped). */
  private static PrunePlan gqaPlan(LlamaConfig config) {
    LlamaConfig target = config.withShape(32, 40, 2, 2, 1, 16);
    int[] hidden = IntStream.range(0, 48).filter(c -> c % 3 != 1).toArray();
    return new PrunePlan(config, target, hidden, List.of(
        new LayerPlan(0, new int[] {1}, new int[] {2, 3}, IntStream.range(0, 80).filter(n -> n % 2 == 0).toArray()),
        new LayerPlan(2, new int[] {0}, new int[] {0, 1}, IntStream.range(40, 80).toArray())));
  }

  /** Tied embeddings, multi-head attention: every KV head keeps its one query head. */
  private static PrunePlan tiedPlan(LlamaConfig config) {
    LlamaConfig target = config.withShape(20, 48, 2, 2, 2, 8);
    int[] hidden = IntStream.range(0, 32).filter(c -> c % 8 < 5).toArray();
    return new PrunePlan(config, target, hidden, List.of(
        new LayerPlan(1, new int[] {0, 3}, new int[] {0, 3}, IntStream.range(0, 48).toArray()),
        new LayerPlan(2, new int[] {1, 2}, new int[] {1, 2}, IntStream.range(0, 64).filter(n -> n % 4 != 3).toArray())));
  }

  private Path teacher(LlamaConfig config, DType dtype, long seed) {
    Path teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, config, TestModels.randomWeights(config, seed), dtype, SMALL_SHARDS);
    return teacher;
  }

  private StudentCheckpoint output(String name, DType dtype) {
    String path = dir.resolve(name).toString();
    return new StudentCheckpoint(Storage.of(path), path, dtype, SMALL_SHARDS, false);
  }

  private static byte[] raw(CheckpointReader reader, String name) {
    ByteBuffer bytes = ByteBuffer.allocate((int) reader.info(name).byteLength());
    reader.readRaw(name, 0, bytes);
    return bytes.array();
  }

  private static float[] logits(Path checkpoint, long[][] tokens) {
    try (CheckpointReader reader = CheckpointReader.open(checkpoint.toString())) {
      return logits(reader.config(), (name, shape) -> reader.readFloats(name), tokens);
    }
  }

  private static float[] logits(LlamaConfig config, WeightSource weights, long[][] tokens) {
    try (LlamaModel model = LlamaModel.load(config, weights, Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      return model.forward(manager.create(tokens)).toFloatArray();
    }
  }
}
