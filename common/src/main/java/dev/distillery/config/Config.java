package dev.distillery.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The validated configuration of one job: values from a YAML file (nested maps flatten to dotted keys),
 * overridden by {@code key=value} pairs from the command line, checked against the job's
 * {@link ConfigSchema}. Every problem is reported at once, each naming the key, the value and what was
 * expected; unknown keys are errors, with the closest known key suggested. A former name of an option
 * ({@link ConfigOption#deprecatedAlias}) is read as the option, and a former spelling of a value
 * ({@link ConfigOption#deprecatedValue}) as its current one, each with a warning.
 */
public final class Config {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final Logger LOG = LoggerFactory.getLogger(Config.class);

  private final ConfigSchema schema;
  private final Map<String, Object> values;

  private Config(ConfigSchema schema, Map<String, Object> values) {
    this.schema = schema;
    this.values = values;
  }

  /**
   * Resolves a configuration.
   *
   * @param yamlText the YAML file's text, or null for none
   * @param source the file's name, for error messages
   * @param overrides {@code key=value} pairs, applied after the file in order
   * @throws ConfigException listing every problem found
   */
  public static Config resolve(ConfigSchema schema, String yamlText, String source, List<String> overrides) {
    return resolveValues(schema, yamlText == null ? Map.of() : readYaml(yamlText, source), source, overrides);
  }

  /**
   * Resolves a configuration from values in hand, as a YAML file would give them: dotted key to a scalar (text,
   * number, boolean) or a list. For composing one job's configuration from others without writing YAML text.
   *
   * @param source where the values come from, for error messages
   * @throws ConfigException listing every problem found
   */
  public static Config resolve(ConfigSchema schema, Map<String, ?> values, String source) {
    return resolveValues(schema, values, source, List.of());
  }

  /**
   * The values of a YAML (or JSON) mapping as {@link #resolve(ConfigSchema, Map, String)} takes them: nested
   * mappings flatten to dotted keys, lists to lists of texts; nulls are left out.
   */
  public static Map<String, Object> values(JsonNode mapping) {
    Map<String, Object> out = new LinkedHashMap<>();
    flatten("", mapping, out);
    return out;
  }

  private static Map<String, Object> readYaml(String yamlText, String source) {
    try {
      JsonNode root = YAML.readTree(yamlText);
      if (root == null || root.isMissingNode() || root.isNull()) {
        return Map.of();
      }
      if (!root.isObject()) {
        throw new ConfigException(source + ": expected a YAML mapping of options at the top level");
      }
      return values(root);
    } catch (IOException e) {
      throw new ConfigException(source + ": not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
    }
  }

  private static Config resolveValues(ConfigSchema schema, Map<String, ?> file, String source,
      List<String> overrides) {
    List<String> problems = new ArrayList<>();
    Map<String, Object> raw = new LinkedHashMap<>();
    Map<String, String> origin = new LinkedHashMap<>();
    Map<String, String> spelled = new LinkedHashMap<>();
    file.forEach((key, value) -> {
      String canonical = canonicalKey(schema, key, source);
      String earlier = spelled.put(canonical, key);
      if (earlier != null) {
        problems.add("options '" + earlier + "' and '" + key + "' are one option (from " + source
            + "); set '" + canonical + "' only");
      }
      raw.put(canonical, value);
      origin.put(canonical, source);
    });
    for (String override : overrides) {
      int eq = override.indexOf('=');
      if (eq <= 0) {
        problems.add("override '" + override + "': expected key=value");
        continue;
      }
      String key = canonicalKey(schema, override.substring(0, eq).trim(), "the command line");
      raw.put(key, scalar(override.substring(eq + 1)));
      origin.put(key, "the command line");
    }
    Map<String, Object> parsed = new LinkedHashMap<>();
    raw.forEach((key, value) -> {
      ConfigOption<?> option = schema.option(key);
      if (option == null) {
        String hint = schema.closestKey(key);
        problems.add("unknown option '" + key + "' (from " + origin.get(key) + ")"
            + (hint == null ? "" : "; did you mean '" + hint + "'?"));
        return;
      }
      String current = option.currentSpelling(value);
      if (current != null) {
        LOG.warn("{}: value '{}' of option '{}' of '{}' is deprecated; use '{}'", origin.get(key), value, key,
            schema.name(), current);
      }
      try {
        parsed.put(key, option.parse(current != null ? current : value));
      } catch (IllegalArgumentException e) {
        problems.add(e.getMessage() + " (from " + origin.get(key) + ")");
      }
    });
    for (ConfigOption<?> option : schema.options()) {
      if (option.isRequired() && !parsed.containsKey(option.key())) {
        problems.add("option '" + option.key() + "' is required: " + option.doc());
      }
    }
    if (!problems.isEmpty()) {
      throw new ConfigException("Invalid configuration for '" + schema.name() + "':\n  - "
          + String.join("\n  - ", problems));
    }
    return new Config(schema, parsed);
  }

  /** The option key {@code key} names: itself, or for a deprecated alias (with a warning) the option's key. */
  private static String canonicalKey(ConfigSchema schema, String key, String from) {
    ConfigOption<?> option = schema.optionOrAlias(key);
    if (option == null || option.key().equals(key)) {
      return key;
    }
    LOG.warn("{}: option '{}' of '{}' is deprecated; use '{}'", from, key, schema.name(), option.key());
    return option.key();
  }

  private static void flatten(String prefix, JsonNode node, Map<String, Object> out) {
    if (node.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> f = fields.next();
        flatten(prefix.isEmpty() ? f.getKey() : prefix + "." + f.getKey(), f.getValue(), out);
      }
    } else if (node.isArray()) {
      List<String> items = new ArrayList<>();
      node.forEach(item -> items.add(item.asText()));
      out.put(prefix, List.copyOf(items));
    } else if (node.isIntegralNumber()) {
      out.put(prefix, node.longValue());
    } else if (node.isNumber()) {
      out.put(prefix, node.doubleValue());
    } else if (node.isBoolean()) {
      out.put(prefix, node.booleanValue());
    } else if (!node.isNull()) {
      out.put(prefix, node.asText());
    }
  }

  private static Object scalar(String text) {
    return text.trim();
  }

  /** The value of {@code option}: set, or its default; null for an unset option without default. */
  @SuppressWarnings("unchecked")
  public <T> T get(ConfigOption<T> option) {
    if (schema.option(option.key()) != option) {
      throw new IllegalArgumentException("option '" + option.key() + "' is not part of '" + schema.name() + "'");
    }
    Object v = values.get(option.key());
    return v != null ? (T) v : option.defaultValue();
  }

  /** Whether {@code option} was set explicitly (file or command line). */
  public boolean isSet(ConfigOption<?> option) {
    return values.containsKey(option.key());
  }

  /** The effective values, defaults included, as dotted key to value (for manifests and logs). */
  public Map<String, Object> effective() {
    Map<String, Object> all = new LinkedHashMap<>();
    for (ConfigOption<?> o : schema.options()) {
      Object v = values.containsKey(o.key()) ? values.get(o.key()) : o.defaultValue();
      if (v != null) {
        all.put(o.key(), v);
      }
    }
    return all;
  }
}
