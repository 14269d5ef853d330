package dev.distillery.jobs.s3;

import static dev.distillery.jobs.s3.CommandSequence.line;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.distillery.io.Storage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Stages on {@code s3a://} (s3proxy on loopback) whose requests fail transiently: connections reset by a relay in
 * front of the endpoint, and the endpoint stopped and started again mid-stage. Each stage either rides the faults out
 * through S3A's retries or fails with a one-line error; whatever it committed equals a fault-free run (nothing lost
 * or half-written), and a rerun completes.
 */
@Tag("s3")
@Tag("faults")
class S3FaultTest {
  private static final String ROOT = "s3a://distillery";
  private static final String TOKENIZER = ROOT + "/inputs/tokenizer.json";

  @Test
  void transientFaultsAreRetriedOrFailInOneLineAndARerunCompletes(@TempDir Path work) throws Exception {
    try (S3Proxy s3 = startWithInputs(work)) {
      runCleanly(s3.javaOptions(), stages("ref"), work.resolve("ref.log"));

      Path resetLog = work.resolve("reset.log");
      int status;
      try (FaultyProxy relay = new FaultyProxy(s3.port, 4, 300)) {
        long start = System.nanoTime();
        status = DistilleryJvm.run(s3.javaOptions(relay.port()), stages("reset"), resetLog);
        System.out.printf("run through connection resets: status %d in %.1f s, %d connections reset at connect, %d "
            + "reset in flight%n", status, (System.nanoTime() - start) / 1e9, relay.resetsAtConnect(),
            relay.resetsInFlight());
        assertThat(relay.resetsAtConnect() + relay.resetsInFlight()).as("connections the relay broke")
            .isGreaterThan(3);
      }
      assertSurvivedOrFailedInOneLine(s3, status, resetLog, "reset");

      Path restartLog = work.resolve("restart.log");
      Process process = DistilleryJvm.start(s3.javaOptions(), stages("restart"), restartLog);
      DistilleryJvm.awaitLogged(process, restartLog, "Staging " + ROOT + "/restart/tokens", Duration.ofMinutes(3));
      s3.stop();
      Thread.sleep(4000);
      s3.relaunch();
      long start = System.nanoTime();
      assertThat(process.waitFor(5, TimeUnit.MINUTES)).as("run finished").isTrue();
      System.out.printf("run with the endpoint restarted: status %d, %.1f s after the restart%n",
          process.exitValue(), (System.nanoTime() - start) / 1e9);
      assertSurvivedOrFailedInOneLine(s3, process.exitValue(), restartLog, "restart");
    }
  }

  private static S3Proxy startWithInputs(Path work) throws Exception {
    String accessKey = "AKIA" + UUID.randomUUID().toString().replace("-", "").substring(0, 16).toUpperCase();
    S3Proxy s3 = S3Proxy.start(Files.createDirectories(work.resolve("objects")), work, accessKey,
        UUID.randomUUID().toString());
    s3.bucketDir("distillery");
    Storage upload = s3.storage(ROOT);
    List<String> corpus = Files.readAllLines(Path.of("../data-samples/wikitext-2-valid.txt"));
    upload.writeText(ROOT + "/inputs/corpus.txt", String.join("\n", corpus.subList(0, 400)) + "\n");
    upload.writeText(TOKENIZER, Files.readString(Path.of("../data-samples/tokenizer.json")));
    return s3;
  }

  /** Tokenize (Parquet through Spark, then a staged commit) and a checkpoint write (a staged commit) under RUN. */
  private static List<String> stages(String run) {
    return CommandSequence.arguments(List.of(
        line("tokenize", "--run", ROOT + "/" + run, "--input", ROOT + "/inputs/corpus.txt", "--tokenizer", TOKENIZER,
            "--format", "text", "--document-boundary", "wikitext", "--seq-length", "32", "--valid-fraction", "0.1",
            "--partitions", "2"),
        line("random-checkpoint", "--output", ROOT + "/" + run + "/teacher", "--hidden-size", "64",
            "--intermediate-size", "128", "--layers", "2", "--heads", "4", "--kv-heads", "2", "--head-dim", "16",
            "--vocab-size", "2048", "--dtype", "float32", "--seed", "1")));
  }

  private static void runCleanly(List<String> javaOptions, List<String> args, Path log) throws Exception {
    long start = System.nanoTime();
    assertThat(DistilleryJvm.run(javaOptions, args, log)).as(Files.readString(log)).isZero();
    System.out.printf("%s: %.1f s%n", log.getFileName(), (System.nanoTime() - start) / 1e9);
  }

  /**
   * After a run under faults: a failure is told in one line; every output is committed and equal to the fault-free
   * run's, or not committed; a rerun without faults completes with outputs equal to the fault-free run's.
   */
  private static void assertSurvivedOrFailedInOneLine(S3Proxy s3, int status, Path log, String run) throws Exception {
    String output = Files.readString(log);
    Path bucket = s3.bucketDir("distillery");
    if (status != 0) {
      List<String> errors = output.lines().filter(l -> l.startsWith("distillery ") && l.contains(": error: "))
          .toList();
      assertThat(errors).as(output).hasSize(1);
      System.out.println("the run under faults failed: " + errors.get(0));
    }
    for (String dir : List.of("tokens", "teacher")) {
      if (Files.exists(bucket.resolve(run).resolve(dir).resolve(Storage.COMMIT_MARKER))) {
        assertSameOutput(bucket.resolve("ref"), bucket.resolve(run), dir);
      }
    }
    if (status != 0) {
      runCleanly(s3.javaOptions(), stages(run), log.resolveSibling(run + "-rerun.log"));
    }
    assertSameOutput(bucket.resolve("ref"), bucket.resolve(run), "tokens");
    assertSameOutput(bucket.resolve("ref"), bucket.resolve(run), "teacher");
    // s3proxy's filesystem backend keeps a folder for a prefix whose objects are gone: look for objects
    try (Stream<Path> all = Files.walk(bucket.resolve(run))) {
      assertThat(all.filter(Files::isRegularFile).map(p -> bucket.relativize(p).toString()))
          .as("objects left in staging or set-aside directories")
          .noneMatch(p -> p.matches(".*/\\.[^/]+\\.(tmp|old)-.*"));
    }
  }

  /** The committed output {@code dir} of run {@code actual} holds what the fault-free run's does. */
  private static void assertSameOutput(Path expected, Path actual, String dir) throws Exception {
    assertThat(actual.resolve(dir).resolve(Storage.COMMIT_MARKER)).exists();
    if (dir.equals("tokens")) {
      ObjectMapper json = new ObjectMapper();
      assertThat(json.readTree(actual.resolve("tokens/manifest.json").toFile()).get("splits"))
          .isEqualTo(json.readTree(expected.resolve("tokens/manifest.json").toFile()).get("splits"));
      assertThat(parquetBytes(actual.resolve("tokens/train")))
          .isEqualTo(parquetBytes(expected.resolve("tokens/train")));
      return;
    }
    for (Path file : List.of(Path.of("config.json"), Path.of("model.safetensors"))) {
      assertThat(Files.mismatch(expected.resolve(dir).resolve(file), actual.resolve(dir).resolve(file)))
          .as(dir + "/" + file).isEqualTo(-1L);
    }
  }

  private static long parquetBytes(Path split) throws Exception {
    List<Long> sizes = new ArrayList<>();
    try (Stream<Path> files = Files.list(split)) {
      for (Path p : files.filter(p -> p.toString().endsWith(".parquet")).toList()) {
        sizes.add(Files.size(p));
      }
    }
    assertThat(sizes).as("Parquet files in " + split).isNotEmpty();
    return sizes.stream().mapToLong(Long::longValue).sum();
  }
}
