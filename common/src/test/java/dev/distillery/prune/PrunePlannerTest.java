package dev.distillery.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.distillery.importance.CalibrationInfo;
import dev.distillery.importance.ImportancePlot;
import dev.distillery.importance.ImportanceScores;
import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.TestModels;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

class PrunePlannerTest {
  private static final LlamaConfig LLAMA_8B = LlamaConfig.llama31_8b();

  @Test
  void minitronWidthTargetGivesThePublishedArchitectureAndSize() {
    PrunePlan plan = PrunePlanner.plan(LLAMA_8B, randomScores(LLAMA_8B, 1), PruneTarget.of(3072, 9216, null, null));

    LlamaConfig student = plan.target();
    assertThat(student.hiddenSize()).isEqualTo(3072);
    assertThat(student.intermediateSize()).isEqualTo(9216);
    assertThat(student.numAttentionHeads()).isEqualTo(32);
    assertThat(student.numKeyValueHeads()).isEqualTo(8);
    assertThat(student.headDim()).isEqualTo(128);
    assertThat(student.numHiddenLayers()).isEqualTo(32);
    assertThat((double) student.parameterCount()).isCloseTo(4.5e9, within(0.1e9));
    assertThat(PrunePlan.fromJson(PlanFile.json(plan, randomScores(LLAMA_8B, 1).info(), 4096), "plan"))
        .isEqualTo(plan);
  }

  @Test
  void minitronDepthTargetGivesThePublishedArchitectureAndSize() {
    ImportanceScores scores = randomScores(LLAMA_8B, 2);
    PrunePlan plan = PrunePlanner.plan(LLAMA_8B, scores, PruneTarget.of(null, null, null, 16));

    assertThat(plan.target().numHiddenLayers()).isEqualTo(16);
    assertThat(plan.target().hiddenSize()).isEqualTo(4096);
    assertThat((double) plan.target().parameterCount()).isCloseTo(4.5e9, within(0.1e9));
    int[] sources = plan.layers().stream().mapToInt(LayerPlan::sourceLayer).toArray();
    int[] dropped = java.util.stream.IntStream.range(0, 32).filter(i -> Arrays.binarySearch(sources, i) < 0).toArray();
    assertThat(dropped[dropped.length - 1] - dropped[0]).as("one contiguous block").isEqualTo(15);
  }

  @Test
  void contiguousDepthFollowsTheMeasuredBlockLossLikeMinitron() {
    double[] blockRise = new double[17];
    Arrays.fill(blockRise, 5.0);
    blockRise[15] = 0.5; // layers 16..31 1-based, the last layer kept
    ImportanceScores scores = randomScores(LLAMA_8B, 3).withLayerLoss(
        new ImportanceScores.LayerLoss(2.0, 8, Map.of(1, new double[32], 16, blockRise)));

    PrunePlan plan = PrunePlanner.plan(LLAMA_8B, scores, PruneTarget.of(null, null, null, 16));

    assertThat(plan.layers().stream().mapToInt(LayerPlan::sourceLayer).toArray())
        .containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 31);
  }

  @Test
  void lowestStrategyDropsTheLeastImportantLayers() {
    LlamaConfig config = TestModels.gqaConfig().withShape(48, 80, 4, 4, 2, 16);
    ImportanceScores scores = randomScores(config, 4);
    double[] bi = {0.5, 0.1, 0.9, 0.05};
    System.arraycopy(bi, 0, scores.blockImportance(), 0, 4);
    PruneTarget lowest = new PruneTarget(null, null, null, 2, Set.of(), null, PruneTarget.BudgetAxis.WIDTH, 64, 256,
        PruneTarget.DepthStrategy.LOWEST);

    PrunePlan plan = PrunePlanner.plan(config, scores, lowest);

    assertThat(plan.layers().stream().mapToInt(LayerPlan::sourceLayer).toArray()).containsExactly(0, 2);
  }

  @Test
  void queryHeadsAreRankedWithinEachKvGroup() {
    LlamaConfig config = TestModels.gqaConfig(); // 4 query heads on 2 KV heads
    ImportanceScores scores = randomScores(config, 5);
    scores.heads()[0] = new double[] {9, 8, 1, 2}; // group 0 = heads 0,1; group 1 = heads 2,3
    scores.heads()[1] = new double[] {1, 2, 3, 4};

    PrunePlan plan = PrunePlanner.plan(config, scores, PruneTarget.of(32, 64, 1, null));

    assertThat(plan.layers().get(0).queryHeads()).containsExactly(0, 3);
    assertThat(plan.layers().get(1).queryHeads()).containsExactly(1, 3);
    assertThat(plan.layers().get(0).kvHeads()).containsExactly(0, 1);
    assertThat(plan.target().numAttentionHeads()).isEqualTo(2);
    int[] topChannels = PrunePlanner.topIndices(scores.channels(), 32);
    assertThat(plan.hiddenChannels()).containsExactly(topChannels);
  }

  @Test
  void kvGroupsAreRankedByTheirQueryHeadsAndTakeThemAlong() {
    LlamaConfig config = TestModels.qwen2Config(false).withShape(48, 80, 2, 8, 4, 8); // 2 query heads per group
    ImportanceScores scores = randomScores(config, 8);
    scores.heads()[0] = new double[] {1, 1, 5, 0, 3, 3, 0, 9}; // group sums 2, 5, 6, 9
    scores.heads()[1] = new double[] {4, 4, 1, 1, 7, 0, 2, 2}; // group sums 8, 2, 7, 4

    PrunePlan plan = PrunePlanner.plan(config, scores, PruneTarget.of(null, null, null, null).withKvHeads(2));
    PrunePlan onePerGroup = PrunePlanner.plan(config, scores, PruneTarget.of(null, null, 1, null).withKvHeads(3));

    assertThat(plan.layers().get(0).kvHeads()).containsExactly(2, 3);
    assertThat(plan.layers().get(0).queryHeads()).containsExactly(4, 5, 6, 7);
    assertThat(plan.layers().get(1).kvHeads()).containsExactly(0, 2);
    assertThat(plan.layers().get(1).queryHeads()).containsExactly(0, 1, 4, 5);
    assertThat(plan.target().numKeyValueHeads()).isEqualTo(2);
    assertThat(plan.target().numAttentionHeads()).isEqualTo(4);
    assertThat(PrunePlan.fromJson(plan.toJson(), "plan").layers().get(1).kvHeads()).containsExactly(0, 2);
    assertThat(onePerGroup.layers().get(0).kvHeads()).containsExactly(1, 2, 3);
    assertThat(onePerGroup.layers().get(0).queryHeads()).containsExactly(2, 4, 7);
    assertThat(ModelCost.sizeTable(plan.source(), plan.target(), 64)).contains("| KV heads | 4 | 2 | 0.500 |");
    assertThatThrownBy(() -> PrunePlanner.plan(config, scores, PruneTarget.of(null, null, null, null).withKvHeads(5)))
        .hasMessage("infeasible target: kv-heads 5 must be in [1, 4] (pruning only removes)");
  }

  @Test
  void aParameterBudgetCountsTheKeptKvGroups() {
    PruneTarget budget = PruneTarget.budget(PruneTarget.parseParameters("4.5B"), PruneTarget.BudgetAxis.WIDTH);
    PrunePlan all = PrunePlanner.plan(LLAMA_8B, randomScores(LLAMA_8B, 6), budget);
    PrunePlan half = PrunePlanner.plan(LLAMA_8B, randomScores(LLAMA_8B, 6), budget.withKvHeads(4));
    assertThat(half.target().numKeyValueHeads()).isEqualTo(4);
    assertThat(half.target().parameterCount()).isLessThanOrEqualTo(4_500_000_000L);
    assertThat(half.target().hiddenSize()).as("fewer heads leave room for more width")
        .isGreaterThanOrEqualTo(all.target().hiddenSize());
  }

  @Test
  void aParameterBudgetChoosesRoundedDimensionsThatFit() {
    PrunePlan width = PrunePlanner.plan(LLAMA_8B, randomScores(LLAMA_8B, 6),
        PruneTarget.budget(PruneTarget.parseParameters("4.5B"), PruneTarget.BudgetAxis.WIDTH));
    PrunePlan depth = PrunePlanner.plan(LLAMA_8B, randomScores(LLAMA_8B, 6),
        PruneTarget.budget(PruneTarget.parseParameters("4.6B"), PruneTarget.BudgetAxis.DEPTH));

    assertThat(width.target().parameterCount()).isLessThanOrEqualTo(4_500_000_000L).isGreaterThan(4_400_000_000L);
    assertThat(width.target().hiddenSize() % 64).isZero();
    assertThat(width.target().intermediateSize() % 256).isZero();
    assertThat(depth.target().numHiddenLayers()).isEqualTo(16);
  }

  @Test
  void infeasibleTargetsAreClearErrors() {
    ImportanceScores scores = randomScores(LLAMA_8B, 7);
    assertThatThrownBy(() -> PrunePlanner.plan(LLAMA_8B, scores,
        PruneTarget.budget(10_000_000L, PruneTarget.BudgetAxis.WIDTH)))
        .hasMessageStartingWith("infeasible target: parameter budget 10,000,000 is below the smallest student");
    assertThatThrownBy(() -> PrunePlanner.plan(LLAMA_8B, scores, PruneTarget.of(5000, null, null, null)))
        .hasMessage("infeasible target: hidden-size 5000 must be in [1, 4096] (pruning only removes)");
    assertThatThrownBy(() -> PrunePlanner.plan(LLAMA_8B, scores, PruneTarget.of(null, null, 5, null)))
        .hasMessageStartingWith("target heads-per-group 5 must be in [1, 4]");
    assertThatThrownBy(() -> PruneTarget.parseParameters("lots")).hasMessageContaining("'lots'");
    ImportanceScores noLayerScores = new ImportanceScores(scores.info(), scores.heads(), scores.neurons(),
        scores.channels(), null, null);
    assertThatThrownBy(() -> PrunePlanner.plan(LLAMA_8B, noLayerScores, PruneTarget.of(null, null, null, 16)))
        .hasMessageContaining("depth pruning needs layer scores");
    assertThat(PruneTarget.parseLayers("15-30").size()).isEqualTo(16);
  }

  @Test
  void scoresRoundTripThroughJsonAndPlotAsPng() throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    ImportanceScores scores = randomScores(config, 8).withLayerLoss(
        new ImportanceScores.LayerLoss(3.0, 4, Map.of(1, new double[] {0.25, 0.5})));

    ImportanceScores back = ImportanceScores.fromJson(scores.toJson(), "importance.json");
    BufferedImage image = ImageIO.read(new ByteArrayInputStream(ImportancePlot.png(scores)));

    assertThat(back.info()).isEqualTo(scores.info());
    assertThat(back.heads()[1]).containsExactly(scores.heads()[1], within(1e-6));
    assertThat(back.blockImportance()).hasSize(2);
    assertThat(back.layerLoss().blocks().get(1)).containsExactly(0.25, 0.5);
    assertThat(image.getWidth()).isGreaterThan(100);
    assertThat(ModelCost.sizeTable(LLAMA_8B, LLAMA_8B.withShape(3072, 9216, 32, 32, 8, 128), 4096))
        .contains("| hidden size | 4,096 | 3,072 | 0.750 |");
  }

  /** Synthetic scores for {@code config}. */
  static ImportanceScores randomScores(LlamaConfig config, long seed) {
    Random random = new Random(seed);
    int layers = config.numHiddenLayers();
    double[][] heads = new double[layers][config.numAttentionHeads()];
    double[][] neurons = new double[layers][config.intermediateSize()];
    for (int i = 0; i < layers; i++) {
      Arrays.setAll(heads[i], j -> random.nextDouble());
      Arrays.setAll(neurons[i], j -> random.nextDouble());
    }
    double[] channels = random.doubles(config.hiddenSize()).toArray();
    double[] blockImportance = random.doubles(layers).toArray();
    CalibrationInfo info = new CalibrationInfo(CalibrationInfo.ACTIVATIONS, "teacher", "abc", config, 16, 1024,
        dev.distillery.importance.Aggregation.MEAN, dev.distillery.importance.Aggregation.L2);
    return new ImportanceScores(info, heads, neurons, channels, blockImportance, null);
  }
}
