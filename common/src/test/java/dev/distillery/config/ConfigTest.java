package dev.distillery.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigTest {
  static final ConfigOption<String> INPUT = ConfigOption.string("input.path").required().doc("Corpus path.");
  static final ConfigOption<Integer> SEQ = ConfigOption.integer("seq-length").defaultValue(4096).atLeast(1)
      .doc("Tokens per sequence.");
  static final ConfigOption<Double> LR = ConfigOption.decimal("optim.lr").defaultValue(1e-4).greaterThan(0)
      .doc("Peak learning rate.");
  static final ConfigOption<String> FORMAT = ConfigOption.choice("input.format", "text", "jsonl", "parquet")
      .defaultValue("text").doc("Corpus format.");
  static final ConfigOption<Boolean> FORCE = ConfigOption.bool("force").defaultValue(false).doc("Overwrite.");
  static final ConfigSchema SCHEMA = new ConfigSchema("demo", "A demo job.", INPUT, SEQ, LR, FORMAT, FORCE);

  @Test
  void nestedYamlFlattensToDottedKeysAndDefaultsFillTheRest() {
    Config c = Config.resolve(SCHEMA, "input:\n  path: s3a://b/c\n  format: JSONL\noptim:\n  lr: 3e-4\n", "f.yaml",
        List.of());
    assertThat(c.get(INPUT)).isEqualTo("s3a://b/c");
    assertThat(c.get(FORMAT)).isEqualTo("jsonl");
    assertThat(c.get(LR)).isEqualTo(3e-4);
    assertThat(c.get(SEQ)).isEqualTo(4096);
    assertThat(c.isSet(SEQ)).isFalse();
    assertThat(c.effective()).containsEntry("seq-length", 4096).containsEntry("force", false);
  }

  @Test
  void valuesInHandResolveAsTheSameFileWouldWithoutYamlText() throws Exception {
    JsonNode tree = new ObjectMapper(new YAMLFactory()).readTree("input: {path: a, format: parquet}\n");
    Map<String, Object> values = new LinkedHashMap<>(Config.values(tree));
    assertThat(values).containsExactly(Map.entry("input.path", "a"),
        Map.entry("input.format", "parquet"));
    values.put("seq-length", 64); // a typed value, as another configuration's effective() gives it
    values.put("optim.lr", 0.5);
    Config c = Config.resolve(SCHEMA, values, "composed");
    assertThat(c.get(SEQ)).isEqualTo(64);
    assertThat(c.get(LR)).isEqualTo(0.5);
    assertThat(c.get(FORMAT)).isEqualTo("parquet");
    assertThatThrownBy(() -> Config.resolve(SCHEMA, Map.of("input.path", "a", "seq-length", 0), "composed"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("option 'seq-length': value '0' is not allowed, expected >= 1 (from composed)");
  }

  @Test
  void commandLineOverridesWinOverTheFile() {
    Config c = CommandLine.parse(SCHEMA, new String[] {"--input.path", "a", "--set", "seq-length=128",
        "--force=yes", "--set=optim.lr=0.5"});
    assertThat(c.get(INPUT)).isEqualTo("a");
    assertThat(c.get(SEQ)).isEqualTo(128);
    assertThat(c.get(FORCE)).isTrue();
    assertThat(c.get(LR)).isEqualTo(0.5);
  }

  @Test
  void everyProblemIsReportedWithKeyValueAndExpectation() {
    assertThatThrownBy(() -> Config.resolve(SCHEMA, "seq-lenght: 5\ninput:\n  format: csv\noptim:\n  lr: -1\n",
        "run.yaml", List.of("seq-length=abc")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("unknown option 'seq-lenght' (from run.yaml); did you mean 'seq-length'?")
        .hasMessageContaining("option 'input.format': value 'csv' is not allowed, expected one of text, jsonl, parquet")
        .hasMessageContaining("option 'optim.lr': value '-1' is not allowed, expected > 0")
        .hasMessageContaining("option 'seq-length': cannot read 'abc' as int")
        .hasMessageContaining("option 'input.path' is required");
  }

  @Test
  void malformedYamlAndArgumentsAreClearErrors() {
    assertThatThrownBy(() -> Config.resolve(SCHEMA, "input: [unclosed", "bad.yaml", List.of()))
        .hasMessageStartingWith("bad.yaml: not valid YAML");
    assertThatThrownBy(() -> Config.resolve(SCHEMA, "- a\n- b\n", "list.yaml", List.of()))
        .hasMessageContaining("list.yaml: expected a YAML mapping");
    assertThatThrownBy(() -> CommandLine.parse(SCHEMA, new String[] {"--input.path"}))
        .hasMessage("option --input.path needs a value");
    assertThatThrownBy(() -> CommandLine.parse(SCHEMA, new String[] {"stray"}))
        .hasMessageContaining("unexpected argument 'stray'");
    assertThatThrownBy(() -> CommandLine.parse(SCHEMA, new String[] {"--config", "/no/such/file.yaml"}))
        .hasMessageContaining("cannot read config file '/no/such/file.yaml'");
  }

  @Test
  void helpAndDocsListEveryOption() {
    String help = SCHEMA.help();
    String docs = ConfigDocs.markdown(List.of(SCHEMA));
    for (ConfigOption<?> o : SCHEMA.options()) {
      assertThat(help).contains("--" + o.key());
      assertThat(docs).contains("`" + o.key() + "`");
    }
    assertThat(help).contains("(default: 4096)").contains("(required)").contains("Must be >= 1.");
    assertThat(docs).contains("| `input.format` | one of text \\| jsonl \\| parquet | `text` | Corpus format. |");
  }

  @Test
  void aYamlListKeepsCommasInsideItsItemsAndTheCommandLineSplitsAtCommas() {
    ConfigOption<List<String>> prompts = ConfigOption.stringList("prompts").defaultValue(List.of("a", "b"));
    ConfigOption<String> devices = ConfigOption.string("devices").defaultValue("auto");
    ConfigSchema schema = new ConfigSchema("lists", "Lists.", prompts, devices);
    Config yaml = Config.resolve(schema, "prompts: [\"Hello, world\", Bye]\ndevices: [cpu, cpu]\n", "f.yaml", List.of());
    assertThat(yaml.get(prompts)).containsExactly("Hello, world", "Bye");
    assertThat(yaml.get(devices)).as("a YAML list for a text option").isEqualTo("cpu,cpu");
    Config line = Config.resolve(schema, null, "none", List.of("prompts=Hello, world"));
    assertThat(line.get(prompts)).containsExactly("Hello", "world");
    assertThat(Config.resolve(schema, null, "none", List.of()).get(prompts)).containsExactly("a", "b");
    assertThat(schema.help()).contains("(default: a,b)");
  }

  @Test
  void aPipeInADefaultIsEscapedInTheReferenceTable() {
    ConfigOption<String> bos = ConfigOption.string("bos-token").defaultValue("<|begin_of_text|>").doc("BOS.");
    String docs = ConfigDocs.markdown(List.of(new ConfigSchema("tokens", "Tokens.", bos)));
    assertThat(docs).contains("| `bos-token` | string | `<\\|begin_of_text\\|>` | BOS. |");
  }

  @Test
  void aDefaultIsCheckedLikeAValueWhicheverComesFirst() {
    assertThatThrownBy(() -> ConfigOption.integer("batch").defaultValue(0).atLeast(1))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("option 'batch': default '0' is not allowed, "
            + "expected >= 1");
    assertThatThrownBy(() -> ConfigOption.integer("batch").atLeast(1).defaultValue(0))
        .hasMessageContaining("default '0' is not allowed");
    assertThatThrownBy(() -> ConfigOption.choice("dtype", "float16", "float32").defaultValue("f16"))
        .hasMessageContaining("option 'dtype': default 'f16' is not allowed, expected one of float16, float32");
    assertThat(ConfigOption.integer("batch").defaultValue(1).atLeast(1).defaultValue()).isEqualTo(1);
  }
}
