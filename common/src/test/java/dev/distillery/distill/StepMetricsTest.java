package dev.distillery.distill;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The metrics file's JSON Lines codec: what distill writes, the report, the pipeline and a resumed run read. */
class StepMetricsTest {
  private static final StepMetrics TRAIN = new StepMetrics(1, 3e-4, 5.25, 4.5, Double.NaN, 0.125, 1.75, 4096,
      1234.5, null);
  private static final StepMetrics VALIDATED = new StepMetrics(2, 2.5e-4, 4.0, 3.0, 1.0, 0, 0.5, 2048, 999, null)
      .withValidationLoss(4.5);

  @Test
  void linesRoundTripIncludingNaNAndAbsentValidation() {
    String text = StepMetrics.toJsonLines(List.of(TRAIN, VALIDATED));
    assertThat(text.split("\n")).hasSize(2);
    assertThat(StepMetrics.parseLines(text, "metrics.jsonl")).containsExactly(TRAIN, VALIDATED);
  }

  @Test
  void theFieldNamesAreTheFileFormat() {
    assertThat(VALIDATED.toJson()).isEqualTo("{\"step\":2,\"lr\":2.5E-4,\"loss\":4.0,\"kd_loss\":3.0,\"ce_loss\":1.0,"
        + "\"hidden_loss\":0.0,\"grad_norm\":0.5,\"tokens\":2048,\"tokens_per_s\":999.0,\"val_loss\":4.5}");
    assertThat(TRAIN.toJson()).doesNotContain("val_loss");
  }

  @Test
  void missingFieldsReadAsNaNAndBlankLinesAreSkipped() {
    List<StepMetrics> steps = StepMetrics.parseLines("{\"step\":3,\"loss\":2.0}\n\n{\"loss\":1.0,\"val_loss\":1.5}\n",
        "m.jsonl");
    assertThat(steps).hasSize(2);
    assertThat(steps.get(0).step()).isEqualTo(3);
    assertThat(steps.get(0).kdLoss()).isNaN();
    assertThat(steps.get(0).validationLoss()).isNull();
    assertThat(steps.get(1).step()).as("its line number").isEqualTo(3);
    assertThat(steps.get(1).validationLoss()).isEqualTo(1.5);
  }

  @Test
  void aBrokenLineIsNamedByFileAndLine() {
    assertThatThrownBy(() -> StepMetrics.parseLines("{\"step\":1}\n{\"step\":", "RUN/metrics/distill.jsonl"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("RUN/metrics/distill.jsonl: line 2 is not valid JSON");
    assertThatThrownBy(() -> StepMetrics.parseLines("[1]", "m.jsonl")).hasMessage("m.jsonl: line 1 is not a JSON object");
  }
}
