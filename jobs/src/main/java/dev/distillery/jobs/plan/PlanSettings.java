package dev.distillery.jobs.plan;

import dev.distillery.config.Config;
import dev.distillery.config.ConfigException;
import dev.distillery.config.ConfigOption;
import dev.distillery.config.ConfigSchema;
import dev.distillery.jobs.command.StageOptions;
import dev.distillery.jobs.run.RunLayout;
import dev.distillery.prune.PruneTarget;
import java.util.Locale;
import java.util.Set;

/**
 * The validated configuration of {@code plan}, resolved to concrete paths.
 *
 * @param run the run directory; the plan and its size table are written there
 * @param importance the importance scores planned from
 * @param target what to keep
 * @param flopsContext the context length at which FLOPs per token are reported
 */
public record PlanSettings(String run, String importance, PruneTarget target, int flopsContext) {
  static final ConfigOption<String> IMPORTANCE = ConfigOption.string("importance")
      .doc("importance.json to plan from; default RUN/importance/importance.json.");
  static final ConfigOption<Integer> HIDDEN = ConfigOption.integer("target.hidden-size").atLeast(1)
      .doc("Hidden channels to keep (e.g. 3072 for Minitron-4B-Width).");
  static final ConfigOption<Integer> FFN = ConfigOption.integer("target.ffn-size").atLeast(1)
      .doc("FFN neurons per layer to keep (e.g. 9216).");
  static final ConfigOption<Integer> HEADS = ConfigOption.integer("target.heads-per-group").atLeast(1)
      .doc("Query heads kept per KV group (ranked within each group); unset keeps every head.");
  static final ConfigOption<Integer> KV_HEADS = ConfigOption.integer("target.kv-heads").atLeast(1)
      .doc("KV groups kept per layer, ranked by their query heads' summed importance (a group's query heads go with "
          + "it); unset keeps every group. A parameter budget counts the kept groups.");
  static final ConfigOption<Integer> LAYERS = ConfigOption.integer("target.layers").atLeast(1)
      .doc("Layers to keep (e.g. 16 for Minitron-4B-Depth); the planner picks which to drop.");
  static final ConfigOption<String> DROP = ConfigOption.string("target.drop-layers")
      .doc("Explicit 0-based layers to drop, e.g. '15-30'.");
  static final ConfigOption<String> BUDGET = ConfigOption.string("target.parameters")
      .doc("Parameter budget, e.g. '4.5B'; the planner chooses the unset dimensions of target.budget-axis to fit.");
  static final ConfigOption<String> AXIS = ConfigOption.choice("target.budget-axis", "width", "depth")
      .defaultValue("width").doc("What a parameter budget shrinks: hidden and FFN sizes together, or layers.");
  static final ConfigOption<Integer> HIDDEN_MULTIPLE = ConfigOption.integer("hidden-multiple").defaultValue(64)
      .atLeast(1).doc("Hidden sizes the planner chooses are multiples of this.");
  static final ConfigOption<Integer> FFN_MULTIPLE = ConfigOption.integer("ffn-multiple").defaultValue(256).atLeast(1)
      .doc("FFN sizes the planner chooses are multiples of this.");
  static final ConfigOption<String> DEPTH = ConfigOption.choice("depth-strategy", "contiguous", "lowest")
      .defaultValue("contiguous").doc("Drop the best contiguous block (by LM-loss rise when measured for that "
          + "size, else summed layer scores) or the individually lowest-scoring layers.");
  static final ConfigOption<Integer> FLOPS_CONTEXT = ConfigOption.integer("flops-context").defaultValue(4096)
      .atLeast(1).doc("Context length at which FLOPs per token are reported.");

  /** The options of {@code plan}. */
  public static final ConfigSchema SCHEMA = new ConfigSchema("plan",
      "Choose what to keep (channels, heads, neurons, layers) for a target size and write RUN/prune-plan.json.",
      StageOptions.RUN, IMPORTANCE, HIDDEN, FFN, HEADS, KV_HEADS, LAYERS, DROP, BUDGET, AXIS, HIDDEN_MULTIPLE,
      FFN_MULTIPLE, DEPTH, FLOPS_CONTEXT);

  /**
   * Resolves defaults against the run directory and checks the target (its dimensions and budget together).
   *
   * @throws ConfigException naming the options and what was expected
   */
  public static PlanSettings from(Config config) {
    String run = config.get(StageOptions.RUN);
    String importance = config.isSet(IMPORTANCE) ? config.get(IMPORTANCE) : new RunLayout(run).importanceScores();
    try {
      return new PlanSettings(run, importance, target(config), config.get(FLOPS_CONTEXT));
    } catch (IllegalArgumentException e) {
      throw new ConfigException("plan target: " + e.getMessage());
    }
  }

  private static PruneTarget target(Config config) {
    Set<Integer> drop = config.isSet(DROP) ? PruneTarget.parseLayers(config.get(DROP)) : Set.of();
    Long budget = config.isSet(BUDGET) ? PruneTarget.parseParameters(config.get(BUDGET)) : null;
    return new PruneTarget(value(config, HIDDEN), value(config, FFN), value(config, HEADS), value(config, LAYERS), drop,
        budget, PruneTarget.BudgetAxis.valueOf(config.get(AXIS).toUpperCase(Locale.ROOT)),
        config.get(HIDDEN_MULTIPLE), config.get(FFN_MULTIPLE),
        PruneTarget.DepthStrategy.valueOf(config.get(DEPTH).toUpperCase(Locale.ROOT)), value(config, KV_HEADS));
  }

  private static Integer value(Config config, ConfigOption<Integer> option) {
    return config.isSet(option) ? config.get(option) : null;
  }
}
