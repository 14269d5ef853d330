package dev.distillery.model;

import static dev.distillery.model.LlamaModelTest.maxAbsDifference;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TapsTest {
  private static final int BATCH = 2;
  private static final int SEQ = 5;

  private final LlamaConfig config = TestModels.gqaConfig();
  private NDManager manager;
  private LlamaModel model;
  private NDArray ids;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager(Device.cpu());
    model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 3)), Device.cpu());
    ids = manager.create(TestModels.randomTokens(BATCH, SEQ, config.vocabSize(), 4));
  }

  @AfterEach
  void close() {
    model.close();
    manager.close();
  }

  @Test
  void everyPointReportsItsShapeForEveryLayer() {
    Map<TapPoint, List<Integer>> layersSeen = new EnumMap<>(TapPoint.class);
    Map<TapPoint, Shape> shapes = new EnumMap<>(TapPoint.class);
    for (TapPoint point : TapPoint.values()) {
      model.taps().on(point, (p, layer, activation) -> {
        layersSeen.computeIfAbsent(p, k -> new ArrayList<>()).add(layer);
        shapes.put(p, activation.getShape());
      });
    }
    model.forward(ids);

    Shape hidden = new Shape(BATCH, SEQ, config.hiddenSize());
    assertThat(shapes).containsEntry(TapPoint.LAYER_INPUT, hidden)
        .containsEntry(TapPoint.INPUT_NORM, hidden)
        .containsEntry(TapPoint.ATTENTION_HEADS, new Shape(BATCH, SEQ, config.numAttentionHeads(), config.headDim()))
        .containsEntry(TapPoint.POST_ATTENTION_NORM, hidden)
        .containsEntry(TapPoint.MLP_ACTIVATION, new Shape(BATCH, SEQ, config.intermediateSize()))
        .containsEntry(TapPoint.LAYER_OUTPUT, hidden)
        .containsEntry(TapPoint.FINAL_NORM, hidden);
    layersSeen.forEach((point, layers) -> assertThat(layers).as(point.name())
        .containsExactlyElementsOf(point == TapPoint.FINAL_NORM ? List.of(config.numHiddenLayers()) : List.of(0, 1)));
  }

  @Test
  void layerOutputIsInputPlusAttentionHeadsThroughOprojPlusMlpActivationThroughDownProj() {
    int layer = 1;
    Map<TapPoint, NDArray> seen = captureLayer(layer);
    NDArray heads = seen.get(TapPoint.ATTENTION_HEADS).reshape(BATCH, SEQ, config.qDim());
    NDArray attention = heads.matMul(parameter(LlamaTensors.o(layer)).transpose());
    NDArray mlp = seen.get(TapPoint.MLP_ACTIVATION).matMul(parameter(LlamaTensors.down(layer)).transpose());
    NDArray rebuilt = seen.get(TapPoint.LAYER_INPUT).add(attention).add(mlp);
    assertThat(maxAbsDifference(rebuilt, seen.get(TapPoint.LAYER_OUTPUT))).isLessThan(1e-5);
  }

  @Test
  void mlpActivationIsSwiGluOfThePostAttentionNorm() {
    int layer = 0;
    Map<TapPoint, NDArray> seen = captureLayer(layer);
    NDArray x = seen.get(TapPoint.POST_ATTENTION_NORM);
    NDArray gate = x.matMul(parameter(LlamaTensors.gate(layer)).transpose());
    NDArray up = x.matMul(parameter(LlamaTensors.up(layer)).transpose());
    NDArray expected = gate.div(gate.neg().exp().add(1)).mul(up);
    assertThat(maxAbsDifference(expected, seen.get(TapPoint.MLP_ACTIVATION))).isLessThan(1e-5);
  }

  @Test
  void inputNormIsRmsNormOfTheLayerInput() {
    int layer = 1;
    Map<TapPoint, NDArray> seen = captureLayer(layer);
    NDArray x = seen.get(TapPoint.LAYER_INPUT);
    NDArray rms = x.square().mean(new int[] {2}, true).add(config.rmsNormEps()).sqrt();
    NDArray expected = x.div(rms).mul(parameter(LlamaTensors.inputNorm(layer)));
    assertThat(maxAbsDifference(expected, seen.get(TapPoint.INPUT_NORM))).isLessThan(1e-5);
  }

  @Test
  void finalNormTapSeesTheHiddenStatesBeforeLmHead() {
    NDArray[] seen = new NDArray[1];
    model.taps().on(TapPoint.FINAL_NORM, (p, layer, activation) -> seen[0] = copy(activation));
    NDArray hidden = model.forwardHidden(ids);
    assertThat(maxAbsDifference(seen[0], hidden)).isZero();
  }

  @Test
  void aLayerFilteredTapFiresOnlyThereAndStopsWhenClosed() {
    List<Integer> layers = new ArrayList<>();
    Taps.Registration registration = model.taps().on(TapPoint.LAYER_OUTPUT, 1, (p, layer, a) -> layers.add(layer));
    model.forward(ids);
    registration.close();
    model.forward(ids);
    assertThat(layers).containsExactly(1);
  }

  private Map<TapPoint, NDArray> captureLayer(int layer) {
    Map<TapPoint, NDArray> seen = new HashMap<>();
    for (TapPoint point : TapPoint.values()) {
      model.taps().on(point, layer, (p, l, activation) -> seen.put(p, copy(activation)));
    }
    model.forward(ids);
    return seen;
  }

  private NDArray copy(NDArray activation) {
    NDArray copy = activation.duplicate();
    copy.attach(manager);
    return copy;
  }

  private NDArray parameter(String name) {
    return model.parameters().get(name);
  }
}
