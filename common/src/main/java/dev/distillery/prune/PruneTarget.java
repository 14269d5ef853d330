package dev.distillery.prune;

import java.util.Set;
import java.util.TreeSet;

/**
 * What the student should be. Null dimensions keep the teacher's, unless a parameter budget is given, in which case
 * the planner chooses the unset dimensions of {@link #budgetAxis()} to fit it.
 *
 * @param hiddenSize hidden channels to keep, or null
 * @param intermediateSize FFN neurons per layer to keep, or null
 * @param queryHeadsPerGroup query heads kept per KV group, or null to keep every head of a kept group
 * @param layers layer count, or null
 * @param dropLayers explicit teacher layers to drop (0-based); empty to let the planner choose
 * @param parameterBudget the most parameters the student may have, or null
 * @param budgetAxis which dimensions a budget shrinks
 * @param hiddenMultiple chosen hidden sizes are multiples of this
 * @param intermediateMultiple chosen FFN sizes are multiples of this
 * @param depthStrategy how layers to drop are chosen
 * @param kvHeads KV groups to keep per layer (ranked by their query heads' summed importance; a group's query heads
 *     go with it), or null to keep every group
 */
public record PruneTarget(Integer hiddenSize, Integer intermediateSize, Integer queryHeadsPerGroup, Integer layers,
    Set<Integer> dropLayers, Long parameterBudget, BudgetAxis budgetAxis, int hiddenMultiple,
    int intermediateMultiple, DepthStrategy depthStrategy, Integer kvHeads) {

  /** Dimensions a parameter budget shrinks. */
  public enum BudgetAxis {
    /** Hidden size and FFN size, scaled together (Minitron width pruning). */
    WIDTH,
    /** Layer count (Minitron depth pruning). */
    DEPTH
  }

  /** How the planner picks layers to drop. */
  public enum DepthStrategy {
    /**
     * The contiguous block whose removal raises the LM loss least (measured for that block size), else the block
     * with the lowest summed single-layer scores.
     */
    CONTIGUOUS,
    /** The individually least important layers. */
    LOWEST
  }

  public PruneTarget {
    dropLayers = Set.copyOf(new TreeSet<>(dropLayers));
    if (hiddenMultiple < 1 || intermediateMultiple < 1) {
      throw new IllegalArgumentException("size multiples must be >= 1");
    }
  }

  /** A target that keeps every KV group. */
  public PruneTarget(Integer hiddenSize, Integer intermediateSize, Integer queryHeadsPerGroup, Integer layers,
      Set<Integer> dropLayers, Long parameterBudget, BudgetAxis budgetAxis, int hiddenMultiple,
      int intermediateMultiple, DepthStrategy depthStrategy) {
    this(hiddenSize, intermediateSize, queryHeadsPerGroup, layers, dropLayers, parameterBudget, budgetAxis,
        hiddenMultiple, intermediateMultiple, depthStrategy, null);
  }

  /** This target keeping {@code count} KV groups per layer (null: all). */
  public PruneTarget withKvHeads(Integer count) {
    return new PruneTarget(hiddenSize, intermediateSize, queryHeadsPerGroup, layers, dropLayers, parameterBudget,
        budgetAxis, hiddenMultiple, intermediateMultiple, depthStrategy, count);
  }

  /** Explicit width and depth, no budget; multiples 64 / 256, contiguous depth. */
  public static PruneTarget of(Integer hiddenSize, Integer intermediateSize, Integer queryHeadsPerGroup,
      Integer layers) {
    return new PruneTarget(hiddenSize, intermediateSize, queryHeadsPerGroup, layers, Set.of(), null, BudgetAxis.WIDTH,
        64, 256, DepthStrategy.CONTIGUOUS);
  }

  /** A parameter budget met along {@code axis}; multiples 64 / 256, contiguous depth. */
  public static PruneTarget budget(long parameters, BudgetAxis axis) {
    return new PruneTarget(null, null, null, null, Set.of(), parameters, axis, 64, 256, DepthStrategy.CONTIGUOUS);
  }

  /**
   * Parses a parameter count such as {@code 4.5B}, {@code 800M}, {@code 1.2e9} or {@code 4500000000}.
   *
   * @throws IllegalArgumentException naming the text
   */
  public static long parseParameters(String text) {
    String t = text.trim().toUpperCase(java.util.Locale.ROOT).replace("_", "");
    double scale = 1;
    if (t.endsWith("B") || t.endsWith("M") || t.endsWith("K")) {
      scale = t.endsWith("B") ? 1e9 : t.endsWith("M") ? 1e6 : 1e3;
      t = t.substring(0, t.length() - 1);
    }
    try {
      double value = Double.parseDouble(t) * scale;
      if (!(value >= 1) || value > Long.MAX_VALUE) {
        throw new NumberFormatException();
      }
      return Math.round(value);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("parameter budget '" + text + "' is not a positive count such as 4.5B, "
          + "800M or 4500000000");
    }
  }

  /**
   * Parses 0-based layer indices such as {@code 15-30} or {@code 3,7,9-11}.
   *
   * @throws IllegalArgumentException naming the text
   */
  public static Set<Integer> parseLayers(String text) {
    Set<Integer> layers = new TreeSet<>();
    try {
      for (String part : text.split(",")) {
        String p = part.trim();
        if (p.isEmpty()) {
          continue;
        }
        int dash = p.indexOf('-', 1);
        int from = Integer.parseInt((dash < 0 ? p : p.substring(0, dash)).trim());
        int to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
        if (from < 0 || to < from) {
          throw new NumberFormatException();
        }
        for (int i = from; i <= to; i++) {
          layers.add(i);
        }
      }
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("layer list '" + text + "' is not like '15-30' or '3,7,9-11' (0-based)");
    }
    return layers;
  }
}
