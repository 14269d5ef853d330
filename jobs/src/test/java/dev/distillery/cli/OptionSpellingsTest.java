package dev.distillery.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every command spells a dtype as PyTorch does (float32, float16, bfloat16) and still reads the short spellings,
 * and every device option takes gpuN and gpu:N alike.
 */
class OptionSpellingsTest {
  private static final Map<String, String> SHORT = Map.of("float32", "f32", "float16", "f16", "bfloat16", "bf16");
  private static final List<ConfigSchema> SCHEMAS = Distillery.standard().schemas();

  /** The problems resolving {@code key=value} reports about {@code key} (other options may be missing). */
  private static String problemsWith(ConfigSchema schema, String key, String value) {
    Throwable t = catchThrowable(() -> Config.resolve(schema, null, "test", List.of(key + "=" + value)));
    if (t == null) {
      return "";
    }
    return String.join("\n", t.getMessage().lines().filter(l -> l.contains("option '" + key + "'")).toList());
  }

  private static List<String> floatDtypes(ConfigOption<?> option) {
    return SHORT.keySet().stream().filter(d -> option.type().matches(".*\\b" + d + "\\b.*")).sorted().toList();
  }

  @Test
  void everyDtypeOptionTakesTheTorchNamesAndTheShortOnes() {
    List<String> checked = new ArrayList<>();
    for (ConfigSchema schema : SCHEMAS) {
      for (ConfigOption<?> option : schema.options()) {
        List<String> dtypes = floatDtypes(option);
        if (dtypes.isEmpty()) {
          continue;
        }
        assertThat(option.type()).as(schema.name() + " " + option.key())
            .doesNotContainPattern("\\b(f32|f16|bf16)\\b");
        for (String dtype : dtypes) {
          assertThat(problemsWith(schema, option.key(), dtype)).as(schema.name() + " " + dtype).isEmpty();
          assertThat(problemsWith(schema, option.key(), SHORT.get(dtype))).as(schema.name() + " " + dtype).isEmpty();
        }
        assertThat(problemsWith(schema, option.key(), "half")).contains(
            "option '" + option.key() + "': value 'half' is not allowed, expected one of " + String.join(", ",
                option.type().substring("one of ".length()).split(" \\| ")));
        checked.add(schema.name() + " " + option.key());
      }
    }
    assertThat(checked).contains("prune dtype", "random-checkpoint dtype", "distill teacher-dtype",
        "teacher-logits dtype", "teacher-logits teacher-dtype", "calibrate dtype", "logits dtype");
  }

  @Test
  void everyDeviceOptionTakesBothGpuSpellings() {
    for (String command : List.of("logits", "generate")) {
      ConfigSchema schema = Distillery.standard().command(command).schema();
      assertThat(problemsWith(schema, "device", "gpu:1")).isEmpty();
      assertThat(problemsWith(schema, "device", "gpu1")).isEmpty();
      assertThat(problemsWith(schema, "device", "cuda1")).contains("option 'device': value 'cuda1' is not allowed, "
          + "expected cpu, gpu, gpuN or gpu:N");
    }
    ConfigSchema distill = Distillery.standard().command("distill").schema();
    assertThat(problemsWith(distill, "devices", "gpu0,gpu:1")).isEmpty();
    assertThat(problemsWith(distill, "devices", "gpu0,tpu1")).contains("option 'devices': value 'gpu0,tpu1' is not "
        + "allowed, expected auto or a comma list of cpu, gpu, gpuN or gpu:N");
  }
}
