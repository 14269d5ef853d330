package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OptimizerTest {
  @Test
  void adamWMatchesTheUpdateWorkedOutByHand() {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      Map<String, NDArray> params = new LinkedHashMap<>();
      params.put("w", manager.create(new float[] {1f, -2f}, new ai.djl.ndarray.types.Shape(1, 2)));
      params.put("norm", manager.create(new float[] {0.5f}));
      AdamW.Settings settings = new AdamW.Settings(0.9, 0.99, 1e-8, 0.1);
      try (AdamW adam = new AdamW(params, settings)) {
        double[] w = {1, -2};
        double norm = 0.5;
        double[] mw = new double[2];
        double[] vw = new double[2];
        double mn = 0;
        double vn = 0;
        float[][] gradW = {{0.5f, -1f}, {0.25f, 2f}};
        float[] gradN = {0.3f, -0.1f};
        double lr = 0.01;
        for (int t = 1; t <= 2; t++) {
          Map<String, NDArray> grads = Map.of(
              "w", manager.create(gradW[t - 1], new ai.djl.ndarray.types.Shape(1, 2)),
              "norm", manager.create(new float[] {gradN[t - 1]}));
          adam.step(params, grads, lr);
          for (int i = 0; i < 2; i++) {
            mw[i] = 0.9 * mw[i] + 0.1 * gradW[t - 1][i];
            vw[i] = 0.99 * vw[i] + 0.01 * gradW[t - 1][i] * gradW[t - 1][i];
            w[i] *= 1 - lr * 0.1; // decoupled decay on matrices
            w[i] -= lr * (mw[i] / (1 - Math.pow(0.9, t))) / (Math.sqrt(vw[i] / (1 - Math.pow(0.99, t))) + 1e-8);
          }
          mn = 0.9 * mn + 0.1 * gradN[t - 1];
          vn = 0.99 * vn + 0.01 * gradN[t - 1] * gradN[t - 1];
          norm -= lr * (mn / (1 - Math.pow(0.9, t))) / (Math.sqrt(vn / (1 - Math.pow(0.99, t))) + 1e-8); // no decay
        }
        float[] actualW = params.get("w").toFloatArray();
        assertThat((double) actualW[0]).isCloseTo(w[0], within(1e-6));
        assertThat((double) actualW[1]).isCloseTo(w[1], within(1e-6));
        assertThat((double) params.get("norm").toFloatArray()[0]).isCloseTo(norm, within(1e-6));
        assertThat(adam.steps()).isEqualTo(2);
      }
    }
  }

  @Test
  void stepsAllocateNothingThatOutlivesThem() {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      Map<String, NDArray> params = new LinkedHashMap<>();
      params.put("w", manager.randomNormal(new ai.djl.ndarray.types.Shape(4, 3)));
      params.put("norm", manager.ones(new ai.djl.ndarray.types.Shape(3)));
      try (AdamW adam = new AdamW(params, new AdamW.Settings(0.9, 0.99, 1e-8, 0.1))) {
        int callerArrays = manager.getManagedArrays().size();
        int[] optimizerArrays = new int[6];
        for (int t = 1; t <= 5; t++) {
          try (NDManager step = manager.newSubManager()) {
            Map<String, NDArray> grads = Map.of("w", step.randomNormal(new ai.djl.ndarray.types.Shape(4, 3)),
                "norm", step.randomNormal(new ai.djl.ndarray.types.Shape(3)));
            adam.step(params, grads, 0.01);
            assertThat(step.getManagedArrays()).as("step %d leaves only the gradients", t).hasSize(2);
          }
          optimizerArrays[t] = adam.liveArrays();
        }
        assertThat(optimizerArrays[1]).as("two moments per parameter").isEqualTo(4);
        assertThat(optimizerArrays[5]).as("after 5 steps as after 1").isEqualTo(optimizerArrays[1]);
        assertThat(manager.getManagedArrays()).hasSize(callerArrays);
      }
    }
  }

  @Test
  void scheduleWarmsUpLinearlyThenDecaysByCosineToTheMinimum() {
    LearningRateSchedule s = new LearningRateSchedule(1e-4, 1e-5, 4, 14);
    assertThat(s.at(0)).isCloseTo(2.5e-5, within(1e-12));
    assertThat(s.at(3)).isCloseTo(1e-4, within(1e-12));
    assertThat(s.at(4)).isCloseTo(1e-4, within(1e-12));
    assertThat(s.at(13)).isCloseTo(1e-5, within(1e-12));
    assertThat(s.at(8) + s.at(9)).isCloseTo(1e-4 + 1e-5, within(1e-6)); // symmetric around the midpoint
    assertThatThrownBy(() -> new LearningRateSchedule(1e-4, 1e-3, 0, 10)).hasMessageContaining("minimum");
  }
}
