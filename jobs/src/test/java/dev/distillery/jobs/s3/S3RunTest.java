package dev.distillery.jobs.s3;

import static dev.distillery.jobs.s3.CommandSequence.line;
import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.io.Storage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stages with every path on {@code s3a://} (a real S3 API, s3proxy, on loopback) and the credentials given only
 * as {@code spark.hadoop.fs.s3a.*} JVM options, as a user sets them: run as the {@code distillery} command in a JVM
 * of its own, so no earlier test's Spark session or Hadoop file system cache is involved. Distill runs two ranks
 * (the ring, with {@code spark.authenticate.secret} as its secret); neither the S3 keys nor the ring secret appear in
 * the log or in any object written (metrics, checkpoint state, evaluation, report).
 */
@Tag("s3")
class S3RunTest {
  private static final String BUCKET = "distillery";

  @Test
  void stagesUseSparkHadoopSettingsOnS3AndNeverLeakTheKeysOrTheRingSecret(@TempDir Path work) throws Exception {
    String accessKey = "AKIA" + UUID.randomUUID().toString().replace("-", "").substring(0, 16).toUpperCase();
    String secretKey = UUID.randomUUID() + "/" + UUID.randomUUID();
    Path objects = Files.createDirectories(work.resolve("objects"));
    try (S3Proxy s3 = S3Proxy.start(objects, work, accessKey, secretKey)) {
      Path bucket = s3.bucketDir(BUCKET);
      String root = "s3a://" + BUCKET;
      Storage upload = s3.storage(root);
      List<String> corpus = Files.readAllLines(Path.of("../data-samples/wikitext-2-valid.txt"));
      upload.writeText(root + "/inputs/corpus.txt", String.join("\n", corpus.subList(0, 400)) + "\n");
      upload.writeText(root + "/inputs/tokenizer.json", Files.readString(Path.of("../data-samples/tokenizer.json")));
      String run = root + "/run";
      String tokenizer = root + "/inputs/tokenizer.json";
      String teacher = root + "/teacher";

      List<String> args = CommandSequence.arguments(List.of(
          line("tokenize", "--run", run, "--input", root + "/inputs/corpus.txt", "--tokenizer", tokenizer,
              "--format", "text", "--document-boundary", "wikitext", "--seq-length", "32", "--valid-fraction", "0.1",
              "--partitions", "2"),
          line("random-checkpoint", "--out", teacher, "--hidden-size", "64", "--intermediate-size", "128",
              "--layers", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", "16", "--vocab-size", "2048",
              "--dtype", "float32", "--seed", "1"),
          line("calibrate", "--run", run, "--teacher", teacher, "--tokenizer", tokenizer, "--samples", "16",
              "--seq-len", "32", "--batch-size", "8", "--partitions", "2",
              "--set", "preflight=false"), // a random teacher does no better than uniform guessing
          line("plan", "--run", run, "--target.hidden-size", "32", "--target.ffn-size", "64",
              "--hidden-multiple", "32", "--ffn-multiple", "64"),
          line("prune", "--run", run, "--teacher", teacher),
          line("distill", "--run", run, "--teacher", teacher, "--steps", "4", "--global-batch", "4",
              "--micro-batch", "2", "--warmup-steps", "1", "--validate-every", "2", "--checkpoint-every", "2",
              "--chunk-tokens", "20", "--set", "world-size=2", "--set", "preflight=false"),
          line("evaluate", "--run", run, "--model", run + "/student", "--name", "distilled", "--max-sequences", "8"),
          line("report", "--run", run)));
      Path log = work.resolve("distillery.log");
      String ringSecret = UUID.randomUUID().toString();
      List<String> javaOptions = new java.util.ArrayList<>(s3.javaOptions());
      javaOptions.add("-Dspark.authenticate.secret=" + ringSecret); // the ring's secret (world-size 2)
      int status = DistilleryJvm.run(javaOptions, args, log);
      String output = Files.readString(log);
      assertThat(status).as(output).isZero();

      Path runDir = bucket.resolve("run");
      assertThat(runDir.resolve("tokens/" + Storage.COMMIT_MARKER)).exists();
      assertThat(runDir.resolve("tokens/manifest.json")).exists();
      try (Stream<Path> shards = Files.list(runDir.resolve("tokens/train"))) {
        assertThat(shards.filter(p -> p.toString().endsWith(".parquet"))).isNotEmpty();
      }
      assertThat(bucket.resolve("teacher/" + Storage.COMMIT_MARKER)).exists();
      assertThat(runDir.resolve("importance/" + Storage.COMMIT_MARKER)).exists();
      assertThat(runDir.resolve("prune-plan.json")).exists();
      assertThat(committedDirectories(runDir)).as("committed outputs").contains(runDir.resolve("tokens"),
          runDir.resolve("importance"), runDir.resolve("student-init"), runDir.resolve("student"),
          runDir.resolve("checkpoints/step-2"), runDir.resolve("report"));
      // What the secrets are searched in below: logs, metrics, checkpoint state, evaluation and report.
      assertThat(runDir.resolve("metrics/distill.jsonl")).isNotEmptyFile();
      assertThat(runDir.resolve("checkpoints/step-2/state.json")).isNotEmptyFile();
      assertThat(files(runDir.resolve("eval"))).isNotEmpty();
      assertThat(files(runDir.resolve("report"))).hasSizeGreaterThan(1);

      assertThat(output).doesNotContain(accessKey).doesNotContain(secretKey).doesNotContain(ringSecret);
      for (Path file : files(objects)) {
        String text = new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1);
        assertThat(text).as(file.toString()).doesNotContain(accessKey).doesNotContain(secretKey)
            .doesNotContain(ringSecret);
      }
    }
  }

  private static List<Path> committedDirectories(Path dir) throws IOException {
    return files(dir).stream().filter(p -> p.getFileName().toString().equals(Storage.COMMIT_MARKER))
        .map(Path::getParent).toList();
  }

  private static List<Path> files(Path dir) throws IOException {
    try (Stream<Path> all = Files.walk(dir)) {
      return all.filter(Files::isRegularFile).toList();
    }
  }
}
