package dev.distillery.bench;

import ai.djl.Device;
import ai.djl.pytorch.jni.JniUtils;
import dev.distillery.collective.CollectiveOptions;
import dev.distillery.collective.LocalRendezvous;
import dev.distillery.collective.RingAllReduce;
import dev.distillery.distill.AdamW;
import dev.distillery.distill.ChunkedLogitLoss;
import dev.distillery.distill.GradientReducer;
import dev.distillery.distill.LossSpec;
import dev.distillery.distill.OptimizerShard;
import dev.distillery.distill.RingReducer;
import dev.distillery.distill.TrainingStep;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.RandomCheckpoint;
import dev.distillery.io.Storage;
import dev.distillery.memory.MemoryPlan;
import dev.distillery.memory.MemoryPlanner;
import dev.distillery.memory.TrainingShape;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.RopeScaling;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * The memory planner against a real distillation step on the CPU: loads a generated student and teacher (float32)
 * from disk, runs two steps of two micro-batches of one sequence, and prints the planner's peak beside the measured one:
 * the kernel's resident-set high-water mark (reset by /proc/self/clear_refs) minus the resident set before the
 * models were loaded (the engine initialised and warmed by a tiny step, the JVM heap pre-touched by the launcher).
 * Run it with {@code MALLOC_MMAP_THRESHOLD_=131072}, so that glibc returns every freed tensor to the kernel and the
 * resident set follows libtorch's live allocations (with the default sliding threshold, tensors of up to 32 MB are
 * kept in malloc's arenas and fragment them).
 * With REPLICAS 2 the optimizer is sharded over two ranks of one process (a loopback ring, as two ranks of a local-mode
 * job): each loads its student and shares one teacher (as the executor's model cache does), so the prediction is the
 * process total, twice the planner's per-replica peak less one teacher.
 * Usage: MemoryPlanBenchmark generate DIR SIZE | measure DIR SIZE on|off SEQ THREADS [REPLICAS [gradients]]; SIZE is
 * tiny, small, medium or large; REPLICAS 1 (default, unsharded) or 2 (sharded); "gradients" shards the gradients too
 * (ZeRO stage 2, recomputation on).
 */
public final class MemoryPlanBenchmark {
  private static final int CHUNK = 512;
  /** How far the prediction may be from the measurement. */
  private static final double TOLERANCE = 0.15;

  private MemoryPlanBenchmark() {}

  /** The student of each size; the teacher has twice its layers. */
  static LlamaConfig student(String size) {
    return switch (size) {
      case "tiny" -> config(128, 352, 2, 4, 2, 32000);
      case "small" -> config(512, 1408, 8, 8, 2, 32000);
      case "medium" -> config(1024, 2816, 12, 16, 4, 32000);
      case "large" -> config(1280, 3456, 12, 20, 4, 32000);
      default -> throw new IllegalArgumentException("size must be tiny, small, medium or large: " + size);
    };
  }

  private static LlamaConfig config(int hidden, int ffn, int layers, int heads, int kvHeads, int vocab) {
    return new LlamaConfig(hidden, ffn, layers, heads, kvHeads, hidden / heads, vocab, 1e-5, 500000.0,
        RopeScaling.llama31(), 8192, false, 1, 2, "float32");
  }

  static LlamaConfig teacher(String size) {
    LlamaConfig s = student(size);
    return s.withShape(s.hiddenSize(), s.intermediateSize(), 2 * s.numHiddenLayers(), s.numAttentionHeads(),
        s.numKeyValueHeads(), s.headDim());
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[1]);
    String size = args[2];
    if (args[0].equals("generate")) {
      for (String role : List.of("student", "teacher")) {
        Path out = dir.resolve(size + "-" + role);
        if (!Files.exists(out)) {
          RandomCheckpoint.generate(Storage.of(out.toString()), out.toString(),
              role.equals("student") ? student(size) : teacher(size), DType.F32, role.equals("student") ? 1 : 2);
        }
      }
      return;
    }
    boolean recompute = args[3].equals("on");
    int seq = Integer.parseInt(args[4]);
    ai.djl.engine.Engine.getEngine("PyTorch");
    JniUtils.setNumThreads(Integer.parseInt(args[5]));
    warmUp(seq);
    System.gc();
    long baseline = statusKb("VmRSS");
    Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // resets VmHWM to the current RSS
    String studentDir = dir.resolve(size + "-student").toString();
    String teacherDir = dir.resolve(size + "-teacher").toString();
    LlamaConfig studentConfig;
    LlamaConfig teacherConfig;
    try (CheckpointReader s = CheckpointReader.open(studentDir); CheckpointReader t = CheckpointReader.open(teacherDir)) {
      studentConfig = s.config();
      teacherConfig = t.config();
    }
    int replicas = args.length > 6 ? Integer.parseInt(args[6]) : 1;
    boolean gradientsSharded = args.length > 7 && args[7].equals("gradients");
    MemoryPlan plan = MemoryPlanner.plan(new TrainingShape(studentConfig, teacherConfig, 4, 1, 2, seq, CHUNK,
        LlamaModel.DEFAULT_QUERY_BLOCK, recompute, false, replicas > 1, gradientsSharded, replicas, replicas, false));
    long predicted = replicas * plan.peak() - (replicas - 1) * plan.teacherWeights();
    long start = System.nanoTime();
    try (LlamaModel teacher = load(teacherDir)) {
      if (replicas == 1) {
        train(teacher, studentDir, GradientReducer.single(), false, false, recompute, seq, 0);
      } else {
        inRing(replicas, ring -> train(teacher, studentDir, new RingReducer(ring), true, gradientsSharded, recompute,
            seq, ring.rank()));
      }
    }
    double measured = (statusKb("VmHWM") - baseline) * 1024.0;
    double ratio = predicted / measured;
    System.out.printf("RESULT %s student %.0fM teacher %.0fM params, seq %d, recompute %s, %s: predicted %.0f MiB "
            + "(phase: %s), measured %.0f MiB above a baseline of %.0f MiB, predicted/measured %.3f, %s (limit \u00b1"
            + "%.0f%%), %.0f s%n", size, studentConfig.parameterCount() / 1e6, teacherConfig.parameterCount() / 1e6,
        seq, args[3], replicas == 1 ? "optimizer whole (1 replica)"
            : (gradientsSharded ? "optimizer and gradients" : "optimizer") + " sharded over " + replicas
                + " ranks in this process (" + replicas + " replicas, one teacher)",
        predicted / 1048576.0, plan.peakPhase(), measured / 1048576.0, baseline / 1024.0, ratio,
        Math.abs(ratio - 1) <= TOLERANCE ? "PASS" : "FAIL", 100 * TOLERANCE, (System.nanoTime() - start) / 1e9);
  }

  /** Two steps of two one-sequence micro-batches; each replica its own sequences. */
  private static void train(LlamaModel teacher, String studentDir, GradientReducer reducer, boolean sharded,
      boolean gradientsSharded, boolean recompute, int seq, int replica) {
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.01);
    try (LlamaModel student = load(studentDir);
        AdamW adam = sharded ? new AdamW(OptimizerShard.of(student.parameters(), reducer), Device.cpu(), settings)
            : new AdamW(student.parameters(), settings)) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), CHUNK), null,
          adam, reducer, 1.0, recompute, gradientsSharded);
      long[][] data = TestModels.randomTokens(2, seq, student.config().vocabSize(), replica);
      for (int i = 0; i < 2; i++) {
        step.run(List.of(new long[][] {data[0]}, new long[][] {data[1]}), 1e-4);
      }
    }
  }

  /** Runs {@code body} on {@code ranks} ranks of a loopback ring, one thread each, and waits for all. */
  private static void inRing(int ranks, Consumer<RingAllReduce> body) throws Exception {
    LocalRendezvous rendezvous = new LocalRendezvous(ranks, Duration.ofMinutes(1));
    CollectiveOptions options = CollectiveOptions.loopback();
    ExecutorService pool = Executors.newFixedThreadPool(ranks);
    try {
      List<Future<?>> done = new ArrayList<>();
      for (int r = 0; r < ranks; r++) {
        int rank = r;
        done.add(pool.submit(() -> {
          try (RingAllReduce ring = RingAllReduce.connect(rank, ranks, rendezvous.forRank(rank), options)) {
            body.accept(ring);
          }
        }));
      }
      for (Future<?> f : done) {
        f.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static LlamaModel load(String dir) {
    try (CheckpointReader reader = CheckpointReader.open(dir)) {
      return LlamaModel.load(reader.config(), (name, shape) -> reader.readFloats(name), Device.cpu());
    }
  }

  /** One tiny step, so that the engine's kernels, thread pools and allocator arenas are in the baseline. */
  private static void warmUp(int seq) {
    LlamaConfig tiny = config(64, 128, 2, 4, 2, 256);
    try (LlamaModel teacher = LlamaModel.load(tiny, dev.distillery.model.WeightSource.of(
            TestModels.randomWeights(tiny, 1)), Device.cpu());
        LlamaModel student = LlamaModel.load(tiny, dev.distillery.model.WeightSource.of(
            TestModels.randomWeights(tiny, 2)), Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), CHUNK), null, adam,
          GradientReducer.single(), 1.0, true).run(List.<long[][]>of(TestModels.randomTokens(1, Math.min(seq, 64), 256,
          3)), 1e-4);
    }
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
