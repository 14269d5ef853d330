package dev.distillery.bench;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import dev.distillery.distill.AdamW;
import dev.distillery.distill.Autograd;
import dev.distillery.distill.ChunkedLogitLoss;
import dev.distillery.distill.GradientReducer;
import dev.distillery.distill.LossSpec;
import dev.distillery.distill.TeacherTopK;
import dev.distillery.distill.TopKLogits;
import dev.distillery.distill.TrainingStep;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.RopeScaling;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.ArrayList;
import java.util.List;

/**
 * Distillation from stored top-k teacher distributions against the online teacher, in one run: train steps/s of
 * both (alternating rounds, so machine load hits both alike), and the teacher's top-k pass (forward, lm_head,
 * log-softmax, top-k, tail) against its bare forward pass (the calibration forward without taps), in tokens/s.
 * The teacher is twice the student's depth and width, as a teacher is larger than its student.
 * Usage: StoredTeacherBenchmark THREADS ROUNDS STEPS_PER_ROUND [K]
 */
public final class StoredTeacherBenchmark {
  private StoredTeacherBenchmark() {}

  public static void main(String[] args) {
    int threads = Integer.parseInt(args[0]);
    int rounds = Integer.parseInt(args[1]);
    int steps = Integer.parseInt(args[2]);
    int k = args.length > 3 ? Integer.parseInt(args[3]) : 64;
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(threads);
    LlamaConfig student = new LlamaConfig(256, 704, 4, 8, 2, 32, 8192, 1e-5, 500000.0, RopeScaling.llama31(), 8192,
        false, 1, 2, "float32");
    LlamaConfig teacherConfig = new LlamaConfig(512, 1408, 8, 8, 2, 64, 8192, 1e-5, 500000.0, RopeScaling.llama31(),
        8192, false, 1, 2, "float32");
    int seq = 256;
    long[][] data = TestModels.randomTokens(4, seq, student.vocabSize(), 0);
    List<long[][]> batches = List.of(new long[][] {data[0], data[1]}, new long[][] {data[2], data[3]});
    try (LlamaModel teacher = LlamaModel.load(teacherConfig, WeightSource.of(TestModels.randomWeights(teacherConfig,
            1)), Device.cpu());
        LlamaModel online = LlamaModel.load(student, WeightSource.of(TestModels.randomWeights(student, 2)),
            Device.cpu());
        LlamaModel offline = LlamaModel.load(student, WeightSource.of(TestModels.randomWeights(student, 2)),
            Device.cpu());
        AdamW adamOnline = new AdamW(online.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01));
        AdamW adamOffline = new AdamW(offline.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      TeacherTopK topK = new TeacherTopK(teacher, k, TopKLogits.Values.FLOAT16, 512);
      List<TopKLogits[]> stored = new ArrayList<>();
      for (long[][] batch : batches) {
        stored.add(topK.of(batch));
      }
      TrainingStep withTeacher = new TrainingStep(online, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 512),
          adamOnline, GradientReducer.single(), 1.0);
      TrainingStep fromStore = new TrainingStep(offline, null, new ChunkedLogitLoss(LossSpec.minitron(), 512),
          adamOffline, GradientReducer.single(), 1.0);
      withTeacher.run(batches, 1e-4); // warm-up
      fromStore.run(batches, stored, 1e-4);
      double onlineSeconds = 0;
      double storedSeconds = 0;
      double forwardSeconds = 0;
      double topKSeconds = 0;
      for (int r = 0; r < rounds; r++) {
        long t0 = System.nanoTime();
        for (int s = 0; s < steps; s++) {
          withTeacher.run(batches, 1e-4);
        }
        long t1 = System.nanoTime();
        for (int s = 0; s < steps; s++) {
          fromStore.run(batches, stored, 1e-4);
        }
        long t2 = System.nanoTime();
        for (long[][] batch : batches) {
          try (Autograd.Scope off = Autograd.pause(); NDManager m = NDManager.newBaseManager(Device.cpu())) {
            teacher.forwardHidden(m.create(batch));
          }
        }
        long t3 = System.nanoTime();
        for (long[][] batch : batches) {
          topK.of(batch);
        }
        long t4 = System.nanoTime();
        onlineSeconds += (t1 - t0) / 1e9;
        storedSeconds += (t2 - t1) / 1e9;
        forwardSeconds += (t3 - t2) / 1e9;
        topKSeconds += (t4 - t3) / 1e9;
      }
      int total = rounds * steps;
      long tokens = (long) rounds * 4 * seq;
      System.out.printf("RESULT online teacher %.3f steps/s, stored top-%d %.3f steps/s, stored/online %.2fx "
          + "(%d steps each, %d tokens per step, threads %d)%n", total / onlineSeconds, k, total / storedSeconds,
          onlineSeconds / storedSeconds, total, 4 * seq, threads);
      System.out.printf("RESULT teacher forward %.0f tokens/s (%.0f per thread), top-%d pass %.0f tokens/s (%.0f per "
          + "thread), top-k/forward %.2fx%n", tokens / forwardSeconds, tokens / forwardSeconds / threads, k,
          tokens / topKSeconds, tokens / topKSeconds / threads, forwardSeconds / topKSeconds);
      System.out.printf("RESULT stored bytes per token, before Parquet: %d (float16), %d (float32), at k %d; "
          + "a float32 logit row is %d%n", TopKLogits.bytesPerPosition(k, TopKLogits.Values.FLOAT16),
          TopKLogits.bytesPerPosition(k, TopKLogits.Values.FLOAT32), k, 4 * student.vocabSize());
    }
  }
}
