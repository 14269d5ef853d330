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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * One distillation train step with layer recomputation on or off (one mode per JVM, so each peak is its own): prints
 * "RESULT recompute=MODE tokens/s peak-rss-above-baseline MB". The baseline is the resident set after the models and
 * optimizer are loaded; the peak is the kernel's high-water mark, reset then (/proc/self/clear_refs).
 * Usage: RecomputationBenchmark on|off THREADS STEPS SEQ LAYERS
 */
public final class RecomputationBenchmark {
  private RecomputationBenchmark() {}

  public static void main(String[] args) throws IOException {
    boolean recompute = args[0].equals("on");
    int threads = Integer.parseInt(args[1]);
    int steps = Integer.parseInt(args[2]);
    int seq = Integer.parseInt(args[3]);
    int layers = Integer.parseInt(args[4]);
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    LlamaConfig config = new LlamaConfig(256, 704, layers, 8, 2, 32, 8192, 1e-5, 500000.0, RopeScaling.llama31(),
        Math.max(8192, seq), false, 1, 2, "float32");
    int global = 2;
    long[][] data = TestModels.randomTokens(global, seq, config.vocabSize(), 0);
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 2)),
            Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 512), null,
          adam, GradientReducer.single(), 1.0, recompute);
      List<long[][]> batches = List.of(new long[][] {data[0]}, new long[][] {data[1]});
      System.gc();
      long baseline = statusKb("VmRSS");
      Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // resets VmHWM to the current RSS
      double firstLoss = step.run(batches, 1e-4).loss(); // warm-up, and the first step's peak
      long start = System.nanoTime();
      for (int i = 0; i < steps; i++) {
        step.run(batches, 1e-4);
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      long peak = statusKb("VmHWM");
      System.out.printf("RESULT recompute=%s %.1f tokens/s (%.3f s/step), peak RSS %.0f MB above the loaded "
              + "baseline of %.0f MB; first-step loss %.6f (seq %d, %d layers, micro-batch 1, 2 per step)%n",
          args[0], steps * global * seq / seconds, seconds / steps, (peak - baseline) / 1024.0, baseline / 1024.0,
          firstLoss, seq, layers);
    }
  }

  static long statusKb(String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(field + ":")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("no " + field + " in /proc/self/status");
  }
}
