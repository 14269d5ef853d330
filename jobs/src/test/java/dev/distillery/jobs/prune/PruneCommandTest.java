package dev.distillery.jobs.prune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.cli.Distillery;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.DType;
import dev.distillery.io.RandomCheckpoint;
import dev.distillery.io.Storage;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.RopeScaling;
import dev.distillery.prune.PrunePlan;
import dev.distillery.testing.Fixtures;
import dev.distillery.testing.TestModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class PruneCommandTest {
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  @TempDir
  Path dir;

  @Test
  void prunesFromAConfigFileAndTheStudentRunsThroughInspectAndGenerate() throws Exception {
    LlamaConfig config = new LlamaConfig(64, 160, 3, 4, 2, 16, 128256, 1e-5, 500000.0, RopeScaling.llama31(), 131072,
        false, 128000, 128001, "bfloat16");
    Path teacher = dir.resolve("teacher");
    RandomCheckpoint.generate(Storage.of(teacher.toString()), teacher.toString(), config, DType.BF16, 1, 1 << 20,
        false);
    Files.copy(Fixtures.llama31Tokenizer(), teacher.resolve("tokenizer.json"));
    Path run = dir.resolve("run");
    Files.createDirectories(run);
    PrunePlan plan = PrunePlan.uniform(config, IntStream.range(0, 64).filter(c -> c % 4 != 0).toArray(),
        new int[] {0, 2}, new int[] {1}, new int[] {2, 3}, PrunePlan.range(96));
    Files.writeString(run.resolve("prune-plan.json"), plan.toJson());
    Path yaml = dir.resolve("prune.yaml");
    Files.writeString(yaml, "run: " + run + "\nteacher: " + teacher + "\nmax-shard-bytes: 4000000\n");

    assertThat(runCli("prune", "--config", yaml.toString())).as(stderr()).isZero();

    Path student = run.resolve("student-init");
    try (CheckpointReader reader = CheckpointReader.open(student.toString())) {
      assertThat(reader.config()).isEqualTo(plan.target());
      assertThat(reader.shardFiles()).hasSizeGreaterThan(1);
      assertThat(reader.info("model.embed_tokens.weight").dtype()).isEqualTo(DType.BF16);
    }
    assertThat(runCli("inspect", "--model", student.toString())).as(stderr()).isZero();
    assertThat(runCli("generate", "--model", student.toString(), "--tokenizer",
        student.resolve("tokenizer.json").toString(), "--prompt", "The pruned model", "--max-new", "3"))
        .as(stderr()).isZero();
    assertThat(runCli("prune", "--config", yaml.toString())).isEqualTo(Distillery.FAILED);
    assertThat(stderr()).contains("already exists and is committed");
    assertThat(runCli("prune", "--config", yaml.toString(), "--set", "overwrite=true", "--set", "dtype=float32"))
        .as(stderr()).isZero();
    try (CheckpointReader reader = CheckpointReader.open(student.toString())) {
      assertThat(reader.info("model.embed_tokens.weight").dtype()).isEqualTo(DType.F32);
    }
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "\"hidden_channels\" : [ 0, 1,| \"hidden_channels\" : [ 0, 48,| hidden_channels[1] = 48 is out of range",
      "\"hidden_channels\" : [ 0, 1,| \"hidden_channels\" : [ 0, 0,| hidden_channels must be strictly ascending",
      "\"kv_heads\" : [ 1 ]| \"kv_heads\" : [ 2 ]| kv_heads[0] = 2 is out of range",
      "\"query_heads\" : [ 2, 3 ]| \"query_heads\" : [ 1, 3 ]| KV head 1 keeps 1 query heads, expected 2",
      "\"num_key_value_heads\" : 2| \"num_key_value_heads\" : 3| must be a multiple of num_key_value_heads",
      "\"intermediate_size\" : 80| \"intermediate_size\" : 81| intermediate_size 81 but the teacher's config.json "
          + "has 80"})
  void badPlansAreRejectedBeforeAnythingIsWritten(String find, String replace, String message) throws Exception {
    LlamaConfig config = TestModels.gqaConfig();
    Path teacher = dir.resolve("teacher");
    TestModels.writeCheckpoint(teacher, config, TestModels.randomWeights(config, 1), DType.F32);
    String json = PrunePlan.uniform(config, PrunePlan.range(48), new int[] {0, 1}, new int[] {1}, new int[] {2, 3},
        PrunePlan.range(80)).toJson();
    assertThat(json).contains(find);
    Path plan = dir.resolve("plan.json");
    Files.writeString(plan, json.replaceFirst(Pattern.quote(find), replace));
    Path out = dir.resolve("student");

    int status = runCli("prune", "--teacher", teacher.toString(), "--plan", plan.toString(), "--out",
        out.toString());

    assertThat(status).isEqualTo(Distillery.FAILED);
    assertThat(stderr()).contains(message);
    assertThat(out).doesNotExist();
    assertThat(dir.toFile().list()).containsExactlyInAnyOrder("teacher", "plan.json");
  }

  @Test
  void planAndOutputNeedARunDirectoryWhenNotGiven() {
    assertThat(runCli("prune", "--teacher", dir.toString())).isEqualTo(Distillery.USAGE);
    assertThat(stderr()).contains("set 'plan' or 'run'");
  }

  private int runCli(String... args) {
    err.reset();
    return Distillery.standard().run(args, System.out, new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  private String stderr() {
    return err.toString(StandardCharsets.UTF_8);
  }
}
