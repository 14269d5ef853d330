package dev.distillery.jobs.cluster;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Runs {@code submit-scripts/local-cluster} (a standalone Master, Workers and their executor JVMs, the pipeline
 * submitted through SparkSubmit with the cluster jar) as a user does, and finds the executor JVMs it started.
 */
final class LocalCluster {
  /** The checkout root (tests run in jobs/). */
  static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
  private static final Pattern RANK_LINE = Pattern.compile("rank (\\d+)/(\\d+) \\(stage attempt (\\d+)\\)");

  record Result(int exit, String output) {}

  /** One executor JVM of the run: its id, its directory (its working directory, with its stderr) and its log. */
  record Executor(String appId, String id, Path dir) {
    String log() {
      try {
        return Files.exists(dir.resolve("stderr")) ? Files.readString(dir.resolve("stderr")) : "";
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }

    /** Whether this executor started barrier task {@code rank} of stage attempt {@code attempt}. */
    boolean ranRank(int rank, int attempt) {
      Matcher m = RANK_LINE.matcher(log());
      while (m.find()) {
        if (Integer.parseInt(m.group(1)) == rank && Integer.parseInt(m.group(3)) == attempt) {
          return true;
        }
      }
      return false;
    }

    /** Ranks this executor started, one entry per barrier task. */
    List<Integer> ranks() {
      List<Integer> ranks = new ArrayList<>();
      Matcher m = RANK_LINE.matcher(log());
      while (m.find()) {
        ranks.add(Integer.parseInt(m.group(1)));
      }
      return ranks;
    }

    /** The live JVM of this executor: the process whose working directory is this executor's directory. */
    Optional<ProcessHandle> process() {
      return ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
              .filter(c -> c.contains("CoarseGrainedExecutorBackend") && c.contains(appId)).isPresent())
          .filter(p -> {
            try {
              return Files.isSameFile(Path.of("/proc/" + p.pid() + "/cwd").toRealPath(), dir);
            } catch (IOException gone) {
              return false;
            }
          }).findFirst();
    }
  }

  private LocalCluster() {}

  /** Fails unless the cluster jar is newer than every compiled class: the cluster runs that jar, not target/classes. */
  static void requireFreshJar() throws IOException {
    Path jar;
    try (Stream<Path> jars = Files.list(ROOT.resolve("jobs/target"))) {
      jar = jars.filter(p -> p.getFileName().toString().matches("distillery-jobs-.*-spark\\.jar")).findFirst()
          .orElseThrow(() -> new IllegalStateException("no cluster jar in jobs/target: the cluster tests need "
              + "'mvn -B -DskipTests package' first (they run after it in .ci/run)"));
    }
    long built = Files.getLastModifiedTime(jar).toMillis();
    for (String classes : List.of("jobs/target/classes", "common/target/classes")) {
      try (Stream<Path> files = Files.walk(ROOT.resolve(classes))) {
        Optional<Path> newer = files.filter(Files::isRegularFile)
            .filter(p -> p.toFile().lastModified() > built + 2000).findFirst();
        if (newer.isPresent()) {
          throw new IllegalStateException(newer.get() + " is newer than " + jar
              + ": rebuild the cluster jar with 'mvn -B -DskipTests package'");
        }
      }
    }
  }

  /**
   * Runs {@code local-cluster PIPELINE --work-dir WORK} and waits up to {@code limit}; {@code watch} is called about
   * every 50 ms while it runs (with the executors started so far) and may act on them.
   */
  static Result run(Path pipeline, Path work, Duration limit, Watch watch, String... options) throws Exception {
    List<String> command = new ArrayList<>(List.of("bash", ROOT.resolve("submit-scripts/local-cluster").toString(),
        pipeline.toString(), "--work-dir", work.toString()));
    command.addAll(List.of(options));
    Path log = work.resolveSibling(work.getFileName() + ".out");
    ProcessBuilder builder = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true)
        .redirectOutput(log.toFile());
    builder.environment().keySet().removeIf(k -> k.startsWith("AWS_") || k.startsWith("SPARK_"));
    Process process = builder.start();
    long deadline = System.nanoTime() + limit.toNanos();
    while (!process.waitFor(50, TimeUnit.MILLISECONDS)) {
      if (System.nanoTime() > deadline) {
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
        throw new AssertionError("local-cluster did not finish in " + limit + "; output: " + Files.readString(log));
      }
      watch.onTick(executors(work));
    }
    return new Result(process.exitValue(), Files.readString(log));
  }

  /** What a test does while the cluster runs. */
  interface Watch {
    Watch NONE = executors -> {};

    void onTick(List<Executor> executors) throws Exception;
  }

  /** The executors started so far under {@code work} (worker-N/APP/ID/). */
  static List<Executor> executors(Path work) throws IOException {
    List<Executor> found = new ArrayList<>();
    for (Path worker : directories(work, "worker-")) {
      for (Path app : directories(worker, "app-")) {
        for (Path executor : directories(app, "")) {
          found.add(new Executor(app.getFileName().toString(), executor.getFileName().toString(),
              executor.toAbsolutePath()));
        }
      }
    }
    return found;
  }

  private static List<Path> directories(Path dir, String prefix) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> children = Files.list(dir)) {
      return children.filter(p -> p.getFileName().toString().startsWith(prefix) && Files.isDirectory(p)).sorted()
          .toList();
    }
  }
}
