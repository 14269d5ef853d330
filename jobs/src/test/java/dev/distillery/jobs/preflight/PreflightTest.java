package dev.distillery.jobs.preflight;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.DType;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.function.LongUnaryOperator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The preflight on a teacher built by hand: it predicts the next id of a count (v → v mod 31 + 1) and needs BOS in
 * its context to do so confidently. Its one attention head looks at BOS wherever it is in view, and BOS's value
 * cancels a "noise" direction that otherwise makes the teacher hesitate between the right id and id 0.
 */
class PreflightTest {
  private static final int VOCAB = 32;
  private static final int BOS = 0;
  private static final int HIDDEN = 64;
  private static final int NOISE = 40;
  private static final int SINK = 41;
  private static final LlamaConfig CONFIG = new LlamaConfig(HIDDEN, 32, 1, 4, 4, 16, VOCAB, 1e-6, 1e6, null, 512,
      false, BOS, VOCAB - 1, "float32");

  @TempDir
  static Path dir;
  static Path teacher;

  @BeforeAll
  static void writeTeacher() {
    Map<String, float[]> w = TestModels.randomWeights(CONFIG, 1);
    w.replaceAll((name, values) -> new float[values.length]);
    for (String norm : new String[] {"model.norm.weight", "model.layers.0.input_layernorm.weight",
        "model.layers.0.post_attention_layernorm.weight"}) {
      Arrays.fill(w.get(norm), 1f);
    }
    float[] embed = w.get("model.embed_tokens.weight");
    embed[BOS * HIDDEN + SINK] = 1;
    for (int v = 1; v < VOCAB; v++) {
      embed[v * HIDDEN + v] = 1;
      embed[v * HIDDEN + NOISE] = 1;
    }
    // Head 0: query from the noise direction, key from BOS's sink direction, in dimension 7 of the head, which
    // RoPE barely rotates (theta 1e6): every position looks at BOS when it sees one.
    w.get("model.layers.0.self_attn.q_proj.weight")[7 * HIDDEN + NOISE] = 1;
    w.get("model.layers.0.self_attn.k_proj.weight")[7 * HIDDEN + SINK] = 2;
    w.get("model.layers.0.self_attn.v_proj.weight")[SINK] = 1;
    w.get("model.layers.0.self_attn.o_proj.weight")[NOISE * HIDDEN] = -1f / 8; // BOS's value (8) cancels the noise
    float[] head = w.get("lm_head.weight");
    for (int v = 1; v < VOCAB; v++) {
      head[next(v) * HIDDEN + v] = 1;
    }
    head[NOISE] = 1; // the noise direction votes for id 0
    teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, CONFIG, w, DType.F32);
  }

  private static int next(long v) {
    return (int) (v % (VOCAB - 1) + 1);
  }

  /** Four counts of 40 ids from different starts, each id passed through {@code tokenizer}, optionally after BOS. */
  private static Path split(String name, boolean bos, LongUnaryOperator tokenizer) {
    long[][] rows = new long[4][];
    for (int r = 0; r < rows.length; r++) {
      long[] row = new long[40];
      long v = 1 + r * 5;
      for (int t = 0; t < row.length; t++) {
        row[t] = bos && t == 0 ? BOS : tokenizer.applyAsLong(v);
        v = bos && t == 0 ? v : next(v);
      }
      rows[r] = row;
    }
    Path split = dir.resolve(name).resolve("valid");
    TokenShardFiles.write(split, rows);
    return split;
  }

  private static void check(String run, Path split) {
    Preflight.check(SharedSpark.session(), "distill", dir.resolve(run).toString(), teacher.toString(),
        DataType.FLOAT32, split.toString());
  }

  @Test
  void matchedDocumentRowsPassAndTheFiguresAreWritten() throws IOException {
    check("matched", split("matched", true, v -> v));
    JsonNode figures = new ObjectMapper().readTree(Files.readString(dir.resolve("matched/preflight/distill.json")));
    assertThat(figures.get("passed").asBoolean()).isTrue();
    assertThat(figures.get("loss").asDouble()).isLessThan(0.2);
    assertThat(figures.get("log_vocab").asDouble())
        .isCloseTo(Math.log(VOCAB), org.assertj.core.api.Assertions.within(1e-9));
    assertThat(figures.get("bos_check_skipped").asText()).isEqualTo("rows start with BOS");
  }

  @Test
  void aTokenizerThatDoesNotMatchTheTeacherIsCaught() {
    assertThatThrownBy(() -> check("mismatch", split("mismatch", true, v -> (v - 1) * 7 % (VOCAB - 1) + 1)))
        .hasMessageContaining("preflight of distill: teacher " + teacher)
        .hasMessageContaining("is not below log(vocab_size) 3.4657 (uniform guessing)")
        .hasMessageContaining("--set preflight=false")
        .hasMessageNotContaining("\n");
  }

  @Test
  void aTeacherThatNeedsBosIsCaughtOnMidDocumentRows() throws IOException {
    assertThatThrownBy(() -> check("mid-document", split("mid-document", false, v -> v)))
        .hasMessageContaining("on BOS-started windows of the same rows (more than 1.5)")
        .hasMessageContaining("packing=packed-bos")
        .hasMessageNotContaining("not below log(vocab_size)");
    JsonNode figures =
        new ObjectMapper().readTree(Files.readString(dir.resolve("mid-document/preflight/distill.json")));
    assertThat(figures.get("passed").asBoolean()).isFalse();
    assertThat(figures.get("bos_loss").asDouble()).as("the same rows after BOS").isLessThan(0.1);
    assertThat(figures.get("loss").asDouble()).isGreaterThan(0.5).isLessThan(Math.log(VOCAB));
  }
}
