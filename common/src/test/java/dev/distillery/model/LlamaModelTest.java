package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import dev.distillery.testing.TestModels;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LlamaModelTest {
  private NDManager manager;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager(Device.cpu());
  }

  @AfterEach
  void close() {
    manager.close();
  }

  @Test
  void forwardGivesFloat32LogitsForInt32AndInt64Ids() {
    LlamaConfig config = TestModels.gqaConfig();
    long[][] tokens = TestModels.randomTokens(2, 9, config.vocabSize(), 1);
    try (LlamaModel model = load(config)) {
      NDArray fromLong = model.forward(manager.create(tokens));
      NDArray fromInt = model.forward(manager.create(tokens).toType(DataType.INT32, false));
      assertThat(fromLong.getDataType()).isEqualTo(DataType.FLOAT32);
      assertThat(fromLong.getShape().getShape()).containsExactly(2, 9, config.vocabSize());
      assertThat(fromInt.toFloatArray()).containsExactly(fromLong.toFloatArray());
    }
  }

  @Test
  void attentionInQueryBlocksGivesThePlainLogits() {
    LlamaConfig config = TestModels.gqaConfig();
    long[][] tokens = TestModels.randomTokens(2, 11, config.vocabSize(), 5);
    try (LlamaModel model = load(config)) {
      model.setQueryBlock(Integer.MAX_VALUE);
      float[] plain = model.forward(manager.create(tokens)).toFloatArray();
      for (int block : new int[] {1, 3, 4, 10}) {
        model.setQueryBlock(block);
        float[] blocked = model.forward(manager.create(tokens)).toFloatArray();
        float worst = 0;
        for (int i = 0; i < plain.length; i++) {
          worst = Math.max(worst, Math.abs(plain[i] - blocked[i]));
        }
        assertThat(worst).as("block %d", block).isLessThanOrEqualTo(1e-5f);
      }
    }
    assertThatThrownBy(() -> {
      try (LlamaModel model = load(config)) {
        model.setQueryBlock(0);
      }
    }).hasMessageContaining("query block must be >= 1, got 0");
  }

  @Test
  void aForwardPassLeavesOnlyItsResultBehind() {
    LlamaConfig config = TestModels.gqaConfig();
    try (LlamaModel model = load(config); NDManager pass = manager.newSubManager()) {
      model.setQueryBlock(4);
      model.forward(pass.create(TestModels.randomTokens(1, 9, config.vocabSize(), 6)));
      assertThat(pass.getManagedArrays()).as("the ids and the logits").hasSize(2);
      int modelArrays = model.parameters().size() + 3; // + cos, sin, mask for this length
      assertThat(model.parameters().values().iterator().next().getManager().getManagedArrays())
          .hasSize(modelArrays);
    }
  }

  @Test
  void earlierPositionsDoNotSeeLaterTokens() {
    LlamaConfig config = TestModels.gqaConfig();
    long[][] tokens = TestModels.randomTokens(1, 12, config.vocabSize(), 2);
    long[][] changedTail = {tokens[0].clone()};
    changedTail[0][11] = (tokens[0][11] + 1) % config.vocabSize();
    try (LlamaModel model = load(config)) {
      NDArray a = model.forward(manager.create(tokens));
      NDArray b = model.forward(manager.create(changedTail));
      NDIndex prefix = new NDIndex(":, :11");
      assertThat(a.get(prefix).toFloatArray()).containsExactly(b.get(prefix).toFloatArray());
      assertThat(a.get(":, 11").toFloatArray()).isNotEqualTo(b.get(":, 11").toFloatArray());
    }
  }

  @Test
  void batchRowsAreIndependent() {
    LlamaConfig config = TestModels.gqaConfig();
    long[][] tokens = TestModels.randomTokens(3, 7, config.vocabSize(), 3);
    try (LlamaModel model = load(config)) {
      NDArray batch = model.forward(manager.create(tokens));
      NDArray alone = model.forward(manager.create(new long[][] {tokens[1]}));
      assertThat(maxAbsDifference(batch.get("1:2"), alone)).isLessThan(1e-5);
    }
  }

  @Test
  void tiedModelUsesTheEmbeddingAsOutputProjection() {
    LlamaConfig config = TestModels.tiedConfig();
    try (LlamaModel model = load(config)) {
      assertThat(model.parameters()).doesNotContainKey(LlamaTensors.LM_HEAD);
      assertThat(model.lmHeadWeight()).isSameAs(model.parameters().get(LlamaTensors.EMBED));
      NDArray ids = manager.create(TestModels.randomTokens(2, 5, config.vocabSize(), 4));
      NDArray hidden = model.forwardHidden(ids);
      NDArray expected = hidden.matMul(model.lmHeadWeight().transpose());
      assertThat(maxAbsDifference(model.forward(ids), expected)).isLessThan(1e-5);
    }
  }

  @Test
  void parametersAreInCheckpointOrderWithTheirShapes() {
    LlamaConfig config = TestModels.gqaConfig();
    try (LlamaModel model = load(config)) {
      Map<String, long[]> expected = LlamaTensors.expectedShapes(config);
      assertThat(model.parameters().keySet()).containsExactlyElementsOf(expected.keySet());
      model.parameters().forEach((name, array) -> assertThat(array.getShape().getShape()).containsExactly(
          expected.get(name)));
    }
  }

  @Test
  void loadRejectsATensorOfTheWrongSize() {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = new HashMap<>(TestModels.randomWeights(config, 5));
    weights.put(LlamaTensors.k(1), new float[7]);
    assertThatThrownBy(() -> LlamaModel.load(config, WeightSource.of(weights), Device.cpu()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(LlamaTensors.k(1));
  }

  @Test
  void forwardLeavesOnlyItsResultBehind() {
    LlamaConfig config = TestModels.gqaConfig();
    try (LlamaModel model = load(config)) {
      NDManager modelManager = model.lmHeadWeight().getManager();
      NDArray ids = manager.create(TestModels.randomTokens(2, 6, config.vocabSize(), 6));
      model.forward(ids).close();
      int modelArrays = modelManager.getManagedArrays().size();
      NDArray logits = model.forward(ids);
      assertThat(manager.getManagedArrays()).containsExactlyInAnyOrder(ids, logits);
      assertThat(modelManager.getManagedArrays()).hasSize(modelArrays);
      assertThat(ids.getManager()).isSameAs(manager);
    }
  }

  @Test
  void float16WeightsOnTheCpuComputeInFloat32ExactlyAsTheirFloat32Values() {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = TestModels.randomWeights(config, 8);
    Map<String, float[]> rounded = new HashMap<>();
    weights.forEach((name, values) -> rounded.put(name, manager.create(values).toType(DataType.FLOAT16, false)
        .toType(DataType.FLOAT32, false).toFloatArray()));
    NDArray ids = manager.create(TestModels.randomTokens(2, 8, config.vocabSize(), 9));
    try (LlamaModel half = LlamaModel.load(config, WeightSource.of(weights), Device.cpu(), DataType.FLOAT16);
        LlamaModel widened = LlamaModel.load(config, WeightSource.of(rounded), Device.cpu())) {
      assertThat(half.computeType()).isEqualTo(DataType.FLOAT32);
      assertThat(half.parameters().values()).allMatch(p -> p.getDataType() == DataType.FLOAT16);
      NDManager modelManager = half.lmHeadWeight().getManager();
      half.forward(ids).close(); // caches the position tables of this length
      int modelArrays = modelManager.getManagedArrays().size();
      float[] logits = half.forward(ids).toFloatArray();
      assertThat(logits).containsExactly(widened.forward(ids).toFloatArray());
      assertThat(half.forwardHidden(ids).getDataType()).isEqualTo(DataType.FLOAT32);
      assertThat(modelManager.getManagedArrays()).as("no widened copy outlives its layer").hasSize(modelArrays);
    }
  }

  @Test
  void float16ArithmeticAsOnAGpuStaysCloseToFloat32() {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = TestModels.randomWeights(config, 8);
    NDArray ids = manager.create(TestModels.randomTokens(1, 8, config.vocabSize(), 9));
    try (LlamaModel full = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        LlamaModel half = LlamaModel.load(config, WeightSource.of(weights), Device.cpu(), DataType.FLOAT16,
            DataType.FLOAT16)) {
      assertThat(half.parameters().get(LlamaTensors.EMBED).getDataType()).isEqualTo(DataType.FLOAT16);
      assertThat(half.forwardHidden(ids).getDataType()).isEqualTo(DataType.FLOAT16);
      NDArray halfLogits = half.forward(ids);
      assertThat(halfLogits.getDataType()).isEqualTo(DataType.FLOAT32);
      assertThat(maxAbsDifference(full.forward(ids), halfLogits)).isLessThan(0.05);
    }
  }

  @Test
  void forwardOfAHidden256ModelIsFastOnCpu() {
    LlamaConfig config = new LlamaConfig(256, 688, 4, 4, 2, 64, 1000, 1e-5, 500000.0, RopeScaling.llama31(), 2048,
        false, 1, 2, "float32");
    try (LlamaModel model = load(config)) {
      NDArray ids = manager.create(TestModels.randomTokens(4, 128, config.vocabSize(), 10));
      model.forward(ids).close();
      long start = System.nanoTime();
      int runs = 3;
      for (int i = 0; i < runs; i++) {
        model.forward(ids).close();
      }
      double millis = (System.nanoTime() - start) / 1e6 / runs;
      System.out.printf("forward hidden 256, 4 layers, batch 4 x seq 128: %.1f ms%n", millis);
      assertThat(millis).as("sanity bound, generous for shared CI cores").isLessThan(5000);
    }
  }

  private static LlamaModel load(LlamaConfig config) {
    return LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 42)), Device.cpu());
  }

  static double maxAbsDifference(NDArray a, NDArray b) {
    return a.sub(b).abs().max().getFloat();
  }
}
