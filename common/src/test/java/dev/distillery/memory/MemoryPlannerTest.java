package dev.distillery.memory;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.model.LlamaConfig;
import dev.distillery.model.RopeScaling;
import dev.distillery.testing.TestModels;
import org.junit.jupiter.api.Test;

class MemoryPlannerTest {
  private static final LlamaConfig TEACHER = LlamaConfig.llama31_8b();
  private static final LlamaConfig WIDTH_STUDENT = TEACHER.withShape(3072, 9216, 32, 32, 8, 128);

  private static TrainingShape shape(LlamaConfig student, LlamaConfig teacher, int tokens, boolean recompute,
      boolean sharded, int replicas, boolean gpu) {
    return new TrainingShape(student, teacher, 2, 1, 1, tokens, 512, 512, recompute, false, sharded, false,
        Math.min(4, replicas), replicas, gpu);
  }

  @Test
  void shardedGradientsKeepTheShardsSumsAndOneStagesGradientsInsteadOfAllGradients() {
    TrainingShape zero1 = shape(WIDTH_STUDENT, TEACHER, 4097, true, true, 32, true);
    MemoryPlan one = MemoryPlanner.plan(zero1);
    MemoryPlan two = MemoryPlanner.plan(zero1.with(true, true, true));
    long p = WIDTH_STUDENT.parameterCount();
    long shard = (p + 31) / 32;
    assertThat(two.gradients()).isZero();
    assertThat(two.reducedGradients()).isEqualTo(one.reducedGradients()).isEqualTo(4 * shard);
    assertThat(two.lasting()).isEqualTo(one.lasting() - 4 * p + 4 * shard); // the sums last all step
    long headGradient = 4L * WIDTH_STUDENT.vocabSize() * WIDTH_STUDENT.hiddenSize();
    assertThat(two.peak()).isGreaterThan(one.peak() - 4 * p).isLessThanOrEqualTo(one.peak() - 4 * p + 4 * shard
        + headGradient);
    assertThat(two.sendBytesPerStep()).isEqualTo(one.sendBytesPerStep()); // one micro-batch: one reduce-scatter
    TrainingShape fourMicroBatches = new TrainingShape(WIDTH_STUDENT, TEACHER, 2, 1, 4, 4097, 512, 512, true, false,
        true, true, 4, 32, true);
    assertThat(MemoryPlanner.plan(fourMicroBatches).sendBytesPerStep()).isEqualTo(one.sendBytesPerStep() * 5 / 2);
  }

  @Test
  void teacherCorrectionOfTheEightBillionTeacherFitsAn80GbGpuWithAFifthSpareWithShardedGradients() {
    TrainingShape correction = new TrainingShape(TEACHER, null, 2, 1, 1, 4097, 512, 512, true, true, true, false, 4,
        32, true);
    assertThat(MemoryPlanner.plan(correction).peak()).isGreaterThan(80_000_000_000L * 8 / 10);
    assertThat(MemoryPlanner.plan(correction.with(true, true, true)).peak()).isLessThan(80_000_000_000L * 8 / 10);
  }

  @Test
  void aFloat16TeacherOnTheCpuKeepsHalfTheWeightsButComputesInFloat32() {
    LlamaConfig student = TestModels.gqaConfig();
    LlamaConfig teacher = student.withShape(student.hiddenSize(), student.intermediateSize(), 4,
        student.numAttentionHeads(), student.numKeyValueHeads(), student.headDim());
    TrainingShape half = new TrainingShape(student, teacher, 2, 1, 1, 64, 32, 512, false, false, false, false, 1, 1,
        false);
    TrainingShape full = new TrainingShape(student, teacher, 4, 1, 1, 64, 32, 512, false, false, false, false, 1, 1,
        false);
    MemoryPlan halfPlan = MemoryPlanner.plan(half);
    MemoryPlan fullPlan = MemoryPlanner.plan(full);
    assertThat(halfPlan.teacherWeights()).isEqualTo(fullPlan.teacherWeights() / 2);
    // the same float32 activations, plus the widened lm head during the loss
    long head = 4L * teacher.vocabSize() * teacher.hiddenSize();
    assertThat(halfPlan.peak() - halfPlan.teacherWeights()).isBetween(fullPlan.peak() - fullPlan.teacherWeights(),
        fullPlan.peak() - fullPlan.teacherWeights() + head + 4 * teacher.parameterCount() / 4);
    TrainingShape onGpu = new TrainingShape(student, teacher, 2, 1, 1, 64, 32, 512, false, false, false, false, 1, 1,
        true);
    assertThat(MemoryPlanner.plan(onGpu).positionTables()).isLessThan(halfPlan.positionTables());
  }

  @Test
  void aShardedOptimizerOnTheCpuKeepsOneHostBucketOfTheLargestBucket() {
    TrainingShape cpu = shape(WIDTH_STUDENT, TEACHER, 1025, true, true, 8, false);
    long embedding = (long) WIDTH_STUDENT.vocabSize() * WIDTH_STUDENT.hiddenSize(); // a bucket of its own
    long shard = (WIDTH_STUDENT.parameterCount() + 7) / 8;
    assertThat(MemoryPlanner.plan(cpu).reducedGradients()).isEqualTo(4 * shard + 4 * embedding);
    assertThat(MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 1025, true, true, 8, true)).reducedGradients())
        .isEqualTo(4 * shard);
  }

  @Test
  void lastingItemsAreTheParametersTimesTheirBytes() {
    LlamaConfig c = TestModels.gqaConfig();
    long p = c.parameterCount();
    MemoryPlan plan = MemoryPlanner.plan(shape(c, c, 64, true, false, 4, false));
    assertThat(plan.studentWeights()).isEqualTo(4 * p);
    assertThat(plan.gradients()).isEqualTo(4 * p);
    assertThat(plan.reducedGradients()).isEqualTo(4 * p);
    assertThat(plan.optimizerState()).isEqualTo(8 * p);
    assertThat(plan.teacherWeights()).isEqualTo(2 * p);
    // the float16 teacher computes in float32 on the CPU, so its tables are float32 too
    assertThat(plan.positionTables()).isEqualTo(2 * (64L * 64 * 4) + 2 * 64 * 16 * (4 + 4));
    assertThat(plan.lasting()).isEqualTo(22 * p + plan.positionTables());
    assertThat(plan.peak()).isEqualTo(plan.lasting() + Math.max(plan.microStep(), plan.optimizerStep()));
  }

  @Test
  void shardingDividesTheOptimizerStateByTheReplicas() {
    MemoryPlan whole = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 8193, true, false, 32, true));
    MemoryPlan sharded = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 8193, true, true, 32, true));
    long p = WIDTH_STUDENT.parameterCount();
    assertThat(sharded.optimizerState()).isEqualTo(2 * 4 * ((p + 31) / 32));
    assertThat(whole.optimizerState()).isEqualTo(8 * p);
    assertThat(whole.peak() - sharded.peak()).isGreaterThan(whole.optimizerState() - sharded.optimizerState());
    assertThat(sharded.sendBytesPerStep()).isEqualTo(whole.sendBytesPerStep()).isEqualTo(2 * ((p * 3 + 3) / 4) * 4);
    assertThat(whole.allReduceSeconds(100)).isEqualTo(whole.sendBytesPerStep() * 8 / 100e9);
  }

  @Test
  void recomputationKeepsOneHiddenStatePerLayerInsteadOfEveryLayersGraph() {
    MemoryPlan off = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 8193, false, true, 32, true));
    MemoryPlan on = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 8193, true, true, 32, true));
    long hiddenState = 8193L * 3072 * 4;
    assertThat(on.savedActivations()).isLessThanOrEqualTo(33 * hiddenState);
    assertThat(off.savedActivations()).isGreaterThan(20 * on.savedActivations());
    assertThat(off.peak()).isGreaterThan(on.peak());
  }

  @Test
  void theFlagshipWidthStudentFitsAn80GbGpuWithAFifthSpareAt4kRowsWhenShardedAndRecomputed() {
    MemoryPlan plan = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 4097, true, true, 32, true));
    assertThat(plan.peak()).isLessThan(80_000_000_000L * 8 / 10);
    MemoryPlan unsharded = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 4097, true, false, 32, true));
    assertThat(unsharded.peak()).isGreaterThan(80_000_000_000L);
    MemoryPlan longRows = MemoryPlanner.plan(shape(WIDTH_STUDENT, TEACHER, 8193, true, true, 32, true));
    assertThat(longRows.peak()).isGreaterThan(80_000_000_000L * 8 / 10); // a recomputed layer's O(S²) softmax
  }

  @Test
  void longerRowsNeverNeedLess() {
    LlamaConfig c = TestModels.gqaConfig();
    long previous = 0;
    for (int tokens : new int[] {16, 64, 256, 1024}) {
      long peak = MemoryPlanner.plan(shape(c, c, tokens, false, false, 1, false)).peak();
      assertThat(peak).isGreaterThan(previous);
      previous = peak;
    }
  }

  /**
   * The recorded layers' graphs at the loss chunks, for the benchmark's 1024-token rows of its small student: per
   * layer, autograd keeps the layer input and residual sum, the two norms' normalised and scaled inputs, the grouped
   * queries, rotated keys, values and the attention context, both query blocks' softmax outputs, and five MLP-sized
   * arrays (gate, sigmoid, gate · sigmoid, up, their product); the final layer's output and its norm follow.
   */
  @Test
  void aRecordedLayerKeepsItsSoftmaxesNormsAndFiveMlpSizedArrays() {
    LlamaConfig student = new LlamaConfig(512, 1408, 8, 8, 2, 64, 32000, 1e-5, 500000.0, RopeScaling.llama31(), 8192,
        false, 1, 2, "float32");
    LlamaConfig teacher = student.withShape(512, 1408, 16, 8, 2, 64);
    MemoryPlan plan = MemoryPlanner.plan(new TrainingShape(student, teacher, 4, 1, 2, 1024, 512, 512, false, false,
        false, false, 1, 1, false));
    long t = 1024;
    long hidden = t * 512;
    long perLayer = 2 * hidden + 4 * hidden + t * (2 * 512 + 2 * 128) + 8L * (512 * 512 + 512 * 1024) + 5 * t * 1408;
    assertThat(plan.peakPhase()).isEqualTo(MemoryPlan.Phase.LOSS);
    assertThat(plan.savedActivations()).isEqualTo(4 * (8 * perLayer + 2 * hidden));
  }
}
