package dev.distillery.jobs.spark;

import dev.distillery.jobs.s3.CommandSequence;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Runs {@code distillery} command lines in a JVM of their own, on this test's classpath, with its own JVM options. */
public final class ForkedDistillery {
  private ForkedDistillery() {}

  /**
   * Runs {@code args} (command lines joined by {@code --then}) with {@code javaOptions} (heap, Spark settings) and
   * returns the exit status; stdout and stderr go to {@code log}. The JVM is killed after {@code minutes}.
   */
  public static int run(List<String> javaOptions, List<String> args, Path log, int minutes) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    command.addAll(javaOptions);
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-opens") || a.startsWith("-XX:+IgnoreUnrecognized")
            || a.startsWith("-Djdk.reflect"))
        .forEach(command::add);
    command.addAll(List.of("-cp", System.getProperty("java.class.path"), CommandSequence.class.getName()));
    command.addAll(args);
    ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    builder.environment().put("DJL_OFFLINE", "true");
    Process process = builder.start();
    if (!process.waitFor(minutes, TimeUnit.MINUTES)) {
      process.destroyForcibly().waitFor();
    }
    return process.exitValue();
  }
}
