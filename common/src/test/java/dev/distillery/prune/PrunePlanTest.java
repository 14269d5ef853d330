package dev.distillery.prune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.distillery.model.LlamaConfig;
import dev.distillery.testing.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class PrunePlanTest {
  private final LlamaConfig teacher = TestModels.gqaConfig(); // hidden 48, FFN 80, 2 layers, 4 heads on 2 KV

  @Test
  void identityPlanRoundTripsThroughJson() {
    PrunePlan plan = PrunePlan.identity(teacher);
    PrunePlan back = PrunePlan.fromJson(plan.toJson(), "plan.json");
    assertThat(back).isEqualTo(plan);
    assertThat(plan.toJson()).contains("\"source_parameters\" : " + teacher.parameterCount());
  }

  @Test
  void widthAndDepthPlanIsAccepted() {
    LlamaConfig student = teacher.withShape(32, 40, 1, 2, 1, 16);
    PrunePlan plan = new PrunePlan(teacher, student, PrunePlan.range(32),
        List.of(new LayerPlan(1, new int[] {1}, new int[] {2, 3}, PrunePlan.range(40))));
    assertThat(PrunePlan.fromJson(plan.toJson(), "p.json").layers().get(0).sourceLayer()).isEqualTo(1);
  }

  @Test
  void invalidPlansNameTheFieldAndWhatWasExpected() {
    LlamaConfig student = teacher.withShape(32, 40, 1, 2, 1, 16);
    assertThatThrownBy(() -> new PrunePlan(teacher, student, PrunePlan.range(32),
        List.of(new LayerPlan(1, new int[] {1}, new int[] {0, 3}, PrunePlan.range(40)))))
        .hasMessageContaining("KV head 1 keeps 1 query heads, expected 2");
    assertThatThrownBy(() -> new PrunePlan(teacher, student, withDuplicate(32),
        List.of(new LayerPlan(0, new int[] {0}, new int[] {0, 1}, PrunePlan.range(40)))))
        .hasMessageContaining("hidden_channels must be strictly ascending");
    assertThatThrownBy(() -> new PrunePlan(teacher, student, PrunePlan.range(32),
        List.of(new LayerPlan(2, new int[] {0}, new int[] {0, 1}, PrunePlan.range(40)))))
        .hasMessageContaining("layers[0].source_layer 2 must be ascending and in [0, 2)");
    int[] neurons = PrunePlan.range(40);
    neurons[39] = 80;
    assertThatThrownBy(() -> new PrunePlan(teacher, student, PrunePlan.range(32),
        List.of(new LayerPlan(0, new int[] {0}, new int[] {0, 1}, neurons))))
        .hasMessageContaining("layers[0].neurons[39] = 80 is out of range [0, 80)");
    assertThatThrownBy(() -> new PrunePlan(teacher, student, PrunePlan.range(32), List.of()))
        .hasMessageContaining("plan has 0 layers but the target config has num_hidden_layers 1");
  }

  @Test
  void malformedJsonIsNamed() {
    assertThatThrownBy(() -> PrunePlan.fromJson("{\"layers\": []}", "run/prune-plan.json"))
        .hasMessage("run/prune-plan.json: missing field 'source_config'");
  }

  private static int[] withDuplicate(int n) {
    int[] v = PrunePlan.range(n);
    v[5] = 4;
    return v;
  }
}
