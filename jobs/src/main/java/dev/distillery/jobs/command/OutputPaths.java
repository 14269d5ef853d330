package dev.distillery.jobs.command;

import dev.distillery.config.ConfigException;
import dev.distillery.io.Storage;
import java.util.Map;
import org.apache.hadoop.fs.Path;

/** Checks, without touching storage, that a command's output cannot replace or nest in what it reads. */
public final class OutputPaths {
  private OutputPaths() {}

  /**
   * Fails when {@code output} is one of {@code inputs}, lies inside one or holds one.
   *
   * @param outputKey the option naming the output, for the message
   * @param inputs the paths read, by the option that names them (null paths are skipped)
   * @throws ConfigException naming both options and the path
   */
  public static void checkApart(String outputKey, String output, Map<String, String> inputs) {
    String out = normal(output);
    inputs.forEach((key, input) -> {
      if (input == null) {
        return;
      }
      String in = normal(input);
      if (out.equals(in) || out.startsWith(in + "/") || in.startsWith(out + "/")) {
        throw new ConfigException("option '" + outputKey + "' (" + output + ") and option '" + key + "' (" + input
            + ") overlap: the output would replace or nest in what the command reads; choose another '"
            + outputKey + "'");
      }
    });
  }

  private static String normal(String path) {
    return new Path(Storage.absolute(path)).toString();
  }
}
