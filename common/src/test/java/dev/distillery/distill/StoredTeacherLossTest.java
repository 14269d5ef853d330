package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** Distillation from stored top-k teacher distributions, against the online teacher and a naive autograd loss. */
class StoredTeacherLossTest {
  private final LlamaConfig config = TestModels.gqaConfig();
  private final Map<String, float[]> teacherWeights = TestModels.randomWeights(config, 41);
  private final Map<String, float[]> studentWeights = TestModels.randomWeights(config, 42);
  private final long[][] data = TestModels.randomTokens(4, 12, config.vocabSize(), 43);
  /** Document rows of different lengths: one micro-batch is padded. */
  private final List<long[][]> microBatches = List.of(
      new long[][] {Arrays.copyOf(data[0], 5), data[1]}, new long[][] {Arrays.copyOf(data[2], 1), data[3]});

  @Test
  void withKEqualToTheVocabularyTheStoredTeacherGivesTheOnlineLossAndGradients() {
    for (LossSpec spec : List.of(LossSpec.minitron(), new LossSpec(LossSpec.Divergence.FORWARD_KL, 0.6, 0.4, 1))) {
      Outcome online = step(spec, null);
      Outcome stored = step(spec, storedLogits(config.vocabSize(), TopKLogits.Values.FLOAT32));
      assertThat(stored.result.tokens()).isEqualTo(online.result.tokens()).isEqualTo(5 + 12 + 1 + 12);
      assertThat(stored.result.kdLoss()).as(spec.toString()).isCloseTo(online.result.kdLoss(), within(1e-5));
      assertThat(stored.result.loss()).isCloseTo(online.result.loss(), within(1e-5));
      assertThat(stored.result.gradientNorm()).isCloseTo(online.result.gradientNorm(), within(1e-5));
      online.gradients.forEach((name, expected) -> {
        float[] actual = stored.gradients.get(name);
        for (int i = 0; i < expected.length; i++) {
          assertThat(actual[i]).as("%s %s[%d]", spec, name, i).isCloseTo(expected[i], within(1e-5f));
        }
      });
    }
  }

  @Test
  void aTruncatedDistributionGivesTheCoarsenedKlAndItsAutogradGradients() {
    int k = 5;
    List<TopKLogits[]> stored = storedLogits(k, TopKLogits.Values.FLOAT32);
    Outcome actual = step(LossSpec.minitron(), stored);
    Outcome online = step(LossSpec.minitron(), null);
    assertThat(actual.result.kdLoss()).isGreaterThan(0).isLessThan(online.result.kdLoss()); // coarsening lowers KL
    try (LlamaModel teacher = model(teacherWeights); LlamaModel student = model(studentWeights)) {
      student.setTrainable(true);
      double sum = 0;
      long tokens = 0;
      for (int i = 0; i < microBatches.size(); i++) {
        for (int r = 0; r < microBatches.get(i).length; r++) {
          sum += naiveCoarsenedKl(teacher, student, microBatches.get(i)[r], stored.get(i)[r], actual.result.tokens());
          tokens += microBatches.get(i)[r].length;
        }
      }
      assertThat(tokens).isEqualTo(actual.result.tokens());
      assertThat(actual.result.kdLoss()).isCloseTo(sum / tokens, within(1e-5)); // a mean over the batch's tokens
      student.parameters().forEach((name, p) -> {
        float[] expected = p.getGradient().toFloatArray();
        float[] got = actual.gradients.get(name);
        for (int i = 0; i < expected.length; i++) {
          assertThat(got[i]).as("%s[%d]", name, i).isCloseTo(expected[i], within(1e-5f));
        }
      });
    }
  }

  /**
   * {@code Σ_top p (log p − log q) + P_tail (log P_tail − log Q_tail)} of one row, written directly on full logits
   * with the tails as {@code 1 − Σ top}, divided by {@code globalTokens}; autograd accumulates its gradients.
   */
  private static double naiveCoarsenedKl(LlamaModel teacher, LlamaModel student, long[] row, TopKLogits stored,
      long globalTokens) {
    try (NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      NDArray tokens = manager.create(new long[][] {row});
      int k = stored.k();
      long[] ids = new long[row.length * k];
      for (int t = 0; t < row.length; t++) {
        for (int j = 0; j < k; j++) {
          ids[t * k + j] = stored.id(t, j);
        }
      }
      NDArray top = manager.create(ids, new Shape(row.length, k));
      NDArray logP = teacher.forward(tokens).reshape(row.length, -1).logSoftmax(1).gather(top, 1);
      NDArray pTail = logP.exp().sum(new int[] {1}).neg().add(1);
      try (Autograd.Scope on = Autograd.record()) {
        NDArray logQ = student.forward(tokens).reshape(row.length, -1).logSoftmax(1).gather(top, 1);
        NDArray qTail = logQ.exp().sum(new int[] {1}).neg().add(1);
        NDArray loss = logP.exp().mul(logP.sub(logQ)).sum(new int[] {1})
            .add(pTail.mul(pTail.log().sub(qTail.log()))).sum().div(globalTokens);
        Autograd.backward(loss, loss.onesLike());
        return loss.getFloat() * globalTokens;
      }
    }
  }

  @Test
  void float16RowsRoundTripAndATruncatedRowIsNamed() {
    TopKLogits row = TopKLogits.encode(2, TopKLogits.Values.FLOAT16, new int[] {7, 3, 95, 0},
        new float[] {-0.25f, -2.5f, -0.0625f, -3.75f}, new float[] {-1.5f, Float.NEGATIVE_INFINITY});
    TopKLogits back = TopKLogits.decode(2, 2, TopKLogits.Values.FLOAT16, row.idBytes(), row.logProbBytes(),
        row.tailBytes(), "t.parquet row 0");
    assertThat(back.id(1, 0)).isEqualTo(95);
    assertThat(back.logProb(0, 1)).isEqualTo(-2.5f);
    assertThat(back.tailLogMass(1)).isEqualTo(Float.NEGATIVE_INFINITY);
    assertThat(row.idBytes().length + row.logProbBytes().length + row.tailBytes().length)
        .isEqualTo(2 * TopKLogits.bytesPerPosition(2, TopKLogits.Values.FLOAT16)).isEqualTo(2 * 14);
    assertThatThrownBy(() -> TopKLogits.decode(2, 2, TopKLogits.Values.FLOAT16, row.idBytes(),
        Arrays.copyOf(row.logProbBytes(), 6), row.tailBytes(), "t.parquet row 3"))
        .hasMessageStartingWith("t.parquet row 3: a row of 2 tokens with top-k 2").hasMessageContaining("truncated");
  }

  @Test
  void kBeyondTheVocabularyAndTemperaturesOtherThanOneAreRefused() {
    try (LlamaModel teacher = model(teacherWeights)) {
      assertThatThrownBy(() -> new TeacherTopK(teacher, config.vocabSize() + 1, TopKLogits.Values.FLOAT16, 8))
          .hasMessageContaining("top-k 97 must be in [1, 96]");
    }
    assertThatThrownBy(() -> step(new LossSpec(LossSpec.Divergence.FORWARD_KL, 1, 0, 2),
        storedLogits(4, TopKLogits.Values.FLOAT16))).hasMessageContaining("temperature 1 only");
  }

  private List<TopKLogits[]> storedLogits(int k, TopKLogits.Values values) {
    List<TopKLogits[]> out = new ArrayList<>();
    try (LlamaModel teacher = model(teacherWeights)) {
      TeacherTopK topK = new TeacherTopK(teacher, k, values, 7);
      for (long[][] batch : microBatches) {
        out.add(Arrays.stream(batch).map(row -> topK.of(new long[][] {row})[0]).toArray(TopKLogits[]::new));
      }
    }
    return out;
  }

  private record Outcome(TrainingStep.Result result, Map<String, float[]> gradients) {}

  /** One step from the student's weights, with the online teacher ({@code stored} null) or stored logits. */
  private Outcome step(LossSpec spec, List<TopKLogits[]> stored) {
    try (LlamaModel teacher = stored == null ? model(teacherWeights) : null;
        LlamaModel student = model(studentWeights);
        AdamW adam = new AdamW(student.parameters(), new AdamW.Settings(0.9, 0.95, 1e-8, 0.01))) {
      TrainingStep step = new TrainingStep(student, teacher, new ChunkedLogitLoss(spec, 5), adam,
          GradientReducer.single(), 0);
      TrainingStep.Result result = step.run(microBatches, stored, 1e-3);
      Map<String, float[]> gradients = new TreeMap<>();
      student.parameters().forEach((name, p) -> gradients.put(name, p.getGradient().toFloatArray()));
      return new Outcome(result, gradients);
    }
  }

  private LlamaModel model(Map<String, float[]> weights) {
    return LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
  }
}
