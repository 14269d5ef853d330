package dev.distillery.importance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaTensors;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WeightImportanceTest {
  @Test
  void unitsScoreTheL2NormOfTheirOwnWeights() {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> weights = TestModels.randomWeights(config, 2);
    int hidden = config.hiddenSize();
    int ffn = config.intermediateSize();

    ImportanceScores scores = WeightImportance.compute(config, WeightSource.of(weights), "t", "sha");

    int neuron = 5;
    double neuronSquares = 0;
    for (int c = 0; c < hidden; c++) {
      neuronSquares += square(weights.get(LlamaTensors.gate(1))[neuron * hidden + c])
          + square(weights.get(LlamaTensors.up(1))[neuron * hidden + c])
          + square(weights.get(LlamaTensors.down(1))[c * ffn + neuron]);
    }
    assertThat(scores.neurons()[1][neuron]).isCloseTo(Math.sqrt(neuronSquares), within(1e-9));
    int head = 3;
    int d = config.headDim();
    double headSquares = 0;
    for (int r = head * d; r < (head + 1) * d; r++) {
      for (int c = 0; c < hidden; c++) {
        headSquares += square(weights.get(LlamaTensors.q(0))[r * hidden + c]);
        headSquares += square(weights.get(LlamaTensors.o(0))[c * config.qDim() + r]);
      }
    }
    assertThat(scores.heads()[0][head]).isCloseTo(Math.sqrt(headSquares), within(1e-9));
    assertThat(java.util.Arrays.stream(scores.channels()).min().orElseThrow()).isPositive();
    assertThat(scores.blockImportance()).isNull();
    assertThat(scores.info().method()).isEqualTo(CalibrationInfo.WEIGHTS);
  }

  private static double square(double v) {
    return v * v;
  }
}
