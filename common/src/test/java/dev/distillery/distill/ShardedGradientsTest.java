package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * ZeRO stage 2 (gradients reduce-scattered stage by stage during the recomputed backward) takes the steps of the
 * whole optimizer on one replica.
 */
class ShardedGradientsTest {
  private static final AdamW.Settings ADAM = new AdamW.Settings(0.9, 0.95, 1e-8, 0.01);

  /** What one replica saw: per-step losses and gradient norms, and its final weights. */
  private record Run(double[] losses, double[] norms, Map<String, float[]> weights) {}

  @ParameterizedTest
  @ValueSource(booleans = {false, true})
  void twoReplicasWithShardedGradientsTakeTheStepsOfOneWithTheWholeOptimizer(boolean tied) throws Exception {
    LlamaConfig config = tied ? TestModels.tiedConfig() : TestModels.gqaConfig();
    long[][] data = TestModels.randomTokens(8, 12, config.vocabSize(), 23);
    int steps = 6;
    Run single = train(config, data, GradientReducer.single(), 0, 1, 4, steps, false);
    List<Run> pair = inTwoReplicas(r -> train(config, data, r, r.replica(), 2, 4, steps, true));
    for (Run replica : pair) {
      for (int s = 0; s < steps; s++) {
        assertThat(replica.losses[s]).as("step %d", s).isCloseTo(single.losses[s], within(1e-5));
        assertThat(replica.norms[s]).as("norm, step %d", s).isCloseTo(single.norms[s], within(1e-5));
      }
    }
    for (String name : single.weights.keySet()) {
      assertThat(pair.get(1).weights.get(name)).as(name).containsExactly(pair.get(0).weights.get(name));
      float[] expected = single.weights.get(name);
      float[] actual = pair.get(0).weights.get(name);
      for (int i = 0; i < expected.length; i++) {
        assertThat(actual[i]).as("%s[%d]", name, i).isCloseTo(expected[i], within(1e-5f));
      }
    }
  }

  @Test
  void aReplicaWithFewerMicroBatchesStillMeetsEveryCollective() throws Exception {
    // three sequences a step: replica 0 gets two micro-batches, replica 1 one
    LlamaConfig config = TestModels.gqaConfig();
    long[][] data = TestModels.randomTokens(6, 12, config.vocabSize(), 29);
    Run single = train(config, data, GradientReducer.single(), 0, 1, 3, 3, false);
    List<Run> pair = inTwoReplicas(r -> train(config, data, r, r.replica(), 2, 3, 3, true));
    for (int s = 0; s < 3; s++) {
      assertThat(pair.get(0).losses[s]).as("step %d", s).isCloseTo(single.losses[s], within(1e-5))
          .isEqualTo(pair.get(1).losses[s]);
    }
  }

  @Test
  void theParametersKeepNoGradientsOfTheirOwn() {
    LlamaConfig config = TestModels.gqaConfig();
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 2)),
            Device.cpu());
        AdamW adam = new AdamW(OptimizerShard.of(student.parameters(), GradientReducer.single()), Device.cpu(),
            ADAM)) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 16), null,
          adam, GradientReducer.single(), 1.0, true, true);
      step.run(List.<long[][]>of(TestModels.randomTokens(2, 12, config.vocabSize(), 3)), 1e-3);
      assertThat(student.parameters().values()).noneMatch(p -> p.hasGradient());
    }
  }

  @Test
  void shardedGradientsNeedAShardedOptimizerAndRecomputation() {
    LlamaConfig config = TestModels.gqaConfig();
    try (LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 2)),
            Device.cpu());
        AdamW whole = new AdamW(student.parameters(), ADAM);
        AdamW sharded = new AdamW(OptimizerShard.of(student.parameters(), GradientReducer.single()), Device.cpu(),
            ADAM)) {
      ChunkedLogitLoss ce = new ChunkedLogitLoss(LossSpec.crossEntropy(), 16);
      assertThatThrownBy(() -> new TrainingStep(student, null, ce, null, whole, GradientReducer.single(), 1, true,
          true)).hasMessageContaining("sharded optimizer");
      assertThatThrownBy(() -> new TrainingStep(student, null, ce, null, sharded, GradientReducer.single(), 1, false,
          true)).hasMessageContaining("layer recomputation");
    }
  }

  private interface ReplicaRun {
    Run train(TrainingStepTest.InProcessReducer reducer) throws Exception;
  }

  private static List<Run> inTwoReplicas(ReplicaRun run) throws Exception {
    TrainingStepTest.InProcessReducer.Group group = new TrainingStepTest.InProcessReducer.Group(2,
        new CyclicBarrier(2));
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<Run>> runs = new ArrayList<>();
      for (int r = 0; r < 2; r++) {
        TrainingStepTest.InProcessReducer reducer = new TrainingStepTest.InProcessReducer(group, r);
        runs.add(pool.submit(() -> run.train(reducer)));
      }
      List<Run> done = new ArrayList<>();
      for (Future<Run> f : runs) {
        done.add(f.get());
      }
      return done;
    } finally {
      pool.shutdownNow();
    }
  }

  /**
   * {@code steps} steps of a global batch of {@code global} sequences, this replica taking every {@code world}-th,
   * one sequence per micro-batch; with {@code shardGradients} the optimizer and the gradients are sharded (ZeRO 2),
   * else the whole optimizer on recorded layers.
   */
  private static Run train(LlamaConfig config, long[][] data, GradientReducer reducer, int rank, int world,
      int global, int steps, boolean shardGradients) {
    try (LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 21)),
            Device.cpu());
        LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 22)),
            Device.cpu());
        AdamW adam = shardGradients
            ? new AdamW(OptimizerShard.of(student.parameters(), reducer), Device.cpu(), ADAM)
            : new AdamW(student.parameters(), ADAM)) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(LossSpec.minitron(), 16), null,
          adam, reducer, 1.0, shardGradients, shardGradients);
      double[] losses = new double[steps];
      double[] norms = new double[steps];
      for (int s = 0; s < steps; s++) {
        List<long[][]> micro = new ArrayList<>();
        for (int i = 0; i < global; i++) {
          if (i % world == rank) {
            micro.add(new long[][] {data[(s * global + i) % data.length]});
          }
        }
        TrainingStep.Result result = step.run(micro, 3e-3);
        losses[s] = result.loss();
        norms[s] = result.gradientNorm();
      }
      Map<String, float[]> weights = new HashMap<>();
      student.parameters().forEach((name, p) -> weights.put(name, p.toFloatArray()));
      return new Run(losses, norms, weights);
    }
  }
}
