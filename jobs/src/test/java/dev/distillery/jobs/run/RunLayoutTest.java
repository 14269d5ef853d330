package dev.distillery.jobs.run;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The paths under a run directory, the same for the pipeline and for each command run on its own. */
class RunLayoutTest {
  private final RunLayout run = new RunLayout("s3a://bucket/runs/r1");

  @Test
  void everyStageFindsTheOthersOutputsWhereTheyWroteThem() {
    assertThat(run.tokens("train")).isEqualTo("s3a://bucket/runs/r1/tokens/train");
    assertThat(run.importanceScores()).isEqualTo("s3a://bucket/runs/r1/importance/importance.json");
    assertThat(run.planFile()).isEqualTo("s3a://bucket/runs/r1/prune-plan.json");
    assertThat(run.sizeTable()).isEqualTo("s3a://bucket/runs/r1/prune-plan.md");
    assertThat(run.studentInit()).isEqualTo("s3a://bucket/runs/r1/student-init");
    assertThat(run.teacherLogits()).isEqualTo("s3a://bucket/runs/r1/teacher-logits");
    assertThat(run.metrics("distill")).isEqualTo("s3a://bucket/runs/r1/metrics/distill.jsonl");
    assertThat(run.evaluation("pruned")).isEqualTo("s3a://bucket/runs/r1/eval/pruned.json");
    assertThat(run.report()).isEqualTo("s3a://bucket/runs/r1/report");
  }

  @Test
  void aRoundHasTheSameLayoutInItsOwnDirectory() {
    RunLayout round = run.round(2);
    assertThat(round.run()).isEqualTo("s3a://bucket/runs/r1/round-2");
    assertThat(round.studentInit()).isEqualTo("s3a://bucket/runs/r1/round-2/student-init");
  }
}
