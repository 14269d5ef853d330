package dev.distillery.jobs.tools;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.cli.Distillery;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.testing.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** random-checkpoint, inspect and generate, driven through the command line as a user would. */
class ModelToolsTest {
  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    out.reset();
    err.reset();
    return Distillery.standard().run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void generatedCheckpointIsInspectableAndGenerates(@TempDir Path dir) {
    String model = dir.resolve("tiny").toString();
    assertThat(run("random-checkpoint", "--out", model, "--layers", "1", "--max-shard-bytes", "10000000",
        "--dtype", "float16", "--seed", "9")).as(err.toString()).isZero();
    try (CheckpointReader reader = CheckpointReader.open(model)) {
      assertThat(reader.shardFiles()).hasSizeGreaterThan(1); // the 128256 x 64 embeddings alone are 16 MB in F16
      assertThat(reader.info("lm_head.weight").dtype()).isEqualTo(DType.F16);
      assertThat(reader.config().numHiddenLayers()).isEqualTo(1);
    }

    assertThat(run("inspect", "--model", model, "--tensors", "true")).as(err.toString()).isZero();
    String report = out.toString(StandardCharsets.UTF_8);
    assertThat(report).contains("1 layers, hidden 64, FFN 160, heads 4 (KV 2, head_dim 16), vocab 128256")
        .contains("llama3 (factor 8.0").contains("F16=").contains("model.layers.0.mlp.down_proj.weight");

    assertThat(run("generate", "--model", model, "--tokenizer", Fixtures.llama31Tokenizer().toString(), "--prompt",
        "Once upon a time", "--max-new", "4")).as(err.toString()).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).startsWith("Once upon a time").hasSizeGreaterThan(17);
  }

  @Test
  void mistralAndQwen2CheckpointsAreGeneratedAndInspected(@TempDir Path dir) {
    String mistral = dir.resolve("mistral").toString();
    assertThat(run("random-checkpoint", "--out", mistral, "--layers", "1", "--vocab-size", "300", "--architecture",
        "mistral", "--sliding-window", "16")).as(err.toString()).isZero();
    assertThat(run("inspect", "--model", mistral)).as(err.toString()).isZero();
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("architecture MistralForCausalLM: 1 layers")
        .contains("vocab 300, sliding window 16");

    String qwen = dir.resolve("qwen2").toString();
    assertThat(run("random-checkpoint", "--out", qwen, "--layers", "1", "--vocab-size", "300", "--architecture",
        "qwen2", "--tie-word-embeddings", "true")).as(err.toString()).isZero();
    try (CheckpointReader reader = CheckpointReader.open(qwen)) {
      assertThat(reader.tensorNames()).contains("model.layers.0.self_attn.q_proj.bias")
          .doesNotContain("lm_head.weight");
      assertThat(reader.config().ropeTheta()).isEqualTo(1e6);
    }
    assertThat(run("random-checkpoint", "--out", dir.resolve("bad").toString(), "--architecture", "qwen2",
        "--sliding-window", "16")).isNotZero();
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("sliding-window is only for --architecture mistral");
  }

  @Test
  void existingCheckpointIsNotOverwrittenUnlessAsked(@TempDir Path dir) {
    String model = dir.resolve("m").toString();
    assertThat(run("random-checkpoint", "--out", model, "--layers", "1", "--vocab-size", "300")).isZero();
    assertThat(run("random-checkpoint", "--out", model, "--layers", "1", "--vocab-size", "300"))
        .isEqualTo(Distillery.FAILED);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains(model);
    assertThat(run("random-checkpoint", "--out", model, "--layers", "1", "--vocab-size", "300", "--overwrite",
        "true")).isZero();
  }
}
