package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.CollectorPressure;
import dev.distillery.testing.TestModels;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The hidden-state cosine term: zero for identical models, and its gradient agrees with finite differences. */
class HiddenStateLossTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private final long[][] data = TestModels.randomTokens(2, 8, config.vocabSize(), 51);

  @Test
  void identicalModelsHaveNoHiddenStateLoss() {
    Map<String, float[]> weights = TestModels.randomWeights(config, 52);
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0))) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 16),
          new HiddenStateLoss(1.0, Map.of(0, 0, 1, 1)), adam, GradientReducer.single(), 0);
      TrainingStep.Result result = step.run(List.<long[][]>of(data), 0.0);
      assertThat(result.hiddenLoss()).isCloseTo(0.0, within(1e-6));
      assertThat(result.kdLoss()).isCloseTo(0.0, within(1e-6));
    }
  }

  @Test
  void gradientOfTheCombinedLossMatchesFiniteDifferences() {
    Map<String, float[]> teacherWeights = TestModels.randomWeights(config, 53);
    Map<String, float[]> studentWeights = TestModels.randomWeights(config, 54);
    String parameter = "model.layers.0.post_attention_layernorm.weight";
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(teacherWeights), Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(studentWeights), Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0))) {
      // Student layer 0 matches teacher layer 1: a depth-pruning style map. lr 0 leaves the weights unchanged.
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.crossEntropy(), 16),
          new HiddenStateLoss(2.0, Map.of(0, 1)), adam, GradientReducer.single(), 0);
      double loss = step.run(List.<long[][]>of(data), 0.0).loss();
      float[] gradient;
      try (NDArray g = student.parameters().get(parameter).getGradient()) {
        gradient = g.toFloatArray();
      }
      NDArray weight = student.parameters().get(parameter);
      float[] original = weight.toFloatArray();
      float epsilon = 1e-2f;
      for (int i : new int[] {0, 7, 31}) {
        float[] plus = original.clone();
        plus[i] += epsilon;
        weight.set(plus);
        double up = step.run(List.<long[][]>of(data), 0.0).loss();
        float[] minus = original.clone();
        minus[i] -= epsilon;
        weight.set(minus);
        double down = step.run(List.<long[][]>of(data), 0.0).loss();
        weight.set(original);
        double numeric = (up - down) / (2 * epsilon);
        assertThat((double) gradient[i]).as("d loss / d %s[%d]", parameter, i)
            .isCloseTo(numeric, within(2e-3 + 0.02 * Math.abs(numeric)));
      }
      assertThat(loss).isGreaterThan(0);
    }
  }

  @Test
  void gradientsAreTheSameWhileTheCollectorRuns() {
    String parameter = "model.layers.0.mlp.down_proj.weight";
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 55)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 56)),
            Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0))) {
      // Cross-entropy plus the hidden term; lr 0 keeps the weights, so every run has the same gradient.
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.crossEntropy(), 16),
          new HiddenStateLoss(2.0, Map.of(0, 1, 1, 0)), adam, GradientReducer.single(), 0);
      step.run(List.<long[][]>of(data), 0.0);
      float[] quiet = gradientOf(student, parameter);
      try (CollectorPressure pressure = CollectorPressure.start()) {
        for (int repeat = 0; repeat < 10; repeat++) {
          step.run(List.<long[][]>of(data), 0.0);
          assertThat(gradientOf(student, parameter)).as("repeat %d", repeat).containsExactly(quiet);
        }
      }
    }
  }

  /** Rows of different lengths in one micro-batch: the term and its gradients are those of the rows alone. */
  @Test
  void aPaddedMicroBatchGivesTheHiddenLossAndGradientsOfItsRowsAlone() {
    long[][] rows = {java.util.Arrays.copyOf(data[0], 3), data[1], java.util.Arrays.copyOf(data[0], 6)};
    List<long[][]> padded = List.<long[][]>of(rows);
    List<long[][]> alone = java.util.Arrays.stream(rows).map(r -> new long[][] {r}).toList();
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 57)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 58)),
            Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0))) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 16),
          new HiddenStateLoss(2.0, Map.of(0, 1, 1, 0)), adam, GradientReducer.single(), 0);
      TrainingStep.Result a = step.run(padded, 0.0);
      Map<String, float[]> paddedGradients = new java.util.TreeMap<>();
      student.parameters().keySet().forEach(name -> paddedGradients.put(name, gradientOf(student, name)));
      TrainingStep.Result b = step.run(alone, 0.0);
      assertThat(a.tokens()).isEqualTo(b.tokens()).isEqualTo(3 + 8 + 6);
      assertThat(a.hiddenLoss()).isGreaterThan(0.01).isCloseTo(b.hiddenLoss(), within(1e-6));
      assertThat(a.loss()).isCloseTo(b.loss(), within(1e-5));
      paddedGradients.forEach((name, g) -> {
        float[] other = gradientOf(student, name);
        for (int i = 0; i < g.length; i++) {
          assertThat(g[i]).as("%s[%d]", name, i).isCloseTo(other[i], within(1e-6f));
        }
      });
    }
  }

  private static float[] gradientOf(LlamaModel model, String parameter) {
    try (NDArray g = model.parameters().get(parameter).getGradient()) {
      return g.toFloatArray();
    }
  }

  @Test
  void mismatchedWidthsAndBadMapsAreRejected() {
    assertThatThrownBy(() -> HiddenStateLoss.parseLayerMap("0:1,2"))
        .hasMessageContaining("layer map entry '2' is not student:teacher");
    assertThat(HiddenStateLoss.parseLayerMap("0:0, 1:3")).containsEntry(1, 3);
    LlamaConfig narrow = config.withShape(32, 80, 2, 4, 2, 16);
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(narrow, WeightSource.of(TestModels.randomWeights(narrow, 2)),
            Device.cpu())) {
      assertThatThrownBy(() -> new HiddenStateLoss(1, Map.of(0, 0)).check(student, teacher))
          .hasMessageContaining("equal hidden sizes, student 32 vs teacher 48");
      assertThatThrownBy(() -> new HiddenStateLoss(1, Map.of(0, 5)).check(teacher, teacher))
          .hasMessageContaining("layer pair 0:5 is outside the models");
    }
  }
}
