package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RecomputedForwardTest {
  @Test
  void recomputedLayersGiveThePlainGradients() {
    LlamaConfig config = TestModels.gqaConfig();
    long[][] tokens = TestModels.randomTokens(2, 10, config.vocabSize(), 31);
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 30)),
        Device.cpu()); NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      model.setQueryBlock(4); // several query blocks, as a long sequence would have
      model.setTrainable(true);
      NDArray upstream = manager.randomNormal(new ai.djl.ndarray.types.Shape(2, 10, config.hiddenSize()));

      Map<String, float[]> plain;
      float[] plainHidden;
      try (NDManager pass = manager.newSubManager()) {
        NDArray hidden;
        try (Autograd.Scope on = Autograd.record()) {
          hidden = model.forwardHidden(pass.create(tokens));
        }
        plainHidden = hidden.toFloatArray();
        Autograd.backward(hidden, upstream);
        plain = gradients(model);
      }
      Autograd.zeroGradients(model.parameters().values());

      Map<String, float[]> recomputed;
      try (NDManager pass = manager.newSubManager()) {
        RecomputedForward forward = RecomputedForward.run(model, pass.create(tokens));
        assertThat(forward.hidden().toFloatArray()).containsExactly(plainHidden);
        forward.backward(upstream);
        recomputed = gradients(model);
        assertThat(pass.getManagedArrays()).as("only the ids and the final hidden states remain").hasSize(2);
      }

      assertThat(recomputed.keySet()).containsExactlyElementsOf(plain.keySet());
      for (String name : plain.keySet()) {
        float[] a = plain.get(name);
        float[] b = recomputed.get(name);
        double scale = 0;
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
          scale = Math.max(scale, Math.abs(a[i]));
          worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        if (name.equals("lm_head.weight")) { // after the final hidden states: no gradient on either path
          assertThat(worst).isZero();
          continue;
        }
        assertThat(scale).as("%s has a gradient", name).isGreaterThan(0);
        assertThat(worst / scale).as("relative gradient error of %s", name).isLessThanOrEqualTo(1e-6);
      }
    }
  }

  private static Map<String, float[]> gradients(LlamaModel model) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, NDArray> p : model.parameters().entrySet()) {
      try (NDArray gradient = p.getValue().getGradient()) {
        out.put(p.getKey(), gradient.toFloatArray());
      }
    }
    return out;
  }
}
