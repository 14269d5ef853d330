package dev.distillery.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns command-line arguments into a {@link Config}: {@code --config FILE.yaml} loads a file,
 * {@code --set key=value} and {@code --key value} (or {@code --key=value}) override it, later wins.
 */
public final class CommandLine {
  private CommandLine() {}

  /** True when the arguments ask for help. */
  public static boolean wantsHelp(String[] args) {
    for (String a : args) {
      if (a.equals("--help") || a.equals("-h")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Parses {@code args} against {@code schema}.
   *
   * @throws ConfigException naming the argument, option or file at fault
   */
  public static Config parse(ConfigSchema schema, String[] args) {
    String configFile = null;
    List<String> overrides = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--")) {
        throw new ConfigException("unexpected argument '" + arg + "'; options look like --key value (see --help)");
      }
      String name = arg.substring(2);
      String inlineValue = null;
      int eq = name.indexOf('=');
      if (eq >= 0 && !name.startsWith("set")) {
        inlineValue = name.substring(eq + 1);
        name = name.substring(0, eq);
      }
      if (name.equals("set") || name.startsWith("set=")) {
        String pair = name.startsWith("set=") ? name.substring(4) : next(args, ++i, arg);
        overrides.add(pair);
      } else if (name.equals("config")) {
        configFile = inlineValue != null ? inlineValue : next(args, ++i, arg);
      } else {
        String value = inlineValue != null ? inlineValue : next(args, ++i, arg);
        overrides.add(name + "=" + value);
      }
    }
    String text = configFile == null ? null : read(configFile);
    return Config.resolve(schema, text, configFile, overrides);
  }

  private static String next(String[] args, int i, String flag) {
    if (i >= args.length) {
      throw new ConfigException("option " + flag + " needs a value");
    }
    return args[i];
  }

  private static String read(String file) {
    try {
      return Files.readString(Path.of(file), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException("cannot read config file '" + file + "': " + e);
    }
  }
}
