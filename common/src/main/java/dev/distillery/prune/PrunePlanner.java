package dev.distillery.prune;

import dev.distillery.importance.ImportanceScores;
import dev.distillery.model.LlamaConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.IntStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns importance scores and a {@link PruneTarget} into a {@link PrunePlan}: the most important hidden channels,
 * per kept layer the most important neurons, the most important KV groups (by their query heads' summed scores; a
 * group's query heads go with it) and, within each kept group, the most important query heads (equal per group, so
 * GQA stays valid); layers dropped by {@link PruneTarget.DepthStrategy}. Width choices use the scores of
 * the layer being kept, so depth and width pruning compose.
 */
public final class PrunePlanner {
  private static final Logger LOG = LoggerFactory.getLogger(PrunePlanner.class);
  private static final double SCALE_STEP = 1e-3;

  private PrunePlanner() {}

  /**
   * Plans the student.
   *
   * @throws IllegalArgumentException when the target cannot be met, saying which part and why
   */
  public static PrunePlan plan(LlamaConfig teacher, ImportanceScores scores, PruneTarget target) {
    checkScores(teacher, scores);
    int perGroup = target.queryHeadsPerGroup() == null ? teacher.queriesPerKvGroup() : target.queryHeadsPerGroup();
    if (perGroup < 1 || perGroup > teacher.queriesPerKvGroup()) {
      throw new IllegalArgumentException("target heads-per-group " + perGroup + " must be in [1, "
          + teacher.queriesPerKvGroup() + "] (the teacher has " + teacher.numAttentionHeads() + " query heads on "
          + teacher.numKeyValueHeads() + " KV heads)");
    }
    int kvHeads = target.kvHeads() == null ? teacher.numKeyValueHeads() : target.kvHeads();
    checkDimension("kv-heads", kvHeads, teacher.numKeyValueHeads());
    HeadShape heads = new HeadShape(kvHeads, perGroup);
    checkDimension("hidden-size", target.hiddenSize(), teacher.hiddenSize());
    checkDimension("ffn-size", target.intermediateSize(), teacher.intermediateSize());
    int layers = layerCount(teacher, target, heads);
    int[] widths = widths(teacher, target, heads, layers);
    LlamaConfig student = shape(teacher, widths[0], widths[1], layers, heads);
    if (target.parameterBudget() != null && student.parameterCount() > target.parameterBudget()) {
      throw new IllegalArgumentException(String.format("infeasible target: the student has %,d parameters, more than "
          + "the budget of %,d", student.parameterCount(), target.parameterBudget()));
    }
    int[] keptLayers = keptLayers(teacher, scores, target, layers);
    int[] channels = topIndices(scores.channels(), student.hiddenSize());
    List<LayerPlan> layerPlans = new ArrayList<>();
    for (int source : keptLayers) {
      int[] groups = kvGroups(teacher, scores.heads()[source], kvHeads);
      layerPlans.add(new LayerPlan(source, groups, queryHeads(teacher, scores.heads()[source], groups, perGroup),
          topIndices(scores.neurons()[source], student.intermediateSize())));
    }
    PrunePlan plan = new PrunePlan(teacher, student, channels, layerPlans);
    LOG.info("Planned {}: layers {}, hidden {}, FFN {}, {} of {} KV groups, {} query heads per group; kept layers {}",
        plan, student.numHiddenLayers(), student.hiddenSize(), student.intermediateSize(), kvHeads,
        teacher.numKeyValueHeads(), perGroup, Arrays.toString(keptLayers));
    return plan;
  }

  private static void checkScores(LlamaConfig teacher, ImportanceScores scores) {
    if (scores.heads().length != teacher.numHiddenLayers() || scores.channels().length != teacher.hiddenSize()
        || scores.heads()[0].length != teacher.numAttentionHeads()
        || scores.neurons()[0].length != teacher.intermediateSize()) {
      throw new IllegalArgumentException("importance scores do not match the teacher config (layers "
          + scores.heads().length + ", hidden " + scores.channels().length + " vs " + teacher.numHiddenLayers()
          + ", " + teacher.hiddenSize() + ")");
    }
  }

  private static void checkDimension(String name, Integer value, int teacherValue) {
    if (value != null && (value < 1 || value > teacherValue)) {
      throw new IllegalArgumentException("infeasible target: " + name + " " + value + " must be in [1, " + teacherValue
          + "] (pruning only removes)");
    }
  }

  /** KV groups kept per layer and query heads kept per group. */
  private record HeadShape(int kvHeads, int perGroup) {}

  private static int layerCount(LlamaConfig teacher, PruneTarget target, HeadShape heads) {
    int all = teacher.numHiddenLayers();
    if (!target.dropLayers().isEmpty()) {
      for (int layer : target.dropLayers()) {
        if (layer < 0 || layer >= all) {
          throw new IllegalArgumentException("drop-layers: layer " + layer + " is not in [0, " + all + ")");
        }
      }
      int kept = all - target.dropLayers().size();
      if (kept < 1 || (target.layers() != null && target.layers() != kept)) {
        throw new IllegalArgumentException("infeasible target: dropping " + target.dropLayers().size() + " of " + all
            + " layers leaves " + kept + (target.layers() == null ? "" : ", but layers is " + target.layers()));
      }
      return kept;
    }
    if (target.layers() != null) {
      checkDimension("layers", target.layers(), all);
      return target.layers();
    }
    if (target.parameterBudget() == null || target.budgetAxis() != PruneTarget.BudgetAxis.DEPTH) {
      return all;
    }
    int hidden = target.hiddenSize() == null ? teacher.hiddenSize() : target.hiddenSize();
    int ffn = target.intermediateSize() == null ? teacher.intermediateSize() : target.intermediateSize();
    for (int n = all; n >= 1; n--) {
      if (shape(teacher, hidden, ffn, n, heads).parameterCount() <= target.parameterBudget()) {
        return n;
      }
    }
    throw infeasibleBudget(target, shape(teacher, hidden, ffn, 1, heads));
  }

  /** Hidden and FFN sizes: explicit, the teacher's, or scaled together to fit a width budget. */
  private static int[] widths(LlamaConfig teacher, PruneTarget target, HeadShape heads, int layers) {
    Integer hidden = target.hiddenSize();
    Integer ffn = target.intermediateSize();
    boolean fit = target.parameterBudget() != null && target.budgetAxis() == PruneTarget.BudgetAxis.WIDTH
        && (hidden == null || ffn == null);
    if (!fit) {
      return new int[] {hidden == null ? teacher.hiddenSize() : hidden, ffn == null ? teacher.intermediateSize() : ffn};
    }
    for (double scale = 1; scale > 0; scale -= SCALE_STEP) {
      int h = hidden != null ? hidden : roundDown(scale * teacher.hiddenSize(), target.hiddenMultiple());
      int f = ffn != null ? ffn : roundDown(scale * teacher.intermediateSize(), target.intermediateMultiple());
      if (shape(teacher, h, f, layers, heads).parameterCount() <= target.parameterBudget()) {
        return new int[] {h, f};
      }
    }
    throw infeasibleBudget(target, shape(teacher, hidden != null ? hidden : target.hiddenMultiple(),
        ffn != null ? ffn : target.intermediateMultiple(), layers, heads));
  }

  private static IllegalArgumentException infeasibleBudget(PruneTarget target, LlamaConfig smallest) {
    return new IllegalArgumentException(String.format("infeasible target: parameter budget %,d is below the smallest "
        + "student this target allows (%,d parameters: %d layers, hidden %d, FFN %d)", target.parameterBudget(),
        smallest.parameterCount(), smallest.numHiddenLayers(), smallest.hiddenSize(), smallest.intermediateSize()));
  }

  private static int roundDown(double value, int multiple) {
    return Math.max(multiple, (int) Math.floor(value / multiple) * multiple);
  }

  private static LlamaConfig shape(LlamaConfig teacher, int hidden, int ffn, int layers, HeadShape heads) {
    return teacher.withShape(hidden, ffn, layers, heads.kvHeads() * heads.perGroup(), heads.kvHeads(),
        teacher.headDim());
  }

  /** Teacher layers the student keeps, ascending. */
  private static int[] keptLayers(LlamaConfig teacher, ImportanceScores scores, PruneTarget target, int layers) {
    int all = teacher.numHiddenLayers();
    Set<Integer> drop = new TreeSet<>(target.dropLayers());
    if (drop.isEmpty() && layers < all) {
      drop = target.depthStrategy() == PruneTarget.DepthStrategy.CONTIGUOUS
          ? bestBlock(scores, all, all - layers) : lowest(scores, all - layers);
      LOG.info("Dropping layers {} ({})", drop, target.depthStrategy());
    }
    Set<Integer> dropped = drop;
    return IntStream.range(0, all).filter(i -> !dropped.contains(i)).toArray();
  }

  /** Per-layer scores for depth decisions: the single-layer loss rise if measured, else Block Importance. */
  private static double[] layerScores(ImportanceScores scores) {
    if (scores.layerLoss() != null && scores.layerLoss().blocks().containsKey(1)) {
      return scores.layerLoss().blocks().get(1);
    }
    if (scores.blockImportance() != null) {
      return scores.blockImportance();
    }
    throw new IllegalArgumentException("depth pruning needs layer scores, but the importance has none (method "
        + scores.info().method() + "): run calibrate with method=activations, or give target.drop-layers");
  }

  private static Set<Integer> bestBlock(ImportanceScores scores, int all, int size) {
    double[] cost = new double[all - size + 1];
    if (scores.layerLoss() != null && scores.layerLoss().blocks().containsKey(size)) {
      cost = scores.layerLoss().blocks().get(size);
    } else {
      double[] single = layerScores(scores);
      for (int first = 0; first < cost.length; first++) {
        for (int i = first; i < first + size; i++) {
          cost[first] += single[i];
        }
      }
    }
    int best = 0;
    for (int first = 1; first < cost.length; first++) {
      if (cost[first] < cost[best]) {
        best = first;
      }
    }
    Set<Integer> block = new TreeSet<>();
    for (int i = best; i < best + size; i++) {
      block.add(i);
    }
    return block;
  }

  private static Set<Integer> lowest(ImportanceScores scores, int count) {
    double[] single = layerScores(scores);
    Set<Integer> drop = new TreeSet<>();
    int[] highestFirst = ranked(single);
    for (int i = 0; i < count; i++) {
      drop.add(highestFirst[highestFirst.length - 1 - i]);
    }
    return drop;
  }

  /**
   * KV groups to keep: the {@code count} whose query heads' scores sum highest, ascending. A group's keys and values
   * serve only its own query heads, so their summed importance is what removing the group loses.
   */
  static int[] kvGroups(LlamaConfig teacher, double[] headScores, int count) {
    int groupSize = teacher.queriesPerKvGroup();
    double[] groupScores = new double[teacher.numKeyValueHeads()];
    for (int head = 0; head < headScores.length; head++) {
      groupScores[head / groupSize] += headScores[head];
    }
    return topIndices(groupScores, count);
  }

  /** Query heads to keep: the {@code perGroup} highest-scoring of each kept KV group, ascending. */
  private static int[] queryHeads(LlamaConfig teacher, double[] headScores, int[] kvGroups, int perGroup) {
    int groupSize = teacher.queriesPerKvGroup();
    List<Integer> kept = new ArrayList<>();
    for (int kv : kvGroups) {
      double[] group = Arrays.copyOfRange(headScores, kv * groupSize, (kv + 1) * groupSize);
      for (int local : topIndices(group, perGroup)) {
        kept.add(kv * groupSize + local);
      }
    }
    return kept.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Indices of the {@code count} highest scores (ties to the lower index), ascending. */
  static int[] topIndices(double[] scores, int count) {
    int[] top = Arrays.copyOf(ranked(scores), count);
    Arrays.sort(top);
    return top;
  }

  /** All indices, highest score first (ties: lower index first). */
  private static int[] ranked(double[] scores) {
    return IntStream.range(0, scores.length).boxed()
        .sorted(Comparator.comparingDouble((Integer i) -> scores[i]).reversed().thenComparing(i -> i))
        .mapToInt(Integer::intValue).toArray();
  }
}
