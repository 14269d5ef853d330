package dev.distillery.jobs.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.cli.Distillery;
import dev.distillery.config.ConfigException;
import dev.distillery.jobs.command.Command;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** A pipeline's {@code teacher-logits:} section: the stage after prune, and distill reading its table. */
class TeacherLogitsPipelineTest {
  private static final String BASE = """
      run: /tmp/r
      corpus: c.txt
      tokenizer: t.json
      teacher: /models/teacher
      distill: {steps: 3}
      """;
  private final Map<String, Command> commands = Stream.of("tokenize", "calibrate", "plan", "prune", "teacher-logits",
      "distill", "evaluate", "report", "random-checkpoint").collect(Collectors.toMap(n -> n,
      n -> Distillery.standard().command(n)));

  @Test
  void theSectionRunsTheJobAfterPruneAndDistillAndOriginalTeacherRoundsReadItsTable() {
    List<PlannedStage> stages = PipelinePlanner.plan(commands, BASE + """
        teacher-logits: {top-k: 16, dtype: float32}
        rounds: [{teacher: original}, {}]
        """, "p.yaml");
    List<String> names = stages.stream().map(PlannedStage::name).toList();
    assertThat(names.indexOf("teacher-logits")).isEqualTo(names.indexOf("prune") + 1)
        .isLessThan(names.indexOf("distill"));
    PlannedStage job = stage(stages, "teacher-logits");
    assertThat(job.output()).isEqualTo("/tmp/r/teacher-logits");
    assertThat(job.config().effective()).containsEntry("top-k", 16).containsEntry("dtype", "float32")
        .containsEntry("teacher", "/models/teacher").containsEntry("tokens", "/tmp/r/tokens");
    assertThat(stage(stages, "distill").config().effective()).containsEntry("teacher-logits", "/tmp/r/teacher-logits");
    assertThat(stage(stages, "round-2 distill").config().effective())
        .containsEntry("teacher-logits", "/tmp/r/teacher-logits");
    assertThat(stage(stages, "round-3 distill").config().effective().get("teacher-logits"))
        .as("round 3 distils from round 2's student, which the table does not hold").isNull();
  }

  @Test
  void withoutTheSectionNothingChanges() {
    List<PlannedStage> stages = PipelinePlanner.plan(commands, BASE, "p.yaml");
    assertThat(stages).extracting(PlannedStage::name).doesNotContain("teacher-logits");
    assertThat(stage(stages, "distill").config().effective().get("teacher-logits")).isNull();
  }

  @Test
  void aDistillSettingStoredLogitsCannotServeFailsBeforeAnythingRuns() {
    assertThatThrownBy(() -> PipelinePlanner.plan(commands, BASE.replace("{steps: 3}", "{steps: 3, temperature: 2}")
        + "teacher-logits: {}\n", "p.yaml")).isInstanceOf(ConfigException.class)
        .hasMessageContaining("stage 'distill'").hasMessageContaining("option 'temperature' must be 1");
  }

  private static PlannedStage stage(List<PlannedStage> stages, String name) {
    return stages.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
  }
}
