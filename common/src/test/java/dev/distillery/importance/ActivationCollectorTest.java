package dev.distillery.importance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.TapPoint;
import dev.distillery.model.Taps;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import org.junit.jupiter.api.Test;

class ActivationCollectorTest {
  private static final int SEQ = 9;
  private final LlamaConfig config = TestModels.gqaConfig();

  @Test
  void aggregationsReduceSumsAsDefined() {
    UnitMoments moments = new UnitMoments(1);
    moments.add(new float[] {1, 2}, 2);
    moments.merge(singleValue(3));
    assertThat(moments.aggregate(Aggregation.MEAN)).containsExactly(2.0);
    assertThat(moments.aggregate(Aggregation.L2)).containsExactly(Math.sqrt(14));
    assertThat(moments.aggregate(Aggregation.VAR)[0]).isCloseTo(2.0 / 3, within(1e-12));
  }

  @Test
  void statisticsMatchAHandComputationFromTheTaps() {
    long[][] tokens = TestModels.randomTokens(1, SEQ, config.vocabSize(), 3);
    try (LlamaModel model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      float[][] heads = new float[1][];
      float[][] layerIn = new float[1][];
      double[] cosine = new double[1];
      try (Taps.Registration h = model.taps().on(TapPoint.ATTENTION_HEADS, 1, (p, l, x) -> heads[0] = x.toFloatArray());
          Taps.Registration in = model.taps().on(TapPoint.LAYER_INPUT, 1, (p, l, x) -> layerIn[0] = x.toFloatArray());
          Taps.Registration out = model.taps().on(TapPoint.LAYER_OUTPUT, 1,
              (p, l, x) -> cosine[0] = meanCosine(layerIn[0], x.toFloatArray(), config.hiddenSize()));
          ActivationCollector collector = new ActivationCollector(model, Aggregation.MEAN)) {
        collector.observe(manager.create(tokens));
        ImportanceStatistics stats = collector.statistics();

        int headCount = config.numAttentionHeads();
        int d = config.headDim();
        for (int head = 0; head < headCount; head++) {
          double meanNorm = 0;
          for (int t = 0; t < SEQ; t++) {
            double square = 0;
            for (int i = 0; i < d; i++) {
              double v = heads[0][(t * headCount + head) * d + i];
              square += v * v;
            }
            meanNorm += Math.sqrt(square) / SEQ;
          }
          // one sample: the batch L2 of a single value is its magnitude
          assertThat(stats.headScores(Aggregation.L2)[1][head]).isCloseTo(meanNorm, within(1e-5 * meanNorm));
        }
        assertThat(stats.blockImportance()[1]).isCloseTo(1 - cosine[0], within(1e-5));
        assertThat(stats.samples()).isEqualTo(1);
        assertThat(stats.tokens()).isEqualTo(SEQ);
      }
    }
  }

  @Test
  void partialStatisticsMergeToTheWholeBatch() {
    long[][] tokens = TestModels.randomTokens(4, SEQ, config.vocabSize(), 5);
    for (Aggregation sequence : Aggregation.values()) {
      try (LlamaModel model = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 1)),
              Device.cpu());
          NDManager manager = NDManager.newBaseManager(Device.cpu())) {
        ImportanceStatistics whole = collect(model, manager, tokens, sequence);
        ImportanceStatistics merged = collect(model, manager, new long[][] {tokens[2], tokens[0]}, sequence)
            .merge(collect(model, manager, new long[][] {tokens[3]}, sequence))
            .merge(collect(model, manager, new long[][] {tokens[1]}, sequence));
        for (Aggregation batch : Aggregation.values()) {
          assertClose(merged.channelScores(batch), whole.channelScores(batch));
          for (int layer = 0; layer < config.numHiddenLayers(); layer++) {
            assertClose(merged.headScores(batch)[layer], whole.headScores(batch)[layer]);
            assertClose(merged.neuronScores(batch)[layer], whole.neuronScores(batch)[layer]);
          }
        }
        assertClose(merged.blockImportance(), whole.blockImportance());
        assertThat(merged.samples()).isEqualTo(4);
        assertThat(merged.tokens()).isEqualTo(4L * SEQ);
      }
    }
  }

  private static ImportanceStatistics collect(LlamaModel model, NDManager manager, long[][] tokens,
      Aggregation sequence) {
    try (ActivationCollector collector = new ActivationCollector(model, sequence);
        NDManager step = manager.newSubManager()) {
      NDArray ids = step.create(tokens);
      collector.observe(ids);
      return collector.statistics();
    }
  }

  static void assertClose(double[] actual, double[] expected) {
    assertThat(actual).hasSameSizeAs(expected);
    for (int i = 0; i < actual.length; i++) {
      assertThat(actual[i]).as("index %d", i).isCloseTo(expected[i], within(1e-5 * Math.max(1, Math.abs(expected[i]))));
    }
  }

  private static double meanCosine(float[] a, float[] b, int width) {
    double total = 0;
    int rows = a.length / width;
    for (int r = 0; r < rows; r++) {
      double dot = 0;
      double na = 0;
      double nb = 0;
      for (int i = r * width; i < (r + 1) * width; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
      }
      total += dot / Math.sqrt(na * nb);
    }
    return total / rows;
  }

  private static UnitMoments singleValue(float v) {
    UnitMoments m = new UnitMoments(1);
    m.add(new float[] {v}, 1);
    return m;
  }
}
