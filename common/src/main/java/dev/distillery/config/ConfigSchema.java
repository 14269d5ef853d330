package dev.distillery.config;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The options of one job or tool, in documentation order. A schema is declared once, as a constant next
 * to the code that reads it, and drives parsing, validation, {@code --help} and the generated reference.
 */
public final class ConfigSchema {
  private final String name;
  private final String summary;
  private final Map<String, ConfigOption<?>> options = new LinkedHashMap<>();
  private final Map<String, ConfigOption<?>> aliases = new LinkedHashMap<>();

  /**
   * @param name the command that takes this configuration, e.g. {@code tokenize}
   * @param summary one sentence saying what the command does
   */
  public ConfigSchema(String name, String summary, ConfigOption<?>... options) {
    this.name = name;
    this.summary = summary;
    for (ConfigOption<?> option : options) {
      if (this.options.put(option.key(), option) != null) {
        throw new IllegalArgumentException("option '" + option.key() + "' declared twice in " + name);
      }
      for (String alias : option.deprecatedAliases()) {
        aliases.put(alias, option);
      }
    }
    for (String alias : aliases.keySet()) {
      if (this.options.containsKey(alias)) {
        throw new IllegalArgumentException("deprecated alias '" + alias + "' is also an option of " + name);
      }
    }
  }

  public String name() {
    return name;
  }

  public String summary() {
    return summary;
  }

  public List<ConfigOption<?>> options() {
    return Collections.unmodifiableList(new ArrayList<>(options.values()));
  }

  ConfigOption<?> option(String key) {
    return options.get(key);
  }

  /** The option that {@code key} names, as its key or as a deprecated alias; null when none. */
  ConfigOption<?> optionOrAlias(String key) {
    ConfigOption<?> option = options.get(key);
    return option != null ? option : aliases.get(key);
  }

  /** The known key closest to {@code unknown} in edit distance, for "did you mean" hints, or null. */
  String closestKey(String unknown) {
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String key : options.keySet()) {
      int d = editDistance(unknown, key);
      if (d < bestDistance) {
        bestDistance = d;
        best = key;
      }
    }
    return bestDistance <= Math.max(2, unknown.length() / 3) ? best : null;
  }

  private static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) {
      prev[j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitution = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(substitution, Math.min(prev[j], cur[j - 1]) + 1);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  /** Usage text for {@code --help}: every option with its type, default and meaning. */
  public String help() {
    StringBuilder sb = new StringBuilder();
    sb.append("distillery ").append(name).append(" [--config FILE.yaml] [--set key=value ...] [--key value ...]\n\n");
    sb.append(summary).append("\n\nOptions:\n");
    for (ConfigOption<?> o : options.values()) {
      sb.append("  --").append(o.key()).append(" <").append(o.type()).append(">");
      if (o.isRequired()) {
        sb.append("  (required)");
      } else if (o.defaultValue() != null) {
        sb.append("  (default: ").append(o.defaultText()).append(")");
      }
      sb.append("\n      ").append(o.doc());
      if (o.constraint() != null && !o.type().startsWith("one of")) {
        sb.append(" Must be ").append(o.constraint()).append('.');
      }
      sb.append(o.aliasNote());
      sb.append('\n');
    }
    return sb.toString();
  }
}
