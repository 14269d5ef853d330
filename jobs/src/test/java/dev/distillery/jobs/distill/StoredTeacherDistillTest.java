package dev.distillery.jobs.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.config.CommandLine;
import dev.distillery.config.ConfigException;
import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.distill.TeacherTopK;
import dev.distillery.distill.TopKLogits;
import dev.distillery.io.DType;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.jobs.teacher.TeacherLogitsJob;
import dev.distillery.jobs.teacher.TeacherLogitsSettings;
import dev.distillery.jobs.teacher.TeacherLogitsTable;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The teacher-logits job and distillation from its table, in local mode, against the online teacher. */
class StoredTeacherDistillTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final LlamaConfig CONFIG = TestModels.gqaConfig();
  private static final Map<String, float[]> TEACHER_WEIGHTS = TestModels.randomWeights(CONFIG, 51);

  @TempDir
  static Path shared;
  static Path teacher;
  static Path student;
  static Path tokens;

  /** Document rows of 2 to 24 tokens in two shards, with a tokenize manifest. */
  @BeforeAll
  static void writeInputs() throws IOException {
    teacher = shared.resolve("teacher");
    student = shared.resolve("student-init");
    tokens = shared.resolve("tokens");
    TestModels.writeCheckpoint(teacher, CONFIG, TEACHER_WEIGHTS, DType.F32);
    TestModels.writeCheckpoint(student, CONFIG, TestModels.randomWeights(CONFIG, 52), DType.F32);
    Random random = new Random(53);
    for (String split : List.of("train", "valid")) {
      long[][] rows = new long[split.equals("train") ? 12 : 4][];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = TestModels.randomTokens(1, 2 + random.nextInt(23), CONFIG.vocabSize(), 200 + i)[0];
      }
      TokenShardFiles.write(tokens.resolve(split), rows);
    }
    Files.writeString(tokens.resolve("manifest.json"), "{\"format\": \"distillery-tokens/1\", \"packing\": "
        + "\"documents\", \"seed\": 1}\n");
    Files.writeString(tokens.resolve(Storage.COMMIT_MARKER), "");
  }

  @Test
  void withKEqualToTheVocabularyStoredLogitsTrainAsTheOnlineTeacherDoes(@TempDir Path run) throws IOException {
    Path table = run.resolve("teacher-logits");
    TeacherLogitsManifest manifest = teacherLogits(table, CONFIG.vocabSize(), "float32");
    assertThat(manifest.topK()).isEqualTo(96);
    assertThat(manifest.topKMass()).isCloseTo(1.0, within(1e-6)); // the whole vocabulary: no tail
    distill(run.resolve("online"), "teacher=" + teacher);
    distill(run.resolve("stored"), "teacher-logits=" + table, "world-size=2");
    List<JsonNode> online = metrics(run.resolve("online"));
    List<JsonNode> stored = metrics(run.resolve("stored"));
    assertThat(stored).hasSize(6);
    for (int s = 0; s < 6; s++) {
      assertThat(stored.get(s).get("loss").asDouble()).as("step %d", s + 1)
          .isCloseTo(online.get(s).get("loss").asDouble(), within(1e-5));
      assertThat(stored.get(s).get("tokens").asLong()).isEqualTo(online.get(s).get("tokens").asLong());
    }
    assertThat(stored.get(5).get("val_loss").asDouble())
        .isCloseTo(online.get(5).get("val_loss").asDouble(), within(1e-4));
  }

  @Test
  void theTableLinesUpWithTheTokenShardsRowForRow(@TempDir Path run) throws IOException {
    Path table = run.resolve("teacher-logits");
    TeacherLogitsManifest manifest = teacherLogits(table, 8, "float16");
    List<Path> tokenShards = parquetFiles(tokens.resolve("train"));
    assertThat(manifest.shards()).extracting(TeacherLogitsManifest.Shard::file)
        .containsExactlyElementsOf(tokenShards.stream().map(p -> p.getFileName().toString()).toList());
    assertThat(manifest.shards().stream().mapToLong(TeacherLogitsManifest.Shard::rows).sum()).isEqualTo(12);
    assertThat(manifest.bytesPerToken()).isGreaterThan(0); // tiny files: mostly Parquet footers; see the benchmark
    try (LlamaModel model = LlamaModel.load(CONFIG, WeightSource.of(TEACHER_WEIGHTS), Device.cpu())) {
      TeacherTopK expected = new TeacherTopK(model, 8, TopKLogits.Values.FLOAT16, 512);
      double mass = 0;
      long positions = 0;
      for (Path shard : tokenShards) {
        List<Row> tokenRows = SharedSpark.session().read().parquet(shard.toString()).collectAsList();
        List<Row> stored = SharedSpark.session().read().parquet(table.resolve("train")
            .resolve(shard.getFileName()).toString()).select(TeacherLogitsTable.COLUMNS.get(0),
            TeacherLogitsTable.COLUMNS.subList(1, 4).toArray(String[]::new)).collectAsList();
        assertThat(stored).hasSameSizeAs(tokenRows);
        for (int i = 0; i < stored.size(); i++) {
          assertThat(stored.get(i).getList(0)).as("%s row %d", shard, i).isEqualTo(tokenRows.get(i).getList(0));
          long[] ids = tokenRows.get(i).<Integer>getList(0).stream().mapToLong(Integer::longValue).toArray();
          TopKLogits want = expected.of(new long[][] {ids})[0];
          assertThat((byte[]) stored.get(i).get(1)).isEqualTo(want.idBytes());
          assertThat((byte[]) stored.get(i).get(3)).isEqualTo(want.tailBytes());
          for (int t = 0; t < want.positions(); t++, positions++) {
            mass += TeacherTopK.mass(want, t, 8);
          }
        }
      }
      assertThat(manifest.topKMass()).isCloseTo(mass / positions, within(1e-9)).isBetween(0.0, 0.99);
      assertThat(TeacherLogitsManifest.fromJson(Files.readString(table.resolve(TeacherLogitsManifest.FILE)), "m")
          .topKMass()).isCloseTo(manifest.topKMass(), within(1e-6));
    }
  }

  @Test
  void aTableOfOtherTokensOrAnotherTeacherOrATruncatedShardIsRefused(@TempDir Path run) throws IOException {
    Path table = run.resolve("teacher-logits");
    teacherLogits(table, 4, "float16");
    Path otherTeacher = run.resolve("other-teacher");
    TestModels.writeCheckpoint(otherTeacher, CONFIG, TestModels.randomWeights(CONFIG, 54), DType.F32);
    assertThatThrownBy(() -> distill(run.resolve("a"), "teacher-logits=" + table, "teacher=" + otherTeacher))
        .hasMessageContaining("written by teacher " + teacher).hasMessageContaining("option 'teacher' is "
            + otherTeacher);

    Path otherTokens = run.resolve("other-tokens");
    copyTree(tokens, otherTokens);
    Files.writeString(otherTokens.resolve("manifest.json"), "{\"format\": \"distillery-tokens/1\", \"seed\": 2}\n");
    assertThatThrownBy(() -> distill(run.resolve("b"), "teacher-logits=" + table, "tokens=" + otherTokens))
        .hasMessageContaining("computed for the token shards").hasMessageContaining(otherTokens + "/manifest.json has");

    Path shard = parquetFiles(table.resolve("train")).get(0);
    try (RandomAccessFile file = new RandomAccessFile(shard.toFile(), "rw")) {
      file.setLength(file.length() / 2);
    }
    assertThatThrownBy(() -> distill(run.resolve("c"), "teacher-logits=" + table))
        .hasMessageStartingWith(shard.toString()).hasMessageContaining("truncated");

    assertThatThrownBy(() -> teacherLogits(run.resolve("too-many"), CONFIG.vocabSize() + 1, "float16"))
        .hasMessageContaining("option 'top-k' is 97, more than the teacher's vocab_size 96");
    assertThatThrownBy(() -> distill(run.resolve("d"), "teacher-logits=" + table, "temperature=2"))
        .isInstanceOf(ConfigException.class).hasMessageStartingWith("option 'temperature' must be 1");
  }

  private static TeacherLogitsManifest teacherLogits(Path out, int k, String values) {
    return TeacherLogitsJob.run(SharedSpark.session(), new TeacherLogitsSettings(teacher.toString(),
        tokens.toString(), out.toString(), k, TopKLogits.Values.of(values), 0, 0, false, 3, 16, false));
  }

  private static List<String> distill(Path run, String... overrides) {
    List<String> args = new ArrayList<>(List.of("--run", run.toString(), "--student", student.toString(),
        "--tokens", tokens.toString(), "--steps", "6", "--global-batch", "4", "--micro-batch", "2", "--lr", "3e-3",
        "--warmup-steps", "1", "--validate-every", "3", "--chunk-tokens", "20"));
    for (String o : overrides) {
      args.add("--set");
      args.add(o);
    }
    return DistillJob.run(SharedSpark.session(), DistillSettings.from(CommandLine.parse(DistillSettings.SCHEMA,
        args.toArray(String[]::new))));
  }

  private static List<JsonNode> metrics(Path run) throws IOException {
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(run.resolve("metrics/distill.jsonl"))) {
      lines.add(JSON.readTree(line));
    }
    return lines;
  }

  private static List<Path> parquetFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.toString().endsWith(".parquet")).sorted().toList();
    }
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : all.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(target);
        } else {
          Files.copy(p, target);
        }
      }
    }
  }
}
