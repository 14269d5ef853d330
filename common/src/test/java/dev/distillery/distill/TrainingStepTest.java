package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.distillery.collective.DirectFloats;
import dev.distillery.collective.Shard;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.params.ParameterizedTest;
import dev.distillery.model.LlamaTensors;

class TrainingStepTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private final Map<String, float[]> teacherWeights = TestModels.randomWeights(config, 21);
  private final Map<String, float[]> studentWeights = TestModels.randomWeights(config, 22);
  private final long[][] data = TestModels.randomTokens(8, 12, config.vocabSize(), 23);

  @Test
  void distillationLowersTheKlToTheTeacher() {
    double[] losses = trainWith(GradientReducer.single(), 0, 1, 12, 2);
    assertThat(losses[losses.length - 1]).isLessThan(losses[0] * 0.7);
  }

  @ParameterizedTest
  @ValueSource(strings = {"mistral", "qwen2"})
  void mistralAndQwen2StudentsLearnFromTheirTeachers(String family) {
    LlamaConfig arch = family.equals("mistral") ? TestModels.mistralConfig() : TestModels.qwen2Config(true);
    long[][] tokens = TestModels.randomTokens(4, 12, arch.vocabSize(), 31); // 12 > Mistral's window of 8
    try (LlamaModel teacher = LlamaModel.load(arch, WeightSource.of(TestModels.randomWeights(arch, 32)), Device.cpu());
        LlamaModel student = LlamaModel.load(arch, WeightSource.of(TestModels.randomWeights(arch, 33)), Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      float[] biasBefore = arch.architecture().attentionBias()
          ? student.parameters().get(LlamaTensors.kBias(0)).toFloatArray() : null;
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 16), adam,
          GradientReducer.single(), 1.0);
      double first = step.run(List.<long[][]>of(tokens), 3e-3).loss();
      double last = first;
      for (int s = 0; s < 10; s++) {
        last = step.run(List.<long[][]>of(tokens), 3e-3).loss();
      }
      assertThat(last).as(family).isLessThan(first * 0.7);
      if (biasBefore != null) {
        assertThat(student.parameters().get(LlamaTensors.kBias(0)).toFloatArray()).as("k_proj.bias is trained")
            .isNotEqualTo(biasBefore);
      }
    }
  }

  @Test
  void oneAndTwoRanksWithTheSameGlobalBatchAgree() throws Exception {
    int steps = 6;
    double[] single = trainWith(GradientReducer.single(), 0, 1, steps, 2);
    double[][] pair = new double[2][];
    CyclicBarrier barrier = new CyclicBarrier(2);
    InProcessReducer.Group group = new InProcessReducer.Group(2, barrier);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<double[]>> ranks = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        int rank = r;
        ranks.add(pool.submit(() -> trainWith(new InProcessReducer(group, rank), rank, 2, steps, 1)));
      }
      pair[0] = ranks.get(0).get();
      pair[1] = ranks.get(1).get();
    } finally {
      pool.shutdownNow();
    }
    assertThat(pair[0]).containsExactly(pair[1], within(0.0)); // every rank reports the same reduced loss
    for (int s = 0; s < steps; s++) {
      assertThat(pair[0][s]).as("step %d", s).isCloseTo(single[s], within(1e-5));
    }
  }

  @Test
  void aPaddedMicroBatchGivesTheLossesAndGradientsOfItsRowsAlone() {
    long[][] rows = {Arrays.copyOf(data[0], 5), data[1], Arrays.copyOf(data[2], 1), Arrays.copyOf(data[3], 8)};
    for (LossSpec spec : List.of(LossSpec.minitron(), new LossSpec(LossSpec.Divergence.REVERSE_KL, 0.5, 0.5, 2.0),
        LossSpec.crossEntropy())) {
      List<long[][]> padded = List.<long[][]>of(rows); // one micro-batch, padded to 12 tokens
      List<long[][]> alone = Arrays.stream(rows).map(r -> new long[][] {r}).toList(); // four, unpadded
      StepOutcome a = stepOnce(spec, padded);
      StepOutcome b = stepOnce(spec, alone);
      assertThat(a.result.tokens()).isEqualTo(b.result.tokens()).isEqualTo(5 + 12 + 1 + 8);
      assertThat(a.result.loss()).as(spec.toString()).isCloseTo(b.result.loss(), within(1e-5));
      assertThat(a.result.kdLoss()).isCloseTo(b.result.kdLoss(), within(1e-5));
      assertThat(a.result.ceLoss()).isCloseTo(b.result.ceLoss(), within(1e-5));
      assertThat(a.result.gradientNorm()).isCloseTo(b.result.gradientNorm(), within(1e-5));
      a.gradients.forEach((name, w) -> {
        float[] other = b.gradients.get(name);
        for (int i = 0; i < w.length; i++) {
          assertThat(w[i]).as("%s %s[%d]", spec, name, i).isCloseTo(other[i], within(1e-6f));
        }
      });
    }
  }

  @Test
  void ranksWithRowsOfDifferentLengthsWeighTheirTokens() throws Exception {
    // Rank 0 holds short rows, rank 1 long ones: the global mean is over tokens, as one rank holding all computes.
    long[][] shortRows = {Arrays.copyOf(data[0], 3), Arrays.copyOf(data[1], 4)};
    long[][] longRows = {data[2], data[3]};
    long[][] all = {shortRows[0], longRows[0], shortRows[1], longRows[1]};
    double single = stepOnce(LossSpec.minitron(), List.<long[][]>of(all)).result.loss();
    CyclicBarrier barrier = new CyclicBarrier(2);
    InProcessReducer.Group group = new InProcessReducer.Group(2, barrier);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<StepOutcome> rank0 = pool.submit(() -> stepOnce(LossSpec.minitron(), List.<long[][]>of(shortRows),
          new InProcessReducer(group, 0)));
      Future<StepOutcome> rank1 = pool.submit(() -> stepOnce(LossSpec.minitron(), List.<long[][]>of(longRows),
          new InProcessReducer(group, 1)));
      assertThat(rank0.get().result.loss()).isEqualTo(rank1.get().result.loss()).isCloseTo(single, within(1e-5));
      assertThat(rank0.get().result.tokens()).isEqualTo(3 + 4 + 12 + 12);
    } finally {
      pool.shutdownNow();
    }
  }

  /** A step's result and the gradients it applied (the step leaves them on the parameters). */
  private record StepOutcome(TrainingStep.Result result, Map<String, float[]> gradients) {}

  private StepOutcome stepOnce(LossSpec spec, List<long[][]> microBatches) {
    return stepOnce(spec, microBatches, GradientReducer.single());
  }

  private StepOutcome stepOnce(LossSpec spec, List<long[][]> microBatches, GradientReducer reducer) {
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(teacherWeights), Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(studentWeights), Device.cpu());
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      TrainingStep step = new TrainingStep(student, spec.needsTeacher() ? teacher : null,
          new ChunkedLogitLoss(spec, 5), adam, reducer, 0);
      TrainingStep.Result result = step.run(microBatches, 1e-3);
      Map<String, float[]> gradients = new java.util.TreeMap<>();
      student.parameters().forEach((name, p) -> gradients.put(name, p.getGradient().toFloatArray()));
      return new StepOutcome(result, gradients);
    }
  }

  @Test
  void aFloat16TeacherOnTheCpuTeachesExactlyAsItsFloat32Values() {
    Map<String, float[]> rounded = new java.util.HashMap<>();
    try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
      teacherWeights.forEach((name, values) -> rounded.put(name, m.create(values)
          .toType(ai.djl.ndarray.types.DataType.FLOAT16, false).toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
          .toFloatArray()));
    }
    double[] losses = new double[2];
    for (int t = 0; t < 2; t++) {
      try (LlamaModel teacher = t == 0
              ? LlamaModel.load(config, WeightSource.of(teacherWeights), Device.cpu(),
                  ai.djl.ndarray.types.DataType.FLOAT16)
              : LlamaModel.load(config, WeightSource.of(rounded), Device.cpu());
          LlamaModel student = LlamaModel.load(config, WeightSource.of(studentWeights), Device.cpu());
          AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
        TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 5), adam,
            GradientReducer.single(), 1.0);
        losses[t] = step.run(List.<long[][]>of(new long[][] {data[0], data[1]}), 1e-3).loss();
      }
    }
    assertThat(losses[0]).isEqualTo(losses[1]);
  }

  @Test
  void layerRecomputationLeavesThePerStepLossesUnchanged() {
    double[] plain = trainWith(GradientReducer.single(), 0, 1, 5, 2, false);
    double[] recomputed = trainWith(GradientReducer.single(), 0, 1, 5, 2, true);
    for (int s = 0; s < plain.length; s++) {
      assertThat(recomputed[s]).as("step %d", s).isCloseTo(plain[s], within(1e-6 * Math.abs(plain[s])));
    }
  }

  /**
   * The sharded optimizer (two ranks, each with half of every bucket's moments, gradients reduce-scattered and
   * parameters all-gathered) takes the same steps as the replicated one on one rank, and both ranks end with the
   * same weights.
   */
  @Test
  void aShardedOptimizerAgreesWithTheReplicatedOne() throws Exception {
    int steps = 6;
    double[] single = trainWith(GradientReducer.single(), 0, 1, steps, 2, true, false, null);
    double[] singleSharded = trainWith(GradientReducer.single(), 0, 1, steps, 2, true, true, null);
    InProcessReducer.Group group = new InProcessReducer.Group(2, new CyclicBarrier(2));
    ExecutorService pool = Executors.newFixedThreadPool(2);
    List<Map<String, float[]>> weights = List.of(new java.util.HashMap<>(), new java.util.HashMap<>());
    try {
      List<Future<double[]>> ranks = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        int rank = r;
        ranks.add(pool.submit(() -> trainWith(new InProcessReducer(group, rank), rank, 2, steps, 1, true, true,
            weights.get(rank))));
      }
      for (Future<double[]> rank : ranks) {
        double[] losses = rank.get();
        for (int s = 0; s < steps; s++) {
          assertThat(losses[s]).as("step %d", s).isCloseTo(single[s], within(1e-5));
          assertThat(singleSharded[s]).as("one replica, step %d", s).isCloseTo(single[s], within(1e-6));
        }
      }
    } finally {
      pool.shutdownNow();
    }
    assertThat(weights.get(0)).isNotEmpty();
    for (String name : weights.get(0).keySet()) {
      assertThat(weights.get(1).get(name)).as(name).containsExactly(weights.get(0).get(name));
    }
  }

  private double[] trainWith(GradientReducer reducer, int rank, int world, int steps, int microBatch) {
    return trainWith(reducer, rank, world, steps, microBatch, false);
  }

  private double[] trainWith(GradientReducer reducer, int rank, int world, int steps, int microBatch,
      boolean recompute) {
    return trainWith(reducer, rank, world, steps, microBatch, recompute, false, null);
  }

  /**
   * Global batch of 4 sequences per step; this rank takes every worldSize-th of them.
   *
   * @param finalWeights receives the trained weights, or null
   */
  private double[] trainWith(GradientReducer reducer, int rank, int world, int steps, int microBatch,
      boolean recompute, boolean sharded, Map<String, float[]> finalWeights) {
    AdamW.Settings settings = new AdamW.Settings(0.9, 0.95, 1e-8, 0.01);
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(teacherWeights), Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(studentWeights), Device.cpu());
        AdamW adam = sharded ? new AdamW(OptimizerShard.of(student.parameters(), reducer), Device.cpu(), settings)
            : new AdamW(student.parameters(), settings)) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 16), null,
          adam, reducer, 1.0, recompute);
      double[] losses = new double[steps];
      int global = 4;
      for (int s = 0; s < steps; s++) {
        List<long[]> mine = new ArrayList<>();
        for (int i = 0; i < global; i++) {
          if (i % world == rank) {
            mine.add(data[(s * global + i) % data.length]);
          }
        }
        List<long[][]> micro = new ArrayList<>();
        for (int i = 0; i < mine.size(); i += microBatch) {
          micro.add(mine.subList(i, Math.min(mine.size(), i + microBatch)).toArray(long[][]::new));
        }
        losses[s] = step.run(micro, 3e-3).loss();
      }
      if (finalWeights != null) {
        student.parameters().forEach((name, p) -> finalWeights.put(name, p.toFloatArray()));
      }
      return losses;
    }
  }

  /** Sums across threads of one JVM: the test stand-in for the ring all-reduce. */
  static final class InProcessReducer implements GradientReducer {
    static final class Group {
      final int size;
      final CyclicBarrier barrier;
      final Object[] slots;

      Group(int size, CyclicBarrier barrier) {
        this.size = size;
        this.barrier = barrier;
        this.slots = new Object[size];
      }
    }

    private final Group group;
    private final int rank;

    InProcessReducer(Group group, int rank) {
      this.group = group;
      this.rank = rank;
    }

    @Override
    public void sumInPlace(DirectFloats values) {
      exchange(values.toArray(), all -> {
        for (int i = 0; i < values.length(); i++) {
          float sum = 0;
          for (Object o : all) {
            sum += ((float[]) o)[i];
          }
          values.put(i, sum);
        }
      });
    }

    @Override
    public void sumInPlace(double[] values) {
      exchange(values.clone(), all -> {
        Arrays.fill(values, 0);
        for (Object o : all) {
          double[] v = (double[]) o;
          for (int i = 0; i < values.length; i++) {
            values[i] += v[i];
          }
        }
      });
    }

    @Override
    public Shard shard(int length) {
      return Shard.part(length, rank, group.size);
    }

    @Override
    public void allGather(DirectFloats values) {
      exchange(values.toArray(), all -> {
        for (int r = 0; r < all.length; r++) {
          Shard theirs = Shard.part(values.length(), r, group.size);
          for (int i = theirs.from(); i < theirs.to(); i++) {
            values.put(i, ((float[]) all[r])[i]);
          }
        }
      });
    }

    @Override
    public int replica() {
      return rank;
    }

    @Override
    public int replicas() {
      return group.size;
    }

    private void exchange(Object mine, java.util.function.Consumer<Object[]> combine) {
      try {
        group.slots[rank] = mine;
        group.barrier.await();
        combine.accept(group.slots.clone());
        group.barrier.await();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
