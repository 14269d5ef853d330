package dev.distillery.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.distillery.importance.ActivationCollector;
import dev.distillery.importance.Aggregation;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;

/**
 * Calibration forward throughput on the CPU: the DJL forward with the importance taps and statistics, on a mid-size
 * random model (hidden 512, 4 layers, 8 heads on 2 KV heads, FFN 1408, vocab 32000), one sequence of 512 tokens per
 * pass. Prints tokens/s, the intra-op thread count and a machine-readable line for the comparison script.
 * Usage: {@code CalibrationBenchmark [threads] [passes]}.
 */
public final class CalibrationBenchmark {
  static final int SEQ = 512;

  private CalibrationBenchmark() {}

  public static void main(String[] args) {
    int threads = args.length > 0 ? Integer.parseInt(args[0]) : Runtime.getRuntime().availableProcessors();
    int passes = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    LlamaConfig config = new LlamaConfig(512, 1408, 4, 8, 2, 64, 32000, 1e-5, 500000.0, null, 4096, false, 1, 2,
        "float32");
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)), Device.cpu());
        ActivationCollector collector = new ActivationCollector(model, Aggregation.MEAN);
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      long[][] tokens = TestModels.randomTokens(1, SEQ, config.vocabSize(), 2);
      for (int i = 0; i < 3; i++) {
        pass(collector, manager, tokens);
      }
      long start = System.nanoTime();
      for (int i = 0; i < passes; i++) {
        pass(collector, manager, tokens);
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      double tokensPerSecond = passes * (double) SEQ / seconds;
      System.out.printf("java-djl: %d passes x %d tokens in %.2f s: %.0f tokens/s, %d intra-op threads, %.0f tokens/s "
          + "per thread%n", passes, SEQ, seconds, tokensPerSecond, JniUtils.getNumThreads(),
          tokensPerSecond / JniUtils.getNumThreads());
      System.out.printf("RESULT java %.1f %d%n", tokensPerSecond, JniUtils.getNumThreads());
    }
  }

  private static void pass(ActivationCollector collector, NDManager manager, long[][] tokens) {
    try (NDManager step = manager.newSubManager()) {
      collector.observe(step.create(tokens));
    }
  }
}
