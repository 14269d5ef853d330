package dev.distillery.jobs.packaging;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs the checkout's shell scripts with bash, as a user would, and captures what they print. */
final class Scripts {
  /** The checkout root (tests run in jobs/). */
  static final Path ROOT = Path.of("..").toAbsolutePath().normalize();

  private Scripts() {}

  record Result(int exit, String out, String err) {}

  static Result run(String script, Map<String, String> env, String... args) {
    List<String> command = new ArrayList<>(List.of("bash", ROOT.resolve(script).toString()));
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).directory(ROOT.toFile());
    // No credentials or cluster settings from the test machine leak into what is checked.
    pb.environment().keySet().removeIf(k -> k.startsWith("AWS_") || k.startsWith("DATABRICKS_")
        || k.equals("DISTILLERY_JAR") || k.equals("SPARK_SUBMIT") || k.equals("CUDA_VISIBLE_DEVICES"));
    pb.environment().putAll(env);
    try {
      Process p = pb.start();
      p.getOutputStream().close();
      CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
      CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError(script + " did not finish in 60 s");
      }
      return new Result(p.exitValue(), out.join(), err.join());
    } catch (IOException e) {
      throw new AssertionError("cannot run " + script, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private static String read(java.io.InputStream in) {
    try (in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }
}
