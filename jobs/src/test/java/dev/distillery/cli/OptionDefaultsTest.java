package dev.distillery.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every command's defaults are values its options accept, also as written in --help and the reference. */
class OptionDefaultsTest {
  @Test
  void everyDefaultReadsBackAsItselfThroughItsOwnChecks() {
    int checked = 0;
    for (ConfigSchema schema : Distillery.standard().schemas()) {
      for (ConfigOption<?> option : schema.options()) {
        if (option.defaultValue() == null) {
          continue;
        }
        ConfigSchema alone = new ConfigSchema(schema.name(), "", option);
        Config config = Config.resolve(alone, null, null, List.of(option.key() + "=" + option.defaultText()));
        assertThat((Object) config.get(option)).as(schema.name() + " " + option.key())
            .isEqualTo(option.defaultValue());
        checked++;
      }
    }
    assertThat(checked).isGreaterThan(100);
  }
}
