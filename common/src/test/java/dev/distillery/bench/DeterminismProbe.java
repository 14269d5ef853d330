package dev.distillery.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.distillery.distill.AdamW;
import dev.distillery.distill.ChunkedLogitLoss;
import dev.distillery.distill.GradientReducer;
import dev.distillery.distill.LossSpec;
import dev.distillery.distill.TrainingStep;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.RopeScaling;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.Arrays;
import java.util.List;

/**
 * Trains a generated student against a generated teacher for a few steps and prints every step's loss in full
 * precision and a hash of the final weights, so that runs under different CPU kernels, thread counts or machines
 * can be compared exactly (see submit-scripts/probe-determinism.sh). Usage: DeterminismProbe THREADS STEPS
 */
public final class DeterminismProbe {
  private DeterminismProbe() {}

  public static void main(String[] args) {
    int threads = Integer.parseInt(args[0]);
    int steps = Integer.parseInt(args[1]);
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    LlamaConfig config = new LlamaConfig(192, 512, 4, 6, 2, 32, 2048, 1e-5, 500000.0, RopeScaling.llama31(), 2048,
        false, 1, 2, "float32");
    long[][] data = TestModels.randomTokens(8, 65, config.vocabSize(), 0);
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 2)),
            Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 512), adam,
          GradientReducer.single(), 1.0);
      StringBuilder losses = new StringBuilder();
      for (int s = 0; s < steps; s++) {
        List<long[][]> batches = List.of(Arrays.copyOfRange(data, 0, 4), Arrays.copyOfRange(data, 4, 8));
        losses.append(String.format(" %.9f", step.run(batches, 3e-3).loss()));
      }
      long hash = 17;
      for (NDArray p : student.parameters().values()) {
        hash = 31 * hash + Arrays.hashCode(p.toFloatArray());
      }
      System.out.printf("RESULT threads %d weights %016x losses%s%n", threads, hash, losses);
    }
  }
}
