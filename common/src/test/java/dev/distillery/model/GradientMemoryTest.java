package dev.distillery.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.distill.Autograd;
import dev.distillery.testing.CollectorPressure;
import dev.distillery.testing.TestModels;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Gradients must not depend on when the garbage collector runs. Autograd keeps tensors of the forward pass for the
 * backward pass; one whose memory belongs to a Java direct buffer that is already unreachable (as DJL's scalar
 * operands are) is freed under the graph's feet, and backward then reads whatever the allocator wrote there.
 */
class GradientMemoryTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private final long[][] tokens = TestModels.randomTokens(2, 16, config.vocabSize(), 31);

  @Test
  void gradientsAreTheSameWhileTheCollectorRuns() {
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 30)),
        Device.cpu())) {
      model.setTrainable(true);
      Map<String, float[]> quiet = gradients(model);
      try (CollectorPressure pressure = CollectorPressure.start()) {
        for (int repeat = 0; repeat < 20; repeat++) {
          Map<String, float[]> underPressure = gradients(model);
          for (String name : quiet.keySet()) {
            assertThat(underPressure.get(name)).as("repeat %d, gradient of %s", repeat, name)
                .containsExactly(quiet.get(name));
          }
        }
      }
    }
  }

  /** Gradients of sum(logits²) for every parameter, the collector given time to run between forward and backward. */
  private Map<String, float[]> gradients(LlamaModel model) {
    Autograd.zeroGradients(model.parameters().values());
    try (NDManager scope = NDManager.newBaseManager(Device.cpu())) {
      NDArray loss;
      try (Autograd.Scope on = Autograd.record()) {
        loss = model.forward(scope.create(tokens)).square().sum();
      }
      sleep();
      Autograd.backward(loss, loss.onesLike());
      Map<String, float[]> out = new LinkedHashMap<>();
      model.parameters().forEach((name, p) -> {
        try (NDArray g = p.getGradient()) {
          out.put(name, g.toFloatArray());
        }
      });
      return out;
    }
  }

  private static void sleep() {
    try {
      Thread.sleep(5);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
