package dev.distillery.jobs.teacher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.distill.TeacherTopK;
import dev.distillery.distill.TopKLogits;
import dev.distillery.io.DType;
import dev.distillery.io.Storage;
import dev.distillery.jobs.spark.SharedSpark;
import dev.distillery.jobs.spark.TokenShardFiles;
import dev.distillery.model.LlamaConfig;
import dev.distillery.model.LlamaModel;
import dev.distillery.model.WeightSource;
import dev.distillery.testing.TestModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The teacher-logits job on rows longer than the teacher's context, against the teacher run on each window. */
class TeacherLogitsWindowsTest {
  private static final int CONTEXT = 8;
  private static final LlamaConfig CONFIG = new LlamaConfig(48, 80, 2, 4, 2, 16, 96, 1e-5, 10000.0, null, CONTEXT,
      false, 1, 2, "float32");
  private static final int K = 8;
  /** Rows that fit (5, 8, 6, 3), one cut into 8 + 8 + 3 and one into 8 + 8 and a last window of one token. */
  private static final int[] LENGTHS = {5, 19, 8, 17, 6, 3};

  @Test
  void aLongRowIsStoredAsItsWindowsEachRunAloneAndARowThatFitsIsUnchanged(@TempDir Path dir) throws IOException {
    Map<String, float[]> weights = TestModels.randomWeights(CONFIG, 61);
    Path teacher = dir.resolve("teacher");
    Path tokens = dir.resolve("tokens");
    TestModels.writeCheckpoint(teacher, CONFIG, weights, DType.F32);
    long[][] rows = new long[LENGTHS.length][];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = TestModels.randomTokens(1, LENGTHS[i], CONFIG.vocabSize(), 300 + i)[0];
    }
    TokenShardFiles.write(tokens.resolve("train"), rows);
    Files.writeString(tokens.resolve("manifest.json"), "{\"format\": \"distillery-tokens/1\", \"packing\": "
        + "\"documents\", \"seed\": 1}\n");
    Files.writeString(tokens.resolve(Storage.COMMIT_MARKER), "");
    Path table = dir.resolve("teacher-logits");
    TeacherLogitsManifest manifest = TeacherLogitsJob.run(SharedSpark.session(), new TeacherLogitsSettings(
        teacher.toString(), tokens.toString(), table.toString(), K, TopKLogits.Values.FLOAT32, 0, 0, false, 3, 16,
        false));

    assertThat(manifest.shards().stream().mapToLong(TeacherLogitsManifest.Shard::rows).sum()).isEqualTo(rows.length);
    assertThat(manifest.tokenCount()).isEqualTo(Arrays.stream(LENGTHS).sum());
    assertThat(TeacherLogitsManifest.fromJson(Files.readString(table.resolve(TeacherLogitsManifest.FILE)), "m")
        .teacherContext()).as("the context it ran the teacher on, for distill to cut rows at").isEqualTo(CONTEXT);
    int checked = 0;
    try (LlamaModel model = LlamaModel.load(CONFIG, WeightSource.of(weights), Device.cpu())) {
      TeacherTopK topK = new TeacherTopK(model, K, TopKLogits.Values.FLOAT32, 512);
      for (Path shard : parquetFiles(tokens.resolve("train"))) {
        List<Row> stored = SharedSpark.session().read().parquet(table.resolve("train")
            .resolve(shard.getFileName()).toString()).select(TeacherLogitsTable.COLUMNS.get(0),
            TeacherLogitsTable.COLUMNS.subList(1, 4).toArray(String[]::new)).collectAsList();
        assertThat(stored).extracting(r -> r.getList(0)).containsExactlyElementsOf(SharedSpark.session().read()
            .parquet(shard.toString()).collectAsList().stream().map(r -> r.getList(0)).toList());
        for (Row row : stored) {
          long[] ids = row.<Integer>getList(0).stream().mapToLong(Integer::longValue).toArray();
          TopKLogits got = TeacherLogitsTable.distribution(row, K, TopKLogits.Values.FLOAT32, shard.toString());
          assertThat(got.positions()).isEqualTo(ids.length);
          for (int start = 0; start < ids.length; start += CONTEXT) {
            int end = Math.min(ids.length, start + CONTEXT);
            TopKLogits window = topK.of(new long[][] {Arrays.copyOfRange(ids, start, end)})[0];
            assertSame(got.positions(start, end), window, "row of " + ids.length + ", window at " + start);
          }
          if (ids.length > CONTEXT) { // the whole row, positions past the context included, would differ
            TopKLogits whole = topK.of(new long[][] {ids})[0];
            assertThat(got.logProb(CONTEXT, 0)).isNotCloseTo(whole.logProb(CONTEXT, 0), within(1e-3f));
          }
          checked++;
        }
      }
    }
    assertThat(checked).isEqualTo(rows.length);
  }

  private static void assertSame(TopKLogits got, TopKLogits want, String what) {
    for (int t = 0; t < want.positions(); t++) {
      for (int j = 0; j < K; j++) {
        assertThat(got.id(t, j)).as("%s, position %d entry %d", what, t, j).isEqualTo(want.id(t, j));
        assertThat(got.logProb(t, j)).as("%s, position %d entry %d", what, t, j)
            .isCloseTo(want.logProb(t, j), within(1e-5f));
      }
      assertThat(got.tailLogMass(t)).as("%s, position %d tail", what, t)
          .isCloseTo(want.tailLogMass(t), within(1e-5f));
    }
  }

  private static List<Path> parquetFiles(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.filter(p -> p.toString().endsWith(".parquet")).sorted().toList();
    }
  }
}
