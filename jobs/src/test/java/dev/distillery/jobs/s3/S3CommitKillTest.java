package dev.distillery.jobs.s3;

import static dev.distillery.jobs.s3.CommandSequence.line;
import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.io.StagedDirectory;
import dev.distillery.io.Storage;
import dev.distillery.jobs.pipeline.PipelineSkipCheck;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tokenize writer on {@code s3a://} (s3proxy), in a JVM of its own, killed with SIGKILL in the middle of its commit
 * ({@value StagedDirectory#PAUSE_PROPERTY} holds it there): while replacing a committed output, after the old version
 * was moved aside; and after the new data was moved in but before its marker. Readers never take the output for
 * committed, the old version is kept until a new one is committed, and the next run cleans up and completes.
 */
@Tag("s3")
@Tag("faults")
class S3CommitKillTest {
  private static final String ROOT = "s3a://distillery";
  private static final String TOKENS = ROOT + "/run/tokens";

  @Test
  void aWriterKilledMidCommitLeavesNothingTakenForCommittedAndTheNextRunCompletes(@TempDir Path work)
      throws Exception {
    String accessKey = "AKIA" + UUID.randomUUID().toString().replace("-", "").substring(0, 16).toUpperCase();
    try (S3Proxy s3 = S3Proxy.start(Files.createDirectories(work.resolve("objects")), work, accessKey,
        UUID.randomUUID().toString())) {
      Path bucket = s3.bucketDir("distillery");
      Storage storage = s3.storage(ROOT);
      List<String> corpus = Files.readAllLines(Path.of("../data-samples/wikitext-2-valid.txt"));
      storage.writeText(ROOT + "/inputs/corpus.txt", String.join("\n", corpus.subList(0, 300)) + "\n");
      storage.writeText(ROOT + "/inputs/tokenizer.json", Files.readString(Path.of("../data-samples/tokenizer.json")));

      // 1. A committed output, then a replacement (overwrite) killed once the old version is moved aside.
      Path log1 = work.resolve("replace.log");
      Process replace = DistilleryJvm.start(pauseAt("set-aside", s3),
          CommandSequence.arguments(List.of(tokenize(), tokenize("--overwrite", "true"))), log1);
      DistilleryJvm.awaitLogged(replace, log1, "Committed " + TOKENS, Duration.ofMinutes(3));
      Map<String, String> committed = objects(bucket.resolve("run/tokens"));
      DistilleryJvm.killWhenLogged(replace, log1, "Pausing the commit of " + TOKENS, Duration.ofMinutes(3));
      assertNotTakenForCommitted(s3, storage);
      Path aside = onlyEntry(bucket.resolve("run"), ".tokens.old-");
      committed.remove(Storage.COMMIT_MARKER);
      assertThat(objects(aside)).as("the old version, kept aside").isEqualTo(committed);

      // 2. The next run, killed after moving its data in and before the marker: the old version is still kept.
      Path log2 = work.resolve("marker.log");
      Process marker = DistilleryJvm.start(pauseAt("before-marker", s3),
          CommandSequence.arguments(List.of(tokenize())), log2);
      DistilleryJvm.killWhenLogged(marker, log2, "Pausing the commit of " + TOKENS, Duration.ofMinutes(3));
      assertThat(Files.readString(log2)).contains("is kept at " + ROOT + "/run/" + aside.getFileName());
      assertThat(bucket.resolve("run/tokens/manifest.json")).as("the new data, moved in").exists();
      assertNotTakenForCommitted(s3, storage);
      assertThat(objects(aside)).as("the old version, still kept").isEqualTo(committed);

      // 3. The next run cleans up and completes.
      Path log3 = work.resolve("rerun.log");
      assertThat(DistilleryJvm.run(s3.javaOptions(), CommandSequence.arguments(List.of(tokenize())), log3))
          .as(Files.readString(log3)).isZero();
      assertThat(storage.isCommitted(TOKENS)).isTrue();
      assertThat(objects(bucket.resolve("run/tokens")).keySet()).isEqualTo(committedNames(committed));
      try (Stream<Path> all = Files.walk(bucket.resolve("run"))) {
        assertThat(all.filter(Files::isRegularFile).map(p -> bucket.relativize(p).toString()))
            .as("objects left in staging or set-aside directories")
            .noneMatch(p -> p.matches(".*/\\.[^/]+\\.(tmp|old)-.*"));
      }
    }
  }

  private static List<String> pauseAt(String point, S3Proxy s3) {
    return Stream.concat(s3.javaOptions().stream(), Stream.of("-D" + StagedDirectory.PAUSE_PROPERTY + "=tokens:"
        + point)).toList();
  }

  private static List<String> tokenize(String... extra) {
    List<String> args = new java.util.ArrayList<>(line("tokenize", "--run", ROOT + "/run", "--input",
        ROOT + "/inputs/corpus.txt", "--tokenizer", ROOT + "/inputs/tokenizer.json", "--format", "text",
        "--document-boundary", "wikitext", "--seq-length", "32", "--valid-fraction", "0.1", "--partitions", "2"));
    args.addAll(List.of(extra));
    return args;
  }

  /** The readers' view: not committed, so the pipeline runs the stage again rather than skipping it. */
  private static void assertNotTakenForCommitted(S3Proxy s3, Storage storage) {
    assertThat(storage.isCommitted(TOKENS)).isFalse();
    Configuration conf = new Configuration();
    s3.sparkSettings().forEach((key, value) -> conf.set(key.substring("spark.hadoop.".length()), value));
    Storage.useConfiguration(conf);
    try {
      assertThat(PipelineSkipCheck.skips(TOKENS)).as("the pipeline skips tokenize").isFalse();
    } finally {
      Storage.useConfiguration(null);
    }
  }

  /** The one entry of {@code dir} whose name starts with {@code prefix}. */
  private static Path onlyEntry(Path dir, String prefix) throws Exception {
    try (Stream<Path> entries = Files.list(dir)) {
      List<Path> found = entries.filter(p -> p.getFileName().toString().startsWith(prefix)).toList();
      assertThat(found).as(prefix + "* in " + dir).hasSize(1);
      return found.get(0);
    }
  }

  /** Objects (files) under {@code dir}: relative path to SHA-256. */
  private static Map<String, String> objects(Path dir) throws Exception {
    Map<String, String> objects = new TreeMap<>();
    try (Stream<Path> all = Files.walk(dir)) {
      for (Path file : all.filter(Files::isRegularFile).toList()) {
        objects.put(dir.relativize(file).toString(), java.util.HexFormat.of().formatHex(
            java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file))));
      }
    }
    return objects;
  }

  /** The names of a committed output's objects, given those of its data. */
  private static java.util.Set<String> committedNames(Map<String, String> data) {
    java.util.Set<String> names = new java.util.TreeSet<>(data.keySet());
    names.add(Storage.COMMIT_MARKER);
    return names;
  }
}
