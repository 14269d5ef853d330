package dev.distillery.jobs.s3;

import dev.distillery.cli.CliRunner;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Runs several {@code distillery} command lines, separated by {@code --then}, in one JVM (one Spark start-up),
 * stopping at the first that fails; the JVM exits with that status.
 */
public final class CommandSequence {
  private CommandSequence() {}

  public static void main(String[] args) {
    List<String> command = new ArrayList<>();
    for (int i = 0; i <= args.length; i++) {
      if (i < args.length && !args[i].equals("--then")) {
        command.add(args[i]);
        continue;
      }
      int status = CliRunner.run(command.toArray(String[]::new));
      if (status != 0) {
        System.err.println("command failed with status " + status + ": " + command);
        System.exit(status);
      }
      command.clear();
    }
    System.exit(0);
  }

  /** {@code commands} joined for {@link #main}. */
  static List<String> arguments(List<List<String>> commands) {
    List<String> args = new ArrayList<>();
    for (List<String> c : commands) {
      if (!args.isEmpty()) {
        args.add("--then");
      }
      args.addAll(c);
    }
    return args;
  }

  static List<String> line(String... args) {
    return Arrays.asList(args);
  }
}
