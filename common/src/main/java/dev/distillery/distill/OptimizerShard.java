package dev.distillery.distill;

import ai.djl.ndarray.NDArray;
import dev.distillery.collective.Shard;
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

  private final int replica;
  private final int replicas;
  private final List<Piece> pieces;

  private OptimizerShard(int replica, int replicas, List<Piece> pieces) {
    this.replica = replica;
    this.replicas = replicas;
    this.pieces = List.copyOf(pieces);
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
