package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class TrainingTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private NDManager manager;
  private LlamaModel model;
  private long[][] tokens;

  @BeforeEach
  void open() {
    manager = NDManager.newBaseManager(Device.cpu());
    model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 21)), Device.cpu());
    tokens = TestModels.randomTokens(2, 10, config.vocabSize(), 22);
  }

  @AfterEach
  void close() {
    model.close();
    manager.close();
  }

  @Test
  void crossEntropyMatchesAHandComputedNextTokenLossAndSkipsIgnoredLabels() {
    long[][] labels = {tokens[0].clone(), tokens[1].clone()};
    labels[0][3] = LanguageModelLoss.IGNORE_INDEX;
    labels[1][9] = LanguageModelLoss.IGNORE_INDEX;
    NDArray logits = model.forward(manager.create(tokens));
    TokenLoss loss = LanguageModelLoss.crossEntropy(logits, manager.create(labels), LanguageModelLoss.IGNORE_INDEX);

    int vocab = config.vocabSize();
    float[] values = logits.toFloatArray();
    double sum = 0;
    int counted = 0;
    for (int b = 0; b < 2; b++) {
      for (int t = 0; t < 9; t++) {
        long target = labels[b][t + 1];
        if (target == LanguageModelLoss.IGNORE_INDEX) {
          continue;
        }
        int row = (b * 10 + t) * vocab;
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
          max = Math.max(max, values[row + v]);
        }
        double partition = 0;
        for (int v = 0; v < vocab; v++) {
          partition += Math.exp(values[row + v] - max);
        }
        sum += max + Math.log(partition) - values[row + (int) target];
        counted++;
      }
    }
    assertThat(loss.tokens()).isEqualTo(16);
    assertThat(counted).isEqualTo(16);
    assertThat((double) loss.mean().getFloat()).isCloseTo(sum / counted, within(1e-5));
  }

  @Test
  void chunkedLossFromHiddenStatesEqualsTheFullLoss() {
    NDArray ids = manager.create(tokens);
    TokenLoss full = LanguageModelLoss.crossEntropy(model.forward(ids), ids, LanguageModelLoss.IGNORE_INDEX);
    TokenLoss chunked = LanguageModelLoss.crossEntropyChunked(model.forwardHidden(ids), model.lmHeadWeight(), ids,
        LanguageModelLoss.IGNORE_INDEX, 7);
    assertThat(chunked.tokens()).isEqualTo(full.tokens()).isEqualTo(18);
    assertThat((double) chunked.mean().getFloat()).isCloseTo(full.mean().getFloat(), within(1e-5));
  }

  @Test
  void aSingleTokenSequenceHasNoTargetsAndZeroLoss() {
    NDArray ids = manager.create(new long[][] {{5}, {6}});
    TokenLoss full = LanguageModelLoss.crossEntropy(model.forward(ids), ids, LanguageModelLoss.IGNORE_INDEX);
    TokenLoss chunked = LanguageModelLoss.crossEntropyChunked(model.forwardHidden(ids), model.lmHeadWeight(), ids,
        LanguageModelLoss.IGNORE_INDEX, 4);
    assertThat(full.tokens()).isZero();
    assertThat(chunked.tokens()).isZero();
    assertThat(full.mean().getFloat()).isZero();
    assertThat(chunked.mean().getFloat()).isZero();
  }

  @Test
  void gradientsReachEveryParameter() {
    model.setTrainable(true);
    NDArray ids = manager.create(tokens);
    try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
      collector.backward(lossOf(ids).mean());
    }
    List<String> withoutGradient = new ArrayList<>();
    for (Map.Entry<String, NDArray> parameter : model.parameters().entrySet()) {
      try (NDArray gradient = parameter.getValue().getGradient()) {
        if (gradient.abs().sum().getFloat() == 0) {
          withoutGradient.add(parameter.getKey());
        }
      }
    }
    assertThat(withoutGradient).isEmpty();
  }

  @Test
  void sgdStepsLowerTheLossOnAFixedBatch() {
    model.setTrainable(true);
    NDArray ids = manager.create(tokens);
    float initial = 0;
    for (int step = 0; step < 5; step++) {
      try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
        TokenLoss loss = lossOf(ids);
        if (step == 0) {
          initial = loss.mean().getFloat();
        }
        collector.backward(loss.mean());
      }
      sgdStep(0.5f);
    }
    model.setTrainable(false);
    float after = lossOf(ids).mean().getFloat();
    System.out.printf("loss before %.4f, after 5 SGD steps %.4f%n", initial, after);
    assertThat(after).isLessThan(initial * 0.9f);
  }

  private TokenLoss lossOf(NDArray ids) {
    return LanguageModelLoss.crossEntropyChunked(model.forwardHidden(ids), model.lmHeadWeight(), ids,
        LanguageModelLoss.IGNORE_INDEX, 8);
  }

  /** {@code p -= lr · grad}, then zero the gradient (DJL's collector never does). */
  private void sgdStep(float learningRate) {
    for (NDArray parameter : model.parameters().values()) {
      try (NDArray gradient = parameter.getGradient(); NDArray update = gradient.mul(learningRate)) {
        parameter.subi(update);
        gradient.muli(0);
      }
    }
  }
}
