package dev.distillery.config;

import java.util.List;

/** Generates the configuration reference (Markdown) from the schemas: the one place options are documented. */
public final class ConfigDocs {
  private ConfigDocs() {}

  /** The reference for {@code schemas}, one section per command, one table row per option. */
  public static String markdown(List<ConfigSchema> schemas) {
    StringBuilder sb = new StringBuilder();
    sb.append("# Configuration reference\n\n");
    sb.append("Generated from the option declarations in the code (`ConfigSchema` constants); do not edit by hand.\n");
    sb.append("Regenerate with `submit-scripts/distillery docs > docs/configuration.md`.\n\n");
    sb.append("Every command takes `--config FILE.yaml` (nested YAML keys join with dots), `--set key=value` and ")
        .append("`--key value`; later settings win. Unknown keys are errors.\n");
    for (ConfigSchema schema : schemas) {
      sb.append("\n## `").append(schema.name()).append("`\n\n").append(schema.summary()).append("\n\n");
      sb.append("| key | type | default | meaning |\n|---|---|---|---|\n");
      for (ConfigOption<?> o : schema.options()) {
        String dflt = o.isRequired() ? "required" : o.defaultValue() == null ? "unset" : "`" + o.defaultText() + "`";
        String meaning = o.doc();
        if (o.constraint() != null && !o.type().startsWith("one of")) {
          meaning += " Must be " + o.constraint() + ".";
        }
        meaning += o.aliasNote();
        sb.append("| `").append(o.key()).append("` | ").append(o.type().replace("|", "\\|")).append(" | ")
            .append(dflt.replace("|", "\\|")).append(" | ").append(meaning.replace("|", "\\|")).append(" |\n");
      }
    }
    return sb.toString();
  }
}
