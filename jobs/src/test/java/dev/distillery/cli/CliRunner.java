package dev.distillery.cli;

/** Runs the {@code distillery} command line in-process for tests of other packages. */
public final class CliRunner {
  private CliRunner() {}

  /** The exit status of {@code distillery args...}; output goes to this JVM's stdout and stderr. */
  public static int run(String... args) {
    return Distillery.standard().run(args, System.out, System.err);
  }
}
