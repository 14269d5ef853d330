package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import dev.distillery.collective.Shard;
import dev.distillery.config.ConfigException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The part of the parameters whose AdamW state one replica owns when the optimizer is sharded (ZeRO stage 1):
 * the parameters, flattened in order, are cut into the training step's gradient buckets; the reducer gives each
 * replica one part of every bucket ({@link GradientReducer#shard}); a part crosses parameters in {@link Piece}s.
 * The replicas' parts tile every bucket, so together they hold each moment exactly once.
 */
public final class OptimizerShard {
  /**
   * Floats {@code [offset, offset + length)} of parameter {@code parameter} (flattened), at {@code bucketOffset} in
   * gradient bucket {@code bucket}.
   *
   * @param decayed whether weight decay applies (the parameter is a matrix)
   */
  public record Piece(String parameter, long offset, int length, boolean decayed, int bucket, int bucketOffset) {
    /** The moment's name: {@code parameter@offset}. */
    public String key() {
      return parameter + "@" + offset;
    }
  }

  /**
   * The fewest parameters whose optimizer state one replica may own: below this the per-replica cost of sharding
   * (a reduce-scatter chunk, pieces and a checkpoint file per replica) buys back almost no memory.
   */
  public static final long MIN_PARAMETERS_PER_REPLICA = 4096;

  private final int replica;
  private final int replicas;
  private final List<Piece> pieces;

  private OptimizerShard(int replica, int replicas, List<Piece> pieces) {
    this.replica = replica;
    this.replicas = replicas;
    this.pieces = List.copyOf(pieces);
  }

  /**
   * Fails unless sharding the optimizer state of {@code parameters} parameters over {@code replicas} replicas leaves
   * each at least {@link #MIN_PARAMETERS_PER_REPLICA}.
   *
   * @param replicasDescription how the replicas come about, e.g. "world-size 8 x 2 devices per rank"
   * @throws ConfigException naming option 'shard-optimizer', the replicas and the limit
   */
  public static void checkReplicas(long parameters, int replicas, String replicasDescription) {
    if (parameters / replicas < MIN_PARAMETERS_PER_REPLICA) {
      throw new ConfigException("option 'shard-optimizer': " + replicasDescription + " = " + replicas
          + " replicas would each own the optimizer state of " + parameters / replicas + " of the model's "
          + parameters + " parameters, under the " + MIN_PARAMETERS_PER_REPLICA + " that make sharding pay; "
          + "use fewer replicas or shard-optimizer=false");
    }
  }

  /** The shard of {@code parameters} (float32) that {@code reducer} gives this replica. */
  public static OptimizerShard of(Map<String, NDArray> parameters, GradientReducer reducer) {
    List<Piece> pieces = new ArrayList<>();
    List<List<Map.Entry<String, NDArray>>> buckets = TrainingStep.buckets(parameters);
    for (int b = 0; b < buckets.size(); b++) {
      long length = buckets.get(b).stream().mapToLong(p -> p.getValue().size()).sum();
      Shard owned = reducer.shard(Math.toIntExact(length));
      int start = 0;
      for (Map.Entry<String, NDArray> p : buckets.get(b)) {
        int end = start + Math.toIntExact(p.getValue().size());
        int from = Math.max(start, owned.from());
        int to = Math.min(end, owned.to());
        if (from < to) {
          pieces.add(new Piece(p.getKey(), from - start, to - from, p.getValue().getShape().dimension() >= 2, b,
              from));
        }
        start = end;
      }
    }
    return new OptimizerShard(reducer.replica(), reducer.replicas(), pieces);
  }

  /** This replica's index among {@link #replicas()}. */
  public int replica() {
    return replica;
  }

  /** How many replicas share the optimizer state. */
  public int replicas() {
    return replicas;
  }

  /** The pieces this replica owns, in bucket order. */
  public List<Piece> pieces() {
    return pieces;
  }

  /** Floats of optimizer state per moment this replica keeps. */
  public long floats() {
    return pieces.stream().mapToLong(Piece::length).sum();
  }
}
