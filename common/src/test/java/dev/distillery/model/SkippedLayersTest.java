package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.testing.TestModels;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SkippedLayersTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private final Map<String, float[]> weights = TestModels.randomWeights(config, 7);

  @Test
  void skippingALayerEqualsTheModelWithoutIt() {
    LlamaConfig oneLayer = config.withShape(config.hiddenSize(), config.intermediateSize(), 1,
        config.numAttentionHeads(), config.numKeyValueHeads(), config.headDim());
    Map<String, float[]> firstLayerOnly = new HashMap<>();
    LlamaTensors.expectedShapes(oneLayer).keySet().forEach(name -> firstLayerOnly.put(name, weights.get(name)));
    try (LlamaModel full = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        LlamaModel truncated = LlamaModel.load(oneLayer, WeightSource.of(firstLayerOnly), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      NDArray ids = manager.create(TestModels.randomTokens(2, 7, config.vocabSize(), 1));

      NDArray skipped = full.forwardHidden(ids, Set.of(1));
      NDArray none = full.forwardHidden(ids, Set.of());

      assertThat(LlamaModelTest.maxAbsDifference(skipped, truncated.forwardHidden(ids))).isLessThan(1e-6);
      assertThat(LlamaModelTest.maxAbsDifference(none, full.forwardHidden(ids))).isZero();
      assertThat(LlamaModelTest.maxAbsDifference(none, skipped)).isGreaterThan(1e-3);
      assertThatThrownBy(() -> full.forwardHidden(ids, Set.of(2)))
          .hasMessage("skipped layer 2 is not in [0, 2)");
    }
  }
}
