package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The chunked loss's closed-form logit gradients, checked against PyTorch autograd differentiating the same loss
 * written naively on full logits.
 */
class ChunkedLogitLossTest {
  private final LlamaConfig config = TestModels.gqaConfig();

  @Test
  void forwardKlGradientsMatchAutogradOnFullLogits() {
    compareWithAutograd(new LossSpec(LossSpec.Divergence.FORWARD_KL, 1, 0, 1));
  }

  @Test
  void reverseKlWithTemperatureAndCrossEntropyMixMatchesAutograd() {
    compareWithAutograd(new LossSpec(LossSpec.Divergence.REVERSE_KL, 0.7, 0.3, 2.0));
  }

  @Test
  void crossEntropyMatchesAutogradAndTheModelsOwnLoss() {
    compareWithAutograd(LossSpec.crossEntropy());
  }

  @Test
  void aTeacherWithPaddingRowsIsComparedOverTheCommonIds() {
    LlamaConfig padded = withVocab(config, config.vocabSize() + 8);
    compareWithAutograd(new LossSpec(LossSpec.Divergence.FORWARD_KL, 0.8, 0.2, 1), config, padded);
  }

  @Test
  void aStudentWithPaddingRowsIsComparedOverTheCommonIds() {
    LlamaConfig padded = withVocab(config, config.vocabSize() + 8);
    compareWithAutograd(new LossSpec(LossSpec.Divergence.REVERSE_KL, 0.7, 0.3, 2.0), padded, config);
  }

  private static LlamaConfig withVocab(LlamaConfig c, int vocab) {
    return new LlamaConfig(c.hiddenSize(), c.intermediateSize(), c.numHiddenLayers(), c.numAttentionHeads(),
        c.numKeyValueHeads(), c.headDim(), vocab, c.rmsNormEps(), c.ropeTheta(), c.ropeScaling(),
        c.maxPositionEmbeddings(), c.tieWordEmbeddings(), c.bosTokenId(), c.eosTokenId(), c.torchDtype(),
        c.architecture());
  }

  @Test
  void klOfAStudentIdenticalToItsTeacherIsZero() {
    Map<String, float[]> weights = TestModels.randomWeights(config, 1);
    long[][] ids = TestModels.randomTokens(2, 9, config.vocabSize(), 2);
    try (LlamaModel student = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        LlamaModel teacher = LlamaModel.load(config, WeightSource.of(weights), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      student.setTrainable(true);
      ChunkedLogitLoss.LossSums sums = chunkedStep(student, teacher, manager.create(ids), LossSpec.minitron(), 5);
      assertThat(sums.kdSum() / sums.kdTokens()).isCloseTo(0.0, within(1e-6));
      for (NDArray p : student.parameters().values()) {
        try (NDArray g = p.getGradient()) {
          assertThat(g.abs().max().getFloat()).as(p.getName()).isLessThan(1e-6f);
        }
      }
    }
  }

  /**
   * The caller's manager (a training micro-step's, which lives until that micro-step's backward ends) holds the
   * hidden states and ids the loss slices per chunk; arrays computed from those slices, such as the teacher's logits
   * and log-probabilities, must be freed with their chunk instead of piling up there over the chunks.
   */
  @Test
  void noLogitSizedArrayOutlivesItsChunk() {
    try (LlamaModel student = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 6)),
            Device.cpu());
        LlamaModel teacher = LlamaModel.load(config, WeightSource.of(TestModels.randomWeights(config, 7)),
            Device.cpu());
        NDManager micro = NDManager.newBaseManager(Device.cpu())) {
      student.setTrainable(true);
      NDArray tokens = micro.create(TestModels.randomTokens(2, 11, config.vocabSize(), 8));
      NDArray mask = micro.ones(new ai.djl.ndarray.types.Shape(2, 11));
      NDArray studentHidden;
      try (Autograd.Scope on = Autograd.record()) {
        studentHidden = student.forwardHidden(tokens);
      }
      NDArray teacherHidden = teacher.forwardHidden(tokens);
      new ChunkedLogitLoss(new LossSpec(LossSpec.Divergence.FORWARD_KL, 0.7, 0.3, 1), 7).logitGradients(
          studentHidden, student.lmHeadWeight(), teacherHidden, teacher.lmHeadWeight(), tokens, mask, 22, 20, micro);
      assertThat(micro.getManagedArrays()).isNotEmpty()
          .map(NDArray::getShape)
          .as("shapes of the arrays left in the caller's manager")
          .noneMatch(shape -> shape.dimension() > 0 && shape.tail() == config.vocabSize());
    }
  }

  private void compareWithAutograd(LossSpec spec) {
    compareWithAutograd(spec, config, config);
  }

  /** Token ids stay below both vocabularies; the naive loss takes the KD term over the first min(vocab) ids. */
  private void compareWithAutograd(LossSpec spec, LlamaConfig studentConfig, LlamaConfig teacherConfig) {
    Map<String, float[]> studentWeights = TestModels.randomWeights(studentConfig, 3);
    Map<String, float[]> teacherWeights = TestModels.randomWeights(teacherConfig, 4);
    long[][] ids = TestModels.randomTokens(2, 11, Math.min(studentConfig.vocabSize(), teacherConfig.vocabSize()), 5);
    try (LlamaModel student = LlamaModel.load(studentConfig, WeightSource.of(studentWeights), Device.cpu());
        LlamaModel reference = LlamaModel.load(studentConfig, WeightSource.of(studentWeights), Device.cpu());
        LlamaModel teacher = LlamaModel.load(teacherConfig, WeightSource.of(teacherWeights), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      student.setTrainable(true);
      reference.setTrainable(true);
      NDArray tokens = manager.create(ids);

      ChunkedLogitLoss.LossSums sums = chunkedStep(student, teacher, tokens, spec, 7); // 22 tokens: ragged chunks
      double expectedLoss = naiveStep(reference, teacher, tokens, spec);

      double loss = spec.kdWeight() * sums.kdSum() / sums.kdTokens() + spec.ceWeight() * sums.ceSum() / sums.ceTokens();
      assertThat(loss).isCloseTo(expectedLoss, within(1e-5 * Math.max(1, Math.abs(expectedLoss))));
      Map<String, float[]> expected = gradients(reference);
      Map<String, float[]> actual = gradients(student);
      for (String name : expected.keySet()) {
        float[] e = expected.get(name);
        float[] a = actual.get(name);
        double scale = 1e-12;
        for (float v : e) {
          scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < e.length; i++) {
          assertThat(Math.abs(a[i] - e[i]) / scale).as("%s[%d]", name, i).isLessThan(1e-4);
        }
      }
    }
  }

  private static ChunkedLogitLoss.LossSums chunkedStep(LlamaModel student, LlamaModel teacher, NDArray tokens,
      LossSpec spec, int chunk) {
    long batch = tokens.getShape().get(0);
    long seq = tokens.getShape().get(1);
    NDArray studentHidden;
    try (Autograd.Scope on = Autograd.record()) {
      studentHidden = student.forwardHidden(tokens);
    }
    NDArray teacherHidden = teacher.forwardHidden(tokens);
    return new ChunkedLogitLoss(spec, chunk).backward(studentHidden, student.lmHeadWeight(), teacherHidden,
        teacher.lmHeadWeight(), tokens, batch * seq, batch * (seq - 1));
  }

  /** The same loss written directly on full logits; autograd differentiates it. */
  private static double naiveStep(LlamaModel student, LlamaModel teacher, NDArray tokens, LossSpec spec) {
    NDArray teacherLogits = teacher.forward(tokens);
    try (Autograd.Scope on = Autograd.record()) {
      NDArray logits = student.forward(tokens);
      long vocab = logits.getShape().get(2);
      NDIndex commonIds = new NDIndex(":, :, 0:{}", Math.min(vocab, teacherLogits.getShape().get(2)));
      NDArray loss = logits.getManager().zeros(new ai.djl.ndarray.types.Shape());
      double t = spec.temperature();
      if (spec.needsTeacher()) {
        NDArray logS = logits.get(commonIds).div((float) t).logSoftmax(2);
        NDArray logT = teacherLogits.get(commonIds).div((float) t).logSoftmax(2);
        NDArray kl = spec.kind() == LossSpec.Divergence.FORWARD_KL
            ? logT.exp().mul(logT.sub(logS)).sum(new int[] {2})
            : logS.exp().mul(logS.sub(logT)).sum(new int[] {2});
        loss = loss.add(kl.mean().mul((float) (t * t * spec.kdWeight())));
      }
      if (spec.ceWeight() > 0) {
        NDArray logP = logits.get(new NDIndex(":, :-1")).logSoftmax(2).reshape(-1, vocab);
        NDArray targets = tokens.get(new NDIndex(":, 1:")).toType(DataType.INT64, false).reshape(-1, 1);
        NDArray nll = logP.gather(targets, 1).neg().mean();
        loss = loss.add(nll.mul((float) spec.ceWeight()));
      }
      double value = loss.getFloat();
      Autograd.backward(loss, loss.onesLike());
      return value;
    }
  }

  private static Map<String, float[]> gradients(LlamaModel model) {
    Map<String, float[]> grads = new LinkedHashMap<>();
    for (Map.Entry<String, NDArray> p : model.parameters().entrySet()) {
      try (NDArray g = p.getValue().getGradient()) {
        grads.put(p.getKey(), g.toFloatArray());
      }
    }
    return grads;
  }

}
