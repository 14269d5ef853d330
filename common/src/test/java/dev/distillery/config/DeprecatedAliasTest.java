package dev.distillery.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.testing.CapturedStderr;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An option's former name still reads as the option, with a warning, and is documented as deprecated. */
class DeprecatedAliasTest {
  static final ConfigOption<Integer> SEQ = ConfigOption.integer("seq-length").defaultValue(4096)
      .deprecatedAlias("seq-len").doc("Tokens per sequence.");
  static final ConfigOption<String> OUTPUT = ConfigOption.string("output").deprecatedAlias("out").doc("Where.");
  static final ConfigSchema SCHEMA = new ConfigSchema("demo", "A demo job.", SEQ, OUTPUT);

  @Test
  void theOldNameSetsTheOptionWithAWarningFromFileOrCommandLine() {
    StringBuilder log = new StringBuilder();
    Config c = CapturedStderr.capture(log, () -> Config.resolve(SCHEMA, "seq-len: 64\n", "run.yaml", List.of("out=/tmp/x")));
    assertThat(c.get(SEQ)).isEqualTo(64);
    assertThat(c.isSet(SEQ)).isTrue();
    assertThat(c.get(OUTPUT)).isEqualTo("/tmp/x");
    assertThat(c.effective()).containsOnlyKeys("seq-length", "output");
    assertThat(log.toString()).contains("run.yaml: option 'seq-len' of 'demo' is deprecated; use 'seq-length'",
        "the command line: option 'out' of 'demo' is deprecated; use 'output'");
  }

  @Test
  void laterSettingsWinWhicheverNameTheyUse() {
    Config c = CommandLine.parse(SCHEMA, new String[] {"--seq-length", "64", "--seq-len", "32"});
    assertThat(c.get(SEQ)).isEqualTo(32);
  }

  @Test
  void bothNamesInOneFileAreAnError() {
    assertThatThrownBy(() -> Config.resolve(SCHEMA, "seq-len: 64\nseq-length: 32\n", "run.yaml", List.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("options 'seq-len' and 'seq-length' are one option (from run.yaml); set 'seq-length' only");
  }

  @Test
  void helpAndReferenceNameTheAlias() {
    assertThat(SCHEMA.help()).contains("Tokens per sequence. Deprecated alias: 'seq-len'.");
    assertThat(ConfigDocs.markdown(List.of(SCHEMA)))
        .contains("| `output` | string | unset | Where. Deprecated alias: 'out'. |");
  }

  @Test
  void anAliasCannotBeAnotherOptionsKey() {
    assertThatThrownBy(() -> new ConfigSchema("bad", "", SEQ, ConfigOption.string("seq-len")))
        .hasMessageContaining("deprecated alias 'seq-len' is also an option of bad");
  }
}
