package dev.distillery.config;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One typed, documented configuration option: its dotted key, what it means, its default and the values
 * it accepts. Options are declared once, as constants of a job's {@link ConfigSchema}, and the
 * configuration reference is generated from them.
 *
 * @param <T> the value type
 */
public final class ConfigOption<T> {
  private final String key;
  private final String type;
  private final Function<Object, T> parser;
  private final T defaultValue;
  private final boolean required;
  private final String doc;
  private final Predicate<T> check;
  private final String expected;
  private final List<String> aliases;
  private final Map<String, String> deprecatedValues;

  private ConfigOption(String key, String type, Function<Object, T> parser, T defaultValue, boolean required,
      String doc, Predicate<T> check, String expected) {
    this(key, type, parser, defaultValue, required, doc, check, expected, List.of(), Map.of());
  }

  private ConfigOption(String key, String type, Function<Object, T> parser, T defaultValue, boolean required,
      String doc, Predicate<T> check, String expected, List<String> aliases, Map<String, String> deprecatedValues) {
    this.key = key;
    this.type = type;
    this.parser = parser;
    this.defaultValue = defaultValue;
    this.required = required;
    this.doc = doc;
    this.check = check;
    this.expected = expected;
    this.aliases = aliases;
    this.deprecatedValues = deprecatedValues;
  }

  /** A text option (paths and URIs are strings too). */
  public static ConfigOption<String> string(String key) {
    return new ConfigOption<>(key, "string", ConfigOption::asString, null, false, "", v -> true, null);
  }

  /** An integer option. */
  public static ConfigOption<Integer> integer(String key) {
    return new ConfigOption<>(key, "int", v -> Math.toIntExact(asLong(v)), null, false, "", v -> true, null);
  }

  /** A 64-bit integer option. */
  public static ConfigOption<Long> longInteger(String key) {
    return new ConfigOption<>(key, "long", ConfigOption::asLong, null, false, "", v -> true, null);
  }

  /** A floating-point option. */
  public static ConfigOption<Double> decimal(String key) {
    return new ConfigOption<>(key, "double", ConfigOption::asDouble, null, false, "", v -> true, null);
  }

  /** A true/false option. */
  public static ConfigOption<Boolean> bool(String key) {
    return new ConfigOption<>(key, "boolean", ConfigOption::asBoolean, null, false, "", v -> true, null);
  }

  /**
   * A list of texts: a YAML list (each item one element, commas kept), or on the command line one text split at
   * commas. Empty elements are dropped.
   */
  public static ConfigOption<List<String>> stringList(String key) {
    return new ConfigOption<>(key, "list of strings", ConfigOption::asStringList, null, false, "", v -> true, null);
  }

  /** An option whose value is one of {@code choices} (compared case-insensitively, stored lower case). */
  public static ConfigOption<String> choice(String key, String... choices) {
    List<String> allowed = List.of(choices);
    return new ConfigOption<>(key, "one of " + String.join(" | ", allowed),
        v -> asString(v).toLowerCase(Locale.ROOT), null, false, "", allowed::contains,
        "one of " + String.join(", ", allowed));
  }

  /**
   * A floating-point dtype option: one of {@code choices}, spelled as PyTorch names them ({@code float32},
   * {@code float16}, {@code bfloat16}) next to any other choice (such as {@code teacher}). The short spellings
   * {@code f32}, {@code f16} and {@code bf16} of the listed dtypes are read as deprecated values.
   */
  public static ConfigOption<String> dtype(String key, String... choices) {
    ConfigOption<String> option = choice(key, choices);
    for (String torchName : choices) {
      String shortName = switch (torchName) {
        case "float32" -> "f32";
        case "float16" -> "f16";
        case "bfloat16" -> "bf16";
        default -> null;
      };
      if (shortName != null) {
        option = option.deprecatedValue(shortName, torchName);
      }
    }
    return option;
  }

  /** Returns this option with its documentation. */
  public ConfigOption<T> doc(String text) {
    return new ConfigOption<>(key, type, parser, defaultValue, required, text,
        check, expected, aliases, deprecatedValues);
  }

  /**
   * Returns this option with a default, used when no file or override sets it.
   *
   * @throws IllegalArgumentException when the default fails the option's own constraint (a programming error)
   */
  public ConfigOption<T> defaultValue(T value) {
    return new ConfigOption<>(key, type, parser, Objects.requireNonNull(value), false, doc,
        check, expected, aliases, deprecatedValues)
        .checkedDefault();
  }

  /** Returns this option as one that must be set. */
  public ConfigOption<T> required() {
    return new ConfigOption<>(key, type, parser, null, true, doc, check, expected, aliases, deprecatedValues);
  }

  /** Returns this option without its requirement, for a command that takes another's options as overrides. */
  public ConfigOption<T> optional() {
    return new ConfigOption<>(key, type, parser, defaultValue, false, doc, check, expected, aliases, deprecatedValues);
  }

  /** Returns this option with an extra constraint, described by {@code description} in errors and docs. */
  public ConfigOption<T> check(Predicate<T> constraint, String description) {
    Predicate<T> both = check.and(constraint);
    String text = expected == null ? description : expected + ", " + description;
    return new ConfigOption<>(key, type, parser, defaultValue, required, doc,
        both, text, aliases, deprecatedValues).checkedDefault();
  }

  /** This option, once its default (if any) passes its constraint: a default is checked like a value. */
  private ConfigOption<T> checkedDefault() {
    if (defaultValue != null && !check.test(defaultValue)) {
      throw new IllegalArgumentException("option '" + key + "': default '" + defaultText() + "' is not allowed, "
          + "expected " + expected);
    }
    return this;
  }

  /**
   * Returns this option also read under {@code oldKey}, a former name: a setting under it is taken with a warning
   * naming the new key.
   */
  public ConfigOption<T> deprecatedAlias(String oldKey) {
    List<String> all = new java.util.ArrayList<>(aliases);
    all.add(oldKey);
    return new ConfigOption<>(key, type, parser, defaultValue, required, doc,
        check, expected, List.copyOf(all), deprecatedValues);
  }

  /**
   * Returns this option also reading {@code oldValue} (a former spelling, compared case-insensitively) as
   * {@code newValue}, with a warning naming the new spelling.
   */
  public ConfigOption<T> deprecatedValue(String oldValue, String newValue) {
    Map<String, String> all = new LinkedHashMap<>(deprecatedValues);
    all.put(oldValue.toLowerCase(Locale.ROOT), newValue);
    return new ConfigOption<>(key, type, parser, defaultValue, required, doc, check, expected, aliases,
        Collections.unmodifiableMap(all));
  }

  /** The current spelling of a deprecated value {@code raw}, or null when {@code raw} is not one. */
  String currentSpelling(Object raw) {
    return raw instanceof String s ? deprecatedValues.get(s.trim().toLowerCase(Locale.ROOT)) : null;
  }

  /** Returns this (numeric) option constrained to {@code >= min}. */
  public ConfigOption<T> atLeast(double min) {
    return check(v -> ((Number) v).doubleValue() >= min, ">= " + format(min));
  }

  /** Returns this (numeric) option constrained to {@code > min}. */
  public ConfigOption<T> greaterThan(double min) {
    return check(v -> ((Number) v).doubleValue() > min, "> " + format(min));
  }

  private static String format(double d) {
    return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
  }

  public String key() {
    return key;
  }

  public String type() {
    return type;
  }

  public String doc() {
    return doc;
  }

  /** The option's former names, still read with a warning. */
  public List<String> deprecatedAliases() {
    return aliases;
  }

  /**
   * Sentences naming the deprecated aliases and values, or "" when there are none (for {@code --help} and the
   * reference).
   */
  String aliasNote() {
    String note = aliases.isEmpty() ? ""
        : " Deprecated alias" + (aliases.size() > 1 ? "es" : "") + ": '" + String.join("', '", aliases) + "'.";
    if (!deprecatedValues.isEmpty()) {
      note += " Deprecated value" + (deprecatedValues.size() > 1 ? "s" : "") + ": " + String.join(", ",
          deprecatedValues.entrySet().stream().map(e -> "'" + e.getKey() + "' (use '" + e.getValue() + "')")
              .toList()) + ".";
    }
    return note;
  }

  public boolean isRequired() {
    return required;
  }

  /** The default value, or null when there is none. */
  public T defaultValue() {
    return defaultValue;
  }

  /** The default as it is written on the command line (a list's items joined with commas), or null. */
  public String defaultText() {
    if (defaultValue instanceof List<?> list) {
      return String.join(",", list.stream().map(String::valueOf).toList());
    }
    return defaultValue == null ? null : defaultValue.toString();
  }

  /** What the option accepts beyond its type, or null. */
  public String constraint() {
    return expected;
  }

  /**
   * Converts a raw value (from YAML or the command line) and checks it.
   *
   * @throws IllegalArgumentException naming the key, the value and what was expected
   */
  T parse(Object raw) {
    T value;
    try {
      value = parser.apply(raw);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException(
          "option '" + key + "': cannot read '" + raw + "' as " + type + describeExpected());
    }
    if (!check.test(value)) {
      throw new IllegalArgumentException(
          "option '" + key + "': value '" + raw + "' is not allowed, expected " + expected);
    }
    return value;
  }

  private String describeExpected() {
    return expected == null ? "" : " (" + expected + ")";
  }

  private static List<String> asStringList(Object v) {
    List<String> items = v instanceof List<?> list ? list.stream().map(ConfigOption::asString).toList()
        : Arrays.asList(asString(v).split(","));
    return items.stream().map(String::trim).filter(s -> !s.isEmpty()).toList();
  }

  /** A scalar's text; a YAML list given to a scalar option reads as its items joined with commas. */
  private static String asString(Object v) {
    if (v instanceof String s) {
      return s;
    }
    if (v instanceof List<?> list) {
      return String.join(",", list.stream().map(ConfigOption::asString).toList());
    }
    if (v instanceof Number || v instanceof Boolean) {
      return v.toString();
    }
    throw new IllegalArgumentException("not a scalar");
  }

  private static long asLong(Object v) {
    if (v instanceof Integer || v instanceof Long || v instanceof Short) {
      return ((Number) v).longValue();
    }
    String s = asString(v).trim().replace("_", "");
    return Long.parseLong(s);
  }

  private static double asDouble(Object v) {
    if (v instanceof Number n) {
      return n.doubleValue();
    }
    double d = Double.parseDouble(asString(v).trim());
    if (!Double.isFinite(d)) {
      throw new IllegalArgumentException("not finite");
    }
    return d;
  }

  private static boolean asBoolean(Object v) {
    if (v instanceof Boolean b) {
      return b;
    }
    String s = asString(v).trim().toLowerCase(Locale.ROOT);
    return switch (s) {
      case "true", "yes", "on" -> true;
      case "false", "no", "off" -> false;
      default -> throw new IllegalArgumentException("not a boolean");
    };
  }

  @Override
  public String toString() {
    return key;
  }
}
