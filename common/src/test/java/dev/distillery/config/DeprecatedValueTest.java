package dev.distillery.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.testing.CapturedStderr;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A dtype option reads PyTorch's names; the short spellings still work, with a warning naming the new one. */
class DeprecatedValueTest {
  static final ConfigOption<String> DTYPE = ConfigOption.dtype("dtype", "teacher", "float32", "float16", "bfloat16")
      .defaultValue("teacher").doc("Stored dtype.");
  static final ConfigOption<String> TEACHER_DTYPE = ConfigOption.dtype("teacher-dtype", "float32", "float16")
      .defaultValue("float32").doc("Teacher precision.");
  static final ConfigSchema SCHEMA = new ConfigSchema("demo", "A demo job.", DTYPE, TEACHER_DTYPE);

  @Test
  void theNewSpellingsAreReadWithoutWarning() {
    StringBuilder log = new StringBuilder();
    Config c = CapturedStderr.capture(log, () -> Config.resolve(SCHEMA, "dtype: bfloat16\n", "run.yaml",
        List.of("teacher-dtype=FLOAT16")));
    assertThat(c.get(DTYPE)).isEqualTo("bfloat16");
    assertThat(c.get(TEACHER_DTYPE)).isEqualTo("float16");
    assertThat(log.toString()).doesNotContain("deprecated");
  }

  @Test
  void theOldSpellingsReadAsTheNewOnesWithAWarningFromFileOrCommandLine() {
    StringBuilder log = new StringBuilder();
    Config c = CapturedStderr.capture(log, () -> Config.resolve(SCHEMA, "dtype: bf16\n", "run.yaml",
        List.of("teacher-dtype=F16")));
    assertThat(c.get(DTYPE)).isEqualTo("bfloat16");
    assertThat(c.get(TEACHER_DTYPE)).isEqualTo("float16");
    assertThat(c.effective()).containsEntry("dtype", "bfloat16").containsEntry("teacher-dtype", "float16");
    assertThat(log.toString()).contains(
        "run.yaml: value 'bf16' of option 'dtype' of 'demo' is deprecated; use 'bfloat16'",
        "the command line: value 'F16' of option 'teacher-dtype' of 'demo' is deprecated; use 'float16'");
  }

  @Test
  void onlyTheListedDtypesGetTheirShortSpelling() {
    assertThatThrownBy(() -> Config.resolve(SCHEMA, null, "none", List.of("teacher-dtype=bf16")))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("option 'teacher-dtype': value 'bf16' is not allowed, expected one of float32, float16");
  }

  @Test
  void aWrongValueNamesTheAcceptedOnes() {
    assertThatThrownBy(() -> Config.resolve(SCHEMA, "dtype: half\n", "run.yaml", List.of()))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("option 'dtype': value 'half' is not allowed, "
            + "expected one of teacher, float32, float16, bfloat16 (from run.yaml)");
  }

  @Test
  void aDefaultMustUseTheNewSpelling() {
    assertThatThrownBy(() -> ConfigOption.dtype("dtype", "float32", "float16").defaultValue("f16"))
        .hasMessageContaining("option 'dtype': default 'f16' is not allowed, expected one of float32, float16");
  }

  @Test
  void helpAndReferenceNameTheOldSpellings() {
    assertThat(SCHEMA.help()).contains("Deprecated values: 'f32' (use 'float32'), 'f16' (use 'float16'), "
        + "'bf16' (use 'bfloat16').");
    assertThat(ConfigDocs.markdown(List.of(SCHEMA))).contains("| `teacher-dtype` | one of float32 \\| float16 | "
        + "`float32` | Teacher precision. Deprecated values: 'f32' (use 'float32'), 'f16' (use 'float16'). |");
  }
}
