package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class TeacherLogitsManifestTest {
  private static final TeacherLogitsManifest MANIFEST = new TeacherLogitsManifest("/runs/a/teacher", "sha256:f00d",
      96, 8, 16, 4, TopKLogits.Values.FLOAT16, "/runs/a/tokens", "abc123", 0.875,
      List.of(new TeacherLogitsManifest.Shard("part-00000.parquet", 12, 140, 9000),
          new TeacherLogitsManifest.Shard("part-00001.parquet", 3, 20, 1200)));

  @Test
  void theJsonGivesBackEveryFieldTheTeachersContextIncluded() {
    String json = MANIFEST.toJson();
    assertThat(json).contains("\"max_position_embeddings\" : 8")
        .contains("\"format\" : \"distillery-teacher-logits/1\"");
    assertThat(TeacherLogitsManifest.fromJson(json, "m")).isEqualTo(MANIFEST);
  }

  /** A table written before the teacher's context was recorded: still read, its context unknown (0). */
  @Test
  void aManifestWithoutTheTeachersContextReadsAsUnknown() {
    String old = """
        {
          "format" : "distillery-teacher-logits/1",
          "teacher" : { "path" : "/runs/a/teacher", "fingerprint" : "sha256:f00d", "vocab_size" : 96 },
          "top_k" : 16, "tail_samples" : 4, "values" : "float16", "temperature" : 1,
          "tokens" : { "path" : "/runs/a/tokens", "manifest_sha256" : "abc123", "split" : "train" },
          "top_k_mass_mean" : 0.875,
          "shards" : [ { "file" : "part-00000.parquet", "rows" : 12, "tokens" : 140, "bytes" : 9000 },
                       { "file" : "part-00001.parquet", "rows" : 3, "tokens" : 20, "bytes" : 1200 } ]
        }
        """;
    TeacherLogitsManifest read = TeacherLogitsManifest.fromJson(old, "m");
    assertThat(read.teacherContext()).isZero();
    assertThat(read).isEqualTo(new TeacherLogitsManifest(MANIFEST.teacher(), MANIFEST.teacherFingerprint(),
        MANIFEST.vocabSize(), 0, MANIFEST.topK(), MANIFEST.tailSamples(), MANIFEST.values(), MANIFEST.tokens(),
        MANIFEST.tokensManifestSha256(), MANIFEST.topKMass(), MANIFEST.shards()));
  }

  @Test
  void aNegativeContextIsRefusedNamingTheFileAndField() {
    String json = MANIFEST.toJson().replace("\"max_position_embeddings\" : 8", "\"max_position_embeddings\" : -8");
    assertThatThrownBy(() -> TeacherLogitsManifest.fromJson(json, "t/manifest.json"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageStartingWith("t/manifest.json: teacher.max_position_embeddings is -8");
  }
}
