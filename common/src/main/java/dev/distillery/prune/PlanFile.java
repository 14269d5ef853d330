package dev.distillery.prune;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.distillery.importance.CalibrationInfo;
import java.io.IOException;

/** The text of {@code prune-plan.json}: {@link PrunePlan#toJson()} plus FLOPs and where the scores came from. */
public final class PlanFile {
  private static final ObjectMapper JSON = new ObjectMapper();

  private PlanFile() {}

  /** {@code prune-plan.json}; {@link PrunePlan#fromJson} reads it back (it ignores the added fields). */
  public static String json(PrunePlan plan, CalibrationInfo importance, int flopsContext) {
    try {
      ObjectNode root = (ObjectNode) JSON.readTree(plan.toJson());
      root.put("flops_context_length", flopsContext);
      root.put("source_flops_per_token", ModelCost.flopsPerToken(plan.source(), flopsContext));
      root.put("target_flops_per_token", ModelCost.flopsPerToken(plan.target(), flopsContext));
      ObjectNode scores = root.putObject("importance");
      scores.put("method", importance.method());
      scores.put("teacher_sha256", importance.teacherSha256());
      scores.put("samples", importance.samples());
      scores.put("tokens", importance.tokens());
      return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }
}
