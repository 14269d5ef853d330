package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.distillery.collective.DirectFloats;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * ZeRO stage 2: the gradients are reduce-scattered while backward produces them, one stage at a time (the lm head
 * in the loss, then the final norm, each decoder layer from the top, the embeddings), so a replica never holds more
 * than one stage's full gradients; it keeps only the sums of its {@link OptimizerShard}'s pieces, accumulated over
 * the step's micro-batches. The parameters record no gradients of their own: a stage runs on gradient-tracking
 * aliases of its weights ({@link #aliases}: the same memory, a graph leaf of their own), and reducing the stage
 * frees the aliases' gradients.
 *
 * <p>Every replica must reduce the same stages in the same order, since each reduction is a collective; a replica
 * with fewer micro-batches than another reduces empty stages ({@link #reduce} with no gradients) for the rest.
 */
final class ShardedGradients {
  private final Map<String, NDArray> parameters;
  private final OptimizerShard shard;
  private final GradientReducer reducer;
  private final List<List<Map.Entry<String, NDArray>>> buckets;
  private final Map<String, Integer> bucketOf = new HashMap<>();
  private final GradientBuckets host;
  private Map<String, NDArray> sums;

  ShardedGradients(Map<String, NDArray> parameters, OptimizerShard shard, GradientReducer reducer,
      GradientBuckets host) {
    this.parameters = parameters;
    this.shard = shard;
    this.reducer = reducer;
    this.host = host;
    this.buckets = TrainingStep.buckets(parameters);
    for (int b = 0; b < buckets.size(); b++) {
      for (Map.Entry<String, NDArray> p : buckets.get(b)) {
        bucketOf.put(p.getKey(), b);
      }
    }
  }

  /** Starts a step: this replica's shard sums, zero, in {@code step} (they live until the step's update). */
  void start(NDManager step) {
    sums = new LinkedHashMap<>();
    for (OptimizerShard.Piece piece : shard.pieces()) {
      sums.put(piece.key(), step.zeros(new Shape(piece.length()), DataType.FLOAT32));
    }
  }

  /** The sums of this replica's pieces so far, by {@link OptimizerShard.Piece#key()}. */
  Map<String, NDArray> sums() {
    return sums;
  }

  /**
   * Gradient-tracking aliases of the named parameters, in {@code scope}: they share the parameters' memory, and
   * their gradients are their own, freed with them.
   */
  Map<String, NDArray> aliases(Collection<String> names, NDManager scope) {
    Map<String, NDArray> aliases = new LinkedHashMap<>();
    for (String name : names) {
      NDArray alias = parameters.get(name).stopGradient();
      alias.attach(scope);
      alias.setRequiresGradient(true);
      aliases.put(name, alias);
    }
    return aliases;
  }

  /**
   * Reduce-scatters the gradients of the buckets holding the named parameters and adds this replica's pieces of
   * the sums into {@link #sums()}; temporaries live in a sub-manager of {@code scope}. A parameter missing from
   * {@code aliases}, or without a gradient, counts as zero.
   */
  void reduce(NDManager scope, Collection<String> names, Map<String, NDArray> aliases) {
    TreeSet<Integer> stageBuckets = new TreeSet<>();
    for (String name : names) {
      stageBuckets.add(bucketOf.get(name));
    }
    for (int b : stageBuckets) {
      DirectFloats flat = host.fill(scope, b, buckets.get(b), name -> {
        NDArray alias = aliases.get(name);
        return alias != null && alias.hasGradient() ? alias.getGradient() : null;
      });
      reducer.reduceScatterSum(flat);
      for (OptimizerShard.Piece piece : shard.pieces()) {
        if (piece.bucket() == b) {
          NDArray sum = sums.get(piece.key());
          try (NDManager copy = scope.newSubManager()) {
            sum.addi(copy.create(flat.bytes(piece.bucketOffset(), piece.length()), sum.getShape(), DataType.FLOAT32)
                .toDevice(sum.getDevice(), false));
          }
        }
      }
    }
  }
}
