package dev.distillery.jobs.s3;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code distillery} command lines ({@link CommandSequence}) run in a JVM of their own on this test's classpath, so
 * no earlier test's Spark session or Hadoop file system cache is involved, and so a test can kill it.
 */
final class DistilleryJvm {
  private DistilleryJvm() {}

  /** Starts the command lines with {@code javaOptions}; stdout and stderr go to {@code log}. */
  static Process start(List<String> javaOptions, List<String> args, Path log) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx2g");
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-opens") || a.startsWith("-XX:+IgnoreUnrecognized")
            || a.startsWith("-Djdk.reflect"))
        .forEach(command::add);
    command.addAll(javaOptions);
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(CommandSequence.class.getName());
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put("DJL_OFFLINE", "true");
    return builder.start();
  }

  /** Runs the command lines to the end (at most 5 minutes) and returns the exit status. */
  static int run(List<String> javaOptions, List<String> args, Path log) throws Exception {
    Process process = start(javaOptions, args, log);
    if (!process.waitFor(5, TimeUnit.MINUTES)) {
      process.destroyForcibly().waitFor();
      throw new IllegalStateException("distillery did not finish in 5 minutes; log: " + Files.readString(log));
    }
    return process.exitValue();
  }

  /** Waits until {@code log} holds {@code text}; kills the process and fails if it ends or times out first. */
  static void awaitLogged(Process process, Path log, String text, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!Files.readString(log).contains(text)) {
      if (!process.isAlive() || System.nanoTime() > deadline) {
        process.destroyForcibly().waitFor();
        throw new IllegalStateException("'" + text + "' was not logged (exit status " + process.exitValue()
            + "); log: " + Files.readString(log));
      }
      Thread.sleep(100);
    }
  }

  /**
   * Waits until {@code log} holds {@code text}, then kills the process with SIGKILL (what {@code kill -9} sends: no
   * shutdown hook, no finally block runs) and waits for it to be gone.
   */
  static void killWhenLogged(Process process, Path log, String text, Duration timeout) throws Exception {
    awaitLogged(process, log, text, timeout);
    process.destroyForcibly();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException("process " + process.pid() + " survived SIGKILL");
    }
  }
}
