package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.DType;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.PythonReference;
import dev.distillery.testing.TestModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Padding never changes a loss, checked against the independent PyTorch reference ({@code token_losses.py}, which
 * runs every row alone): the per-token cross-entropy and forward KL of each row inside a right-padded micro-batch
 * equal the reference's, and the training loss's masked sums over the padded batch equal the reference's totals.
 */
class PaddingReferenceTest {
  private static final double TOLERANCE = 1e-4;

  @Test
  void aPaddedMicroBatchGivesEachRowsPerTokenLossesAlone(@TempDir Path dir) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    Map<String, float[]> studentWeights = TestModels.randomWeights(config, 71);
    Map<String, float[]> teacherWeights = TestModels.randomWeights(config, 72);
    TestModels.writeCheckpoint(dir.resolve("student"), config, studentWeights, DType.F32);
    TestModels.writeCheckpoint(dir.resolve("teacher"), config, teacherWeights, DType.F32);
    long[][] full = TestModels.randomTokens(4, 23, config.vocabSize(), 73);
    long[][] rows = {Arrays.copyOf(full[0], 7), full[1], Arrays.copyOf(full[2], 1), Arrays.copyOf(full[3], 12)};
    ObjectMapper json = new ObjectMapper();
    Files.writeString(dir.resolve("rows.json"), json.writeValueAsString(rows));
    PythonReference.runScript(Path.of("."), "token_losses.py", "--student", dir.resolve("student").toString(),
        "--teacher", dir.resolve("teacher").toString(), "--tokens", dir.resolve("rows.json").toString(), "--out",
        dir.resolve("losses.json").toString());
    JsonNode reference = json.readTree(dir.resolve("losses.json").toFile());

    PaddedBatch batch = PaddedBatch.of(rows);
    assertThat(batch.padded()).isTrue();
    try (LlamaModel student = LlamaModel.load(config, WeightSource.of(studentWeights), Device.cpu());
        LlamaModel teacher = LlamaModel.load(config, WeightSource.of(teacherWeights), Device.cpu());
        NDManager manager = NDManager.newBaseManager(Device.cpu())) {
      NDArray ids = batch.ids(manager);
      int longest = Math.toIntExact(ids.getShape().get(1));
      float[] logStudent = student.forward(ids).logSoftmax(-1).toFloatArray();
      float[] logTeacher = teacher.forward(ids).logSoftmax(-1).toFloatArray();
      int vocab = config.vocabSize();
      double ceTotal = 0;
      double klTotal = 0;
      int compared = 0;
      for (int r = 0; r < rows.length; r++) {
        JsonNode ce = reference.get("ce").get(r);
        JsonNode kl = reference.get("kl").get(r);
        assertThat(ce.size()).isEqualTo(rows[r].length - 1);
        assertThat(kl.size()).isEqualTo(rows[r].length);
        for (int t = 0; t < rows[r].length; t++) {
          int at = (r * longest + t) * vocab;
          double divergence = 0;
          for (int v = 0; v < vocab; v++) {
            divergence += Math.exp(logTeacher[at + v]) * (logTeacher[at + v] - logStudent[at + v]);
          }
          assertThat(divergence).as("KL of row %d, token %d", r, t).isCloseTo(kl.get(t).asDouble(),
              within(TOLERANCE));
          klTotal += kl.get(t).asDouble();
          if (t + 1 < rows[r].length) {
            double crossEntropy = -logStudent[at + (int) rows[r][t + 1]];
            assertThat(crossEntropy).as("cross-entropy of row %d, token %d", r, t)
                .isCloseTo(ce.get(t).asDouble(), within(TOLERANCE));
            ceTotal += ce.get(t).asDouble();
          }
          compared++;
        }
      }
      assertThat(compared).isEqualTo(7 + 23 + 1 + 12);

      // The training loss over the padded batch (chunks of 5 tokens cross rows and padding): only real tokens count.
      NDArray studentHidden;
      try (Autograd.Scope on = Autograd.record()) {
        studentHidden = student.forwardHidden(ids);
      }
      NDArray teacherHidden = teacher.forwardHidden(ids);
      ChunkedLogitLoss.LossSums sums = new ChunkedLogitLoss(new LossSpec(LossSpec.Divergence.FORWARD_KL, 1, 1, 1.0),
          5).logitGradients(studentHidden, student.lmHeadWeight(), teacherHidden, teacher.lmHeadWeight(), ids,
          batch.mask(manager), batch.tokens(), batch.scoredTokens(), manager).sums();
      assertThat(sums.kdTokens()).isEqualTo(batch.tokens()).isEqualTo(43);
      assertThat(sums.ceTokens()).isEqualTo(batch.scoredTokens()).isEqualTo(39);
      assertThat(sums.kdSum()).isCloseTo(klTotal, within(TOLERANCE * 43));
      assertThat(sums.ceSum()).isCloseTo(ceTotal, within(TOLERANCE * 39));
    }
  }
}
