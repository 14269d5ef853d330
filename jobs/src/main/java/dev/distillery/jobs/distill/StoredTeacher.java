package dev.distillery.jobs.distill;


import dev.distillery.distill.OrderedSequences;
import dev.distillery.distill.StoredRow;
import dev.distillery.distill.TeacherLogitsManifest;
import dev.distillery.distill.TopKLogits;
import dev.distillery.io.CheckpointReader;
import dev.distillery.io.Fingerprints;
import dev.distillery.io.Storage;
import dev.distillery.jobs.calibrate.TokenShards;
import dev.distillery.jobs.spark.HadoopConf;
import dev.distillery.jobs.teacher.TeacherLogitsTable;
import dev.distillery.jobs.tokenize.ParquetShards;
import dev.distillery.model.LlamaConfig;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * Distill's side of a teacher-logits table: checks, before any training, that it belongs to the run's token shards
 * (and teacher) and is whole, and reads it in the run's data order.
 */
final class StoredTeacher {
  private StoredTeacher() {}

  /**
   * The table's manifest, checked against the settings and the student.
   *
   * @throws IllegalArgumentException naming the file and value on a mismatch: other token shards or teacher, a
   *     missing or truncated shard, k or vocab_size that do not fit the student
   */
  static TeacherLogitsManifest check(DistillSettings settings, LlamaConfig student) {
    String dir = settings.teacherLogits();
    TeacherLogitsManifest manifest = TeacherLogitsTable.manifest(dir);
    String where = Storage.resolve(dir, TeacherLogitsManifest.FILE);
    String tokensManifest = Storage.resolve(new Path(settings.trainTokens()).getParent().toString(),
        TokenShards.MANIFEST);
    Storage tokens = Storage.of(tokensManifest);
    String tokensSha = tokens.exists(tokensManifest) ? Fingerprints.sha256(tokens, tokensManifest) : "(none)";
    if (!tokensSha.equals(manifest.tokensManifestSha256())) {
      throw new IllegalArgumentException(where + ": computed for the token shards whose manifest has sha256 "
          + manifest.tokensManifestSha256() + " (" + manifest.tokens() + "), but " + tokensManifest + " has "
          + tokensSha + "; rerun teacher-logits on these tokens");
    }
    if (settings.teacher() != null) {
      String fingerprint;
      try (CheckpointReader reader = CheckpointReader.open(Storage.of(settings.teacher()), settings.teacher())) {
        fingerprint = Fingerprints.checkpointWithSamples(Storage.of(settings.teacher()), reader);
      }
      if (!fingerprint.equals(manifest.teacherFingerprint())) {
        throw new IllegalArgumentException(where + ": written by teacher " + manifest.teacher() + " (fingerprint "
            + manifest.teacherFingerprint() + "), but option 'teacher' is " + settings.teacher() + " (fingerprint "
            + fingerprint + "); rerun teacher-logits with this teacher or drop 'teacher'");
      }
    }
    if (manifest.topK() < 1 || manifest.entries() > student.vocabSize()) {
      throw new IllegalArgumentException(where + ": top_k " + manifest.topK() + " (plus tail_samples "
          + manifest.tailSamples() + ") is not in [1, " + student.vocabSize() + "], the student's vocab_size ("
          + settings.student() + ")");
    }
    if (manifest.vocabSize() != student.vocabSize()) {
      throw new IllegalArgumentException(where + ": the teacher's vocab_size is " + manifest.vocabSize()
          + ", the student's (" + settings.student() + ") " + student.vocabSize()
          + "; stored distributions need equal vocabularies");
    }
    for (TeacherLogitsManifest.Shard shard : manifest.shards()) {
      String file = Storage.resolve(Storage.resolve(dir, TeacherLogitsTable.SPLIT), shard.file());
      if (!Storage.of(file).exists(file)) {
        throw new IllegalArgumentException(where + " lists " + file + ", which does not exist");
      }
      long rows = TeacherLogitsTable.rowCount(file);
      if (rows != shard.rows()) {
        throw new IllegalArgumentException(file + " holds " + rows + " rows, but " + where + " says " + shard.rows()
            + "; the shard is truncated or was replaced");
      }
    }
    return manifest;
  }

  /**
   * The table written in the run's data order to {@code dataOrder}, each record a {@link StoredRow}: the order of
   * the token rows it repeats (the same sort), so distillation streams rows and distributions together; a row
   * longer than {@code window} tokens becomes its windows, each with its positions' distributions.
   */
  static OrderedSequences.Manifest prepareOrder(SparkSession spark, HadoopConf hadoop,
      TeacherLogitsManifest manifest, String dir, long seed, String dataOrder, int window) {
    int k = manifest.entries();
    TopKLogits.Values values = manifest.values();
    String split = Storage.resolve(dir, TeacherLogitsTable.SPLIT);
    return DataOrderJob.prepare(spark, hadoop, split, TeacherLogitsTable.COLUMNS,
        (row, w) -> new StoredRow(ParquetShards.intIds(row), TeacherLogitsTable.distribution(row, k, values, split))
            .windows(w).stream().map(StoredRow::toRecord).toList(), seed, dataOrder, window);
  }
}
