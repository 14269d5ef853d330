package dev.distillery.bench;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import dev.distillery.distill.AdamW;
import dev.distillery.distill.ChunkedLogitLoss;
import dev.distillery.distill.GradientReducer;
import dev.distillery.distill.LossSpec;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.distill.TrainingStep;
import dev.distillery.io.RandomTensor;
import dev.distillery.io.TensorInfo;
import dev.distillery.memory.MemoryPlan;
import dev.distillery.memory.MemoryPlanner;
import dev.distillery.memory.TrainingShape;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.RopeScaling;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.ShardOnlyReducer;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The largest student (its teacher has twice its layers) whose distill step fits this machine, before and after the
 * memory work, found by the planner and confirmed by running the step (CPU, float32, seeded random weights made in
 * memory tensor by tensor, so nothing is written to disk). "Before": the optimizer whole and no recomputation (the
 * query block, 512, covers the default row of 256 tokens, so attention is one full block as it was). "After": the
 * defaults (recomputation) with the optimizer and the gradients sharded (ZeRO stage 2) over REPLICAS replicas, of
 * which this process is one: the
 * others' share of the reduce-scatter is not run (the reducer sums nothing), so the memory and compute are one
 * device's of that job but the weights do not train as the job's would.
 *
 * <p>Usage: {@code plan MEMORY_GIB HEAP_GIB SEQ REPLICAS TEACHER_DTYPE} prints {@code before=HIDDEN after=HIDDEN}: the
 * largest hidden size (8 layers, FFN 2.75x, head_dim 64, vocab 32000) whose planned peak fits 80% of MEMORY_GIB less
 * the JVM heap and 1 GiB for the JVM and libtorch, before with a float32 teacher, after with a TEACHER_DTYPE one
 * (float16: half the memory, computed in float32 on the CPU). {@code run before|after HIDDEN SEQ THREADS REPLICAS
 * STEPS TEACHER_DTYPE} runs STEPS steps
 * of two one-sequence micro-batches and prints the student's parameters, the last step's tokens/s, and the planned
 * and measured peak (resident-set high-water mark above the resident set before loading).
 */
public final class LargestStudentBenchmark {
  private static final int CHUNK = 512;
  private static final int LAYERS = 8;
  private static final double HEADROOM = 0.2;

  private LargestStudentBenchmark() {}

  static LlamaConfig student(int hidden) {
    int heads = hidden / 64;
    int kvHeads = heads % 4 == 0 ? heads / 4 : heads / 2;
    int ffn = (int) Math.round(hidden * 2.75 / 64) * 64;
    return new LlamaConfig(hidden, ffn, LAYERS, heads, kvHeads, 64, 32000, 1e-5, 500000.0, RopeScaling.llama31(),
        8192, false, 1, 2, "float32");
  }

  static LlamaConfig teacher(LlamaConfig student) {
    return student.withShape(student.hiddenSize(), student.intermediateSize(), 2 * student.numHiddenLayers(),
        student.numAttentionHeads(), student.numKeyValueHeads(), student.headDim());
  }

  static MemoryPlan plan(int hidden, boolean after, int seq, int replicas, DataType teacherType) {
    LlamaConfig s = student(hidden);
    return MemoryPlanner.plan(new TrainingShape(s, teacher(s), teacherType == DataType.FLOAT16 ? 2 : 4, 1, 2, seq + 1,
        CHUNK,
        LlamaModel.DEFAULT_QUERY_BLOCK, after, false, after, after, 1, after ? replicas : 1, false));
  }

  /** The largest hidden size, a multiple of 128, whose planned peak is at most {@code budget} bytes. */
  static int largest(boolean after, long budget, int seq, int replicas, DataType teacherType) {
    int best = 0;
    for (int hidden = 128; hidden <= 16384; hidden += 128) {
      if (plan(hidden, after, seq, replicas, teacherType).peak() <= budget) {
        best = hidden;
      }
    }
    return best;
  }

  public static void main(String[] args) throws IOException {
    if (args[0].equals("plan")) {
      double gib = 1L << 30;
      long budget = (long) ((1 - HEADROOM) * Double.parseDouble(args[1]) * gib - Double.parseDouble(args[2]) * gib
          - gib);
      int seq = Integer.parseInt(args[3]);
      int replicas = Integer.parseInt(args[4]);
      DataType afterTeacher = dtype(args[5]);
      int before = largest(false, budget, seq, replicas, DataType.FLOAT32);
      int after = largest(true, budget, seq, replicas, afterTeacher);
      System.out.printf("# budget %.2f GiB for the planned peak; before: hidden %d, %.0fM parameters, planned %.2f "
              + "GiB; after (teacher %s): hidden %d, %.0fM parameters, planned %.2f GiB; %.2fx the parameters%n",
          budget / gib, before, student(before).parameterCount() / 1e6,
          plan(before, false, seq, replicas, DataType.FLOAT32).peak() / gib, args[5], after,
          student(after).parameterCount() / 1e6, plan(after, true, seq, replicas, afterTeacher).peak() / gib,
          (double) student(after).parameterCount() / student(before).parameterCount());
      System.out.println("before=" + before + " after=" + after);
      return;
    }
    boolean after = args[1].equals("after");
    int hidden = Integer.parseInt(args[2]);
    int seq = Integer.parseInt(args[3]);
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(Integer.parseInt(args[4]));
    int replicas = Integer.parseInt(args[5]);
    int steps = Integer.parseInt(args[6]);
    DataType teacherType = dtype(args[7]);
    LlamaConfig studentConfig = student(hidden);
    LlamaConfig teacherConfig = teacher(studentConfig);
    MemoryPlan plan = plan(hidden, after, seq, replicas, teacherType);
    long baseline = statusKb("VmRSS");
    Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // resets VmHWM to the current RSS
    GradientReducer reducer = after ? new ShardOnlyReducer(0, replicas) : GradientReducer.single();
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.01);
    double tokensPerSecond = 0;
    try (LlamaModel teacher = LlamaModel.load(teacherConfig, random(1), Device.cpu(), teacherType);
        LlamaModel student = LlamaModel.load(studentConfig, random(2), Device.cpu());
        AdamW adam = after ? new AdamW(OptimizerShard.of(student.parameters(), reducer), Device.cpu(), settings)
            : new AdamW(student.parameters(), settings)) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), CHUNK), null,
          adam, reducer, 1.0, after, after);
      long[][] data = TestModels.randomTokens(2, seq + 1, studentConfig.vocabSize(), 0);
      for (int i = 0; i < steps; i++) {
        long start = System.nanoTime();
        TrainingStep.Result result = step.run(List.of(new long[][] {data[0]}, new long[][] {data[1]}), 1e-4);
        tokensPerSecond = result.tokens() / ((System.nanoTime() - start) / 1e9);
        System.out.printf("# %s step %d: loss %.4f, %.1f tokens/s%n", args[1], i + 1, result.loss(), tokensPerSecond);
      }
    }
    double gib = 1L << 30;
    System.out.printf("RESULT %s (%s): student hidden %d, %.0fM parameters, teacher %.0fM %s; %d tokens per step; "
            + "%.1f tokens/s (step %d); planned %.2f GiB, measured %.2f GiB above a baseline of %.2f GiB%n",
        args[1], after ? "recompute on, optimizer and gradients sharded over " + replicas
            + " replicas (this one measured)"
            : "recompute off, optimizer whole", hidden, studentConfig.parameterCount() / 1e6,
        teacherConfig.parameterCount() / 1e6, args[7], 2 * seq, tokensPerSecond, steps, plan.peak() / gib,
        (statusKb("VmHWM") - baseline) / 1048576.0, baseline / 1048576.0);
  }

  private static DataType dtype(String name) {
    return switch (name) {
      case "float16" -> DataType.FLOAT16;
      case "float32" -> DataType.FLOAT32;
      default -> throw new IllegalArgumentException("teacher dtype must be float16 or float32: " + name);
    };
  }

  /** Seeded random weights, made one tensor at a time as the model loads them. */
  private static WeightSource random(long seed) {
    return (name, shape) -> RandomTensor.forWeight(seed, name, shape)
        .next(Math.toIntExact(TensorInfo.elementCount(shape)));
  }

  private static long statusKb(String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(field + ":")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException("no " + field + " in /proc/self/status");
  }
}
