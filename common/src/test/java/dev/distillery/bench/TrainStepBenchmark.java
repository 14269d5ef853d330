package dev.distillery.bench;

import ai.djl.Device;
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
import java.util.List;

/**
 * Distillation train-step throughput of {@link TrainingStep} (chunked KL, backward, clipping, AdamW) on the shapes
 * of {@code train_step_bench.py}; prints "RESULT java tokens/s". Usage: TrainStepBenchmark THREADS STEPS
 */
public final class TrainStepBenchmark {
  private TrainStepBenchmark() {}

  public static void main(String[] args) {
    int threads = Integer.parseInt(args[0]);
    int steps = Integer.parseInt(args[1]);
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    LlamaConfig config = new LlamaConfig(256, 704, 4, 8, 2, 32, 8192, 1e-5, 500000.0, RopeScaling.llama31(), 8192,
        false, 1, 2, "float32");
    int seq = 256;
    int micro = 2;
    int global = 4;
    long[][] data = TestModels.randomTokens(global, seq, config.vocabSize(), 0);
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 2)),
            Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 512), adam,
          GradientReducer.single(), 1.0);
      List<long[][]> batches = List.of(new long[][] {data[0], data[1]}, new long[][] {data[2], data[3]});
      for (int i = 0; i < 2; i++) {
        step.run(batches, 1e-4);
      }
      long start = System.nanoTime();
      for (int i = 0; i < steps; i++) {
        step.run(batches, 1e-4);
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      System.out.printf("RESULT java %.1f tokens/s (%.3f s/step, micro-batch %d)%n", steps * global * seq / seconds,
          seconds / steps, micro);
    }
  }
}
